"""virtkit install (virt-install), end to end.

Install media are built in the test with xorriso: tiny ISOs with a
distribution's layout (Debian's install.amd/vmlinuz + initrd.gz, ...).
Most tests run a private virtkitd with the daemon tests' fake emulator
(test_daemon.py), which checks what install asks the daemon for quickly;
test_location_linux_guest_tcg boots Debian's cloud kernel with the busybox
initramfs (scripts/mkinitramfs) from such an ISO on the software CPU, and
test_import_kvm_guest a small KVM test guest.
"""
import json
import os
import pathlib
import shutil
import subprocess
import time
import uuid as uuidlib

import pytest

from conftest import ASSETS, TOP, binary, needs_root, needs_tool, run
from test_daemon import Daemon, read_until

pytestmark = needs_tool("xorriso")

LAYOUTS = {
    "debian": ("install.amd/vmlinuz", "install.amd/initrd.gz"),
    "ubuntu": ("casper/vmlinuz", "casper/initrd"),
    "fedora": ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"),
    "alpine": ("boot/vmlinuz-lts", "boot/initramfs-lts"),
}


def make_iso(path, files):
    """An ISO 9660 image (Rock Ridge + Joliet) holding `files` {name: bytes}."""
    tree = path.parent / (path.name + ".tree")
    for name, data in files.items():
        f = tree / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    r = run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "VKTEST", "-o", str(path),
             str(tree)])
    assert r.returncode == 0, r.stderr
    shutil.rmtree(tree)
    os.chmod(path, 0o644)
    return path


def layout_iso(path, distro="debian", kernel=b"KERNEL-IMAGE\n", initrd=b"INITRD-IMAGE\n"):
    k, i = LAYOUTS[distro]
    return make_iso(path, {k: kernel, i: initrd, "README.txt": b"test media\n"})


class InstallDaemon(Daemon):
    def install(self, *args, timeout=120, input=None):
        return self.virtkit("install", *args, timeout=timeout, input=input)

    @property
    def state_dir(self):
        return self.root / "var" / "lib" / "virtkit"

    def leftovers(self):
        """Definitions, boot files and images install may have made."""
        out = sorted(str(p.relative_to(self.root)) for p in (self.config / "domains").glob("*.xml"))
        for sub in ("boot", "images"):
            d = self.state_dir / sub
            if d.exists():
                out += sorted(str(p.relative_to(self.root)) for p in d.iterdir())
        return out


@pytest.fixture
def daemon():
    d = InstallDaemon()
    os.chmod(d.root, 0o755)
    try:
        yield d.start()
    finally:
        d.cleanup()


@pytest.fixture
def iso(tmp_path):
    tmp_path.chmod(0o755)
    return layout_iso(tmp_path / "debian-12-netinst.iso")


def qemu_img_info(path):
    if not shutil.which("qemu-img"):
        pytest.skip("SKIP: qemu-img is not installed (run scripts/bootstrap)")
    r = run(["qemu-img", "info", "--output=json", str(path)])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# ---- --osinfo list --------------------------------------------------------------

def test_osinfo_list(virtkit):
    r = virtkit("install", "--osinfo", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["Short", "ID"] and set(lines[1]) == {"-"}
    ids = [ln.split()[0] for ln in lines[2:]]
    for want in ("debian10", "debian11", "debian12", "ubuntu20.04", "ubuntu22.04", "ubuntu24.04",
                 "fedora40", "centos-stream9", "alpinelinux3.20", "linux2022", "generic"):
        assert want in ids
    assert any("http://debian.org/debian/12" in ln for ln in lines)
    j = json.loads(virtkit("install", "--osinfo", "list", "--json").stdout)
    deb = next(e for e in j if e["short_id"] == "debian12")
    assert deb["name"] == "Debian 12" and deb["id"] == "http://debian.org/debian/12"
    assert deb["memory_mib"] > 0 and deb["disk_gib"] > 0


# ---- --print-xml ---------------------------------------------------------------

def test_print_xml_creates_nothing(daemon, iso, tmp_path):
    disk = tmp_path / "deb12.qcow2"
    r = daemon.install("--name", "deb12", "--description", "Test VM", "--ram", "1024",
                       "--vcpus", "2", "--os-variant", "debian12",
                       "--disk", f"path={disk},bus=virtio,size=10", "--graphics", "none",
                       "--location", iso, "--network", "bridge:br0",
                       "--console", "pty,target_type=serial",
                       "-x", "console=ttyS0,115200n8 serial", "--virt-type", "qemu", "--print-xml")
    assert r.returncode == 0, r.stderr
    docs = r.stdout.split("</domain>\n")
    assert len(docs) == 3 and docs[2] == ""
    install, final = docs[0], docs[1]
    boot = daemon.state_dir / "boot"
    for x in (install, final):
        assert "<domain type='qemu'>" in x and "<name>deb12</name>" in x
        assert "<description>Test VM</description>" in x
        assert "<memory unit='MiB'>1024</memory>" in x and "<vcpu>2</vcpu>" in x
        assert f"<source file='{disk}'/>" in x and "<driver name='qemu' type='qcow2'/>" in x
        assert "<source bridge='br0'/>" in x and "<model type='virtio'/>" in x
        assert '<libosinfo:os id="http://debian.org/debian/12"/>' in x
    # the same uuid and MAC in both phases
    uuid = install.split("<uuid>")[1].split("<")[0]
    mac = install.split("<mac address='")[1].split("'")[0]
    assert f"<uuid>{uuid}</uuid>" in final and f"<mac address='{mac}'/>" in final
    # install phase: the installer kernel from the ISO, the ISO as a cdrom
    assert f"<kernel>{boot}/virtkit-deb12-vmlinuz</kernel>" in install
    assert f"<initrd>{boot}/virtkit-deb12-initrd</initrd>" in install
    assert "<cmdline>console=ttyS0,115200n8 serial</cmdline>" in install
    assert "<on_reboot>destroy</on_reboot>" in install
    assert f"<source file='{iso}'/>" in install and "device='cdrom'" in install
    # final: boots from the disk, no installer, no ISO
    assert "<kernel>" not in final and "<cmdline>" not in final and str(iso) not in final
    assert "<boot dev='hd'/>" in final and "<on_reboot>restart</on_reboot>" in final
    # --print-xml 2: the final one only
    r2 = daemon.install("--name", "deb12", "--disk", f"path={disk},size=1", "--location", iso,
                        "--print-xml", "2")
    assert r2.returncode == 0 and r2.stdout.count("<domain") == 1 and "<kernel>" not in r2.stdout
    # --boot with --location: the kernel of the final definition
    r3 = daemon.install("--name", "deb12", "--disk", f"path={disk},size=1", "--location", iso,
                        "--boot", "kernel=/boot/vmlinuz-6.1,initrd=/boot/initrd.img-6.1,"
                        "kernel_args='root=/dev/vda1 console=ttyS0'", "--print-xml")
    assert r3.returncode == 0, r3.stderr
    install3, final3 = r3.stdout.split("</domain>\n")[:2]
    assert "virtkit-deb12-vmlinuz</kernel>" in install3 and "vmlinuz-6.1" not in install3
    assert "<kernel>/boot/vmlinuz-6.1</kernel>" in final3
    assert "<cmdline>root=/dev/vda1 console=ttyS0</cmdline>" in final3
    assert not disk.exists()
    assert daemon.leftovers() == []
    assert daemon.ok("list", "--all", "--name") == "\n"


# ---- --location with the fake emulator -------------------------------------------

def test_location_install_defines_final_and_starts_install_phase(daemon, iso, tmp_path):
    disk = tmp_path / "deb12.qcow2"
    r = daemon.install("--name", "deb12", "--ram", "256", "--os-variant", "debian12",
                       "--disk", f"path={disk},bus=virtio,size=0.5", "--graphics", "none",
                       "--location", iso, "--network", "none", "--noautoconsole",
                       "-x", "console=ttyS0 virtkit.mark=xyz42", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Starting install..." in out and "Allocating 'deb12.qcow2'" in out
    assert "Creating domain..." in out
    assert "Domain is still running. Installation may be in progress." in out
    # the disk: qcow2 of the asked size
    info = qemu_img_info(disk)
    assert info["format"] == "qcow2" and info["virtual-size"] == 512 << 20
    # the kernel and initrd came out of the ISO
    boot = daemon.state_dir / "boot"
    assert (boot / "virtkit-deb12-vmlinuz").read_bytes() == b"KERNEL-IMAGE\n"
    assert (boot / "virtkit-deb12-initrd").read_bytes() == b"INITRD-IMAGE\n"
    # running the install phase: installer kernel, extra args, the ISO as a cdrom
    assert daemon.state("deb12") == "running (booted)"
    live = daemon.ok("dumpxml", "deb12")
    assert f"<kernel>{boot}/virtkit-deb12-vmlinuz</kernel>" in live
    assert "<cmdline>console=ttyS0 virtkit.mark=xyz42</cmdline>" in live
    assert f"<source file='{iso}'/>" in live and "<target dev='vdb' bus='virtio'/>" in live
    assert f"<source file='{disk}'/>" in live
    log = (daemon.logs / "domains" / "deb12.log").read_text()
    assert "--accel tcg" in log and "virtkit.mark=xyz42" in log
    assert f"path={iso},format=raw,readonly=on" in log
    # the persistent definition is the final one
    final = daemon.ok("dumpxml", "deb12", "--inactive")
    assert "<kernel>" not in final and "<cmdline>" not in final and str(iso) not in final
    assert f"<source file='{disk}'/>" in final
    assert daemon.ok("list", "--all", "--name") == "deb12\n\n"
    # the installer's end (the guest powers off): the final definition stays
    daemon.ok("destroy", "deb12")
    assert "<kernel>" not in daemon.ok("dumpxml", "deb12")


def test_install_console_and_wait(daemon, iso, tmp_path):
    """Without --noautoconsole install attaches to the serial console."""
    p = subprocess.Popen([binary("virtkit"), "-c", "virtkit:///system", "install", "--name", "c1",
                          "--ram", "64", "--disk", "none", "--location", iso,
                          "--virt-type", "qemu", "--wait", "-1"],
                         env=daemon.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        seen = read_until(p, b"Escape character is ^]", timeout=60)
        assert b"Running text console command: virtkit --connect virtkit:///system console c1" in seen
        assert b"Connected to domain 'c1'" in seen
        p.stdin.write(b"hello\n")        # the fake guest echoes its serial input
        p.stdin.flush()
        seen += read_until(p, b"echo:hello", timeout=30)
        assert b"echo:hello" in seen
        p.stdin.write(b"\x1d")          # leave the console; --wait keeps waiting
        p.stdin.flush()
        seen += read_until(p, b"Waiting for installation to complete", timeout=30)
        daemon.ok("destroy", "c1")      # the install phase ends
        out, err = p.communicate(timeout=60)
        seen += out
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert b"Domain creation completed." in seen
    assert daemon.state("c1").startswith("shut off")


def test_autostart_and_default_disk_path(daemon, iso):
    r = daemon.install("--name", "auto", "--ram", "64", "--disk", "size=0.25", "--location", iso,
                       "--noautoconsole", "--autostart", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    img = daemon.state_dir / "images" / "auto.qcow2"
    assert qemu_img_info(img)["virtual-size"] == 256 << 20
    assert json.loads(daemon.ok("dominfo", "auto", "--json"))["autostart"] is True
    daemon.ok("destroy", "auto")
    # undefine --remove-all-storage takes the created disk with it
    daemon.ok("undefine", "auto", "--remove-all-storage")
    assert not img.exists()


@pytest.mark.parametrize("distro", ["ubuntu", "fedora", "alpine"])
def test_other_layouts(daemon, tmp_path, distro):
    iso = layout_iso(tmp_path / f"{distro}.iso", distro, kernel=b"K-" + distro.encode())
    r = daemon.install("--name", distro, "--disk", "none", "--location", iso, "--print-xml", "1")
    assert r.returncode == 0, r.stderr
    assert f"virtkit-{distro}-vmlinuz" in r.stdout
    r = daemon.install("--name", distro, "--ram", "64", "--disk", "none", "--location", iso,
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    assert (daemon.state_dir / "boot" / f"virtkit-{distro}-vmlinuz").read_bytes() == b"K-" + distro.encode()
    daemon.ok("destroy", distro)


def read_newc(data):
    """{name: (mode, bytes)} of a newc cpio archive."""
    out, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701", (pos, data[pos:pos + 16])
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, data[pos:pos + size])
        pos += size
        pos += -pos % 4


def test_initrd_inject(daemon, iso, tmp_path):
    """--initrd-inject: the files go to the initrd's root in a cpio archive
    appended on a 4-byte boundary (the Linux guest tests boot such an
    initrd: their /init comes this way)."""
    seed = tmp_path / "preseed.cfg"
    seed.write_text("d-i debian-installer/locale string en_US\n")
    seed.chmod(0o644)
    script = tmp_path / "late.sh"
    script.write_text("#!/bin/sh\necho late\n")
    script.chmod(0o755)
    r = daemon.install("--name", "inj", "--ram", "64", "--disk", "none", "--location", iso,
                       "--initrd-inject", seed, "--initrd-inject", script,
                       "-x", "auto=true priority=critical", "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    data = (daemon.state_dir / "boot" / "virtkit-inj-initrd").read_bytes()
    assert data.startswith(b"INITRD-IMAGE\n")
    start = len(b"INITRD-IMAGE\n")
    start += -start % 4
    assert data[len(b"INITRD-IMAGE\n"):start] == b"\0" * (start - len(b"INITRD-IMAGE\n"))
    files = read_newc(data[start:])
    assert files["preseed.cfg"] == (0o100644, seed.read_bytes())
    assert files["late.sh"] == (0o100755, script.read_bytes())
    daemon.ok("destroy", "inj")
    # bad input: nothing made
    disk = tmp_path / "x.qcow2"
    r = daemon.install("--name", "inj2", "--disk", f"path={disk},size=1", "--location", iso,
                       "--initrd-inject", tmp_path / "nope.cfg", "--noautoconsole")
    assert r.returncode == 1 and "--initrd-inject" in r.stderr and "nope.cfg" in r.stderr
    r = daemon.install("--name", "inj2", "--disk", f"path={disk},size=1", "--location", iso,
                       "--initrd-inject", tmp_path, "--noautoconsole")
    assert r.returncode == 1 and "not a regular file" in r.stderr
    r = daemon.install("--name", "inj2", "--disk", "none", "--import", "--boot", "kernel=/k",
                       "--initrd-inject", seed)
    assert r.returncode == 2 and "--initrd-inject needs --location" in r.stderr
    assert not disk.exists() and "inj2" not in daemon.ok("list", "--all", "--name")


def test_iso_symlinks_and_plain_names(daemon, tmp_path):
    """Rock Ridge symlinks are followed (casper/vmlinuz -> vmlinuz-6.8);
    a plain ISO 9660 image (upper-case 8.3 names, no Rock Ridge) matches
    without case."""
    tree = tmp_path / "tree"
    (tree / "casper").mkdir(parents=True)
    (tree / "casper" / "vmlinuz-6.8").write_bytes(b"LINKED-K")
    (tree / "casper" / "vmlinuz").symlink_to("vmlinuz-6.8")
    (tree / "casper" / "initrd").write_bytes(b"LINKED-I")
    iso = tmp_path / "rr.iso"
    assert run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", str(iso), str(tree)]).returncode == 0
    r = daemon.install("--name", "rr", "--ram", "64", "--disk", "none", "--location", iso,
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    assert (daemon.state_dir / "boot" / "virtkit-rr-vmlinuz").read_bytes() == b"LINKED-K"
    daemon.ok("destroy", "rr")
    plain = tmp_path / "plain.iso"      # no -R/-J: ISO 9660 names only
    tree2 = tmp_path / "tree2"
    (tree2 / "install.amd").mkdir(parents=True)
    (tree2 / "install.amd" / "vmlinuz").write_bytes(b"PLAIN-K")
    (tree2 / "install.amd" / "initrd.gz").write_bytes(b"PLAIN-I")
    r = run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(plain), str(tree2)])
    assert r.returncode == 0, r.stderr
    r = daemon.install("--name", "plain", "--ram", "64", "--disk", "none", "--location", plain,
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    assert (daemon.state_dir / "boot" / "virtkit-plain-initrd").read_bytes() == b"PLAIN-I"
    daemon.ok("destroy", "plain")


def test_location_directory_tree(daemon, tmp_path):
    tree = tmp_path / "tree"
    (tree / "casper").mkdir(parents=True)
    (tree / "casper" / "vmlinuz").write_bytes(b"TREE-K")
    (tree / "casper" / "initrd").write_bytes(b"TREE-I")
    r = daemon.install("--name", "t", "--ram", "64", "--disk", "none", "--location", tree,
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    assert (daemon.state_dir / "boot" / "virtkit-t-initrd").read_bytes() == b"TREE-I"
    assert "device='cdrom'" not in daemon.ok("dumpxml", "t")     # a tree is no cdrom
    daemon.ok("destroy", "t")


def test_cdrom_install(daemon, iso, tmp_path):
    """--cdrom: the ISO attached, its installer kernel booted (virtkit has no
    firmware to boot the CD itself) with its default command line."""
    r = daemon.install("--name", "cd", "--ram", "64", "--disk", "none", "--cdrom", iso,
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    live = daemon.ok("dumpxml", "cd")
    assert "virtkit-cd-vmlinuz</kernel>" in live and "<cmdline>" not in live
    assert f"<source file='{iso}'/>" in live and "device='cdrom'" in live
    assert str(iso) not in daemon.ok("dumpxml", "cd", "--inactive")
    daemon.ok("destroy", "cd")


def test_transient(daemon, iso, tmp_path):
    """--transient: nothing is defined; the guest is gone once it stops
    (its disk stays: it is the installed system)."""
    disk = tmp_path / "t.qcow2"
    r = daemon.install("--name", "tr", "--ram", "64", "--disk", f"path={disk},size=1",
                       "--location", iso, "--transient", "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    info = json.loads(daemon.ok("dominfo", "tr", "--json"))
    assert info["persistent"] is False and "virtkit-tr-vmlinuz" in daemon.ok("dumpxml", "tr")
    assert not (daemon.config / "domains" / "tr.xml").exists()
    daemon.ok("destroy", "tr")
    assert daemon.ok("list", "--all", "--name") == "\n"
    assert disk.exists()
    r = daemon.install("--name", "tr2", "--disk", "none", "--location", iso, "--transient", "--autostart")
    assert r.returncode == 2 and "--autostart needs a persistent domain" in r.stderr


def test_dry_run_and_connect(daemon, iso, tmp_path):
    disk = tmp_path / "dry.qcow2"
    env = dict(daemon.env)
    r = run([binary("virtkit"), "install", "--connect", "virtkit:///system", "--name", "dry",
             "--ram", "64", "--disk", f"path={disk},size=1", "--location", str(iso), "--dry-run"],
            env=env)
    assert r.returncode == 0, r.stderr
    assert "Dry run completed successfully" in r.stdout
    assert not disk.exists() and daemon.leftovers() == []
    # the dry run asks the daemon: a taken name fails it
    daemon.install("--name", "dry", "--ram", "64", "--disk", "none", "--location", iso,
                   "--noautoconsole", "--virt-type", "qemu")
    r = daemon.install("--name", "dry", "--ram", "64", "--disk", f"path={disk},size=1",
                       "--location", iso, "--dry-run")
    assert r.returncode == 1 and "Guest name 'dry' is already in use." in r.stderr
    assert not disk.exists()
    daemon.ok("destroy", "dry")


def test_wait_limit(daemon, iso):
    """--wait 0 with --noautoconsole: the limit passes at once; the guest
    keeps running (as virt-install leaves it)."""
    r = daemon.install("--name", "w", "--ram", "64", "--disk", "none", "--location", iso,
                       "--noautoconsole", "--wait", "0", "--virt-type", "qemu")
    assert r.returncode == 1
    assert "Installation has exceeded specified time limit. Exiting application." in r.stderr
    assert daemon.state("w") == "running (booted)"
    daemon.ok("destroy", "w")
    r = daemon.install("--name", "w2", "--disk", "none", "--location", iso, "--wait=soon")
    assert r.returncode == 2 and "--wait 'soon' is not a number of minutes" in r.stderr
    r = daemon.install("--name", "w2", "--disk", "none", "--location", iso, "--wait", "soon")
    assert r.returncode == 2 and "unexpected argument 'soon'" in r.stderr


# ---- a NAT network (the journey's network:mynet) ----------------------------------

MYNET = """<network>
  <name>mynet</name>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.120.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.120.100' end='192.168.120.200'/></dhcp>
  </ip>
</network>
"""


class NetnsDaemon(InstallDaemon):
    """The daemon inside a private network namespace (bridges, TAPs,
    nftables and dnsmasq stay in there)."""

    def __init__(self):
        super().__init__()
        self.ns = f"vkinst-{uuidlib.uuid4().hex[:8]}"

    def start(self):
        r = run(["ip", "netns", "add", self.ns])
        if r.returncode != 0:
            pytest.skip(f"SKIP: cannot create a network namespace: {r.stderr.strip()}")
        run(["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"])
        log = open(self.root / "virtkitd.log", "a")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, binary("virtkitd"),
                                      "--root", str(self.root)],
                                     env=self.env, stdout=log, stderr=log)
        sock = self.run / "virtkit-sock"
        for _ in range(500):
            if self.proc.poll() is not None:
                pytest.fail("virtkitd exited: " + (self.root / "virtkitd.log").read_text())
            if sock.exists() and self.virtkit("list").returncode == 0:
                return self
            time.sleep(0.02)
        pytest.fail("virtkitd did not start")

    def cleanup(self):
        for net in ("mynet", "default"):
            self.virtkit("net-destroy", net)
        super().cleanup()
        for p in pathlib.Path("/proc").iterdir():     # a dnsmasq left by a failure
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
                if cmd[0].endswith(b"dnsmasq") and any(str(self.root).encode() in c for c in cmd):
                    os.kill(int(p.name), 9)
            except (OSError, ValueError, IndexError):
                pass
        run(["ip", "netns", "del", self.ns])


@needs_root
@needs_tool("nft")
@needs_tool("dnsmasq")
def test_install_on_nat_network(iso, tmp_path):
    d = NetnsDaemon()
    try:
        d.start()
        (d.root / "mynet.xml").write_text(MYNET)
        d.ok("net-define", d.root / "mynet.xml")
        d.ok("net-start", "mynet")
        disk = tmp_path / "deb12.qcow2"
        r = d.install("--name", "deb12", "--description", "Test VM", "--ram", "256", "--vcpus", "1",
                      "--os-variant", "debian12", "--disk", f"path={disk},bus=virtio,size=1",
                      "--graphics", "none", "--location", iso, "--network", "network:mynet",
                      "--console", "pty,target_type=serial", "--noautoconsole",
                      "--virt-type", "qemu", "-x", "console=ttyS0,115200n8 serial")
        assert r.returncode == 0, r.stderr
        live = d.ok("dumpxml", "deb12")
        assert "<interface type='network'>" in live and "<source network='mynet'/>" in live
        mac = live.split("<mac address='")[1].split("'")[0]
        assert mac.startswith("52:54:00:")
        rows = d.ok("domiflist", "deb12").splitlines()
        assert rows[2].split()[1:] == ["network", "mynet", "virtio", mac], rows
        assert rows[2].split()[0].startswith("vnet")
        # the persistent definition keeps the same interface
        assert f"<mac address='{mac}'/>" in d.ok("dumpxml", "deb12", "--inactive")
        log = (d.logs / "domains" / "deb12.log").read_text()
        assert f"mac={mac}" in log
        d.ok("destroy", "deb12")
        # without --network the active network 'default' would be used; here
        # there is none: no interface
        r = d.install("--name", "nonet", "--ram", "64", "--disk", "none", "--location", iso,
                      "--noautoconsole", "--virt-type", "qemu")
        assert r.returncode == 0, r.stderr
        assert "<interface" not in d.ok("dumpxml", "nonet")
        d.ok("destroy", "nonet")
        # with an active 'default' network, that one (as virt-install)
        dflt = MYNET.replace("mynet", "default").replace("virbr0", "virbr1").replace("120", "121")
        (d.root / "default.xml").write_text(dflt)
        d.ok("net-define", d.root / "default.xml")
        d.ok("net-start", "default")
        r = d.install("--name", "dflt", "--ram", "64", "--disk", "none", "--location", iso,
                      "--noautoconsole", "--virt-type", "qemu")
        assert r.returncode == 0, r.stderr
        assert "<source network='default'/>" in d.ok("dumpxml", "dflt", "--inactive")
        d.ok("destroy", "dflt")
        d.ok("net-destroy", "default")
    finally:
        d.cleanup()


# ---- --import ------------------------------------------------------------------

def test_import_existing_disk(daemon, tmp_path):
    disk = tmp_path / "existing.qcow2"
    assert run([binary("virtkit"), "img", "create", "-f", "qcow2", str(disk), "64M"]).returncode == 0
    before = disk.read_bytes()
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"K")
    r = daemon.install("--name", "imp", "--memory", "64", "--import", "--disk", disk,
                       "--boot", f"kernel={kernel},kernel_args='console=ttyS0,115200 quiet'",
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    assert "Allocating" not in r.stdout and "Domain creation completed." in r.stdout
    assert disk.read_bytes() == before
    x = daemon.ok("dumpxml", "imp", "--inactive")
    assert f"<kernel>{kernel}</kernel>" in x and "<cmdline>console=ttyS0,115200 quiet</cmdline>" in x
    assert "<driver name='qemu' type='qcow2'/>" in x
    assert daemon.state("imp") == "running (booted)"
    # another guest may not write the same image (through a symlink either)
    link = tmp_path / "link.qcow2"
    link.symlink_to(disk)
    r = daemon.install("--name", "imp2", "--memory", "64", "--import", "--disk", link,
                       "--boot", f"kernel={kernel}", "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 1 and f"Disk {link} is already in use by other guests ['imp']." in r.stderr
    assert "imp2" not in daemon.ok("list", "--all", "--name")
    # read-only, it may
    r = daemon.install("--name", "imp3", "--memory", "64", "--import", "--disk", f"{disk},readonly=on",
                       "--boot", f"kernel={kernel}", "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    daemon.ok("destroy", "imp3")
    daemon.ok("destroy", "imp")


@pytest.fixture
def kvm_daemon():
    d = InstallDaemon(emulator=binary("virtkit-vm"))
    try:
        yield d.start()
    finally:
        d.cleanup()


def test_import_kvm_guest(kvm_daemon, tmp_path):
    """--import of a small KVM test guest (the project's pwrbtn guest) that
    the daemon really runs; it powers off on the ACPI power button."""
    from conftest import kvm_usable
    if not kvm_usable():
        pytest.skip("SKIP: /dev/kvm is not usable on this host")
    guest = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build")) / "tests" / "guests" / "pwrbtn.elf"
    if not guest.exists():
        pytest.skip(f"SKIP: {guest} is not built")
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    d = kvm_daemon
    r = d.install("--name", "kimp", "--memory", "32", "--vcpus", "1", "--import", "--disk",
                  f"path={disk},format=raw", "--boot", f"kernel={guest}", "--network", "none",
                  "--noautoconsole", "--virt-type", "kvm", "--osinfo", "generic")
    assert r.returncode == 0, r.stderr
    assert d.state("kimp") == "running (booted)"
    log = (d.logs / "domains" / "kimp.log").read_text()
    assert "--accel kvm" in log and f"path={disk},format=raw" in log
    d.ok("destroy", "kimp")


# ---- bad input: clear errors, nothing left behind ----------------------------------

def test_bad_inputs_leave_nothing(daemon, iso, tmp_path):
    disk = tmp_path / "d.qcow2"
    base = ["--ram", "64", "--noautoconsole", "--virt-type", "qemu"]
    cases = [
        (["--name", "a", "--disk", f"path={disk},size=1", "--location", tmp_path / "missing.iso"],
         1, "missing.iso': No such file or directory"),
        (["--name", "a", "--disk", f"path={disk},size=1",
          "--location", make_iso(tmp_path / "plain.iso", {"docs/readme.txt": b"x"})],
         1, "Could not find an installable distribution"),
        (["--name", "a", "--disk", f"path={disk},size=1", "--location", tmp_path / "notiso.iso"],
         1, "notiso.iso' is not an ISO 9660 image"),
        (["--name", "a", "--disk", f"path={disk},size=ten", "--location", iso],
         2, "size='ten' is not a size in GiB"),
        (["--name", "a", "--disk", f"path={disk},size=-1", "--location", iso],
         2, "size='-1' is not a size in GiB"),
        (["--name", "a", "--disk", f"path={disk},size=1", "--location", iso, "--os-variant", "windows95"],
         2, "Unknown OS name 'windows95'"),
        (["--name", "a", "--disk", f"path={disk},size=1,bus=sata", "--location", iso],
         2, "bus='sata' is not supported"),
        (["--name", "a", "--disk", f"path={disk}", "--location", iso],
         1, "does not exist; give size="),
        (["--name", "a", "--location", iso], 2, "--disk storage must be specified"),
        (["--name", "a", "--disk", f"path={disk},size=1", "--disk", f"{disk},size=2", "--location", iso],
         2, f"--disk {disk} is given twice"),
        (["--name", "a", "--disk", "none", "--location", "http://deb.debian.org/debian/"],
         1, "URLs are not supported"),
        (["--disk", "none", "--location", iso], 2, "--name is required"),
        (["--name", "a", "--disk", "none", "--location", iso, "--graphics", "vnc"], 2, "no display"),
        (["--name", "a", "--disk", "none", "--import"], 2, "--import needs --boot kernel="),
        (["--name", "a", "--disk", "none", "--cdrom", iso, "-x", "quiet"], 2,
         "--extra-args only work if specified with --location"),
        (["--name", "a", "--disk", "none", "--location", iso, "--bogus"], 2, "unrecognized option '--bogus'"),
        (["--name", "a", "--disk", f"path={disk},size=1", "--location", iso, "--network", "network=nonet"],
         1, "nonet"),
    ]
    (tmp_path / "notiso.iso").write_bytes(b"this is not an ISO image\n" * 100)
    for args, code, msg in cases:
        r = daemon.install(*args, *base)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        assert r.stderr.startswith("virtkit: install: "), r.stderr
        assert not disk.exists(), args
        assert daemon.leftovers() == [], args


def test_interrupt_undoes_everything(daemon, iso, tmp_path):
    """Ctrl-C while the guest is starting: install lets the start finish,
    then stops the guest and removes the definition, the disk and the
    kernel files."""
    import signal
    flags = pathlib.Path(daemon.env["FAKE_VM_FLAGS"])
    flags.write_text("--wait-go")      # the fake VM waits for root/fake-go
    disk = tmp_path / "int.qcow2"
    p = subprocess.Popen([binary("virtkit"), "-c", "virtkit:///system", "install", "--name", "int",
                          "--ram", "64", "--disk", f"path={disk},size=1", "--location", str(iso),
                          "--noautoconsole", "--virt-type", "qemu"],
                         env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = read_until(p, b"Creating domain...", timeout=60)
        assert b"Creating domain..." in seen
        deadline = time.time() + 60
        while flags.exists() and time.time() < deadline:    # the VM is up and waiting
            time.sleep(0.02)
        assert not flags.exists()
        p.send_signal(signal.SIGINT)
        (daemon.root / "fake-go").write_text("")
        p.wait(timeout=120)
        err = p.stderr.read().decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, err
    assert "interrupted (signal 2): removing what this install created" in err
    assert daemon.ok("list", "--all", "--name") == "\n"
    assert not disk.exists() and daemon.leftovers() == []


def test_existing_name_is_refused(daemon, iso, tmp_path):
    r = daemon.install("--name", "dup", "--ram", "64", "--disk", "none", "--location", iso,
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 0, r.stderr
    daemon.ok("destroy", "dup")
    before = daemon.config_snapshot()
    disk = tmp_path / "dup.qcow2"
    r = daemon.install("--name", "dup", "--ram", "64", "--disk", f"path={disk},size=1",
                       "--location", iso, "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 1 and "Guest name 'dup' is already in use." in r.stderr
    assert not disk.exists() and daemon.config_snapshot() == before


def test_failed_start_removes_disk_definition_and_kernel(daemon, iso, tmp_path):
    """The VM cannot start (an inactive network here): install undoes the
    definition, the disk it created and the kernel files it extracted; a
    disk that was there before stays."""
    (daemon.root / "net.xml").write_text("<network><name>mynet</name>"
                                         "<bridge name='vkinst0'/></network>")
    daemon.ok("net-define", daemon.root / "net.xml")
    new = tmp_path / "new.qcow2"
    old = tmp_path / "old.qcow2"
    assert run([binary("virtkit"), "img", "create", "-f", "qcow2", str(old), "16M"]).returncode == 0
    r = daemon.install("--name", "deb12", "--ram", "64", "--disk", f"path={new},size=1",
                       "--disk", old, "--location", iso, "--network", "network:mynet",
                       "--noautoconsole", "--virt-type", "qemu")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Failed to start domain 'deb12'" in r.stderr and "mynet" in r.stderr
    assert not new.exists() and old.exists()
    assert daemon.leftovers() == []
    assert daemon.ok("list", "--all", "--name") == "\n"


# ---- a Linux guest from an ISO on the software CPU ---------------------------------

# /init of the test installer: shows its command line until a line comes
# in on the console, then powers off (as an installer ends).
CMDLINE_INIT = b"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
while true; do
    echo "VIRTKIT-CMDLINE: $(cat /proc/cmdline)"
    read -t 2 line && break
done
echo "VIRTKIT-INSTALLER: done, powering off"
poweroff -f
"""


@pytest.fixture(scope="module")
def linux_iso(tmp_path_factory):
    """An ISO with Debian's layout: Debian's cloud kernel and the busybox
    initramfs. The tests put the /init above into the installer's initrd
    with --initrd-inject (one more archive after it: the kernel unpacks
    them in order, the later /init wins)."""
    kernel = ASSETS / "kernel" / "vmlinuz"
    if not kernel.exists() or not (ASSETS / "busybox").exists():
        pytest.skip(f"SKIP: guest assets missing in {ASSETS} (run scripts/bootstrap)")
    r = run([binary("virtkit-vm"), "--help"])
    if "tcg" not in r.stdout + r.stderr:
        pytest.skip("SKIP: virtkit-vm has no software CPU (--accel tcg)")
    d = tmp_path_factory.mktemp("linuxiso")
    d.chmod(0o755)
    base = d / "base.cpio.gz"
    r = run([str(TOP / "scripts" / "mkinitramfs"), str(base)], timeout=300)
    assert r.returncode == 0, r.stderr
    init = d / "init"
    init.write_bytes(CMDLINE_INIT)
    init.chmod(0o755)
    return layout_iso(d / "debian-12-netinst.iso", kernel=kernel.read_bytes(), initrd=base.read_bytes())


@pytest.fixture
def vm_daemon():
    d = InstallDaemon(emulator=binary("virtkit-vm"))
    try:
        yield d.start()
    finally:
        d.cleanup()


def test_location_linux_guest_tcg(vm_daemon, linux_iso, tmp_path):
    """--noautoconsole: the disk, the definition, the running installer;
    `virtkit console` shows the extra args reached the kernel."""
    vm = vm_daemon
    disk = tmp_path / "deb12.qcow2"
    mark = f"virtkit.install={uuidlib.uuid4().hex[:8]}"
    r = vm.install("--name", "deb12", "--description", "Test VM", "--ram", "256", "--vcpus", "1",
                   "--os-variant", "debian12", "--disk", f"path={disk},bus=virtio,size=1",
                   "--graphics", "none", "--location", linux_iso, "--network", "none",
                   "--console", "pty,target_type=serial", "--virt-type", "qemu",
                   "--noautoconsole", "-x", f"console=ttyS0 panic=-1 {mark}",
                   "--initrd-inject", linux_iso.parent / "init", timeout=300)
    assert r.returncode == 0, r.stderr
    info = qemu_img_info(disk)
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 30
    assert vm.state("deb12") == "running (booted)"
    live = vm.ok("dumpxml", "deb12")
    assert f"<source file='{linux_iso}'/>" in live and "device='cdrom'" in live
    p = subprocess.Popen([binary("virtkit"), "-c", "virtkit:///system", "console", "deb12"],
                         env=vm.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        want = f"VIRTKIT-CMDLINE: console=ttyS0 panic=-1 {mark}".encode()
        seen = read_until(p, want, timeout=900)
    finally:
        p.kill()
        p.wait()
    text = seen.decode(errors="replace")
    assert want.decode() in text, text[-3000:]
    assert "<kernel>" not in vm.ok("dumpxml", "deb12", "--inactive")
    vm.ok("destroy", "deb12")


def test_location_linux_guest_autoconsole(vm_daemon, linux_iso, tmp_path):
    """The journey's command as typed: install lands on the installer's
    serial console; when the installer powers off, install reports the end
    and the final definition (no installer kernel, no ISO) stays."""
    vm = vm_daemon
    disk = tmp_path / "deb12.qcow2"
    p = subprocess.Popen(
        [binary("virtkit"), "-c", "virtkit:///system", "install", "--name", "deb12",
         "--description", "Test VM", "--ram", "256", "--vcpus", "1", "--os-variant", "debian12",
         "--disk", f"path={disk},bus=virtio,size=1", "--graphics", "none",
         "--location", str(linux_iso), "--network", "none", "--console", "pty,target_type=serial",
         "--virt-type", "qemu", "-x", "console=ttyS0,115200n8 serial",
         "--initrd-inject", str(linux_iso.parent / "init")],
        env=vm.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = read_until(p, b"VIRTKIT-CMDLINE: console=ttyS0,115200n8 serial", timeout=900)
        assert b"VIRTKIT-CMDLINE: console=ttyS0,115200n8 serial" in seen, seen[-3000:]
        p.stdin.write(b"go\r")          # the "installer" finishes and powers off
        p.stdin.flush()
        # stdin stays open: the console relay ends when the guest does
        seen += read_until(p, b"Domain creation completed.", timeout=900)
        p.stdin.close()
        p.wait(timeout=120)
        seen += p.stdout.read()
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = seen.decode(errors="replace")
    assert p.returncode == 0, err
    for line in ("Starting install...", "Allocating 'deb12.qcow2'", "Creating domain...",
                 "Running text console command: virtkit --connect virtkit:///system console deb12",
                 "Connected to domain 'deb12'", "VIRTKIT-INSTALLER: done, powering off",
                 "Domain has shutdown. Continuing.", "Domain creation completed."):
        assert line in text, (line, text[-3000:])
    assert "virtkit-vm cannot do yet (no firmware boot)" in text
    assert vm.state("deb12") == "shut off (shutdown)"
    final = vm.ok("dumpxml", "deb12")
    assert "<kernel>" not in final and str(linux_iso) not in final and f"<source file='{disk}'/>" in final
