"""Images made by qemu-img, with a matrix of options, read back by virtkit:
the guest-visible content must be identical to what qemu-img reads."""
import json

import pytest

from test_img_common import (needs_qemu, ok, pattern_writes, qemu_raw, qimg, qio, qcow2,
                             vk, vk_raw)

pytestmark = needs_qemu
SIZE = 4 << 20

MATRIX = [
    "cluster_size=512",
    "cluster_size=4k",
    "cluster_size=64k",
    "cluster_size=2M",
    "compat=0.10",
    "compat=0.10,cluster_size=16k",
    "refcount_bits=1",
    "refcount_bits=2",
    "refcount_bits=8",
    "refcount_bits=32",
    "refcount_bits=64",
    "lazy_refcounts=on",
    "compression_type=zstd",
    "preallocation=metadata",
    "preallocation=falloc",
    "preallocation=full",
    "extended_l2=on,cluster_size=64k",
]


@pytest.mark.parametrize("opts", MATRIX)
def test_read_qemu_made(qcow2, opts):
    tmp = qcow2
    img = tmp / "q.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", "-o", opts, img, SIZE))
    pattern_writes(img, SIZE, seed=hash(opts) & 0xffff)
    assert vk_raw(tmp, img) == qemu_raw(tmp, img)
    ok(vk("compare", img, tmp / "expect.raw"))
    assert_check_same(img)


def assert_check_same(img):
    """`check` JSON and text identical to qemu-img's, statistics included."""
    for args in (["--output=json"], []):
        v, q = vk("check", *args, img), qimg("check", *args, img)
        assert (v.returncode, v.stdout) == (q.returncode, q.stdout), args


def qio_many(img, cmds, chunk=200):
    for i in range(0, len(cmds), chunk):
        qio(img, *cmds[i:i + chunk])


# Fragmentation statistics (allocated/fragmented/compressed clusters) on
# images whose clusters are laid out out of order.
@pytest.mark.parametrize("case", ["reverse_512", "sequential_512", "random_rewrite",
                                  "compressed_mix", "snapshots", "zero_discard", "extl2",
                                  "overlay", "convert_c"])
def test_check_stats_match_qemu(qcow2, case):
    import random
    tmp = qcow2
    img = tmp / "f.qcow2"
    rnd = random.Random(case)
    opts = {"reverse_512": "cluster_size=512", "sequential_512": "cluster_size=512",
            "random_rewrite": "cluster_size=4k", "extl2": "extended_l2=on",
            "zero_discard": "cluster_size=4k"}.get(case, "cluster_size=64k")
    if case == "convert_c":
        src = tmp / "src.raw"
        ok(qimg("create", "-q", "-f", "raw", src, SIZE))
        pattern_writes(src, SIZE, seed=5, fmt="raw", n=12)
        with open(src, "r+b") as f:
            f.write(b"compressible " * 50000)
        ok(vk("convert", "-c", "-O", "qcow2", src, img))
        assert_check_same(img)
        qio(img, "write -P 9 64k 300k", "write -c -P 8 2M 64k")    # mixed afterwards
        assert_check_same(img)
        return
    if case == "overlay":
        base = tmp / "base.qcow2"
        ok(qimg("create", "-q", "-f", "qcow2", base, SIZE))
        pattern_writes(base, SIZE, seed=2, n=10)
        ok(qimg("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", img))
    else:
        ok(qimg("create", "-q", "-f", "qcow2", "-o", opts, img, SIZE))
    cmds = []
    if case == "reverse_512":
        cmds = [f"write -P {i % 250} {i * 512} 512" for i in range(300, -1, -1)]
    elif case == "sequential_512":
        cmds = [f"write -P {i % 250} {i * 512} 512" for i in range(300)]
    elif case == "random_rewrite":
        for i in range(300):
            off = rnd.randrange(0, SIZE // 4096 - 5) * 4096
            cmds.append(f"write -P {i % 250} {off} {rnd.choice([512, 4096, 8192, 20480])}")
    elif case == "compressed_mix":
        # qemu-io compresses only into unallocated clusters: distinct ones
        for i, c in enumerate(rnd.sample(range(SIZE // 65536), 40)):
            off = c * 65536
            cmds.append(f"write {'-c ' if i % 3 else ''}-P {i % 250} {off} 64k")
    elif case == "zero_discard":
        for i in range(200):
            off = rnd.randrange(0, SIZE // 4096) * 4096
            op = ["write -P 7", "write -z", "discard", "write -P 3"][i % 4]
            cmds.append(f"{op} {off} {rnd.choice([4096, 12288])}")
    elif case in ("snapshots", "extl2", "overlay"):
        for i in range(60):
            off = rnd.randrange(0, (SIZE - 200000) // 512) * 512
            cmds.append(f"write -P {i % 250} {off} {rnd.choice([512, 4096, 65536, 200000])}")
            if case == "snapshots" and i % 20 == 19:
                qio_many(img, cmds)
                cmds = []
                ok(qimg("snapshot", "-c", f"s{i}", img))
    qio_many(img, cmds)
    assert_check_same(img)
    if case == "snapshots":
        ok(vk("snapshot", "-d", "s39", img))
        assert_check_same(img)


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
@pytest.mark.parametrize("cluster", ["4k", "64k"])
def test_read_compressed(qcow2, ctype, cluster):
    tmp = qcow2
    src = tmp / "src.raw"
    ok(qimg("create", "-q", "-f", "raw", src, SIZE))
    # compressible text and incompressible-ish bytes
    with open(src, "r+b") as f:
        f.write(b"virtkit compressed cluster " * 8000)
        f.seek(2 << 20)
        f.write(bytes((i * 7919 + (i >> 8)) & 0xff for i in range(300000)))
    img = tmp / "c.qcow2"
    ok(qimg("convert", "-c", "-O", "qcow2", "-o", f"compression_type={ctype},cluster_size={cluster}",
            "-f", "raw", src, img))
    assert vk_raw(tmp, img) == open(src, "rb").read()
    j = json.loads(ok(vk("info", "--output=json", img)).stdout)
    assert j["format-specific"]["data"]["compression-type"] == ctype


def test_read_backing_chain(qcow2):
    tmp = qcow2
    base, mid, top = tmp / "base.qcow2", tmp / "mid.qcow2", tmp / "top.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", base, SIZE))
    qio(base, "write -P 1 0 1M", "write -P 2 3M 64k")
    ok(qimg("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", mid))
    qio(mid, "write -P 3 512k 4k", "write -z 3M 4k")
    ok(qimg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", mid.name, "-F", "qcow2", top))
    qio(top, "write -P 4 1M 8k")
    assert vk_raw(tmp, top) == qemu_raw(tmp, top)
    # map of the chain agrees with qemu-img about what is data and what is zero
    v = json.loads(ok(vk("map", "--output=json", top)).stdout)
    q = json.loads(ok(qimg("map", "--output=json", top)).stdout)
    key = lambda m: [(e["start"], e["length"], e["zero"], e["data"], e["depth"]) for e in m]
    assert key(v) == key(q)


def test_read_backing_shorter_and_raw(qcow2):
    tmp = qcow2
    base = tmp / "base.raw"
    ok(qimg("create", "-q", "-f", "raw", base, "1M"))
    qio(base, "write -P 5 0 1M", fmt="raw")
    top = tmp / "top.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "raw", top, SIZE))
    qio(top, "write -P 6 900k 200k")
    assert vk_raw(tmp, top) == qemu_raw(tmp, top)


def test_read_snapshots(qcow2):
    tmp = qcow2
    img = tmp / "s.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", img, SIZE))
    qio(img, "write -P 1 0 256k")
    ok(qimg("snapshot", "-c", "one", img))
    qio(img, "write -P 2 64k 64k")
    ok(qimg("snapshot", "-c", "two", img))
    qio(img, "write -P 3 128k 4k")
    assert vk_raw(tmp, img) == qemu_raw(tmp, img)
    v = ok(vk("snapshot", "-l", img)).stdout
    q = ok(qimg("snapshot", "-l", img)).stdout
    assert v == q
    vj = json.loads(ok(vk("info", "--output=json", img)).stdout)
    qj = json.loads(ok(qimg("info", "--output=json", img)).stdout)
    assert vj["snapshots"] == qj["snapshots"]


def test_info_json_matches_qemu(qcow2):
    tmp = qcow2
    base = tmp / "b.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k,refcount_bits=8", base, SIZE))
    top = tmp / "t.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", "-o", "compression_type=zstd,lazy_refcounts=on",
            "-b", base.name, "-F", "qcow2", top))
    for img in (base, top):
        for extra in ([], ["--backing-chain"]):
            v = ok(vk("info", "--output=json", *extra, img)).stdout
            q = ok(qimg("info", "--output=json", *extra, img)).stdout
            # textual equality: same keys, same order, same values
            assert v == q, (img, extra)
            v = ok(vk("info", *extra, img)).stdout
            q = ok(qimg("info", *extra, img)).stdout
            assert v == q, (img, extra)


def test_check_json_matches_qemu(qcow2):
    tmp = qcow2
    img = tmp / "c.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", img, SIZE))
    pattern_writes(img, SIZE, seed=3)
    v = vk("check", "--output=json", img)
    q = qimg("check", "--output=json", img)
    assert v.returncode == q.returncode == 0
    assert json.loads(v.stdout) == json.loads(q.stdout)
    assert ok(vk("check", img)).stdout == ok(qimg("check", img)).stdout


def test_map_compressed_and_chain_match_qemu(qcow2):
    tmp = qcow2
    src = tmp / "s.raw"
    ok(qimg("create", "-q", "-f", "raw", src, SIZE))
    qio(src, "write -P 3 1M 64k", fmt="raw")
    c = tmp / "c.qcow2"
    ok(qimg("convert", "-c", "-f", "raw", "-O", "qcow2", src, c))
    assert ok(vk("map", "--output=json", c)).stdout == ok(qimg("map", "--output=json", c)).stdout
    v, q = vk("map", c), qimg("map", c)
    assert v.returncode == q.returncode == 1 and v.stdout == q.stdout
    assert "compressed clusters" in v.stderr
    base, top = tmp / "b.qcow2", tmp / "t.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", base, SIZE))
    qio(base, "write -P 1 0 1M")
    ok(qimg("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", top))
    qio(top, "write -P 2 512k 1M", "write -z 0 64k")
    for args in (["map"], ["map", "--output=json"], ["map", "--start-offset=256k", "--max-length=1M"]):
        assert ok(vk(*args, top)).stdout == ok(qimg(*args, top)).stdout, args


def test_read_external_data_file(qcow2):
    tmp = qcow2
    img = tmp / "ext.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", "-o", f"data_file={tmp / 'ext.raw'}", img, SIZE))
    qio(img, "write -P 4 0 128k", "write -P 5 3M 4k")
    assert vk_raw(tmp, img) == qemu_raw(tmp, img)
    for args in (["info", "--output=json"], ["map", "--output=json"], ["map"]):
        assert ok(vk(*args, img)).stdout == ok(qimg(*args, img)).stdout, args
