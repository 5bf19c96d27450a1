#!/usr/bin/python3
"""virtkit-vm vs qemu-system-x86_64, both with KVM, in the same run:

1. wall time from process start to guest exit for kvm-unit-tests dummy.flat
   (same flags as the conformance README uses for QEMU), median of N runs;
2. VMM memory overhead: resident memory of the process beyond the guest RAM
   it touched, read from /proc/PID/smaps while a small guest waits for
   serial input (the guest RAM mapping is the memfd "virtkit-ram" for
   virtkit, the anonymous mapping of the guest's size for QEMU).

Environment: VIRTKIT_BUILD (default build/), RUNS (default 5)."""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests" / "e2e"))
from vm_guests import ECHO, build  # noqa: E402

BUILD = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build"))
VM = BUILD / "src" / "vm" / "virtkit-vm"
KUT = TOP.parent / "shared" / "conformance" / "kvm-unit-tests"
RUNS = int(os.environ.get("RUNS", "5"))
MEM_MB = 512


def timed(cmd):
    t = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return time.monotonic() - t, p.returncode


def boot_time(cmd, want_status):
    times = []
    for _ in range(RUNS):
        t, rc = timed(cmd)
        if rc != want_status:
            raise RuntimeError(f"{cmd[0]} exited {rc}, want {want_status}")
        times.append(t)
    return statistics.median(times)


def smaps_overhead(pid, is_guest_ram):
    """(total RSS, guest RAM RSS) in KiB from /proc/PID/smaps."""
    total = ram = 0
    cur_is_ram = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                name = parts[5] if len(parts) > 5 else ""
                cur_is_ram = is_guest_ram(hi - lo, name)
            elif parts[0] == "Rss:":
                kb = int(parts[1])
                total += kb
                if cur_is_ram:
                    ram += kb
    return total, ram


def rss_while_waiting(cmd, is_guest_ram):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        buf = b""
        while b"READY" not in buf:
            chunk = p.stdout.read1(4096)
            if not chunk:
                raise RuntimeError(f"{cmd[0]}: guest did not start")
            buf += chunk
        time.sleep(0.2)   # let the input thread settle
        return smaps_overhead(p.pid, is_guest_ram)
    finally:
        p.kill()
        p.wait()


def main():
    if not VM.exists():
        print(f"vm_boot: SKIP: {VM} is not built")
        return 0
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("vm_boot: SKIP: /dev/kvm is not usable")
        return 0
    qemu = shutil.which("qemu-system-x86_64")
    dummy = KUT / "dummy.flat"
    env = tempfile.NamedTemporaryFile(prefix="kut-env-")
    ours = [str(VM), "--accel", "kvm", "--kernel", str(dummy), "--smp", "1",
            "--initrd", env.name, "--device", "isa-debug-exit,iobase=0xf4,iosize=0x4",
            "--device", "pc-testdev", "--serial", "stdio", "--no-reboot"]
    theirs = [qemu or "qemu-system-x86_64", "--no-reboot", "-nodefaults", "-device", "pc-testdev",
              "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-display", "none",
              "-serial", "stdio", "-device", "pci-testdev", "-machine", "accel=kvm",
              "-kernel", str(dummy), "-smp", "1", "-initrd", env.name]
    if dummy.exists():
        t_ours = boot_time(ours, 1)
        print(f"vm_boot: dummy.flat start->exit, virtkit-vm: {t_ours * 1000:.1f} ms (median of {RUNS})")
        if qemu:
            t_qemu = boot_time(theirs, 1)
            print(f"vm_boot: dummy.flat start->exit, qemu-system-x86_64: {t_qemu * 1000:.1f} ms")
            print(f"vm_boot: ratio virtkit/qemu = {t_ours / t_qemu:.3f} (target <= 0.1)")
        else:
            print("vm_boot: qemu-system-x86_64 not installed: no ratio")
    else:
        print(f"vm_boot: SKIP boot time: {dummy} not present")

    if not all(shutil.which(t) for t in ("as", "ld")):
        print("vm_boot: SKIP memory overhead: binutils not installed")
        return 0
    with tempfile.TemporaryDirectory() as d:
        guest = build(ECHO, d, "echo")
        total, ram = rss_while_waiting(
            [str(VM), "--accel", "kvm", "--kernel", guest, "--memory", f"{MEM_MB}M",
             "--serial", "stdio"],
            lambda size, name: "virtkit-ram" in name)
        ours_mb = (total - ram) / 1024
        print(f"vm_boot: VMM overhead (RSS beyond touched guest RAM), virtkit-vm: {ours_mb:.2f} MiB "
              f"(RSS {total / 1024:.1f} MiB, guest RAM touched {ram / 1024:.1f} MiB; target < 8 MiB)")
        if qemu:
            total, ram = rss_while_waiting(
                [qemu, "-nodefaults", "-display", "none", "-machine", "accel=kvm", "-m", str(MEM_MB),
                 "-kernel", guest, "-serial", "stdio", "-no-reboot"],
                lambda size, name: size == MEM_MB << 20 and not name)
            q_mb = (total - ram) / 1024
            print(f"vm_boot: VMM overhead, qemu-system-x86_64: {q_mb:.2f} MiB "
                  f"(RSS {total / 1024:.1f} MiB, guest RAM touched {ram / 1024:.1f} MiB)")
            print(f"vm_boot: overhead ratio virtkit/qemu = {ours_mb / q_mb:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
