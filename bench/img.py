#!/usr/bin/python3
"""virtkit img vs qemu-img, same machine, same run; prints virtkit/qemu-img
time ratios (<= 1.00: virtkit at least as fast).

Workloads (issue 3): convert raw->qcow2 and qcow2->raw of a 2 GiB image
holding 768 MiB of data, compressed convert of the same, check of a large
image (4 KiB clusters), and 4 KiB scattered reads/writes through `img bench`.
VIRTKIT_BENCH_DIR picks the scratch folder (default /var/tmp); it needs
about 5 GiB. VIRTKIT_BENCH_SMALL=1 shrinks everything 8x for a quick look.
VIRTKIT_BENCH_ONLY=TEXT runs only the cases whose name contains TEXT.
Each case runs VIRTKIT_BENCH_REPS times (default 3, fewer for runs over
20 s), alternating the tools, and keeps the best time of each. The least
CPU time (user + sys) of each tool follows in parentheses: on a shared,
loaded machine it moves much less than the wall time.
"""
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build"))
VK = str(BUILD / "src/cli/virtkit")
QIMG = shutil.which("qemu-img")
SMALL = os.environ.get("VIRTKIT_BENCH_SMALL") == "1"
SCALE = 8 if SMALL else 1
SIZE = (2 << 30) // SCALE
DATA = (768 << 20) // SCALE
EXTENT = 8 << 20
REPS = int(os.environ.get("VIRTKIT_BENCH_REPS", "3"))
ONLY = os.environ.get("VIRTKIT_BENCH_ONLY", "")   # run only cases whose name contains this


def wanted(name):
    return not ONLY or ONLY in name


def make_source(path):
    """2 GiB sparse raw file with 768 MiB of half-compressible data in 8 MiB extents."""
    with open(path, "wb") as f:
        f.truncate(SIZE)
        n = DATA // EXTENT
        stride = SIZE // n
        text = (b"virtkit benchmark data, compressible half of each cluster. " * 600)[:32768]
        for i in range(n):
            f.seek(i * stride)
            buf = bytearray()
            for _ in range(EXTENT // 65536):
                buf += os.urandom(32768) + text
            f.write(buf)


CPU = {}   # tool -> least CPU seconds (user + sys) of the last case's runs


def timed(args, tool=None):
    """Wall time of one run; the CPU time it used goes to CPU[tool]."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if r.returncode not in (0,):
        sys.stderr.write(f"{' '.join(args)} failed ({r.returncode}): {r.stderr}\n")
        return None, r
    if tool and (CPU.get(tool) is None or cpu < CPU[tool]):
        CPU[tool] = cpu
    return dt, r


def bench_time(out):
    for line in out.splitlines():
        if line.startswith("Run completed in "):
            return float(line.split()[3])
    return None


def row(name, tv, tq):
    if tv is None or tq is None:
        print(f"{name:<34} virtkit {'-' if tv is None else f'{tv:.3f}s':>9}  "
              f"qemu-img {'-' if tq is None else f'{tq:.3f}s':>9}  ratio   n/a")
        CPU.clear()
        return
    cv, cq = CPU.get("virtkit"), CPU.get("qemu-img")
    cpu = f"  (cpu {cv:.2f}s/{cq:.2f}s = {cv / cq:4.2f})" if cv and cq else ""
    print(f"{name:<34} virtkit {tv:8.3f}s  qemu-img {tq:8.3f}s  ratio {tv / tq:5.2f}{cpu}")
    CPU.clear()


def main():
    if not QIMG:
        print("SKIP: qemu-img is not installed")
        return 0
    if not os.path.exists(VK):
        print(f"SKIP: {VK} is not built")
        return 0
    base = os.environ.get("VIRTKIT_BENCH_DIR", "/var/tmp")
    d = pathlib.Path(tempfile.mkdtemp(prefix="vk-img-bench-", dir=base))
    try:
        probe = subprocess.run([VK, "img", "create", "-q", "-f", "qcow2", str(d / "p.qcow2"), "1M"],
                               capture_output=True, text=True)
        if probe.returncode:
            print(f"SKIP: virtkit qcow2 not usable: {probe.stderr.strip()}")
            return 0
        src = d / "src.raw"
        make_source(src)
        print(f"image: {SIZE >> 20} MiB virtual, {DATA >> 20} MiB data; "
              f"{os.cpu_count()} CPUs; ratio = virtkit / qemu-img")
        # a qcow2 source made by qemu-img, used by both for qcow2->raw
        qsrc = d / "qsrc.qcow2"
        subprocess.run([QIMG, "convert", "-f", "raw", "-O", "qcow2", str(src), str(qsrc)], check=True)
        cases = [
            ("convert raw->qcow2", ["convert", "-f", "raw", "-O", "qcow2", str(src), "{out}.qcow2"]),
            ("convert qcow2->raw", ["convert", "-f", "qcow2", "-O", "raw", str(qsrc), "{out}.raw"]),
            ("convert -c raw->qcow2 (zlib)", ["convert", "-c", "-f", "raw", "-O", "qcow2", str(src),
                                              "{out}.qcow2"]),
            ("convert -c raw->qcow2 (zstd)", ["convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
                                              "compression_type=zstd", str(src), "{out}.qcow2"]),
        ]
        for name, args in cases:
            if not wanted(name):
                continue
            res = {"qemu-img": None, "virtkit": None}
            # alternate the tools; short runs are repeated and the best kept
            # (the machine is shared, single runs are noisy)
            for rep in range(REPS):
                for tool, exe in (("qemu-img", [QIMG]), ("virtkit", [VK, "img"])):
                    out = str(d / f"out-{tool}")
                    a = [x.replace("{out}", out) for x in args]
                    subprocess.run(["sync"])
                    t, _ = timed(exe + a, tool)
                    if t is not None and (res[tool] is None or t < res[tool]):
                        res[tool] = t
                    for ext in (".qcow2", ".raw"):
                        if os.path.exists(out + ext):
                            os.unlink(out + ext)
                if max(v or 0 for v in res.values()) > 20:
                    break
            row(name, res["virtkit"], res["qemu-img"])

        # check of a large image: 4 KiB clusters -> ~200k data clusters
        big = d / "big.qcow2"
        if wanted("check (4k clusters)"):
            subprocess.run([QIMG, "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k",
                            str(src), str(big)], check=True)
        tq = tv = None
        for rep in range(REPS if wanted("check (4k clusters)") else 0):
            t, _ = timed([QIMG, "check", str(big)], "qemu-img")
            tq = t if tq is None or (t is not None and t < tq) else tq
            t, _ = timed([VK, "img", "check", str(big)], "virtkit")
            tv = t if tv is None or (t is not None and t < tv) else tv
        if wanted("check (4k clusters)"):
            row("check (4k clusters)", tv, tq)

        # scattered 4 KiB I/O: a step of 7 MiB + 12 KiB modulo the size
        step = str((7 << 20) + 12288)
        count = str(200000 // SCALE)
        for mode, extra in (("read", []), ("write", ["-w"])):
            if not wanted(f"bench 4k {mode}"):
                continue
            res = {"qemu-img": None, "virtkit": None}
            for rep in range(REPS):
                for tool, exe in (("qemu-img", [QIMG]), ("virtkit", [VK, "img"])):
                    img = d / f"io-{tool}.qcow2"
                    shutil.copyfile(qsrc, img)
                    _, r = timed(tool=tool, args=exe + ["bench", "-f", "qcow2", "-t", "none", "-c", count, "-d", "64",
                                        "-s", "4k", "-S", step] + extra + [str(img)])
                    t = bench_time(r.stdout) if r.returncode == 0 else None
                    if t is not None and (res[tool] is None or t < res[tool]):
                        res[tool] = t
                    img.unlink()
            row(f"bench 4k {mode} (O_DIRECT, depth 64)", res["virtkit"], res["qemu-img"])
        return 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
