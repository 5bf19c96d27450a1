"""Software CPU benchmark (run by bench/cpu.sh).

1. cpu_bench: guest instructions per second of the interpreter alone.
2. sieve.flat (kvm-unit-tests) start to exit: virtkit-vm --accel tcg vs
   qemu-system-x86_64 -accel tcg, one run each; prints the time ratio
   (virtkit / qemu, <= 1.00 means virtkit is at least as fast).
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build"))
KUT = TOP.parent / "shared" / "conformance" / "kvm-unit-tests"
TIMEOUT = 300


def run_timed(cmd):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    # isa-debug-exit: status 1 is a passing guest
    return (time.monotonic() - t0, "") if p.returncode == 1 else (None, "failed")


def best(cmd, n=1):
    times = []
    for _ in range(n):
        t, out = run_timed(cmd)
        if t is None:
            return None
        times.append(t)
    return min(times)


def main():
    bench = BUILD / "tests" / "unit" / "cpu" / "cpu_bench"
    if bench.exists():
        out = subprocess.run([str(bench), "20000000"], stdout=subprocess.PIPE).stdout.decode()
        for line in out.splitlines():
            if line.startswith("insns/s"):
                print(f"cpu_bench: {float(line.split()[1]) / 1e6:.1f} M guest instructions/s")
    else:
        print("cpu_bench: SKIP (not built)")

    vm = BUILD / "src" / "vm" / "virtkit-vm"
    qemu = shutil.which("qemu-system-x86_64")
    sieve = KUT / "sieve.flat"
    if not vm.exists() or not sieve.exists():
        print("sieve: SKIP (virtkit-vm or sieve.flat missing)")
        return 0
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env:
        common = ["--device", "isa-debug-exit,iobase=0xf4,iosize=0x4"]
        ours = [str(vm), "--accel", "tcg", "--kernel", str(sieve), "--initrd", env.name,
                "--serial", "stdio", "--no-reboot", "--device", "pc-testdev"] + common
        t_ours = best(ours)
        if t_ours is None:
            print("sieve: virtkit-vm --accel tcg did not finish")
            return 0
        print(f"sieve: virtkit-vm --accel tcg {t_ours:.2f} s")
        if not qemu:
            print("sieve: SKIP qemu (qemu-system-x86_64 missing)")
            return 0
        theirs = [qemu, "-accel", "tcg", "-nodefaults", "-display", "none", "--no-reboot",
                  "-serial", "stdio", "-device", "pc-testdev",
                  "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4",
                  "-kernel", str(sieve), "-initrd", env.name]
        t_qemu = best(theirs)
        if t_qemu is None:
            print("sieve: qemu did not finish")
            return 0
        print(f"sieve: qemu -accel tcg {t_qemu:.2f} s")
        print(f"sieve: ratio virtkit/qemu {t_ours / t_qemu:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
