"""Virtual networks end to end: virtkitd runs inside a network namespace the
test creates (state rooted in a temp dir), a second namespace plays a DHCP
client behind the bridge, a third one the "outside" the NAT leads to.
Nothing is ever sent to an address outside these namespaces; namespaces,
processes and files are removed afterwards, also on failure."""
import ipaddress
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import binary, needs_kvm, needs_root, needs_tool, run

pytestmark = [needs_root, needs_tool("ip"), needs_tool("nft"), needs_tool("dnsmasq"),
              needs_tool("busybox")]

EXAMPLE = """<network>
  <name>default</name>
  <forward mode='nat'>
    <nat>
      <port start='1024' end='65535'/>
    </nat>
  </forward>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.120.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.120.100' end='192.168.120.200'/>
    </dhcp>
  </ip>
</network>
"""

CLIENT_MAC = "52:54:00:aa:00:01"

# A stand-in emulator for domain tests: answers the QMP control socket
# with empty successes, accepts serial connections, and just holds the TAP
# fds it is given (--net fd=N,...) until told to quit or killed.
HOLDING_VM = r"""#!/usr/bin/python3
import json, os, select, socket, sys
args = sys.argv[1:]
def listen(path):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(4)
    return s
ctl = listen(args[args.index("--control") + 1])
ser = args[args.index("--serial") + 1]
ser = listen(ser[5:]) if ser.startswith("unix:") else None
conns = {}
def say(c, o):
    try:
        c.sendall((json.dumps(o) + "\n").encode())
    except OSError:
        pass
while True:
    socks = [ctl] + ([ser] if ser else []) + list(conns)
    for s in select.select(socks, [], [])[0]:
        if s is ctl:
            c = ctl.accept()[0]
            conns[c] = b""
            say(c, {"QMP": {"version": {"qemu": {"major": 8, "minor": 0, "micro": 0}}, "capabilities": []}})
        elif s is ser:
            ser.accept()
        else:
            data = s.recv(4096)
            if not data:
                del conns[s]
                continue
            conns[s] += data
            while b"\n" in conns[s]:
                line, conns[s] = conns[s].split(b"\n", 1)
                try:
                    cmd = json.loads(line).get("execute")
                except ValueError:
                    continue
                say(s, {"return": {}})
                if cmd in ("quit", "system_powerdown"):
                    sys.exit(0)
"""


def ns_exec(ns, *args, **kw):
    return run(["ip", "netns", "exec", ns, *map(str, args)], **kw)


class Env:
    """Namespaces + a virtkitd inside the main one."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.ns, self.client, self.outside = (f"vktest-{tag}-{s}" for s in ("h", "c", "o"))
        self.made = []
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="vk-net-e2e-"))
        self.daemon = None
        self.env = dict(os.environ, VIRTKIT_ROOT=str(self.root))
        self.env.pop("VIRTKIT_DEFAULT_URI", None)

    def setup(self):
        for ns in (self.ns, self.client, self.outside):
            r = run(["ip", "netns", "add", ns])
            if r.returncode != 0:
                pytest.skip(f"SKIP: cannot create a network namespace: {r.stderr.strip()}")
            self.made.append(ns)
            ns_exec(ns, "ip", "link", "set", "lo", "up")

    def start_daemon(self, **extra_env):
        env = dict(self.env, **extra_env)
        log = open(self.root / "virtkitd.log", "a")
        self.daemon = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, binary("virtkitd"), "--root", str(self.root)],
            env=env, stdout=log, stderr=log)
        sock = self.root / "run" / "virtkit" / "virtkit-sock"
        for _ in range(200):
            if sock.exists() and self.vk("net-list", "--all").returncode == 0:
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail("virtkitd did not come up: " + (self.root / "virtkitd.log").read_text())

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def vk(self, *args, env=None, **kw):
        return run([binary("virtkit"), *map(str, args)], env=env or self.env, **kw)

    def dnsmasq_pids(self):
        """dnsmasq processes started for this test's state directory."""
        pids = []
        for p in pathlib.Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"dnsmasq") and any(str(self.root).encode() in c for c in cmd):
                pids.append(int(p.name))
        return pids

    def teardown(self):
        self.stop_daemon()
        for pid in self.dnsmasq_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for ns in self.made:
            run(["ip", "netns", "del", ns])
        shutil.rmtree(self.root, ignore_errors=True)

    # helpers -------------------------------------------------------------
    def define_example(self, xml=EXAMPLE, name="net.xml"):
        path = self.root / name
        path.write_text(xml)
        r = self.vk("net-define", path)
        assert r.returncode == 0, r.stderr
        return path

    def plug_client(self, mac=CLIENT_MAC):
        """veth from the client namespace into virbr0."""
        assert ns_exec(self.ns, "ip", "link", "add", "vc0", "type", "veth", "peer",
                       "name", "vc1").returncode == 0
        ns_exec(self.ns, "ip", "link", "set", "vc1", "netns", self.client)
        ns_exec(self.ns, "ip", "link", "set", "vc0", "master", "virbr0", "up")
        ns_exec(self.client, "ip", "link", "set", "vc1", "address", mac)
        ns_exec(self.client, "ip", "link", "set", "vc1", "up")

    def dhcp(self):
        """busybox udhcpc in the client namespace; returns the leased IP.
        STP makes the new port wait through listening/learning first, so
        udhcpc retries for a while."""
        r = ns_exec(self.client, shutil.which("busybox"), "udhcpc", "-i", "vc1", "-n", "-q",
                    "-t", "15", "-T", "2", "-s", "/bin/true", "-x", "hostname:client1",
                    timeout=90)
        m = re.search(r"lease of ([0-9.]+) obtained", r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        return m.group(1)

    def plug_outside(self):
        ns_exec(self.ns, "ip", "link", "add", "vo0", "type", "veth", "peer", "name", "vo1")
        ns_exec(self.ns, "ip", "link", "set", "vo1", "netns", self.outside)
        ns_exec(self.ns, "ip", "addr", "add", "10.77.0.1/24", "dev", "vo0")
        ns_exec(self.ns, "ip", "link", "set", "vo0", "up")
        ns_exec(self.outside, "ip", "addr", "add", "10.77.0.2/24", "dev", "vo1")
        ns_exec(self.outside, "ip", "link", "set", "vo1", "up")


@pytest.fixture
def env():
    e = Env()
    try:
        e.setup()
        e.start_daemon()
        yield e
    finally:
        e.teardown()


def reach_outside(env, attempts=50):
    """Client namespace connects to a TCP server in the outside namespace;
    returns the (address, port) the server saw, or None."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", env.outside, "python3", "-c",
         "import socket\n"
         "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         "s.bind(('10.77.0.2', 8080)); s.listen(1); s.settimeout(30)\n"
         "c, peer = s.accept(); c.sendall(('%s %d' % peer).encode()); c.close()\n"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(attempts):
            r = ns_exec(env.client, "python3", "-c",
                        "import socket\n"
                        "s=socket.create_connection(('10.77.0.2', 8080), timeout=2)\n"
                        "print(s.recv(100).decode())\n", timeout=20)
            if r.returncode == 0:
                return r.stdout.split()
            time.sleep(0.1)
        return None
    finally:
        server.kill()
        server.wait()


def nft_table(env):
    return ns_exec(env.ns, "nft", "list", "table", "inet", "virtkit_default")


def test_nat_network_dhcp_and_masquerade(env):
    env.define_example()
    r = env.vk("net-list", "--all")
    assert re.search(r"^ default\s+inactive\s+no\s+yes\s*$", r.stdout, re.M), r.stdout
    r = env.vk("net-start", "default")
    assert r.returncode == 0, r.stderr
    assert "Network default started" in r.stdout
    r = env.vk("net-list")
    assert r.stdout.splitlines()[0].split() == ["Name", "State", "Autostart", "Persistent"]
    assert re.search(r"^ default\s+active\s+no\s+yes\s*$", r.stdout, re.M), r.stdout

    # bridge, STP, address
    show = ns_exec(env.ns, "brctl", "show", "virbr0").stdout
    assert re.search(r"^virbr0\s+\S+\s+yes", show, re.M), show
    addr = ns_exec(env.ns, "ip", "-4", "-o", "addr", "show", "dev", "virbr0").stdout
    assert "192.168.120.1/24" in addr
    assert "state UP" in ns_exec(env.ns, "ip", "link", "show", "virbr0").stdout or \
        "UP" in ns_exec(env.ns, "ip", "link", "show", "virbr0").stdout
    # nftables: our table with masquerade over the port range
    t = nft_table(env)
    assert t.returncode == 0, t.stderr
    assert "masquerade to :1024-65535" in t.stdout
    assert "ct state established,related accept" in t.stdout
    assert ns_exec(env.ns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    # dnsmasq bound to the bridge only
    pids = env.dnsmasq_pids()
    assert len(pids) == 1
    conf = next((env.root / "var/lib/virtkit/networks").glob("default.conf")).read_text()
    assert "interface=virbr0" in conf and "bind-dynamic" in conf
    assert "dhcp-range=192.168.120.100,192.168.120.200,255.255.255.0" in conf

    # a DHCP client behind the bridge gets a lease in range ...
    env.plug_client()
    ip = env.dhcp()
    assert ipaddress.ip_address("192.168.120.100") <= ipaddress.ip_address(ip) <= \
        ipaddress.ip_address("192.168.120.200")
    # ... which net-dhcp-leases shows
    r = env.vk("net-dhcp-leases", "default")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0].split() == ["Expiry", "Time", "MAC", "address", "Protocol",
                                               "IP", "address", "Hostname", "Client", "ID", "or", "DUID"]
    line = next(l for l in r.stdout.splitlines() if CLIENT_MAC in l)
    assert f"{ip}/24" in line and "ipv4" in line and "client1" in line
    leases = json.loads(env.vk("net-dhcp-leases", "default", "--json").stdout)
    assert [(l["mac"], l["ip"]) for l in leases] == [(CLIENT_MAC, ip)]
    only = json.loads(env.vk("net-dhcp-leases", "default", "--mac", "52:54:00:00:00:99",
                             "--json").stdout)
    assert only == []

    # NAT: the client reaches a server "outside", which sees the host's outside address
    env.plug_outside()
    ns_exec(env.client, "ip", "addr", "replace", f"{ip}/24", "dev", "vc1")
    ns_exec(env.client, "ip", "route", "replace", "default", "via", "192.168.120.1")
    got = reach_outside(env)
    assert got, "client could not reach the outside server"
    assert got[0] == "10.77.0.1"          # masqueraded to the outside address
    assert 1024 <= int(got[1]) <= 65535

    # destroy removes everything we created, nothing else
    r = env.vk("net-destroy", "default")
    assert r.returncode == 0 and "Network default destroyed" in r.stdout
    assert ns_exec(env.ns, "ip", "link", "show", "virbr0").returncode != 0
    assert nft_table(env).returncode != 0
    assert env.dnsmasq_pids() == []
    assert "vo0" in ns_exec(env.ns, "ip", "link", "show").stdout   # not ours: untouched
    r = env.vk("net-list", "--all")
    assert re.search(r"^ default\s+inactive", r.stdout, re.M)


def test_daemon_restart_adopts_network(env):
    env.define_example()
    assert env.vk("net-start", "default").returncode == 0
    env.plug_client()
    ip = env.dhcp()
    before_pids = env.dnsmasq_pids()
    before_rules = nft_table(env).stdout
    env.stop_daemon()
    env.start_daemon()
    assert env.dnsmasq_pids() == before_pids            # same process, no second one
    assert nft_table(env).stdout == before_rules         # replaced in place, not doubled
    assert ns_exec(env.ns, "nft", "list", "tables").stdout.count("virtkit_default") == 1
    r = env.vk("net-list")
    assert re.search(r"^ default\s+active", r.stdout, re.M), r.stdout
    r = env.vk("net-dhcp-leases", "default")
    assert CLIENT_MAC in r.stdout and ip in r.stdout     # leases kept
    # a dnsmasq that dies is restarted by the daemon
    os.kill(before_pids[0], signal.SIGKILL)
    for _ in range(100):
        now = env.dnsmasq_pids()
        if now and now != before_pids:
            break
        time.sleep(0.05)
    assert now and now != before_pids
    assert env.vk("net-destroy", "default").returncode == 0
    assert env.dnsmasq_pids() == []


def test_bad_input_leaves_nothing(env):
    env.define_example()
    assert env.vk("net-start", "default").returncode == 0
    links_before = ns_exec(env.ns, "ip", "-o", "link", "show").stdout.count("\n")

    overlap = EXAMPLE.replace("<name>default</name>", "<name>other</name>") \
        .replace("virbr0", "virbr1").replace("255.255.255.0", "255.255.255.128") \
        .replace("192.168.120.1'", "192.168.120.65'") \
        .replace("192.168.120.100", "192.168.120.66").replace("192.168.120.200", "192.168.120.120")
    env.define_example(overlap, "other.xml")
    r = env.vk("net-start", "other")
    assert r.returncode == 1 and "overlaps" in r.stderr and "virbr0" in r.stderr, r.stderr
    assert ns_exec(env.ns, "ip", "link", "show", "virbr1").returncode != 0
    assert ns_exec(env.ns, "nft", "list", "tables").stdout.count("virtkit_other") == 0

    ns_exec(env.ns, "ip", "link", "add", "brused", "type", "bridge")
    used = EXAMPLE.replace("<name>default</name>", "<name>used</name>") \
        .replace("virbr0", "brused").replace("192.168.120.", "192.168.130.")
    env.define_example(used, "used.xml")
    r = env.vk("net-start", "used")
    assert r.returncode == 1 and "brused" in r.stderr and "in use" in r.stderr, r.stderr
    assert ns_exec(env.ns, "ip", "-4", "addr", "show", "dev", "brused").stdout.strip() == ""

    bad_range = EXAMPLE.replace("<name>default</name>", "<name>bad</name>") \
        .replace("192.168.120.200", "192.168.121.200")
    path = env.root / "bad.xml"
    path.write_text(bad_range)
    r = env.vk("net-define", path)
    assert r.returncode == 1 and "<range>" in r.stderr, r.stderr
    assert "bad" not in env.vk("net-list", "--all", "--name").stdout

    assert env.vk("net-start", "default").returncode == 1   # already active
    assert ns_exec(env.ns, "ip", "-o", "link", "show").stdout.count("\n") == links_before + 1  # + brused
    assert len(env.dnsmasq_pids()) == 1


def test_missing_dnsmasq_is_a_clear_error(env):
    env.define_example()
    env.stop_daemon()
    env.start_daemon(VIRTKIT_DNSMASQ="/nonexistent/dnsmasq")
    r = env.vk("net-start", "default")
    assert r.returncode == 1 and "dnsmasq" in r.stderr, r.stderr
    assert ns_exec(env.ns, "ip", "link", "show", "virbr0").returncode != 0
    assert nft_table(env).returncode != 0
    r = env.vk("net-list", "--all")
    assert re.search(r"^ default\s+inactive", r.stdout, re.M)


def test_definitions_and_updates(env):
    env.define_example()
    info = env.vk("net-info", "default").stdout.splitlines()
    assert info[0].split() == ["Name:", "default"]
    assert info[0].startswith("Name:           default")
    uid = env.vk("net-uuid", "default").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", uid)
    assert env.vk("net-name", uid).stdout.strip() == "default"
    xml = env.vk("net-dumpxml", "default").stdout
    assert f"<uuid>{uid}</uuid>" in xml and "<mac address='52:54:00:" in xml
    # redefining keeps the uuid
    env.define_example()
    assert env.vk("net-uuid", "default").stdout.strip() == uid

    r = env.vk("net-autostart", "default")
    assert r.returncode == 0 and "marked as autostarted" in r.stdout
    assert env.vk("net-info", "default", "--json").stdout.count('"autostart":true') == 1
    # autostart: a restarted daemon starts it
    env.stop_daemon()
    env.start_daemon()
    assert re.search(r"^ default\s+active\s+yes", env.vk("net-list").stdout, re.M)
    assert env.vk("net-autostart", "default", "--disable").returncode == 0

    host = "<host mac='52:54:00:aa:00:09' name='vm9' ip='192.168.120.9'/>"
    r = env.vk("net-update", "default", "add", "ip-dhcp-host", host, "--live", "--config")
    assert r.returncode == 0, r.stderr
    assert "persistent config and live state" in r.stdout
    hosts = (env.root / "var/lib/virtkit/networks/default.hostsfile").read_text()
    assert "52:54:00:aa:00:09,192.168.120.9,vm9" in hosts
    assert host.replace("/>", "/>") in env.vk("net-dumpxml", "default", "--inactive").stdout
    r = env.vk("net-update", "default", "add", "ip-dhcp-host", host, "--config")
    assert r.returncode == 1 and "already" in r.stderr
    r = env.vk("net-update", "default", "delete", "ip-dhcp-host", host)
    assert r.returncode == 0 and "live state" in r.stdout
    assert "vm9" not in (env.root / "var/lib/virtkit/networks/default.hostsfile").read_text()
    assert "vm9" in env.vk("net-dumpxml", "default", "--inactive").stdout   # --current = live only
    r = env.vk("net-update", "default", "add", "dns-host", "<host ip='1.2.3.4'/>")
    assert r.returncode == 1 and "not supported" in r.stderr

    # transient network: gone after destroy
    t = EXAMPLE.replace("<name>default</name>", "<name>tmp</name>") \
        .replace("virbr0", "virbr7").replace("192.168.120.", "192.168.140.")
    path = env.root / "tmp.xml"
    path.write_text(t)
    r = env.vk("net-create", path)
    assert r.returncode == 0 and "Network tmp created from" in r.stdout, r.stderr
    assert re.search(r"^ tmp\s+active\s+no\s+no", env.vk("net-list").stdout, re.M)
    assert env.vk("net-autostart", "tmp").returncode == 1
    assert env.vk("net-destroy", "tmp").returncode == 0
    assert "tmp" not in env.vk("net-list", "--all", "--name").stdout

    # undefining an active network leaves it running, now transient
    r = env.vk("net-undefine", "default")
    assert r.returncode == 0 and "has been undefined" in r.stdout
    assert re.search(r"^ default\s+active\s+no\s+no", env.vk("net-list").stdout, re.M)
    assert env.vk("net-destroy", "default").returncode == 0
    assert "default" not in env.vk("net-list", "--all", "--name").stdout
    r = env.vk("net-info", "default")
    assert r.returncode == 1 and "Network not found" in r.stderr


def test_domain_interfaces_get_taps_and_leases(env, tmp_path):
    """<interface type='network'> and type='bridge': the daemon asks the
    network side for a TAP (vnetN on the bridge, host MAC fe:...), hands the
    fd to the emulator (here the daemon tests' fake emulator, which only
    holds it), removes it when the domain stops. domifaddr reads the
    network's leases for the interface MAC: the DHCP client is played by a
    namespace using that MAC (this host's KVM cannot boot a stock Linux
    guest that would run its own DHCP client)."""
    fake = env.root / "fakevm.py"
    fake.write_text(HOLDING_VM)
    fake.chmod(0o755)
    env.stop_daemon()
    env.start_daemon(VIRTKIT_VM=str(fake))
    env.define_example()
    assert env.vk("net-start", "default").returncode == 0
    ns_exec(env.ns, "ip", "link", "add", "brhost", "type", "bridge")
    mac1, mac2 = "52:54:00:aa:00:05", "52:54:00:aa:00:06"
    ifaces = (f"<interface type='network'><source network='default'/><mac address='{mac1}'/>"
              f"<model type='virtio'/></interface>"
              f"<interface type='bridge'><source bridge='brhost'/><mac address='{mac2}'/>"
              f"<model type='virtio'/></interface>")
    xml = tmp_path / "dom.xml"
    xml.write_text("<domain type='kvm'><name>vm1</name><memory unit='MiB'>64</memory>"
                   "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>/bin/true</kernel>"
                   f"</os><devices><serial type='pty'/><console type='pty'/>{ifaces}</devices>"
                   "</domain>")
    r = env.vk("define", xml)
    assert r.returncode == 0, r.stderr
    r = env.vk("start", "vm1")
    assert r.returncode == 0, r.stderr + (env.root / "virtkitd.log").read_text()

    links = json.loads(ns_exec(env.ns, "ip", "-j", "link", "show").stdout)
    taps = {l["ifname"]: l for l in links if l["ifname"].startswith("vnet")}
    assert len(taps) == 2, taps
    by_master = {t["master"]: t for t in taps.values()}
    assert by_master["virbr0"]["address"] == "fe:54:00:aa:00:05"
    assert by_master["brhost"]["address"] == "fe:54:00:aa:00:06"
    assert all("UP" in t["flags"] for t in taps.values())
    r = env.vk("domiflist", "vm1")
    row = next(l for l in r.stdout.splitlines() if mac1 in l).split()
    assert row[0] == by_master["virbr0"]["ifname"] and "default" in row and "network" in row

    # no lease yet, then the MAC's DHCP client gets one and domifaddr shows it
    r = env.vk("domifaddr", "vm1")
    assert r.returncode == 0 and "192.168.120." not in r.stdout
    env.plug_client(mac=mac1)
    ip = env.dhcp()
    r = env.vk("domifaddr", "vm1")
    assert r.returncode == 0, r.stderr
    assert f"{ip}/24" in r.stdout and mac1 in r.stdout, r.stdout

    # autostart: after a daemon restart with both stopped, the network comes
    # up before the domain that needs it
    assert env.vk("autostart", "vm1").returncode == 0
    assert env.vk("net-autostart", "default").returncode == 0
    assert env.vk("destroy", "vm1").returncode == 0
    assert env.vk("net-destroy", "default").returncode == 0
    env.stop_daemon()
    env.start_daemon(VIRTKIT_VM=str(fake))
    for _ in range(100):
        if "running" in env.vk("domstate", "vm1").stdout:
            break
        time.sleep(0.05)
    assert "running" in env.vk("domstate", "vm1").stdout, (env.root / "virtkitd.log").read_text()
    assert re.search(r"^ default\s+active\s+yes", env.vk("net-list").stdout, re.M)
    links = json.loads(ns_exec(env.ns, "ip", "-j", "link", "show").stdout)
    assert sum(1 for l in links if l.get("master") == "virbr0" and l["ifname"].startswith("vnet")) == 1

    assert env.vk("destroy", "vm1").returncode == 0
    for _ in range(100):
        links = json.loads(ns_exec(env.ns, "ip", "-j", "link", "show").stdout)
        if not any(l["ifname"].startswith("vnet") for l in links):
            break
        time.sleep(0.05)
    assert not any(l["ifname"].startswith("vnet") for l in links)
    # an inactive network refuses the domain start clearly
    assert env.vk("net-destroy", "default").returncode == 0
    r = env.vk("start", "vm1")
    assert r.returncode == 1 and "default" in r.stderr and "not active" in r.stderr, r.stderr
    links = json.loads(ns_exec(env.ns, "ip", "-j", "link", "show").stdout)
    assert not any(l["ifname"].startswith("vnet") for l in links)


def test_route_and_isolated_modes(env):
    """route: the outside sees the client's own address (no NAT); isolated:
    nothing passes the bridge, but the host side still answers DHCP."""
    route = EXAMPLE.replace("<name>default</name>", "<name>routed</name>") \
        .replace("<forward mode='nat'>\n    <nat>\n      <port start='1024' end='65535'/>\n"
                 "    </nat>\n  </forward>", "<forward mode='route'/>") \
        .replace("192.168.120.", "192.168.150.")
    assert "mode='route'" in route
    env.define_example(route, "route.xml")
    assert env.vk("net-start", "routed").returncode == 0
    rules = ns_exec(env.ns, "nft", "list", "table", "inet", "virtkit_routed").stdout
    assert "masquerade" not in rules and "postrouting" not in rules
    env.plug_client()
    ip = env.dhcp()
    assert ip.startswith("192.168.150.")
    env.plug_outside()
    ns_exec(env.outside, "ip", "route", "add", "192.168.150.0/24", "via", "10.77.0.1")
    ns_exec(env.client, "ip", "addr", "replace", f"{ip}/24", "dev", "vc1")
    ns_exec(env.client, "ip", "route", "replace", "default", "via", "192.168.150.1")
    got = reach_outside(env)
    assert got and got[0] == ip             # routed, not masqueraded
    assert env.vk("net-destroy", "routed").returncode == 0
    assert env.vk("net-undefine", "routed").returncode == 0   # frees the name virbr0

    iso = route.replace("<name>routed</name>", "<name>iso</name>") \
        .replace("<forward mode='route'/>", "")
    env.define_example(iso, "iso.xml")
    assert env.vk("net-start", "iso").returncode == 0
    rules = ns_exec(env.ns, "nft", "list", "table", "inet", "virtkit_iso").stdout
    assert 'iifname "virbr0" reject' in rules
    ns_exec(env.ns, "ip", "link", "set", "vc0", "master", "virbr0", "up")
    ip = env.dhcp()                           # DHCP from the host still works
    ns_exec(env.client, "ip", "addr", "replace", f"{ip}/24", "dev", "vc1")
    ns_exec(env.client, "ip", "route", "replace", "default", "via", "192.168.150.1")
    assert reach_outside(env, attempts=3) is None
    assert env.vk("net-destroy", "iso").returncode == 0


def test_net_edit(env, tmp_path):
    env.define_example()
    editor = tmp_path / "ed.sh"
    editor.write_text("#!/bin/sh\nsed -i \"s/stp='on' delay='0'/stp='off' delay='5'/\" \"$1\"\n")
    editor.chmod(0o755)
    r = env.vk("net-edit", "default", env=dict(env.env, EDITOR=str(editor), VISUAL=""))
    assert r.returncode == 0 and "Network default XML configuration edited." in r.stdout, r.stderr
    assert "stp='off' delay='5'" in env.vk("net-dumpxml", "default").stdout
    r = env.vk("net-edit", "default", env=dict(env.env, EDITOR="true", VISUAL=""))
    assert r.returncode == 0 and "not changed" in r.stdout
    editor.write_text("#!/bin/sh\nsed -i \"s/<bridge /<bridgeX /\" \"$1\"\n")
    r = env.vk("net-edit", "default", env=dict(env.env, EDITOR=str(editor), VISUAL=""),
               input="")
    assert r.returncode == 1 and "bridgeX" in r.stderr, r.stderr
    assert "stp='off' delay='5'" in env.vk("net-dumpxml", "default").stdout   # old kept


@needs_kvm
def test_guest_gets_a_lease(env, tmp_path):
    """A VM on the network: the project's freestanding DHCP client guest
    (tests/guests/virtio/vdhcp.c, virtio-net under KVM) gets a lease from
    the network's dnsmasq through its TAP; domifaddr reports it."""
    guest = pathlib.Path(binary("virtkit")).parents[2] / "tests" / "guests" / "virtio" / "vdhcp.elf"
    if not guest.exists():
        pytest.skip(f"SKIP: {guest} is not built (meson -Dguests=true)")
    # STP off: the TAP's port forwards at once, the guest's first DISCOVER
    # is answered (with STP it would wait out listening/learning)
    env.define_example(EXAMPLE.replace("stp='on'", "stp='off'"))
    assert env.vk("net-start", "default").returncode == 0
    mac = "52:54:00:aa:00:42"
    xml = tmp_path / "dom.xml"
    xml.write_text("<domain type='kvm'><name>dhcpvm</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type>"
                   f"<kernel>{guest}</kernel><cmdline>hostname=guest1</cmdline></os>"
                   "<devices><serial type='pty'/><console type='pty'/>"
                   f"<interface type='network'><source network='default'/><mac address='{mac}'/>"
                   "<model type='virtio'/></interface></devices></domain>")
    assert env.vk("define", xml).returncode == 0
    r = env.vk("start", "dhcpvm")
    assert r.returncode == 0, r.stderr
    try:
        line = None
        for _ in range(600):
            r = env.vk("net-dhcp-leases", "default", "--mac", mac)
            line = next((l for l in r.stdout.splitlines() if mac in l), None)
            if line:
                break
            time.sleep(0.1)
        logs = "".join(p.read_text(errors="replace") for p in env.root.rglob("dhcpvm*.log"))
        assert line, "no lease for the guest; domain log:\n" + logs
        ip = re.search(r"(192\.168\.120\.\d+)/24", line).group(1)
        assert ipaddress.ip_address("192.168.120.100") <= ipaddress.ip_address(ip) <= \
            ipaddress.ip_address("192.168.120.200")
        assert "guest1" in line
        for _ in range(100):        # the guest reports after the ACK
            if "vdhcp: lease" in "".join(p.read_text(errors="replace")
                                         for p in env.root.rglob("dhcpvm*.log")):
                break
            time.sleep(0.1)
        r = env.vk("domifaddr", "dhcpvm")
        assert r.returncode == 0 and f"{ip}/24" in r.stdout and mac in r.stdout, r.stdout + r.stderr
    finally:
        env.vk("destroy", "dhcpvm")


def test_lifecycle_events(env):
    """network.lifecycle events reach subscribed clients (rpc.h)."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(env.root / "run" / "virtkit" / "virtkit-sock"))
    s.settimeout(30)
    f = s.makefile("rw")
    f.write(json.dumps({"id": 1, "method": "events.subscribe"}) + "\n")
    f.flush()
    assert "result" in json.loads(f.readline())
    env.define_example()
    assert env.vk("net-start", "default").returncode == 0
    assert env.vk("net-destroy", "default").returncode == 0
    assert env.vk("net-undefine", "default").returncode == 0
    seen = []
    while len(seen) < 4:
        msg = json.loads(f.readline())
        if msg.get("event") == "network.lifecycle":
            assert msg["data"]["name"] == "default"
            seen.append(msg["data"]["event"])
    assert seen == ["defined", "started", "stopped", "undefined"]
    s.close()
