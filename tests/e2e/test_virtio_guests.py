"""virtio devices driven by the project's freestanding guests (tests/guests/virtio)
under virtkit-vm with KVM: virtio-blk on a qcow2 overlay made by qemu-img,
virtio-net through a TAP inside a test network namespace, virtio-rng and
virtio-console. The guest's mini driver is the same code the unit tests use."""
import os
import socket
import struct
import subprocess
import time
import uuid

import pytest

from conftest import BUILD, binary, needs_kvm, needs_root, needs_tool, run

GUESTS = BUILD / "tests" / "guests" / "virtio"
EXIT_DEV = ["--device", "isa-debug-exit,iobase=0xf4,iosize=0x4"]


def vm(kernel, *args, timeout=180, **kw):
    return run([binary("virtkit-vm"), "--accel", "kvm", "--kernel", str(GUESTS / kernel),
                "--serial", "stdio", "--no-reboot", *EXIT_DEV, *map(str, args)],
               timeout=timeout, **kw)


def passed(r):
    # isa-debug-exit: guest_exit(0) -> status (0 << 1) | 1
    return r.returncode == 1 and "RESULT: PASS" in r.stdout


def qemu_io(img, cmd):
    return run(["qemu-io", "-r", "-c", cmd, str(img)])


@pytest.fixture
def overlay(tmp_path):
    base, ov = tmp_path / "base.qcow2", tmp_path / "overlay.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", base, "8M"], check=True)
    run(["qemu-io", "-c", "write -q -P 0x11 0 1M", base], check=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", ov], check=True)
    run(["qemu-io", "-c", "write -q -P 0x22 64k 64k", ov], check=True)
    return ov


@needs_kvm
@needs_tool("qemu-img")
def test_virtio_blk_qcow2_overlay(overlay):
    r = vm("vblk.elf", "--append",
           "p0=17 p128=34 write=2048:90 zero=4096 discard=6144 serial=VK-DISK-7",
           "--disk", f"path={overlay},format=qcow2,serial=VK-DISK-7")
    assert passed(r), r.stdout + r.stderr
    assert "discard ok" in r.stdout
    assert "sector 0 ok (0x11)" in r.stdout, "read through to the backing file"
    assert "sector 128 ok (0x22)" in r.stdout, "overlay data"
    # what the guest wrote is what qemu-img/qemu-io see
    out = qemu_io(overlay, "read -P 0x5a 1M 8k")
    assert out.returncode == 0 and "verification failed" not in out.stdout
    out = qemu_io(overlay, "read -P 0x11 0 64k")
    assert "verification failed" not in out.stdout
    chk = run(["qemu-img", "check", str(overlay)])
    assert chk.returncode == 0, chk.stdout
    # and qemu-img compare agrees with a raw image holding the expected bytes
    raw = overlay.parent / "expected.raw"
    with open(raw, "wb") as f:
        f.truncate(8 << 20)
        f.seek(0); f.write(b"\x11" * (1 << 20))
        f.seek(64 << 10); f.write(b"\x22" * (64 << 10))
        f.seek(1 << 20); f.write(b"\x5a" * 8192)
    cmp = run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(raw), str(overlay)])
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr


@needs_kvm
@needs_tool("qemu-img")
def test_virtio_blk_read_only_refuses_writes(overlay):
    before = overlay.read_bytes()
    r = vm("vblk.elf", "--append", "p0=17 ro=1",
           "--disk", f"path={overlay},format=qcow2,readonly=on")
    assert passed(r), r.stdout + r.stderr
    assert "read-only write refused ok" in r.stdout
    assert overlay.read_bytes() == before, "a read-only disk's file must not change"


@needs_kvm
def test_virtio_blk_bad_disk_options(tmp_path):
    img = tmp_path / "d.raw"
    img.write_bytes(b"\0" * 65536)
    r = vm("vblk.elf", "--disk", f"path={img},cache=sometimes")
    assert r.returncode != 0 and "cache=sometimes" in r.stderr
    r = vm("vblk.elf", "--disk", f"path={tmp_path}/missing.qcow2")
    assert r.returncode != 0 and "missing.qcow2" in r.stderr
    r = vm("vblk.elf", "--disk", f"path={img},bogus=1")
    assert r.returncode != 0 and "bogus" in r.stderr


@needs_kvm
def test_virtio_rng_and_console(tmp_path):
    sock = tmp_path / "con.sock"
    proc = subprocess.Popen(
        [binary("virtkit-vm"), "--accel", "kvm", "--kernel", str(GUESTS / "vmisc.elf"),
         "--append", "console=1", "--serial", "stdio", "--no-reboot", *EXIT_DEV,
         "--device", "virtio-rng", "--device", f"virtio-console,chardev=unix:{sock}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        s = socket.socket(socket.AF_UNIX)
        for _ in range(200):
            try:
                s.connect(str(sock))
                break
            except OSError:
                time.sleep(0.05)
        s.settimeout(120)
        got = b""
        s.sendall(b"hello virtio console\n")   # waits in the backend until the guest reads
        while b"hvc echo: hello virtio console\n" not in got:
            chunk = s.recv(256)
            assert chunk, "console closed before the echo"
            got += chunk
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1 and "RESULT: PASS" in out, out + err
    assert "rng ok" in out


RESPONDER = r"""
import socket, struct, sys
tap, mac, count = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((tap, 0))
s.settimeout(120)
print("ready", flush=True)
done = 0
while done < count:
    frame = s.recv(2048)
    if frame[6:12] != mac or not frame[14:].startswith(b"ping from guest"):
        continue
    reply = mac + bytes.fromhex("020000000001") + struct.pack("!H", 0x88b5) + b"pong"
    s.send(reply.ljust(60, b"\0"))
    done += 1
    print("pong", flush=True)
"""


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check)


@pytest.fixture
def netns():
    name = "vkt-" + uuid.uuid4().hex[:8]
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


@needs_kvm
@needs_root
def test_virtio_net_through_tap_in_netns(netns):
    tap = "vktap0"
    sh("ip", "netns", "exec", netns, "ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
    sh("ip", "netns", "exec", netns, "ip", "link", "set", tap, "up")
    # The host side: a responder inside the namespace answers each ping
    # frame from the guest's MAC with a pong addressed back to it.
    responder = subprocess.Popen(
        ["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", RESPONDER, tap, "525400aabbcc", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert responder.stdout.readline().strip() == "ready", responder.stderr.read()
        r = run(["ip", "netns", "exec", netns, binary("virtkit-vm"), "--accel", "kvm",
                 "--kernel", str(GUESTS / "vnet.elf"), "--append", "count=3",
                 "--serial", "stdio", "--no-reboot", *EXIT_DEV,
                 "--net", f"tap={tap},mac=52:54:00:aa:bb:cc"], timeout=180)
        answered = responder.communicate(timeout=30)[0].split()
    finally:
        if responder.poll() is None:
            responder.kill()
            responder.wait()
    assert r.returncode == 1 and "RESULT: PASS" in r.stdout, r.stdout + r.stderr
    assert "mac 52:54:0:aa:bb:cc" in r.stdout
    assert r.stdout.count("pong") == 3
    assert answered == ["pong"] * 3


def qmp(sock_path):
    """A minimal QMP client: connect, negotiate, return a call function."""
    import json
    s = socket.socket(socket.AF_UNIX)
    for _ in range(200):
        try:
            s.connect(str(sock_path))
            break
        except OSError:
            time.sleep(0.05)
    f = s.makefile("rw")
    json.loads(f.readline())   # greeting

    def call(cmd, **args):
        f.write(json.dumps({"execute": cmd, "arguments": args} if args else {"execute": cmd}) + "\n")
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "event" not in msg:
                return msg
    call("qmp_capabilities")
    return call


@needs_kvm
def test_balloon_through_qmp(tmp_path):
    ctl = tmp_path / "qmp.sock"
    hello = BUILD / "tests" / "guests" / "hello.elf"
    proc = subprocess.Popen(
        [binary("virtkit-vm"), "--accel", "kvm", "--kernel", str(hello), "--memory", "256M",
         "--serial", "null", "--no-reboot", "--control", str(ctl), "--device", "virtio-balloon"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        call = qmp(ctl)
        r = call("query-balloon")
        assert r == {"return": {"actual": 256 << 20}}, r
        assert call("balloon", value=128 << 20) == {"return": {}}
        r = call("balloon", value=-5)
        assert "error" in r and "value" in r["error"]["desc"]
        assert call("quit") == {"return": {}}
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@needs_kvm
def test_balloon_absent_is_an_error(tmp_path):
    ctl = tmp_path / "qmp.sock"
    hello = BUILD / "tests" / "guests" / "hello.elf"
    proc = subprocess.Popen(
        [binary("virtkit-vm"), "--accel", "kvm", "--kernel", str(hello), "--serial", "null",
         "--no-reboot", "--control", str(ctl)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        call = qmp(ctl)
        r = call("query-balloon")
        assert r["error"]["desc"] == "No balloon device has been activated"
        call("quit")
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
