"""Serial port backends in the domain XML, through virtkitd to virtkit-vm:
<serial type='file'> (output to a file), <serial type='unix'> with
<source mode='bind'> (virtkit-vm listens, a client talks to COM1) and the
default pty (relayed by the daemon as `virtkit console`). Runs the idle test
guest of test_daemon_kvm.py (banner on COM1, echoes input) under KVM."""
import socket
import time

import pytest

from conftest import needs_tool
from test_daemon_kvm import idle_guest, kvm_daemon, kvm_ok  # noqa: F401 (fixtures)


def xml(name, kernel, serial, console=""):
    return (f"<domain type='kvm'><name>{name}</name><memory unit='MiB'>32</memory>"
            f"<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>{kernel}</kernel></os>"
            f"<features><acpi/></features><devices>{serial}{console}</devices></domain>")


def wait_for(pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def talk(path, word, timeout=60):
    """Send word to COM1 through the socket until the guest echoes it."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    s.settimeout(1)
    got = b""
    deadline = time.time() + timeout
    while word not in got and time.time() < deadline:
        s.sendall(word + b"\n")                # the guest echoes COM1 input
        try:
            got += s.recv(4096)
        except socket.timeout:
            pass
    s.close()
    return got


@pytest.fixture
def kvm_only():
    if not kvm_ok():
        pytest.skip("SKIP: /dev/kvm is not usable on this host")


@needs_tool("as")
def test_serial_file_backend(kvm_only, kvm_daemon, idle_guest):
    d = kvm_daemon
    out = d.root / "com1.log"
    out.write_text("old contents\n")
    src = f"<source path='{out}'/>"
    d.define(xml("filed", idle_guest, f"<serial type='file'>{src}<target port='0'/></serial>",
                 f"<console type='file'>{src}<target type='serial' port='0'/></console>"))
    dump = d.ok("dumpxml", "filed")
    assert f"<serial type='file'>\n      <source path='{out}'/>\n      <target port='0'/>" in dump
    assert f"<console type='file'>\n      <source path='{out}'/>" in dump
    d.ok("start", "filed")
    try:
        assert wait_for(lambda: "idle-guest: up" in out.read_text()), out.read_text()
        assert "old contents" not in out.read_text()     # truncated, as append='off'
        assert f"--serial file:{out}" in (d.logs / "domains" / "filed.log").read_text()
        # no pty: the console says why, as virsh does
        r = d.virtkit("console", "filed", "--force", timeout=20)
        assert r.returncode == 1 and "not using a PTY" in r.stderr, r.stderr
        assert "<serial type='file'>" in d.ok("dumpxml", "filed")   # the live definition
    finally:
        d.ok("destroy", "filed")


@needs_tool("as")
def test_serial_unix_backend(kvm_only, kvm_daemon, idle_guest):
    d = kvm_daemon
    path = d.root / "com1.sock"
    d.define(xml("sock", idle_guest,
                 f"<serial type='unix'><source mode='bind' path='{path}'/><target port='0'/></serial>"))
    dump = d.ok("dumpxml", "sock")
    assert f"<serial type='unix'>\n      <source mode='bind' path='{path}'/>" in dump
    d.ok("start", "sock")
    try:
        assert wait_for(path.exists)
        got = talk(path, b"ping-over-unix")
        assert b"ping-over-unix" in got, got
        r = d.virtkit("console", "sock", timeout=20)
        assert r.returncode == 1 and "not using a PTY" in r.stderr, r.stderr
        # a restarted daemon adopts the VM and leaves its socket alone
        d.stop()
        d.start()
        assert d.state("sock") == "running (booted)"
        assert "<serial type='unix'>" in d.ok("dumpxml", "sock")
        assert b"again" in talk(path, b"again")
        r = d.virtkit("console", "sock", timeout=20)
        assert r.returncode == 1 and "not using a PTY" in r.stderr, r.stderr
    finally:
        d.ok("destroy", "sock")


def test_serial_xml_errors_are_clear(kvm_daemon):
    d = kvm_daemon
    for serial, msg in [
            ("<serial type='tcp'><source mode='bind' host='0' service='4555'/></serial>",
             "only types 'pty', 'file' and 'unix'"),
            ("<serial type='unix'><source mode='connect' path='/tmp/x.sock'/></serial>",
             "only mode 'bind'"),
            ("<serial type='file'><source path='relative.log'/></serial>", "want an absolute path")]:
        p = d.root / "bad.xml"
        p.write_text(xml("bad", "/bin/true", serial))
        r = d.virtkit("define", p)
        assert r.returncode == 1 and msg in r.stderr, r.stderr
    assert "bad" not in d.ok("list", "--all", "--name")


@needs_tool("as")
def test_serial_ports_com1_to_com3(kvm_only, kvm_daemon, idle_guest):
    """Port 0 a pty (the daemon's console relay), port 1 a unix socket,
    port 2 a file: virtkit-vm gets three --serial options in port order, the
    console still reaches COM1, the other two backends exist."""
    from test_daemon_kvm import console_roundtrip
    d = kvm_daemon
    sock, log = d.root / "com2.sock", d.root / "com3.log"
    d.define(xml("three", idle_guest,
                 "<serial type='pty'><target port='0'/></serial>"
                 f"<serial type='unix'><source mode='bind' path='{sock}'/><target port='1'/></serial>"
                 f"<serial type='file'><source path='{log}'/></serial>",
                 "<console type='pty'><target type='serial' port='0'/></console>"))
    dump = d.ok("dumpxml", "three")
    assert "<target port='1'/>" in dump and f"<source path='{log}'/>\n      <target port='2'/>" in dump
    d.ok("start", "three")
    try:
        vmlog = (d.logs / "domains" / "three.log").read_text()
        serials = [w for w in vmlog.split("--serial ")[1:]]
        assert len(serials) == 3, vmlog
        assert serials[1].startswith(f"unix:{sock}") and serials[2].startswith(f"file:{log}")
        assert "xyzzy" in console_roundtrip(d, "three", "xyzzy")
        assert wait_for(sock.exists) and log.exists()
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))                    # COM2 is listening
        s.close()
    finally:
        d.ok("destroy", "three")
