#!/usr/bin/python3
"""Linux boot on the software CPU, virtkit-vm --accel tcg vs
qemu-system-x86_64 -accel tcg, same kernel (bootstrap assets), same initramfs
(scripts/mkinitramfs), in the same run. Times from process start to:
  kernel  "Run /init as init process" (the kernel is done)
  user    "VIRTKIT-INIT" (the first userspace line)
  off     the process exiting after the guest's power-off
and the ratio virtkit/QEMU for each; "n/a" when a milestone is not reached.
Also the kvm-unit-tests CPU-bound guest sieve.flat under both, and the
guest instructions per second virtkit-vm reports (VIRTKIT_TCG_STATS=1).

usage: bench/tcg_boot.sh [--timeout S] [--no-sieve]
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build"))
ASSETS = pathlib.Path(os.environ.get("VIRTKIT_ASSETS", TOP / ".cache" / "assets"))
KUT = TOP.parent / "shared" / "conformance" / "kvm-unit-tests"
APPEND = "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1"
MARKS = {"kernel": "Run /init as init process", "user": "VIRTKIT-INIT"}


def timed_run(cmd, timeout, env=None):
    """Run cmd; return ({mark: seconds}, exit seconds or None, stderr text)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env, text=True, errors="replace")
    seen = {}
    deadline = t0 + timeout
    os.set_blocking(p.stdout.fileno(), True)
    for line in p.stdout:
        now = time.monotonic() - t0
        for k, m in MARKS.items():
            if k not in seen and m in line:
                seen[k] = now
        if time.monotonic() > deadline:
            break
    try:
        p.wait(timeout=max(1, deadline - time.monotonic()))
        off = time.monotonic() - t0 if p.returncode == 0 and "user" in seen else None
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        off = None
    return seen, off, p.stderr.read()


def fmt(v):
    return f"{v:7.2f} s" if v is not None else "    n/a"


def ratio(a, b):
    return f"{a / b:6.2f}x" if a is not None and b else "   n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--no-sieve", action="store_true", help="boot only")
    args = ap.parse_args()
    vm = BUILD / "src" / "vm" / "virtkit-vm"
    qemu = shutil.which("qemu-system-x86_64")
    kernel = ASSETS / "kernel" / "vmlinuz"
    if not vm.exists() or not qemu or not kernel.exists():
        print("tcg_boot: SKIP (needs virtkit-vm built, qemu-system-x86_64, bootstrap assets)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        initrd = pathlib.Path(tmp) / "initrd.cpio.gz"
        subprocess.run([str(TOP / "scripts" / "mkinitramfs"), str(initrd)], check=True)
        env = dict(os.environ, VIRTKIT_TCG_STATS="1")
        v_seen, v_off, v_err = timed_run(
            [str(vm), "--accel", "tcg", "--serial", "stdio", "--memory", "512M", "--kernel",
             str(kernel), "--initrd", str(initrd), "--append", APPEND, "--no-reboot"],
            args.timeout, env)
        q_seen, q_off, _ = timed_run(
            [qemu, "-accel", "tcg", "-m", "512M", "-kernel", str(kernel), "-initrd", str(initrd),
             "-append", APPEND, "-nographic", "-no-reboot"], args.timeout)
    insns = sum(int(n) for n in re.findall(r"(\d+) guest instructions", v_err))
    v_end = v_off or max(v_seen.values(), default=None)
    print("Linux boot, software CPU       virtkit-vm      QEMU   ratio")
    for k in ("kernel", "user"):
        print(f"  to {k:<26} {fmt(v_seen.get(k))} {fmt(q_seen.get(k))} {ratio(v_seen.get(k), q_seen.get(k))}")
    print(f"  to power-off                 {fmt(v_off)} {fmt(q_off)} {ratio(v_off, q_off)}")
    if insns and v_end:
        print(f"  virtkit-vm: {insns} guest instructions, {insns / v_end / 1e6:.1f} M/s")

    sieve = KUT / "sieve.flat"
    if sieve.exists() and not args.no_sieve:
        t0 = time.monotonic()
        r = subprocess.run([str(vm), "--accel", "tcg", "--serial", "null", "--kernel", str(sieve),
                            "--device", "isa-debug-exit,iobase=0xf4,iosize=0x4",
                            "--device", "pc-testdev", "--no-reboot"],
                           capture_output=True, text=True, timeout=args.timeout, env=env)
        tv = time.monotonic() - t0
        ins = sum(int(n) for n in re.findall(r"(\d+) guest instructions", r.stderr))
        t0 = time.monotonic()
        subprocess.run([qemu, "-accel", "tcg", "-nodefaults", "-display", "none", "-serial", "null",
                        "-device", "pc-testdev", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4",
                        "-device", "pci-testdev", "-kernel", str(sieve), "-no-reboot"],
                       capture_output=True, timeout=args.timeout)
        tq = time.monotonic() - t0
        print(f"sieve.flat                     {fmt(tv)} {fmt(tq)} {ratio(tv, tq)}"
              + (f"   ({ins / tv / 1e6:.1f} M guest insns/s)" if ins else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
