#!/usr/bin/python3
"""virtkitd vs libvirtd (Debian's libvirt-daemon + virsh), same run:

1. latency of `list --all` with 1,000 defined domains (the whole command:
   process start, connect, call, print), median of RUNS;
2. rate of define -> start -> destroy -> undefine cycles (CLI commands) of a
   tiny idle guest;
3. resident memory of the daemon with 1,000 domains defined.

virtkitd runs as a system instance rooted in a temporary directory.
libvirtd runs in session mode as user nobody in a temporary HOME (it cannot
touch the host's libvirt); nobody has no /dev/kvm here, so libvirt's guests
run under QEMU TCG, and the compared virtkit cycle uses virtkit's software
CPU too (type='qemu'); the KVM cycle is printed as well. Without libvirt installed the bench
says so and measures virtkit alone.

Ratios are virtkit / libvirt: < 1.00 = virtkit better (for cycles: virtkit
seconds per cycle / libvirt seconds per cycle).
Environment: VIRTKIT_BUILD (default build/), RUNS (default 15), N (1000)."""
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build"))
VIRTKIT = BUILD / "src" / "cli" / "virtkit"
VIRTKITD = BUILD / "src" / "daemon" / "virtkitd"
VM = BUILD / "src" / "vm" / "virtkit-vm"
RUNS = int(os.environ.get("RUNS", "15"))
N = int(os.environ.get("N", "1000"))
CYCLES = int(os.environ.get("CYCLES", "10"))

sys.path.insert(0, str(TOP / "tests" / "e2e"))
from test_daemon_kvm import IDLE_GUEST  # noqa: E402


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def median_time(cmd, env, runs=RUNS):
    times = []
    for _ in range(runs):
        t = time.monotonic()
        p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.monotonic() - t)
        if p.returncode:
            raise RuntimeError(f"{cmd}: {p.stderr.decode()}")
    return statistics.median(times)


def build_guest(d):
    (d / "idle.S").write_text(IDLE_GUEST)
    subprocess.run(["as", "--32", "-o", str(d / "idle.o"), str(d / "idle.S")], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0x100000", "-o", str(d / "idle.elf"),
                    str(d / "idle.o")], check=True)
    return d / "idle.elf"


def xml(name, kernel, dtype):
    return (f"<domain type='{dtype}'><name>{name}</name><memory unit='MiB'>32</memory>"
            f"<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>{kernel}</kernel></os>"
            f"<devices><serial type='pty'/><console type='pty'/></devices></domain>")


def batch(shell_cmd, env, lines, user_cmd=None):
    """Feed commands to one interactive-shell process (virsh / virtkit read stdin)."""
    p = subprocess.run(shell_cmd, env=env, input="\n".join(lines) + "\nquit\n", text=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError(p.stderr)


def cycles(cli, env, xmlfile, name, n=CYCLES):
    t = time.monotonic()
    for _ in range(n):
        for args in (["define", xmlfile], ["start", name], ["destroy", name], ["undefine", name]):
            p = subprocess.run(cli + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if p.returncode:
                raise RuntimeError(f"{args}: {p.stderr.decode()}")
    return (time.monotonic() - t) / n


def bench_virtkit(tmp, kernel):
    root = tmp / "vk"
    root.mkdir()
    env = dict(os.environ, VIRTKIT_ROOT=str(root), VIRTKIT_VM=str(VM))
    env.pop("VIRTKIT_DEFAULT_URI", None)
    d = subprocess.Popen([str(VIRTKITD), "--root", str(root)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock = root / "run" / "virtkit" / "virtkit-sock"
        for _ in range(500):
            if sock.exists():
                break
            time.sleep(0.01)
        cli = [str(VIRTKIT), "-c", "virtkit:///system"]
        kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
        cx = tmp / "vk-cycle.xml"
        cx.write_text(xml("cycle", kernel, "qemu"))      # software CPU, as libvirt's TCG below
        per_cycle = cycles(cli, env, str(cx), "cycle")
        per_cycle_kvm = None
        if kvm:
            cx.write_text(xml("cycle", kernel, "kvm"))
            per_cycle_kvm = cycles(cli, env, str(cx), "cycle")
        rss0 = rss_kib(d.pid)
        files = []
        for i in range(N):
            f = tmp / f"vk-{i}.xml"
            f.write_text(xml(f"dom{i:04d}", kernel, "kvm"))
            files.append(f"define {f}")
        t = time.monotonic()
        batch(cli, env, files)
        define_s = time.monotonic() - t
        lat = median_time(cli + ["list", "--all"], env)
        rss = rss_kib(d.pid)
        return {"list": lat, "cycle": per_cycle, "rss": rss, "rss0": rss0, "define": define_s,
                "accel": "tcg", "cycle_kvm": per_cycle_kvm}
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=30)


def bench_libvirt(tmp, kernel):
    home = tmp / "lv"
    (home / "run").mkdir(parents=True)
    shutil.copy(kernel, home / "idle.elf")
    subprocess.run(["chown", "-R", "nobody:nogroup", str(tmp)], check=True)
    os.chmod(tmp, 0o755)
    os.chmod(home / "run", 0o700)
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"),
               XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    asuser = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    d = subprocess.Popen(asuser + ["/usr/sbin/libvirtd"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        sock = home / "run" / "libvirt" / "libvirt-sock"
        for _ in range(1000):
            if sock.exists():
                break
            time.sleep(0.01)
        time.sleep(0.5)
        cli = asuser + ["virsh", "-q", "-c", "qemu:///session"]
        cx = home / "lv-cycle.xml"
        cx.write_text(xml("cycle", home / "idle.elf", "qemu"))
        os.chmod(cx, 0o644)
        per_cycle = cycles(cli, env, str(cx), "cycle")
        rss0 = rss_kib(d.pid)
        files = []
        for i in range(N):
            f = home / f"lv-{i}.xml"
            f.write_text(xml(f"dom{i:04d}", home / "idle.elf", "qemu"))
            os.chmod(f, 0o644)
            files.append(f"define {f}")
        t = time.monotonic()
        batch(cli, env, files)
        define_s = time.monotonic() - t
        lat = median_time(cli + ["list", "--all"], env)
        rss = rss_kib(d.pid)
        return {"list": lat, "cycle": per_cycle, "rss": rss, "rss0": rss0, "define": define_s,
                "accel": "tcg"}
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=30)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()


def main():
    for b in (VIRTKIT, VIRTKITD, VM):
        if not b.exists():
            print(f"SKIP: {b} is not built")
            return 0
    if not shutil.which("as"):
        print("SKIP: binutils 'as' is needed to build the idle guest")
        return 0
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vkbench-", dir="/tmp"))
    try:
        kernel = build_guest(tmp)
        vk = bench_virtkit(tmp, kernel)
        have_lv = shutil.which("virsh") and os.path.exists("/usr/sbin/libvirtd") and \
            subprocess.run(["id", "nobody"], capture_output=True).returncode == 0
        lv = bench_libvirt(tmp, kernel) if have_lv else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"domains defined: {N}; runs: {RUNS}; cycles: {CYCLES}")
    print(f"virtkit: list --all {vk['list'] * 1000:.1f} ms, cycle {vk['cycle'] * 1000:.0f} ms "
          f"({1 / vk['cycle']:.2f}/s, guest on {vk['accel']}), daemon RSS {vk['rss'] / 1024:.1f} MiB "
          f"({vk['rss0'] / 1024:.1f} MiB empty), {N} defines in {vk['define']:.2f} s")
    if vk["cycle_kvm"]:
        print(f"virtkit: cycle with the guest on kvm {vk['cycle_kvm'] * 1000:.0f} ms "
              f"({1 / vk['cycle_kvm']:.2f}/s)")
    if not lv:
        print("libvirt: not installed (apt-get install libvirt-daemon libvirt-daemon-driver-qemu "
              "libvirt-clients) - no comparison")
        return 0
    print(f"libvirt: list --all {lv['list'] * 1000:.1f} ms, cycle {lv['cycle'] * 1000:.0f} ms "
          f"({1 / lv['cycle']:.2f}/s, guest on {lv['accel']}), daemon RSS {lv['rss'] / 1024:.1f} MiB "
          f"({lv['rss0'] / 1024:.1f} MiB empty), {N} defines in {lv['define']:.2f} s")
    print(f"ratio list --all latency (virtkit/libvirt): {vk['list'] / lv['list']:.2f}")
    print(f"ratio time per cycle      (virtkit/libvirt): {vk['cycle'] / lv['cycle']:.2f}")
    print(f"ratio daemon RSS          (virtkit/libvirt): {vk['rss'] / lv['rss']:.2f}")
    print(f"ratio {N} defines         (virtkit/libvirt): {vk['define'] / lv['define']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
