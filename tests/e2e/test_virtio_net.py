"""virtio-net options under virtkit-vm with a freestanding guest (vnet.elf)
inside a network namespace the test creates: vhost=on|off|auto (vhost-net
where /dev/vhost-net exists, the user-space fallback otherwise) and
queues=N on a multi-queue TAP."""
import os
import subprocess

import pytest

from conftest import binary, needs_kvm, needs_root, needs_tool, run
from test_virtio_guests import EXIT_DEV, GUESTS, RESPONDER, netns, sh  # noqa: F401 (fixture)

HAVE_VHOST = os.path.exists("/dev/vhost-net")
GUEST_MAC = "52:54:00:aa:bb:cc"


def make_tap(ns, name, multi_queue=False):
    extra = ["multi_queue"] if multi_queue else []
    sh("ip", "netns", "exec", ns, "ip", "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr", *extra)
    sh("ip", "netns", "exec", ns, "ip", "link", "set", name, "up")


def ping_pong(ns, tap, net_opts, count=3):
    """Run vnet.elf: `count` frames out, each answered by a responder in the
    namespace. Returns (vm result, frames the responder answered)."""
    responder = subprocess.Popen(
        ["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", RESPONDER, tap,
         GUEST_MAC.replace(":", ""), str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert responder.stdout.readline().strip() == "ready", responder.stderr.read()
        r = run(["ip", "netns", "exec", ns, binary("virtkit-vm"), "--accel", "kvm",
                 "--kernel", str(GUESTS / "vnet.elf"), "--append", f"count={count}",
                 "--serial", "stdio", "--no-reboot", *EXIT_DEV,
                 "--net", f"tap={tap},mac={GUEST_MAC},{net_opts}"], timeout=180)
        answered = responder.communicate(timeout=30)[0].split() if r.returncode == 1 else []
    finally:
        if responder.poll() is None:
            responder.kill()
            responder.wait()
    return r, answered


def assert_traffic(r, answered, count=3):
    assert r.returncode == 1 and "RESULT: PASS" in r.stdout, r.stdout + r.stderr
    assert r.stdout.count("pong") == count
    assert answered == ["pong"] * count


@needs_root
def test_vhost_on_refused_on_the_software_cpu(netns):
    # The kernel's writes into guest RAM would bypass the software CPU's
    # code invalidation: vhost=on is refused there, auto means off.
    make_tap(netns, "vkt0")
    r = run(["ip", "netns", "exec", netns, binary("virtkit-vm"), "--accel", "tcg",
             "--kernel", str(GUESTS / "vnet.elf"), "--serial", "stdio", "--no-reboot",
             *EXIT_DEV, "--net", "tap=vkt0,vhost=on"], timeout=60)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "vhost=on needs KVM" in r.stderr, r.stderr
    assert "RESULT" not in r.stdout


@needs_kvm
@needs_root
@pytest.mark.skipif(HAVE_VHOST, reason="SKIP: this host has /dev/vhost-net (vhost=on works)")
def test_vhost_on_without_vhost_net_is_a_clear_error(netns):
    make_tap(netns, "vkv0")
    r = run(["ip", "netns", "exec", netns, binary("virtkit-vm"), "--accel", "kvm",
             "--kernel", str(GUESTS / "vnet.elf"), "--serial", "stdio", "--no-reboot",
             *EXIT_DEV, "--net", "tap=vkv0,vhost=on"], timeout=60)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "vhost=on" in r.stderr and "/dev/vhost-net" in r.stderr, r.stderr
    assert "RESULT" not in r.stdout   # refused before the guest ran


@needs_kvm
@needs_root
def test_vhost_auto_without_vhost_net_uses_user_space(netns, monkeypatch):
    # A device node that opens but is no vhost-net: auto must fall back.
    monkeypatch.setenv("VIRTKIT_VHOST_NET", "/dev/null")
    make_tap(netns, "vkv1")
    r, answered = ping_pong(netns, "vkv1", "vhost=auto")
    assert_traffic(r, answered)
    assert "using the user-space virtio-net" in r.stderr, r.stderr


@needs_kvm
@needs_root
def test_vhost_default_is_auto(netns):
    make_tap(netns, "vkv2")
    r, answered = ping_pong(netns, "vkv2", "vhost=auto" if HAVE_VHOST else "id=n0")
    assert_traffic(r, answered)
    if not HAVE_VHOST:
        assert "/dev/vhost-net not usable" in r.stderr, r.stderr


@needs_kvm
@needs_root
def test_vhost_off(netns):
    make_tap(netns, "vkv3")
    r, answered = ping_pong(netns, "vkv3", "vhost=off")
    assert_traffic(r, answered)
    assert "vhost" not in r.stderr, r.stderr


@needs_kvm
@needs_root
@pytest.mark.skipif(not HAVE_VHOST, reason="SKIP: no /dev/vhost-net on this host")
def test_vhost_on_carries_traffic(netns):
    make_tap(netns, "vkv4")
    r, answered = ping_pong(netns, "vkv4", "vhost=on")
    assert_traffic(r, answered)
    assert "vhost-net (/dev/vhost-net)" in r.stderr, r.stderr


@needs_kvm
@needs_root
def test_queues_on_a_multi_queue_tap(netns):
    # vnet.elf does not negotiate MQ: the device must work on pair 0 alone.
    make_tap(netns, "vkq0", multi_queue=True)
    r, answered = ping_pong(netns, "vkq0", "queues=4,vhost=off")
    assert_traffic(r, answered)


def open_mq_tap(name, queues):
    """Open `queues` fds of a multi-queue TAP (as virtkitd does), in this
    process's current network namespace."""
    import fcntl
    import struct as st
    TUNSETIFF = 0x400454ca
    flags = 0x0002 | 0x1000 | 0x4000 | 0x0100   # TAP | NO_PI | VNET_HDR | MULTI_QUEUE
    fds = []
    for _ in range(queues):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, st.pack("16sH22x", name.encode(), flags))
        fds.append(fd)
    return fds


@needs_kvm
@needs_root
def test_queues_with_inherited_fds(netns):
    # fd=A:B, one multi-queue TAP fd per pair, as virtkitd hands them over;
    # the TAP lives in the test namespace (opened there by a helper that
    # execs virtkit-vm with the fds).
    helper = f"""
import os, subprocess, sys
sys.path.insert(0, {str(os.path.dirname(__file__))!r})
from test_virtio_net import open_mq_tap
fds = open_mq_tap("vkq1", 2)
subprocess.run(["ip", "link", "set", "vkq1", "up"], check=True)
print("ready", flush=True)
sys.stdin.readline()   # the responder listens on vkq1 before the guest sends
r = subprocess.run(sys.argv[1:] + ["--net", "fd=%d:%d,queues=2,mac={GUEST_MAC},vhost=off" % tuple(fds)],
                   pass_fds=fds, capture_output=True, text=True, timeout=180)
print(r.returncode)
print(r.stdout)
print(r.stderr, file=sys.stderr)
"""
    vm = subprocess.Popen(
        ["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", helper, binary("virtkit-vm"),
         "--accel", "kvm", "--kernel", str(GUESTS / "vnet.elf"), "--append", "count=2",
         "--serial", "stdio", "--no-reboot", *EXIT_DEV],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    responder = None
    try:
        assert vm.stdout.readline().strip() == "ready", vm.stderr.read()
        responder = subprocess.Popen(
            ["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", RESPONDER, "vkq1",
             GUEST_MAC.replace(":", ""), "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert responder.stdout.readline().strip() == "ready", responder.stderr.read()
        out, err = vm.communicate("go\n", timeout=200)
        answered = responder.communicate(timeout=30)[0].split()
    finally:
        for p in (vm, responder):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    assert out.startswith("1\n") and "RESULT: PASS" in out, out + err
    assert answered[-2:] == ["pong", "pong"], answered


@needs_root
@needs_tool("ip")
def test_daemon_driver_queues_gives_a_multi_queue_tap(tmp_path):
    """<interface><driver queues='2'/>: virtkitd creates the TAP
    multi-queue, hands the emulator one fd per queue pair (fd=A:B,queues=2)
    and dumpxml keeps the element. The emulator is the daemon tests' stand-in
    that only holds the fds."""
    import json
    from test_network import HOLDING_VM, Env, ns_exec
    env = Env()
    try:
        env.setup()
        fake = env.root / "fakevm.py"
        fake.write_text(HOLDING_VM)
        fake.chmod(0o755)
        env.start_daemon(VIRTKIT_VM=str(fake))
        ns_exec(env.ns, "ip", "link", "add", "brq", "type", "bridge")
        xml = tmp_path / "dom.xml"
        xml.write_text("<domain type='kvm'><name>mq1</name><memory unit='MiB'>64</memory>"
                       "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>/bin/true</kernel>"
                       "</os><devices><serial type='pty'/><console type='pty'/>"
                       "<interface type='bridge'><source bridge='brq'/>"
                       "<mac address='52:54:00:aa:00:09'/><model type='virtio'/>"
                       "<driver name='vhost' queues='2'/></interface>"
                       "<interface type='bridge'><source bridge='brq'/>"
                       "<mac address='52:54:00:aa:00:0a'/><model type='virtio'/></interface>"
                       "</devices></domain>")
        r = env.vk("define", xml)
        assert r.returncode == 0, r.stderr
        assert "<driver queues='2'/>" in env.vk("dumpxml", "mq1").stdout
        r = env.vk("start", "mq1")
        assert r.returncode == 0, r.stderr + (env.root / "virtkitd.log").read_text()
        links = json.loads(ns_exec(env.ns, "ip", "-d", "-j", "link", "show").stdout)
        taps = {l["ifname"]: l for l in links if l["ifname"].startswith("vnet")}
        assert len(taps) == 2, taps
        multi = [n for n, l in taps.items() if l.get("linkinfo", {}).get("info_data", {}).get("multi_queue")]
        assert len(multi) == 1, taps
        assert all(l.get("master") == "brq" for l in taps.values())
        logs = list((env.root).rglob("mq1.log"))
        cmd = next(l for l in logs[0].read_text().splitlines() if "--net" in l)
        assert "fd=3:4,queues=2,mac=52:54:00:aa:00:09" in cmd, cmd
        assert "fd=5,mac=52:54:00:aa:00:0a" in cmd, cmd
        assert env.vk("destroy", "mq1").returncode == 0
        bad = tmp_path / "bad.xml"
        bad.write_text(xml.read_text().replace("queues='2'", "queues='9'").replace("mq1", "mq2"))
        r = env.vk("define", bad)
        assert r.returncode != 0 and "queues='9'" in r.stderr, r.stderr
    finally:
        env.stop_daemon()
        env.teardown()
