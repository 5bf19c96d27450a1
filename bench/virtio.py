#!/usr/bin/env python3
"""Host CPU cost per virtio request, virtkit-vm vs qemu-system-x86_64 (same run,
same guest program, same accelerator: KVM).

The guest (tests/guests/virtio/vblk.elf, vnet.elf) does N requests; the VMM's
CPU time (user + system, from the child's rusage) is measured for N and for
0 requests, and (cpu(N) - cpu(0)) / N is the cost per request: boot, firmware
and guest set-up cancel out. Printed: requests per host CPU second for each
VMM and the ratio virtkit/QEMU (>= 1.00 means virtkit serves at least as many
requests per CPU second). On a PVM-based KVM the guest's own instructions are
emulated by the host kernel and counted too, equally for both VMMs.
"""
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid

TOP = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build"))
VM = BUILD / "src" / "vm" / "virtkit-vm"
GUESTS = BUILD / "tests" / "guests" / "virtio"
QEMU = shutil.which("qemu-system-x86_64")
N = int(os.environ.get("VIRTIO_BENCH_N", "20000"))
BEST = int(os.environ.get("VIRTIO_BENCH_BEST", "2"))   # runs per point, the cheapest counts
EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x4"


def cpu_of(cmd, prefix=()):
    """Run cmd, return (exit status, child CPU seconds, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=1800)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.returncode, cpu, p.stdout + p.stderr


def virtkit(kernel, append, dev):
    return [str(VM), "--accel", "kvm", "--kernel", str(GUESTS / kernel), "--append", append,
            "--serial", "stdio", "--no-reboot", "--device", EXIT, *dev]


def qemu(kernel, append, dev):
    return [QEMU, "-accel", "kvm", "-nodefaults", "-display", "none", "-serial", "stdio",
            "-no-reboot", "-m", "512", "-device", EXIT, "-kernel", str(GUESTS / kernel),
            "-append", append, *dev]


def per_request(build, kernel, what, dev, prefix=(), qd=1):
    """Best of BEST runs each for 0 and N requests (boot-time noise, e.g.
    QEMU's firmware under emulation, would otherwise swamp small N)."""
    runs = {}
    for n in (0, N):
        best = None
        for _ in range(BEST):
            rc, cpu, out = cpu_of(build(kernel, f"bench={n}" + (f" qd={qd}" if qd > 1 else ""), dev),
                                  prefix)
            if rc != 1 or "RESULT: PASS" not in out:
                print(f"   {what}: guest failed (exit {rc}):\n{out[-2000:]}")
                return None
            best = cpu if best is None else min(best, cpu)
        runs[n] = best
    if runs[N] <= runs[0]:
        print(f"   {what}: {N} requests cost less than the noise; raise VIRTIO_BENCH_N")
        return None
    return (runs[N] - runs[0]) / N


def direct_io_ok(path):
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_DIRECT))
        return True
    except OSError:
        return False


def report(name, vk, qm):
    if vk is None or qm is None:
        print(f"{name:28s} incomplete")
        return
    print(f"{name:28s} virtkit {1 / vk:10.0f} req/CPU-s   qemu {1 / qm:10.0f} req/CPU-s   "
          f"ratio {qm / vk:5.2f}")


def main():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not usable here")
        return 0
    if not QEMU:
        print("SKIP: qemu-system-x86_64 is not installed (scripts/bootstrap installs it)")
        return 0
    if not (GUESTS / "vblk.elf").exists():
        print(f"SKIP: test guests not built in {BUILD}")
        return 0
    print(f"virtio host CPU per request, {N} requests, KVM, ratio = virtkit rate / qemu rate")
    only = os.environ.get("VIRTIO_BENCH_ONLY", "")   # "blk" or "net": just those rows
    with tempfile.TemporaryDirectory() as d:
        if only == "net":
            return bench_net()
        img = pathlib.Path(d) / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "16M"], check=True)
        subprocess.run(["qemu-io", "-c", "write -q -P 0x11 0 4M", str(img)], check=True)
        vk = per_request(virtkit, "vblk.elf", "virtkit blk",
                         ["--disk", f"path={img},format=qcow2"])
        qm = per_request(qemu, "vblk.elf", "qemu blk",
                         ["-drive", f"file={img},format=qcow2,if=none,id=d0",
                          "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"])
        report("virtio-blk 4 KiB read", vk, qm)
        # raw images: the synchronous I/O thread vs io_uring, page cache and
        # O_DIRECT, each against QEMU with the same aio= and cache= settings
        raw = pathlib.Path(d) / "disk.raw"
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "16M"], check=True)
        subprocess.run(["qemu-io", "-f", "raw", "-c", "write -q -P 0x11 0 4M", str(raw)], check=True)
        for cache in ("writeback", "none"):
            for aio in ("threads", "io_uring"):
                if cache == "none" and not direct_io_ok(raw):
                    print(f"virtio-blk raw cache=none     SKIP: {d} does not support O_DIRECT")
                    break
                vk = per_request(virtkit, "vblk.elf", f"virtkit raw {cache} {aio}",
                                 ["--disk", f"path={raw},format=raw,cache={cache},aio={aio}"])
                qm = per_request(qemu, "vblk.elf", f"qemu raw {cache} {aio}",
                                 ["-drive", f"file={raw},format=raw,if=none,id=d0,cache={cache},aio={aio}",
                                  "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"])
                report(f"  raw cache={cache} aio={aio}", vk, qm)
        # 8 reads in flight at once, O_DIRECT: where io_uring should pay
        if direct_io_ok(raw):
            for aio in ("threads", "io_uring"):
                vk = per_request(virtkit, "vblk.elf", f"virtkit raw qd8 {aio}",
                                 ["--disk", f"path={raw},format=raw,cache=none,aio={aio}"], qd=8)
                qm = per_request(qemu, "vblk.elf", f"qemu raw qd8 {aio}",
                                 ["-drive", f"file={raw},format=raw,if=none,id=d0,cache=none,aio={aio}",
                                  "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"], qd=8)
                report(f"  raw cache=none aio={aio} qd=8", vk, qm)
    return 0 if only == "blk" else bench_net()


def bench_net():
    """virtio-net: user space on both sides (QEMU vhost=off, virtkit vhost=off:
    the host has no /dev/vhost-net anyway, and the comparison stays fair)."""
    if os.geteuid() != 0:
        print("virtio-net                   SKIP: needs root for a network namespace")
        return 0
    ns = "vkb-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        nsx = ("ip", "netns", "exec", ns)
        subprocess.run([*nsx, "ip", "tuntap", "add", "dev", "vkb0", "mode", "tap", "vnet_hdr"], check=True)
        subprocess.run([*nsx, "ip", "link", "set", "vkb0", "up"], check=True)
        vk = per_request(virtkit, "vnet.elf", "virtkit net", ["--net", "tap=vkb0,vhost=off"], nsx)
        qm = per_request(qemu, "vnet.elf", "qemu net",
                         ["-netdev", "tap,id=n0,ifname=vkb0,script=no,downscript=no,vhost=off",
                          "-device", "virtio-net-pci,netdev=n0,disable-legacy=on"], nsx)
        report("virtio-net 60-byte transmit", vk, qm)
    finally:
        subprocess.run(["ip", "netns", "del", ns])
    return 0


if __name__ == "__main__":
    sys.exit(main())
