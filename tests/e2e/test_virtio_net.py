"""virtio-net options under virtkit-vm with a freestanding guest (vnet.elf)
inside a network namespace the test creates: vhost=on|off|auto (vhost-net
where /dev/vhost-net exists, the user-space fallback otherwise) and
queues=N on a multi-queue TAP."""
import os
import subprocess

import pytest

from conftest import binary, needs_kvm, needs_root, run
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
