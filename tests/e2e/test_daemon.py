"""virtkitd + the virsh-compatible commands, end to end.

Each test runs its own daemon rooted in a temporary directory
(`virtkitd --root DIR`, the same as VIRTKIT_ROOT=DIR) and always kills it and
every VM it started at teardown. Most tests use a small fake emulator (a
Python script speaking the QMP subset and the serial socket, like
virtkit-vm does) so they check the daemon itself quickly; test_daemon_kvm.py
runs real guests under virtkit-vm on KVM.
"""
import concurrent.futures
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import binary, run

HERE = pathlib.Path(__file__).resolve().parent
SAMPLES = HERE / "libvirt-xml"

FAKE_VM = r'''#!/usr/bin/python3
# Fake virtkit-vm for daemon tests: QMP subset on --control, serial server
# on --serial unix:PATH that greets and echoes. system_powerdown -> exit 0.
import json, os, select, socket, sys
args = sys.argv[1:]
if args == ["--help"]:
    print("  --device SPEC  optional device: virtio-rng, virtio-balloon"); sys.exit(0)
flags = os.environ.get("FAKE_VM_FLAGS", "")
if flags and os.path.exists(flags) and "--fail-at-start" in open(flags).read():
    print("fake-vm: cannot open /dev/kvm: Permission denied", file=sys.stderr)
    sys.exit(1)
if flags and os.path.exists(flags) and "--hang" in open(flags).read():
    import time
    time.sleep(3600)
if flags and os.path.exists(flags) and "--wait-go" in open(flags).read():
    import time
    os.unlink(flags)            # only this VM waits
    go = os.path.join(os.path.dirname(flags), "fake-go")
    print("fake-vm: waiting for go", flush=True)
    while not os.path.exists(go):
        time.sleep(0.02)
ctl = args[args.index("--control") + 1]
ser = args[args.index("--serial") + 1][5:]
def server(path):
    if os.path.exists(path): os.unlink(path)
    s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(4); return s
qs, ss = server(ctl), server(ser)
# a balloon whose guest driver follows every target at once
ram = int(args[args.index("--memory") + 1].rstrip("M")) << 20
balloon = ram if "virtio-balloon" in args else None
print("fake-vm: args", json.dumps(args), flush=True)
clients, serials, running = {}, [], True
def send(c, o):
    try: c.sendall((json.dumps(o) + "\n").encode())
    except OSError: pass
def event(name):
    for c in list(clients): send(c, {"event": name, "timestamp": {"seconds": 0, "microseconds": 0}})
while True:
    r, _, _ = select.select([qs, ss] + list(clients) + serials, [], [])
    for fd in r:
        if fd is qs:
            c, _ = qs.accept(); clients[c] = b""
            send(c, {"QMP": {"version": {"qemu": {"major": 8, "minor": 0, "micro": 0}, "package": "fake"}, "capabilities": []}})
        elif fd is ss:
            c, _ = ss.accept(); serials.append(c); c.sendall(b"fake guest booted\r\n")
        elif fd in serials:
            data = fd.recv(4096)
            if not data: serials.remove(fd); continue
            fd.sendall(b"echo:" + data)
        else:
            data = fd.recv(4096)
            if not data: del clients[fd]; continue
            clients[fd] += data
            while b"\n" in clients[fd]:
                line, clients[fd] = clients[fd].split(b"\n", 1)
                try: cmd = json.loads(line)["execute"]
                except Exception: send(fd, {"error": {"class": "GenericError", "desc": "bad"}}); continue
                if cmd == "system_powerdown":
                    send(fd, {"return": {}}); event("POWERDOWN"); event("SHUTDOWN"); sys.exit(0)
                elif cmd == "stop": running = False; send(fd, {"return": {}}); event("STOP")
                elif cmd == "cont": running = True; send(fd, {"return": {}}); event("RESUME")
                elif cmd == "system_reset": send(fd, {"return": {}}); event("RESET")
                elif cmd == "quit": send(fd, {"return": {}}); sys.exit(0)
                elif cmd in ("balloon", "query-balloon") and balloon is None:
                    send(fd, {"error": {"class": "DeviceNotActive", "desc": "No balloon device has been activated"}})
                elif cmd == "balloon":
                    balloon = min(ram, json.loads(line)["arguments"]["value"]); send(fd, {"return": {}})
                elif cmd == "query-balloon": send(fd, {"return": {"actual": balloon}})
                else: send(fd, {"return": {}})
'''


def domain_xml(name, disk=None, uuid=None, extra_devices="", kernel="/bin/true", memory_mib=64):
    """An ordinary small definition; the fake emulator ignores the kernel."""
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    d = ""
    if disk:
        d = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
             f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>")
    return (f"<domain type='kvm'><name>{name}</name>{u}"
            f"<memory unit='MiB'>{memory_mib}</memory><vcpu>1</vcpu>"
            f"<os><type arch='x86_64'>hvm</type><kernel>{kernel}</kernel></os>"
            f"<devices>{d}<serial type='pty'/><console type='pty'/>{extra_devices}</devices></domain>")


def read_until(proc, marker, timeout=20):
    """Read a Popen's stdout until `marker` (bytes) shows up; returns all read."""
    import select
    buf = b""
    deadline = time.time() + timeout
    fd = proc.stdout.fileno()
    while marker not in buf and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf


def console_session(d, dom, *extra):
    """A `virtkit console` client, returned once the daemon attached it."""
    p = subprocess.Popen([binary("virtkit"), "-c", "virtkit:///system", "console", dom, *extra],
                         env=d.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.seen = read_until(p, b"Escape character is ^]")
    assert b"Connected to domain" in p.seen, p.seen
    return p


def console_send(p, data, expect, timeout=20):
    p.stdin.write(data)
    p.stdin.flush()
    got = read_until(p, expect, timeout)
    p.seen += got
    return got


def console_close(p):
    try:
        p.stdin.write(b"\x1d")          # ^] detaches
        p.stdin.flush()
    except BrokenPipeError:
        pass
    p.communicate(timeout=10)
    return p.returncode


class Daemon:
    """A virtkitd rooted in a private temporary directory."""

    def __init__(self, emulator=None, env=None):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="vkd-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.fake = self.root / "fakevm.py"
        self.fake.write_text(FAKE_VM)
        self.fake.chmod(0o755)
        self.env = dict(os.environ)
        self.env.pop("VIRTKIT_DEFAULT_URI", None)
        self.env["VIRTKIT_ROOT"] = str(self.root)
        self.env["VIRTKIT_VM"] = str(emulator or self.fake)
        self.env["FAKE_VM_FLAGS"] = str(self.root / "fake-flags")
        if env:
            self.env.update(env)
        self.proc = None
        self.run = self.root / "run" / "virtkit"
        self.config = self.root / "etc" / "virtkit"
        self.logs = self.root / "var" / "log" / "virtkit"

    def start(self):
        log = open(self.root / "virtkitd.log", "a")
        self.proc = subprocess.Popen([binary("virtkitd"), "--root", str(self.root)],
                                     env=self.env, stdout=log, stderr=log)
        sock = self.run / "virtkit-sock"
        for _ in range(500):
            if self.proc.poll() is not None:
                pytest.fail("virtkitd exited: " + (self.root / "virtkitd.log").read_text())
            if sock.exists():
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(str(sock))
                    s.close()
                    return self
                except OSError:
                    pass
            time.sleep(0.02)
        pytest.fail("virtkitd did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def vm_pids(self):
        pids = []
        for st in (self.run / "domains").glob("*.status"):
            try:
                pids.append(json.loads(st.read_text())["pid"])
            except (OSError, ValueError, KeyError):
                pass
        return pids

    def cleanup(self):
        self.stop()
        for pid in self.vm_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def virtkit(self, *args, input=None, user=None, uri="virtkit:///system", timeout=60, env=None):
        cmd = [binary("virtkit")]
        if uri:
            cmd += ["-c", uri]
        cmd += [str(a) for a in args]
        if user:
            cmd = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"] + cmd
        e = dict(self.env)
        if env:
            e.update(env)
        return run(cmd, input=input, env=e, timeout=timeout)

    def ok(self, *args, **kw):
        r = self.virtkit(*args, **kw)
        assert r.returncode == 0, f"virtkit {' '.join(map(str, args))}: {r.stderr}"
        return r.stdout

    def define(self, xml, name="dom.xml"):
        p = self.root / name
        p.write_text(xml)
        return self.ok("define", p)

    def state(self, dom):
        return self.ok("domstate", dom, "--reason").strip()

    def wait_state(self, dom, want, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.state(dom)
            if s == want:
                return s
            time.sleep(0.05)
        assert self.state(dom) == want

    def config_snapshot(self):
        out = {}
        for p in sorted(self.config.rglob("*")):
            out[str(p.relative_to(self.config))] = p.read_bytes() if p.is_file() else None
        return out


@pytest.fixture
def daemon():
    d = Daemon()
    try:
        yield d.start()
    finally:
        d.cleanup()


# ---- definitions, listings, output layout ---------------------------------

def test_define_list_dumpxml_undefine(daemon):
    out = daemon.define(domain_xml("deb12", uuid="6f1f2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"))
    assert out == f"Domain 'deb12' defined from {daemon.root}/dom.xml\n\n"
    daemon.define(domain_xml("web"))
    assert (daemon.config / "domains" / "deb12.xml").exists()
    # virsh's table: " Id   Name    State\n" and dashes = sum(width + 3)
    assert daemon.ok("list") == " Id   Name   State\n" + "-" * (5 + 7 + 8) + "\n\n"
    assert daemon.ok("list", "--all") == (" Id   Name    State\n"
                                           + "-" * (5 + 8 + 11) + "\n"
                                           " -    deb12   shut off\n"
                                           " -    web     shut off\n\n")
    assert daemon.ok("list", "--all", "--name") == "deb12\nweb\n\n"
    assert daemon.ok("domuuid", "deb12") == "6f1f2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b\n\n"
    assert daemon.ok("domname", "6f1f2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b") == "deb12\n\n"
    assert daemon.ok("domid", "deb12") == "-\n\n"
    assert daemon.ok("domstate", "deb12") == "shut off\n\n"
    xml = daemon.ok("dumpxml", "deb12")
    assert "<name>deb12</name>" in xml and "<memory unit='KiB'>65536</memory>" in xml
    assert "<uuid>6f1f2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b</uuid>" in xml
    # canonical XML round-trips: defining the dump again changes nothing
    (daemon.root / "again.xml").write_text(xml)
    before = daemon.config_snapshot()
    daemon.ok("define", daemon.root / "again.xml")
    assert daemon.config_snapshot() == before
    info = daemon.ok("dominfo", "deb12")
    assert "Id:             -\n" in info
    assert "Name:           deb12\n" in info
    assert "State:          shut off\n" in info
    assert "Max memory:     65536 KiB\n" in info
    assert "Persistent:     yes\n" in info
    assert "Autostart:      disable\n" in info
    js = json.loads(daemon.ok("list", "--all", "--json"))
    assert [d["name"] for d in js] == ["deb12", "web"]
    assert daemon.ok("undefine", "web") == "Domain 'web' has been undefined\n\n"
    assert not (daemon.config / "domains" / "web.xml").exists()
    assert daemon.ok("list", "--all", "--name") == "deb12\n\n"


def test_lifecycle_states_and_reasons(daemon):
    img = daemon.root / "disk.img"
    img.write_bytes(b"\0" * 65536)
    daemon.define(domain_xml("vm1", disk=img))
    assert daemon.ok("start", "vm1") == "Domain 'vm1' started\n\n"
    assert daemon.state("vm1") == "running (booted)"
    assert daemon.ok("domid", "vm1") == "1\n\n"
    assert daemon.ok("list") == (" Id   Name   State\n" + "-" * (5 + 7 + 10) + "\n"
                                 " 1    vm1    running\n\n")
    # the emulator got the options the XML implies
    log = (daemon.logs / "domains" / "vm1.log").read_text()
    assert "--memory 64M" in log and f"--disk path={img},format=raw" in log
    assert "--control" in log and "--serial unix:" in log
    # starting a running domain: a clear error, nothing changes
    r = daemon.virtkit("start", "vm1")
    assert r.returncode == 1 and "domain is already running" in r.stderr
    assert daemon.state("vm1") == "running (booted)"
    assert daemon.ok("suspend", "vm1") == "Domain 'vm1' suspended\n\n"
    assert daemon.state("vm1") == "paused (user)"
    assert daemon.ok("resume", "vm1") == "Domain 'vm1' resumed\n\n"
    assert daemon.state("vm1") == "running (unpaused)"
    assert daemon.ok("reset", "vm1") == "Domain 'vm1' was reset\n\n"
    # ACPI shutdown: the guest powers off, the VM exits 0
    assert daemon.ok("shutdown", "vm1", "--mode", "acpi") == "Domain 'vm1' is being shutdown\n\n"
    daemon.wait_state("vm1", "shut off (shutdown)")
    assert daemon.ok("domid", "vm1") == "-\n\n"
    # destroy
    daemon.ok("start", "vm1", "--paused")
    assert daemon.state("vm1") == "paused (user)"
    assert daemon.ok("destroy", "vm1") == "Domain 'vm1' destroyed\n\n"
    assert daemon.state("vm1") == "shut off (destroyed)"
    r = daemon.virtkit("destroy", "vm1")
    assert r.returncode == 1 and "not running" in r.stderr
    # crash: the VM process is killed behind the daemon's back
    daemon.ok("start", "vm1")
    pid = json.loads(daemon.ok("dominfo", "vm1", "--json"))["pid"]
    os.kill(pid, signal.SIGKILL)
    daemon.wait_state("vm1", "shut off (crashed)")
    assert "killed by signal 9" in (daemon.logs / "domains" / "vm1.log").read_text()
    assert not list((daemon.run / "domains").glob("*.status"))


def test_transient_create_and_reboot(daemon):
    p = daemon.root / "t.xml"
    p.write_text(domain_xml("tr"))
    assert daemon.ok("create", p) == f"Domain 'tr' created from {p}\n\n"
    info = daemon.ok("dominfo", "tr")
    assert "Persistent:     no\n" in info and "State:          running\n" in info
    assert not (daemon.config / "domains" / "tr.xml").exists()
    r = daemon.virtkit("undefine", "tr")
    assert r.returncode == 1 and "transient" in r.stderr
    daemon.ok("destroy", "tr")
    assert daemon.ok("list", "--all", "--name") == "\n"
    # reboot: ACPI power-off, then the daemon starts the domain again
    daemon.define(domain_xml("rb"))
    daemon.ok("start", "rb")
    pid1 = json.loads(daemon.ok("dominfo", "rb", "--json"))["pid"]
    assert daemon.ok("reboot", "rb") == "Domain 'rb' is being rebooted\n\n"
    deadline = time.time() + 20
    while time.time() < deadline:
        info = json.loads(daemon.ok("dominfo", "rb", "--json"))
        if info["state"] == "running" and info.get("pid") not in (None, pid1):
            break
        time.sleep(0.05)
    assert info["state"] == "running" and info["pid"] != pid1


def test_undefine_running_and_transient_adoption(daemon):
    # undefining a running domain keeps it running, as a transient domain
    daemon.define(domain_xml("goner"))
    daemon.ok("start", "goner")
    daemon.ok("undefine", "goner")
    assert not (daemon.config / "domains" / "goner.xml").exists()
    info = daemon.ok("dominfo", "goner")
    assert "Persistent:     no\n" in info and "State:          running\n" in info
    # a transient domain survives a daemon restart, and disappears when it stops
    p = daemon.root / "tr.xml"
    p.write_text(domain_xml("tr2"))
    daemon.ok("create", p)
    daemon.stop()
    daemon.start()
    assert daemon.ok("list", "--transient", "--name") == "goner\ntr2\n\n"
    assert daemon.state("tr2") == "running (booted)"
    daemon.ok("destroy", "tr2")
    daemon.ok("shutdown", "goner")
    deadline = time.time() + 20
    while daemon.ok("list", "--all", "--name") != "\n" and time.time() < deadline:
        time.sleep(0.05)
    assert daemon.ok("list", "--all", "--name") == "\n"


def test_start_failure_is_reported_and_leaves_nothing(daemon):
    (daemon.root / "fake-flags").write_text("--fail-at-start")
    daemon.define(domain_xml("bad"))
    r = daemon.virtkit("start", "bad")
    assert r.returncode == 1
    assert "cannot open /dev/kvm: Permission denied" in r.stderr
    assert daemon.state("bad") == "shut off (failed)"
    assert not list((daemon.run / "domains").glob("*.status"))


def test_start_timeout_leaves_nothing():
    """An emulator that never opens its control socket: start fails after
    VIRTKIT_START_TIMEOUT, the process is gone, a transient domain too."""
    d = Daemon(env={"VIRTKIT_START_TIMEOUT": "1"})
    try:
        d.start()
        (d.root / "fake-flags").write_text("--hang")
        d.define(domain_xml("slow"))
        r = d.virtkit("start", "slow")
        assert r.returncode == 1 and "did not open its control socket" in r.stderr
        assert d.state("slow") == "shut off (failed)"
        p = d.root / "tr.xml"
        p.write_text(domain_xml("slowtr"))
        r = d.virtkit("create", p)
        assert r.returncode == 1 and "did not open its control socket" in r.stderr
        assert d.ok("list", "--all", "--name") == "slow\n\n"
        assert not list((d.run / "domains").glob("*"))
        r = run(["pgrep", "-f", str(d.fake)])
        assert r.stdout.strip() == "", "emulator left running"
    finally:
        d.cleanup()


def test_console_relay(daemon):
    daemon.define(domain_xml("con"))
    daemon.ok("start", "con")
    p = console_session(daemon, "con")
    second = first = None
    try:
        assert b"Escape character is ^] (Ctrl + ])" in p.seen
        # a second console is refused while the first is attached
        r = daemon.virtkit("console", "con", input="")
        assert r.returncode == 1 and "Active console session exists" in r.stderr
        assert b"echo:ping" in console_send(p, b"ping\n", b"echo:ping")
        assert console_close(p) == 0
        # --force takes over from another client
        first = console_session(daemon, "con")
        second = console_session(daemon, "con", "--force")
        assert first.wait(timeout=10) == 0  # the first client was disconnected
        assert b"echo:hi" in console_send(second, b"hi\n", b"echo:hi")
        assert console_close(second) == 0
    finally:
        for x in (p, first, second):
            if x and x.poll() is None:
                x.kill()


def test_daemon_restart_adopts_running_vms(daemon):
    daemon.define(domain_xml("keep"))
    daemon.define(domain_xml("pause"))
    daemon.ok("start", "keep")
    daemon.ok("suspend", "keep")
    daemon.ok("resume", "keep")
    daemon.ok("start", "pause")
    daemon.ok("suspend", "pause")
    pids = {n: json.loads(daemon.ok("dominfo", n, "--json"))["pid"] for n in ("keep", "pause")}
    daemon.stop()
    for pid in pids.values():
        os.kill(pid, 0)             # the VMs outlive the daemon
    daemon.start()
    assert daemon.state("keep") == "running (unpaused)"
    assert daemon.state("pause") == "paused (user)"
    info = json.loads(daemon.ok("dominfo", "keep", "--json"))
    assert info["pid"] == pids["keep"] and info["id"] == 1
    daemon.ok("resume", "pause")
    assert daemon.state("pause") == "running (unpaused)"
    # the adopted VM is supervised again: exits are noticed
    daemon.ok("shutdown", "keep")
    daemon.wait_state("keep", "shut off (shutdown)")
    os.kill(pids["pause"], signal.SIGKILL)
    daemon.wait_state("pause", "shut off (crashed)")
    # a VM that died while the daemon was down is not adopted
    daemon.ok("start", "keep")
    pid = json.loads(daemon.ok("dominfo", "keep", "--json"))["pid"]
    daemon.stop(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    daemon.start()
    assert daemon.ok("domstate", "keep") == "shut off\n\n"


def test_start_serves_other_clients_meanwhile(daemon):
    """A start returns once the VM's control socket answers, but the daemon
    serves other clients while the emulator comes up (the fake one waits for
    a go file here); a client that leaves before its reply changes nothing."""
    daemon.define(domain_xml("slow"))
    daemon.define(domain_xml("other"))
    flags, go = daemon.root / "fake-flags", daemon.root / "fake-go"
    log = daemon.logs / "domains" / "slow.log"

    def start_waiting():
        flags.write_text("--wait-go")
        p = subprocess.Popen([binary("virtkit"), "-c", "virtkit:///system", "start", "slow"],
                             env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline and not (log.exists() and
                                              log.read_text().count("waiting for go") == rounds):
            time.sleep(0.02)
        assert log.read_text().count("waiting for go") == rounds
        return p

    rounds = 1
    p = start_waiting()
    # other clients are served meanwhile
    assert daemon.ok("list", "--all", "--name") == "other\nslow\n\n"
    assert daemon.ok("start", "other") == "Domain 'other' started\n\n"
    r = daemon.virtkit("start", "slow")
    assert r.returncode == 1 and "domain is being started" in r.stderr
    r = daemon.virtkit("undefine", "slow")
    assert r.returncode == 1 and "domain is being started" in r.stderr
    assert p.poll() is None             # the starter still waits for its reply
    go.write_text("")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out == b"Domain 'slow' started\n\n"
    assert daemon.state("slow") == "running (booted)"
    daemon.ok("destroy", "slow")
    go.unlink()
    # the client goes away before the VM is up: the start completes anyway
    rounds = 2
    p = start_waiting()
    p.kill()
    p.communicate()
    go.write_text("")
    daemon.wait_state("slow", "running (booted)")
    assert daemon.ok("domstate", "other") == "running\n\n"
    daemon.ok("destroy", "slow")
    go.unlink()
    # destroy while starting: the VM is killed, the starter told
    rounds = 3
    p = start_waiting()
    assert daemon.ok("destroy", "slow") == "Domain 'slow' destroyed\n\n"
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1 and b"domain was destroyed while starting" in err
    assert daemon.state("slow") == "shut off (destroyed)"
    # requests pipelined behind a start are answered after it, in order
    rounds = 4
    flags.write_text("--wait-go")
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.run / "virtkit-sock"))
    s.sendall(b'{"id": 1, "method": "domain.start", "params": {"domain": "slow"}}\n'
              b'{"id": 2, "method": "domain.info", "params": {"domain": "slow"}}\n')
    deadline = time.time() + 30
    while time.time() < deadline and log.read_text().count("waiting for go") < rounds:
        time.sleep(0.02)
    assert daemon.ok("domstate", "other") == "running\n\n"
    go.write_text("")
    f = s.makefile("rb")
    r1, r2 = json.loads(f.readline()), json.loads(f.readline())
    s.close()
    assert r1["id"] == 1 and r1["result"]["state"] == "running"
    assert r2["id"] == 2 and r2["result"]["state"] == "running"


def test_autostart(daemon):
    daemon.define(domain_xml("auto"))
    assert daemon.ok("autostart", "auto") == "Domain 'auto' marked as autostarted\n\n"
    assert (daemon.config / "domains" / "autostart" / "auto.xml").exists()
    assert "Autostart:      enable\n" in daemon.ok("dominfo", "auto")
    assert daemon.ok("list", "--all", "--autostart", "--name") == "auto\n\n"
    daemon.stop()
    daemon.start()
    # autostart runs on the daemon loop: the domain comes up shortly after
    daemon.wait_state("auto", "running (booted)")
    assert daemon.ok("autostart", "auto", "--disable") == "Domain 'auto' unmarked as autostarted\n\n"
    assert not (daemon.config / "domains" / "autostart" / "auto.xml").exists()


# ---- bad input: clear errors, nothing changes on disk -----------------------

BAD_XML = [
    ("<domain type='kvm'><name>x</name>", "XML does not parse"),
    ("<network><name>x</name></network>", "expected a <domain> root element"),
    ("<domain type='xen'><name>x</name><memory>65536</memory><os><type>hvm</type></os></domain>",
     "<domain type='xen'>: unsupported value"),
    ("<domain type='kvm'><memory>65536</memory><os><type>hvm</type></os></domain>", "missing <name>"),
    ("<domain type='kvm'><name>x</name><memory unit='parsecs'>1</memory><os><type>hvm</type></os></domain>",
     "<memory>: invalid size '1' with unit 'parsecs'"),
    ("<domain type='kvm'><name>x</name><memory>65536</memory><vcpu>0</vcpu><os><type>hvm</type></os></domain>",
     "<vcpu>: 0 is out of range"),
    ("<domain type='kvm'><name>x</name><uuid>not-a-uuid</uuid><memory>65536</memory><os><type>hvm</type></os></domain>",
     "<uuid>: 'not-a-uuid' is not a valid UUID"),
    ("<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os>"
     "<devices><graphics type='vnc'/></devices></domain>",
     "<devices>: element <graphics> is not supported by virtkit"),
    ("<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os>"
     "<devices><disk type='file' device='disk'><source file='/x'/><target dev='sda' bus='sata'/></disk></devices></domain>",
     "bus 'sata' is not supported"),
    ("<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os>"
     "<devices><interface type='network'><source network='n'/><model type='e1000'/></interface></devices></domain>",
     "<interface><model type='e1000'>: only 'virtio' is supported"),
    ("<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><frobnicate/></domain>",
     "<domain>: unsupported element <frobnicate>"),
    ("<domain type='kvm'><name>a/b</name><memory>65536</memory><os><type>hvm</type></os></domain>",
     "<name>: 'a/b' contains '/'"),
    ("<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os>"
     "<on_crash>explode</on_crash></domain>", "<on_crash>: unsupported action 'explode'"),
]


@pytest.mark.parametrize("xml,msg", BAD_XML, ids=[m for _, m in BAD_XML])
def test_invalid_xml_is_refused_clearly(daemon, xml, msg):
    daemon.define(domain_xml("existing"))
    before = daemon.config_snapshot()
    p = daemon.root / "bad.xml"
    p.write_text(xml)
    r = daemon.virtkit("define", p)
    assert r.returncode == 1
    assert msg in r.stderr, r.stderr
    assert daemon.config_snapshot() == before


def test_duplicate_names_and_uuids(daemon):
    u1 = "11111111-2222-4333-8444-555555555555"
    daemon.define(domain_xml("one", uuid=u1))
    before = daemon.config_snapshot()
    p = daemon.root / "dup.xml"
    p.write_text(domain_xml("one", uuid="99999999-2222-4333-8444-555555555555"))
    r = daemon.virtkit("define", p)
    assert r.returncode == 1 and f"domain 'one' is already defined with uuid {u1}" in r.stderr
    p.write_text(domain_xml("two", uuid=u1))
    r = daemon.virtkit("define", p)
    assert r.returncode == 1 and f"domain 'one' already exists with uuid {u1}" in r.stderr
    r = daemon.virtkit("create", p)
    assert r.returncode == 1 and "already exists" in r.stderr
    assert daemon.config_snapshot() == before
    assert daemon.ok("list", "--all", "--name") == "one\n\n"
    # same name and uuid = an update of the definition
    daemon.define(domain_xml("one", uuid=u1, memory_mib=128))
    assert "Max memory:     131072 KiB" in daemon.ok("dominfo", "one")


def test_missing_disk_file(daemon):
    daemon.define(domain_xml("nodisk", disk="/nonexistent/disk.qcow2"))
    before = daemon.config_snapshot()
    r = daemon.virtkit("start", "nodisk")
    assert r.returncode == 1
    assert "Cannot access storage file '/nonexistent/disk.qcow2'" in r.stderr
    assert "No such file or directory" in r.stderr
    assert daemon.state("nodisk") == "shut off (unknown)"
    assert daemon.config_snapshot() == before
    assert not list((daemon.run / "domains").glob("*"))


def test_unknown_domain(daemon):
    for cmd in ("dominfo", "start", "destroy", "dumpxml", "undefine", "domstate"):
        r = daemon.virtkit(cmd, "ghost")
        assert r.returncode == 1 and "failed to get domain 'ghost'" in r.stderr


def test_libvirt_written_samples_are_accepted(daemon):
    samples = sorted(SAMPLES.glob("*.xml"))
    assert samples, "no samples"
    for s in samples:
        r = daemon.virtkit("define", s)
        assert r.returncode == 0, f"{s.name}: {r.stderr}"
    names = daemon.ok("list", "--all", "--name").split()
    assert len(names) == len(samples)
    for n in names:
        xml = daemon.ok("dumpxml", n)
        (daemon.root / "round.xml").write_text(xml)
        before = daemon.config_snapshot()
        daemon.ok("define", daemon.root / "round.xml")
        assert daemon.config_snapshot() == before, n


# ---- concurrency and access -------------------------------------------------

def test_twenty_concurrent_clients(daemon):
    def client(i):
        for k in range(4):
            p = daemon.root / f"c{i}-{k}.xml"
            p.write_text(domain_xml(f"c{i}-{k}"))
            r = daemon.virtkit("define", p)
            assert r.returncode == 0, r.stderr
            r = daemon.virtkit("list", "--all", "--name")
            assert r.returncode == 0 and f"c{i}-{k}" in r.stdout.split()
        for k in (1, 3):
            r = daemon.virtkit("undefine", f"c{i}-{k}")
            assert r.returncode == 0, r.stderr
        return i
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
        assert sorted(ex.map(client, range(20))) == list(range(20))
    want = sorted(f"c{i}-{k}" for i in range(20) for k in (0, 2))
    assert sorted(daemon.ok("list", "--all", "--name").split()) == want
    on_disk = sorted(p.stem for p in (daemon.config / "domains").glob("*.xml"))
    assert on_disk == want
    daemon.stop()
    daemon.start()
    assert sorted(daemon.ok("list", "--all", "--name").split()) == want


def test_daemon_crash_loses_no_acknowledged_domain(daemon):
    """kill -9 the daemon while a client defines domains: every define that
    was acknowledged is there after a restart, and no file is torn."""
    import threading
    acked = []

    def definer():
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(daemon.run / "virtkit-sock"))
        f = s.makefile("rw")
        try:
            for i in range(2000):
                f.write(json.dumps({"id": i, "method": "domain.define",
                                    "params": {"xml": domain_xml(f"crash{i}")}}) + "\n")
                f.flush()
                line = f.readline()
                if not line:
                    return
                if "result" in json.loads(line):
                    acked.append(f"crash{i}")
        except OSError:
            return
    t = threading.Thread(target=definer)
    t.start()
    deadline = time.time() + 30
    while len(acked) < 25 and time.time() < deadline:
        time.sleep(0.01)
    daemon.stop(signal.SIGKILL)
    t.join(timeout=30)
    assert len(acked) >= 25
    daemon.start()
    listed = set(daemon.ok("list", "--all", "--name").split())
    assert set(acked) <= listed
    files = sorted(p.name for p in (daemon.config / "domains").iterdir() if p.is_file())
    assert files == sorted(f"{n}.xml" for n in listed)      # no torn or temporary files
    assert "skipping" not in (daemon.root / "virtkitd.log").read_text()


def nobody_can_run_virtkit():
    r = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             binary("virtkit"), "--version"])
    return r.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="SKIP: needs root to run clients as nobody")
def test_permissions(daemon):
    if not nobody_can_run_virtkit():
        pytest.skip("SKIP: user nobody cannot execute the build tree's virtkit")
    daemon.define(domain_xml("guarded"))
    before = daemon.config_snapshot()
    p = daemon.root / "evil.xml"
    p.write_text(domain_xml("evil"))
    p.chmod(0o644)
    # the read-write socket is 0660 root:virtkit: nobody cannot even connect
    r = daemon.virtkit("define", p, user="nobody")
    assert r.returncode == 1 and "Permission denied" in r.stderr
    # the read-only socket: queries work, changes are refused
    r = daemon.virtkit("-r", "list", "--all", "--name", user="nobody")
    assert r.returncode == 0 and r.stdout == "guarded\n\n"
    r = daemon.virtkit("-r", "define", p, user="nobody")
    assert r.returncode == 1 and "access denied" in r.stderr
    r = daemon.virtkit("-r", "undefine", "guarded")          # root, but read-only
    assert r.returncode == 1 and "access denied" in r.stderr
    # the credentials decide, not just the file mode: open up the rw socket
    os.chmod(daemon.run / "virtkit-sock", 0o666)
    r = daemon.virtkit("start", "guarded", user="nobody")
    assert r.returncode == 1 and "access denied" in r.stderr
    r = daemon.virtkit("dominfo", "guarded", user="nobody")
    assert r.returncode == 0
    assert daemon.config_snapshot() == before
    assert daemon.state("guarded") == "shut off (unknown)"


@pytest.mark.skipif(os.geteuid() != 0, reason="SKIP: needs root to run clients as other users")
def test_admin_group_members_may_change_things():
    """Members of the admin group (here `nogroup`, via --group) get the
    read-write socket; the same user in another group does not."""
    if not nobody_can_run_virtkit():
        pytest.skip("SKIP: user nobody cannot execute the build tree's virtkit")
    d = Daemon(env={"VIRTKIT_GROUP": "nogroup"})
    try:
        d.start()
        sock = d.run / "virtkit-sock"
        assert sock.stat().st_gid == int(run(["getent", "group", "nogroup"]).stdout.split(":")[2])
        p = d.root / "member.xml"
        p.write_text(domain_xml("member"))
        p.chmod(0o644)
        assert d.ok("define", p, user="nobody") == f"Domain 'member' defined from {p}\n\n"
        # the same user with another primary group: refused
        cmd = ["setpriv", "--reuid=nobody", "--regid=daemon", "--clear-groups", binary("virtkit"),
               "-c", "virtkit:///system", "undefine", "member"]
        r = run(cmd, env=d.env)
        assert r.returncode == 1 and "Permission denied" in r.stderr
        os.chmod(sock, 0o666)
        r = run(cmd, env=d.env)
        assert r.returncode == 1 and "access denied" in r.stderr
        assert d.ok("list", "--all", "--name") == "member\n\n"
    finally:
        d.cleanup()


def test_raw_protocol_errors(daemon):
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.run / "virtkit-sock"))
    f = s.makefile("rw")

    def send(line):
        f.write(line + "\n")
        f.flush()
        return json.loads(f.readline())
    assert send("not json")["error"]["code"] == "invalid-request"
    assert send('{"id": 3, "method": "no.such"}') == {
        "id": 3, "error": {"code": "no-method", "errno": 0, "message": "unknown method 'no.such'"}}
    r = send('{"id": 4, "method": "domain.info", "params": {"domain": 5}}')
    assert r["error"]["code"] == "invalid-request"
    r = send('{"id": 5, "method": "daemon.hello", "params": {"protocol": 99}}')
    assert r["error"]["code"] == "version-mismatch"
    r = send('{"id": 6, "method": "daemon.hello"}')
    assert r["result"]["protocol"] == 1 and r["result"]["privileged"] is True
    # events: a subscriber sees lifecycle events
    assert send('{"id": 7, "method": "events.subscribe"}') == {"id": 7, "result": {}}
    daemon.define(domain_xml("ev"))
    ev = json.loads(f.readline())
    assert ev["event"] == "domain.lifecycle"
    assert ev["data"]["name"] == "ev" and ev["data"]["event"] == "defined"
    s.close()


# ---- config changes -----------------------------------------------------------

def test_interfaces_memory_vcpus_config(daemon):
    daemon.define(domain_xml("cfg"))
    out = daemon.ok("attach-interface", "cfg", "--type", "network", "--source", "default",
                    "--model", "virtio", "--mac", "52:54:00:aa:bb:cc", "--config")
    assert out == "Interface attached successfully\n\n"
    daemon.ok("attach-interface", "cfg", "--type", "bridge", "--source", "br0", "--config")
    lst = daemon.ok("domiflist", "cfg")
    lines = lst.splitlines()
    assert lines[0].split() == ["Interface", "Type", "Source", "Model", "MAC"]
    assert lines[2].split() == ["-", "network", "default", "virtio", "52:54:00:aa:bb:cc"]
    assert lines[3].split()[:4] == ["-", "bridge", "br0", "virtio"]
    assert lines[3].split()[4].startswith("52:54:00:")
    js = json.loads(daemon.ok("domiflist", "cfg", "--json"))
    assert len(js) == 2
    xml = (daemon.config / "domains" / "cfg.xml").read_text()
    assert "<source network='default'/>" in xml and "<source bridge='br0'/>" in xml
    r = daemon.virtkit("detach-interface", "cfg", "--type", "network", "--mac", "52:54:00:00:00:01", "--config")
    assert r.returncode == 1 and "no interface found" in r.stderr
    assert daemon.ok("detach-interface", "cfg", "--type", "network", "--config") == \
        "Interface detached successfully\n\n"
    assert len(json.loads(daemon.ok("domiflist", "cfg", "--json"))) == 1
    daemon.ok("setmem", "cfg", "32M", "--config")
    assert "Used memory:    32768 KiB" in daemon.ok("dominfo", "cfg")
    r = daemon.virtkit("setmem", "cfg", "1G", "--config")
    assert r.returncode == 1 and "higher than max memory" in r.stderr
    daemon.ok("setvcpus", "cfg", "2", "--config")
    assert "CPU(s):         2" in daemon.ok("dominfo", "cfg")
    # live interface changes go through PCI hot-plug (tests/e2e/test_hotplug.py);
    # here the network is not active: a clear error
    daemon.define(domain_xml("live"))
    daemon.ok("start", "live")
    r = daemon.virtkit("attach-interface", "live", "--type", "network", "--source", "default", "--live")
    assert r.returncode == 1 and "network 'default' is not active" in r.stderr
    r = daemon.virtkit("setvcpus", "live", "1")
    assert r.returncode == 1 and "not supported yet" in r.stderr


def test_setmem_live_balloon(daemon):
    """setmem --live/--current balloons the running VM (QMP balloon), dominfo
    and dommemstat read query-balloon back; without a balloon device the
    libvirt error; above <memory> refused; --config keeps working."""
    daemon.define(domain_xml("bal", memory_mib=256,
                             extra_devices="<memballoon model='virtio'/>"
                             "<rng model='virtio'><backend model='random'>/dev/random</backend></rng>"))
    r = daemon.virtkit("setmem", "bal", "128M", "--live")
    assert r.returncode == 1 and "domain is not running" in r.stderr
    r = daemon.virtkit("dommemstat", "bal")
    assert r.returncode == 1 and "domain is not running" in r.stderr
    daemon.ok("start", "bal")
    log = (daemon.logs / "domains" / "bal.log").read_text()
    assert "--device virtio-rng" in log and "--device virtio-balloon" in log
    assert "Used memory:    262144 KiB" in daemon.ok("dominfo", "bal")
    assert daemon.ok("setmem", "bal", "128M", "--live") == "\n"
    assert "Used memory:    131072 KiB" in daemon.ok("dominfo", "bal")
    st = daemon.ok("dommemstat", "bal")
    lines = st.splitlines()
    assert lines[0] == "actual 131072" and lines[1].startswith("rss ") and int(lines[1][4:]) > 0
    assert st.endswith("\n\n")
    js = json.loads(daemon.ok("dommemstat", "bal", "--json"))
    assert js["actual"] == 131072 and js["rss"] > 0
    daemon.ok("setmem", "bal", "200M")              # --current on a running domain = live
    assert json.loads(daemon.ok("dominfo", "bal", "--json"))["memory_kib"] == 204800
    # the persistent config did not change; the live XML did
    assert "<currentMemory unit='KiB'>262144</currentMemory>" in daemon.ok("dumpxml", "bal", "--inactive")
    assert "<currentMemory unit='KiB'>204800</currentMemory>" in daemon.ok("dumpxml", "bal")
    r = daemon.virtkit("setmem", "bal", "512M", "--live")
    assert r.returncode == 1
    assert r.stderr == "virtkit: setmem: invalid argument: cannot set memory higher than max memory\n"
    r = daemon.virtkit("setmem", "bal", "64M", "--live", "--config")
    assert r.returncode == 0, r.stderr
    assert "<currentMemory unit='KiB'>65536</currentMemory>" in daemon.ok("dumpxml", "bal", "--inactive")
    assert json.loads(daemon.ok("dommemstat", "bal", "--json"))["actual"] == 65536
    # no balloon device: libvirt's message, nothing changes
    daemon.define(domain_xml("nobal", memory_mib=128, extra_devices="<memballoon model='none'/>"))
    daemon.ok("start", "nobal")
    assert "virtio-balloon" not in (daemon.logs / "domains" / "nobal.log").read_text()
    r = daemon.virtkit("setmem", "nobal", "64M", "--live")
    assert r.returncode == 1 and r.stderr == (
        "virtkit: setmem: Requested operation is not valid: Unable to change memory of active "
        "domain without the balloon device and guest OS balloon driver\n")
    assert "Used memory:    131072 KiB" in daemon.ok("dominfo", "nobal")
    st = daemon.ok("dommemstat", "nobal")
    assert st.startswith("rss ") and "actual" not in st


def test_blk_listings(daemon):
    img = daemon.root / "d.img"
    img.write_bytes(b"\1" * 1048576)
    daemon.define(domain_xml("blk", disk=img))
    assert daemon.ok("domblklist", "blk") == (" Target   Source\n"
                                              + "-" * (6 + 3 + len(str(img)) + 3) + "\n"
                                              + f" vda      {img}\n\n")
    details = daemon.ok("domblklist", "blk", "--details").splitlines()
    assert details[0].split() == ["Type", "Device", "Target", "Source"]
    assert details[2].split() == ["file", "disk", "vda", str(img)]
    info = daemon.ok("domblkinfo", "blk", "vda")
    assert info == ("Capacity:       1048576\nAllocation:     1048576\n"
                    "Physical:       1048576\n\n")
    assert "Capacity:       1.000 MiB" in daemon.ok("domblkinfo", "blk", "vda", "--human")
    assert json.loads(daemon.ok("domblkinfo", "blk", "vda", "--json"))["capacity"] == 1048576


def test_edit_revalidates(daemon):
    daemon.define(domain_xml("ed"))
    script = daemon.root / "editor.sh"
    script.write_text("#!/bin/sh\nsed -i 's/65536/131072/g' \"$1\"\n")
    script.chmod(0o755)
    out = daemon.ok("edit", "ed", env={"EDITOR": str(script), "VISUAL": ""})
    assert out == "Domain 'ed' XML configuration edited.\n\n"
    assert "Max memory:     131072 KiB" in daemon.ok("dominfo", "ed")
    before = daemon.config_snapshot()
    script.write_text("#!/bin/sh\nsed -i 's/<vcpu placement=.static.>1</<vcpu>zero</' \"$1\"\n")
    r = daemon.virtkit("edit", "ed", env={"EDITOR": str(script), "VISUAL": ""})
    assert r.returncode == 1 and "<vcpu>" in r.stderr and "not changed" in r.stderr
    assert daemon.config_snapshot() == before


EVD_UUID = "0e0e0e0e-1111-4222-8333-444455556666"


def test_event_command(daemon):
    daemon.define(domain_xml("evd", uuid=EVD_UUID))
    p = subprocess.Popen([binary("virtkit"), "-c", "virtkit:///system", "event", "--all", "--loop",
                          "--timeout", "30"], env=daemon.env, stdout=subprocess.PIPE)
    try:
        # wait until the client is subscribed: re-defining emits "Defined Updated"
        seen = b""
        for _ in range(100):
            daemon.define(domain_xml("evd", uuid=EVD_UUID))
            seen += read_until(p, b"Defined Updated", timeout=0.2)
            if b"Defined Updated" in seen:
                break
        assert b"event 'lifecycle' for domain 'evd': Defined Updated" in seen
        daemon.ok("start", "evd")
        daemon.ok("suspend", "evd")
        daemon.ok("resume", "evd")
        daemon.ok("destroy", "evd")
        daemon.ok("undefine", "evd")
        out = read_until(p, b"Undefined Removed").decode()
    finally:
        p.kill()
        p.wait()
    lines = [x for x in out.splitlines() if "Defined Updated" not in x and x]
    assert lines == [
        "event 'lifecycle' for domain 'evd': Started Booted",
        "event 'lifecycle' for domain 'evd': Suspended Paused",
        "event 'lifecycle' for domain 'evd': Resumed Unpaused",
        "event 'lifecycle' for domain 'evd': Stopped Destroyed",
        "event 'lifecycle' for domain 'evd': Undefined Removed",
    ]
    r = daemon.virtkit("event", "--all", "--timeout", "1")
    assert r.returncode == 0 and r.stdout == "event loop timed out\nevents received: 0\n\n"


def test_host_commands(daemon):
    assert daemon.ok("uri") == "virtkit:///system\n\n"
    assert daemon.ok("hostname").strip() == socket.gethostname()
    info = daemon.ok("nodeinfo")
    assert info.startswith("CPU model:           ")
    assert f"CPU(s):              {os.cpu_count()}\n" in info
    assert json.loads(daemon.ok("nodeinfo", "--json"))["cpus"] == os.cpu_count()
    assert "<capabilities>" in daemon.ok("capabilities")
    assert "Running hypervisor: virtkit-vm" in daemon.ok("version")


def test_interactive_shell(daemon):
    daemon.define(domain_xml("sh1"))
    r = daemon.virtkit(input="list --all\ndomstate sh1\nbogus\nquit\n")
    assert " -    sh1    shut off" in r.stdout
    assert "shut off\n" in r.stdout
    assert "unknown command: 'bogus'" in r.stderr


def test_session_daemon_autostarts(daemon):
    """The session URI starts a per-user daemon on first use."""
    env = {"VIRTKIT_DAEMON": binary("virtkitd")}
    sess = daemon.root / "session" / "run"
    try:
        r = daemon.virtkit("list", "--all", uri="virtkit:///session", env=env)
        assert r.returncode == 0, r.stderr
        assert (sess / "virtkit-sock").exists()
        assert daemon.ok("uri", uri="virtkit:///session", env=env) == "virtkit:///session\n\n"
        # session and system are separate instances
        daemon.define(domain_xml("sysonly"))
        assert daemon.ok("list", "--all", "--name", uri="virtkit:///session", env=env) == "\n"
    finally:
        pidfile = sess / "virtkitd.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
            for _ in range(200):
                if not pidfile.exists():
                    break
                time.sleep(0.02)
