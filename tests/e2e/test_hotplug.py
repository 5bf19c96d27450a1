"""PCI hot-plug under virtkit-vm --accel kvm: QMP device_add / device_del /
query-pci / getfd against the freestanding guest tests/guests/virtio/vhotplug,
which takes the ACPI GPE, uses the new virtio function, ejects it on request;
DEVICE_DELETED follows. Bad device_add input gets errors, never a crash."""
import array
import json
import os
import socket
import subprocess

import pytest

from conftest import BUILD, binary, needs_kvm, needs_root, needs_tool, run
from guestlib import Console, Qmp

GUEST = BUILD / "tests" / "guests" / "virtio" / "vhotplug.elf"
EXIT_DEV = ["--device", "isa-debug-exit,iobase=0xf4,iosize=0x4"]


@pytest.fixture
def hp_vm(tmp_path):
    started = []

    def start(*append):
        if not GUEST.exists():
            pytest.skip("SKIP: vhotplug.elf is not built (meson option guests=true)")
        sock = str(tmp_path / f"qmp{len(started)}.sock")
        con = Console([binary("virtkit-vm"), "--accel", "kvm", "--kernel", str(GUEST),
                       "--serial", "stdio", "--no-reboot", *EXIT_DEV, "--control", sock,
                       "--append", " ".join(append)])
        started.append(con)
        qmp = Qmp(sock)
        assert qmp.cmd("qmp_capabilities") == {"return": {}}
        return con, qmp

    yield start
    for con in started:
        con.kill()


@pytest.fixture
def raw_image(tmp_path):
    img = tmp_path / "disk.raw"
    with open(img, "wb") as f:
        f.write(b"\x6b" * 512 + b"\0" * (1 << 20))
    return img


def slots(qmp):
    r = qmp.cmd("query-pci")
    assert "return" in r, r
    assert r["return"][0]["bus"] == 0
    return {d["slot"]: d for d in r["return"][0]["devices"]}


@needs_kvm
def test_hotplug_virtio_blk_plug_use_eject(hp_vm, raw_image):
    con, qmp = hp_vm("p0=107 rounds=2")
    assert con.wait_for("vhotplug: armed"), con.text()
    before = slots(qmp)
    assert list(before) == [0], before          # only the host bridge
    assert before[0]["id"]["vendor"] == 0x1b36

    for rnd in range(2):
        r = qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": str(raw_image),
                                   "format": "raw", "readonly": True, "id": f"hd{rnd}"})
        assert r == {"return": {}}, r
        now = slots(qmp)
        assert 1 in now and now[1]["qdev_id"] == f"hd{rnd}"
        assert now[1]["id"] == {"vendor": 0x1af4, "device": 0x1042, "subsystem": 0x1100,
                                "subsystem-vendor": 0x1af4}
        assert now[1]["class_info"]["class"] == 0x0180
        assert any(reg["type"] == "memory" and reg["mem_type_64"] for reg in now[1]["regions"])
        assert con.wait_for("slot 1 virtio-blk capacity 2049 sector 0 byte 0x6b"), con.text()
        assert con.wait_for("waiting for eject request"), con.text()
        assert qmp.cmd("device_del", {"id": f"hd{rnd}"}) == {"return": {}}
        ev = qmp.event("DEVICE_DELETED")
        assert ev["data"] == {"device": f"hd{rnd}", "path": f"/machine/peripheral/hd{rnd}"}
        if rnd == 0:                # after the last round the guest ends the VM
            assert list(slots(qmp)) == [0]
        # the guest sees it gone, and the next round starts again from the GPE
        assert con.wait_for("slot 1 ejected"), con.text()
        if rnd == 0:
            with con.cond:          # round 2 looks for the same lines again
                con.out.clear()
    assert con.wait() == 1, con.text()
    assert "RESULT: PASS" in con.text()


@needs_kvm
def test_device_del_of_unknown_or_twice(hp_vm, raw_image):
    con, qmp = hp_vm("p0=107 rounds=2")     # the guest waits on after one round
    assert con.wait_for("vhotplug: armed"), con.text()
    r = qmp.cmd("device_del", {"id": "nothing"})
    assert "not found" in r["error"]["desc"]
    assert qmp.cmd("device_add", {"driver": "virtio-blk-pci", "path": str(raw_image),
                                  "id": "d1"}) == {"return": {}}
    r = qmp.cmd("device_add", {"driver": "virtio-blk-pci", "path": str(raw_image), "id": "d1"})
    assert "Duplicate" in r["error"]["desc"]
    assert con.wait_for("waiting for eject request"), con.text()
    assert qmp.cmd("device_del", {"id": "d1"}) == {"return": {}}
    qmp.event("DEVICE_DELETED")
    assert "not found" in qmp.cmd("device_del", {"id": "d1"})["error"]["desc"]
    assert con.wait_for("slot 1 ejected"), con.text()
    assert qmp.cmd("quit") == {"return": {}}
    assert con.wait() == 0, con.text()


BAD_ADDS = [
    ({}, "'driver' is missing"),
    ({"driver": 5}, "expected: string"),
    ({"driver": "e1000"}, "not a valid device model name"),
    ({"driver": "virtio-blk-pci"}, "exactly one of 'drive' or 'path'"),
    ({"driver": "virtio-blk-pci", "drive": "/nonexistent/x.img"}, "x.img"),
    ({"driver": "virtio-blk-pci", "drive": "a", "path": "b"}, "exactly one"),
    ({"driver": "virtio-blk-pci", "drive": "/x,format=qcow2"}, "x,format=qcow2"),
    ({"driver": "virtio-blk-pci", "drive": "x" * 5000}, "too long"),
    ({"driver": "virtio-blk-pci", "drive": "x", "readonly": "maybe"}, "readonly"),
    ({"driver": "virtio-blk-pci", "drive": "x", "bogus": 1}, "'bogus' is unexpected"),
    ({"driver": "virtio-blk-pci", "drive": "x", "id": "1abc"}, "identifier"),
    ({"driver": "virtio-blk-pci", "drive": "x", "id": ["a"]}, "expected: string"),
    ({"driver": "virtio-net-pci"}, "exactly one of 'fd'"),
    ({"driver": "virtio-net-pci", "fd": "nope"}, "not found"),
    ({"driver": "virtio-net-pci", "tap": "../../etc"}, "interface name"),
    ({"driver": "virtio-net-pci", "tap": "a" * 40}, "too long"),
    ({"driver": "virtio-net-pci", "tap": "vkhp0", "fd": "x"}, "exactly one"),
    ({"driver": "virtio-net-pci", "tap": "vkhp0", "mac": 7}, "expected: string"),
]


@needs_kvm
def test_bad_device_add_inputs_get_errors(hp_vm):
    con, qmp = hp_vm()
    assert con.wait_for("vhotplug: armed"), con.text()
    for args, want in BAD_ADDS:
        r = qmp.cmd("device_add", args)
        assert "error" in r, (args, r)
        assert want in r["error"]["desc"], (args, r)
    for args in ([1, 2], "x", None):
        qmp.send_raw(b'{"execute": "device_add", "arguments": ' +
                     (b"null" if args is None else repr(args).replace("'", '"').encode()) + b"}\n")
        assert "error" in qmp.reply()
    assert "error" in qmp.cmd("getfd", {"fdname": "f"})            # no fd passed
    assert "error" in qmp.cmd("getfd", {"fdname": "9f"})
    assert "error" in qmp.cmd("closefd", {"fdname": "f"})
    assert "error" in qmp.cmd("device_del", {})
    assert "error" in qmp.cmd("device_del", {"id": 3})
    assert "error" in qmp.cmd("query-pci", {"x": 1})
    # nothing was plugged, the VM still answers
    assert list(slots(qmp)) == [0]
    assert qmp.cmd("query-status")["return"]["status"] == "running"
    assert qmp.cmd("quit") == {"return": {}}
    assert con.wait() == 0


def send_fd(qmp, fd, cmd):
    fds = array.array("i", [fd])
    qmp.sock.sendmsg([cmd], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])


def open_tap_in_netns(ns, name):
    """A TAP (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) created inside network
    namespace `ns`: a helper thread enters the namespace (setns changes only
    the calling thread) and opens it; the fd works from any thread."""
    import ctypes
    import fcntl
    import struct
    import threading
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def body():
        try:
            nsfd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            if libc.setns(nsfd, 0x40000000) != 0:       # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "setns")
            os.close(nsfd)
            tun = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
            ifr = struct.pack("16sH22x", name.encode(), 0x0002 | 0x1000 | 0x4000)
            fcntl.ioctl(tun, 0x400454ca, ifr)             # TUNSETIFF
            out["fd"] = tun
        except OSError as e:
            out["err"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["fd"]


@needs_kvm
@needs_root
@needs_tool("ip")
def test_hotplug_virtio_net_from_passed_tap_fd(hp_vm, tmp_path):
    """The daemon's way: open a TAP, pass it with getfd, device_add fd=NAME.
    The TAP lives in a network namespace this test creates."""
    ns = f"vkhp{os.getpid() % 100000}"
    run(["ip", "netns", "add", ns], check=True)
    try:
        tapfd = open_tap_in_netns(ns, "vkhp0")
        con, qmp = hp_vm()
        assert con.wait_for("vhotplug: armed"), con.text()
        send_fd(qmp, tapfd, b'{"execute": "getfd", "arguments": {"fdname": "tap0"}}\n')
        os.close(tapfd)
        assert qmp.reply() == {"return": {}}
        r = qmp.cmd("device_add", {"driver": "virtio-net-pci", "fd": "tap0",
                                   "mac": "52:54:00:12:34:56", "id": "net0"})
        assert r == {"return": {}}, r
        assert con.wait_for("virtio-net mac 52:54:00:12:34:56"), con.text()
        # the fd went to the device: the name is gone
        assert "not found" in qmp.cmd("closefd", {"fdname": "tap0"})["error"]["desc"]
        assert slots(qmp)[1]["id"]["device"] == 0x1041
        assert con.wait_for("waiting for eject request"), con.text()
        assert qmp.cmd("device_del", {"id": "net0"}) == {"return": {}}
        assert qmp.event("DEVICE_DELETED")["data"]["device"] == "net0"
        assert con.wait() == 1, con.text()
    finally:
        run(["ip", "netns", "del", ns])


@needs_kvm
@needs_root
@needs_tool("ip")
def test_daemon_attach_detach_interface_live(tmp_path):
    """virtkitd: attach-interface --live opens a TAP on a bridge (inside a
    test namespace), passes it with getfd and plugs a virtio-net; the
    vhotplug guest takes the GPE and reads the MAC; detach-interface --live
    returns once the guest ejected it (DEVICE_DELETED) and the TAP is gone."""
    from test_network import Env, ns_exec
    if not GUEST.exists():
        pytest.skip("SKIP: vhotplug.elf is not built (meson option guests=true)")
    e = Env()
    try:
        e.setup()
        e.start_daemon(VIRTKIT_VM=binary("virtkit-vm"))
        assert ns_exec(e.ns, "ip", "link", "add", "brhp", "type", "bridge").returncode == 0
        xml = tmp_path / "hp.xml"
        xml.write_text(
            "<domain type='kvm'><name>hp</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
            f"<os><type arch='x86_64'>hvm</type><kernel>{GUEST}</kernel>"
            "<cmdline>rounds=1</cmdline></os><features><acpi/><apic/></features>"
            "<devices><serial type='pty'/><console type='pty'/></devices></domain>")
        assert e.vk("define", xml).returncode == 0
        r = e.vk("start", "hp")
        assert r.returncode == 0, r.stderr + (e.root / "virtkitd.log").read_text()

        def taps():
            links = json.loads(ns_exec(e.ns, "ip", "-j", "link", "show").stdout)
            return [l for l in links if l.get("master") == "brhp"]

        mac = "52:54:00:77:00:01"
        r = e.vk("attach-interface", "hp", "--type", "bridge", "--source", "brhp",
                 "--model", "virtio", "--mac", mac, "--live")
        assert r.returncode == 0, r.stderr
        assert "Interface attached successfully" in r.stdout
        assert len(taps()) == 1, taps()
        row = next(l for l in e.vk("domiflist", "hp").stdout.splitlines() if mac in l).split()
        assert row[0] == taps()[0]["ifname"] and "brhp" in row
        assert mac not in e.vk("dumpxml", "hp", "--inactive").stdout, "--live only"
        # the guest ejects only after it used the device: a returning
        # detach proves the GPE, the new function and the eject worked
        r = e.vk("detach-interface", "hp", "--type", "bridge", "--mac", mac, "--live")
        assert r.returncode == 0, r.stderr + "".join(
            p.read_text() for p in e.root.rglob("hp.log"))
        assert "Interface detached successfully" in r.stdout
        assert taps() == []
        assert mac not in e.vk("domiflist", "hp").stdout
        r = e.vk("detach-interface", "hp", "--type", "bridge", "--live")
        assert r.returncode == 1 and "no interface found" in r.stderr
        assert e.vk("destroy", "hp").returncode == 0
    finally:
        if e.daemon:                # VMs outlive their daemon: end ours
            e.vk("destroy", "hp")
        e.teardown()
