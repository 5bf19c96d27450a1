"""Images made or modified by virtkit pass `qemu-img check` (no errors, no
leaks) and `qemu-img compare` equal to the expected content."""
import json
import os

import pytest

from test_img_common import (needs_qemu, ok, pattern_writes, qcheck_clean, qemu_raw, qimg,
                             qio, qcow2, read_raw, vk, vk_raw)

pytestmark = needs_qemu
SIZE = 4 << 20


def make_source(tmp, name="src.raw", size=SIZE, seed=7):
    src = tmp / name
    ok(qimg("create", "-q", "-f", "raw", src, size))
    pattern_writes(src, size, seed=seed, fmt="raw", n=10)
    with open(src, "r+b") as f:       # a compressible stretch too
        f.seek(size // 2)
        f.write(b"0123456789abcdef" * 4096)
    return src


CREATE_OPTS = [
    "",
    "cluster_size=512",
    "cluster_size=4k,refcount_bits=1",
    "cluster_size=2M",
    "compat=0.10",
    "refcount_bits=64",
    "lazy_refcounts=on",
    "compression_type=zstd",
    "preallocation=metadata",
    "preallocation=falloc",
    "preallocation=full",
]


@pytest.mark.parametrize("opts", CREATE_OPTS)
def test_create_then_qemu_writes(qcow2, opts):
    tmp = qcow2
    img = tmp / "v.qcow2"
    args = ["-o", opts] if opts else []
    r = ok(vk("create", "-f", "qcow2", *args, img, SIZE))
    assert r.stdout.startswith(f"Formatting '{img}', fmt=qcow2 cluster_size=")
    qcheck_clean(img)
    pattern_writes(img, SIZE, seed=11)        # qemu can use what we made
    qcheck_clean(img)
    assert vk_raw(tmp, img) == qemu_raw(tmp, img)
    if "refcount_bits=1" not in opts:          # a snapshot needs refcount 2
        ok(vk("snapshot", "-c", "s1", img))
    for args in (["info", "--output=json"], ["info"], ["map", "--output=json"]):
        if args[0] == "map" and "preallocation" in opts:
            continue    # block layer reports preallocated clusters as zero+data (documented)
        assert ok(vk(*args, img)).stdout == ok(qimg(*args, img)).stdout, args
    # check: the same JSON, statistics included
    assert ok(vk("check", "--output=json", img)).stdout == \
        ok(qimg("check", "--output=json", img)).stdout


def test_create_formatting_line_matches_qemu(qcow2):
    tmp = qcow2
    for opts in ("", "compat=0.10", "cluster_size=4k,lazy_refcounts=on,refcount_bits=8",
                 "preallocation=metadata,compression_type=zstd"):
        args = ["-o", opts] if opts else []
        v = ok(vk("create", "-f", "qcow2", *args, tmp / "x.qcow2", "1M")).stdout
        q = ok(qimg("create", "-f", "qcow2", *args, tmp / "x.qcow2", "1M")).stdout
        assert v == q


@pytest.mark.parametrize("opts", ["", "cluster_size=4k", "compat=0.10", "cluster_size=2M",
                                  "preallocation=metadata", "preallocation=full",
                                  "refcount_bits=1,cluster_size=512", "extended_l2=on"])
def test_convert_raw_to_qcow2(qcow2, opts):
    tmp = qcow2
    src = make_source(tmp)
    img = tmp / "o.qcow2"
    args = ["-o", opts] if opts else []
    ok(vk("convert", "-f", "raw", "-O", "qcow2", *args, src, img))
    qcheck_clean(img)
    ok(qimg("compare", "-f", "raw", src, img))
    assert vk_raw(tmp, img) == read_raw(src)


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
def test_compressed_convert(qcow2, ctype):
    tmp = qcow2
    src = make_source(tmp)
    img = tmp / "c.qcow2"
    ok(vk("convert", "-c", "-m", "4", "-W", "-f", "raw", "-O", "qcow2", "-o",
          f"compression_type={ctype}", src, img))
    j = qcheck_clean(img)
    assert j.get("compressed-clusters", 0) > 0
    ok(qimg("compare", "-f", "raw", src, img))
    # ordered writes (no -W) too
    img2 = tmp / "c2.qcow2"
    ok(vk("convert", "-c", "-O", "qcow2", "-o", "compat=0.10,cluster_size=4k", src, img2))
    qcheck_clean(img2)
    ok(qimg("compare", "-f", "raw", src, img2))


def test_convert_qcow2_chain_flattened_and_with_B(qcow2):
    tmp = qcow2
    base = tmp / "base.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", base, SIZE))
    qio(base, "write -P 1 0 2M")
    top = tmp / "top.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", top))
    qio(top, "write -P 2 1M 64k", "write -z 0 4k")
    flat = tmp / "flat.qcow2"
    ok(vk("convert", "-O", "qcow2", top, flat))
    qcheck_clean(flat)
    ok(qimg("compare", top, flat))
    assert json.loads(ok(qimg("info", "--output=json", flat)).stdout).get("backing-filename") is None
    # -B: the new image only holds what differs from the new backing file
    thin = tmp / "thin.qcow2"
    ok(vk("convert", "-O", "qcow2", "-B", base.name, "-F", "qcow2", top, thin))
    qcheck_clean(thin)
    ok(qimg("compare", top, thin))
    assert os.path.getsize(thin) < 1 << 20


def test_snapshot_create_apply_delete(qcow2):
    tmp = qcow2
    img = tmp / "s.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", img, SIZE))
    qio(img, "write -P 1 0 512k")
    before = qemu_raw(tmp, img, "before.raw")
    ok(vk("snapshot", "-c", "snap1", img))
    qcheck_clean(img)
    qio(img, "write -P 2 64k 128k")
    ok(vk("snapshot", "-c", "snap2", img))
    qcheck_clean(img)
    lst = ok(vk("snapshot", "-l", img)).stdout
    assert "snap1" in lst and "snap2" in lst
    assert ok(qimg("snapshot", "-l", img)).stdout == lst
    ok(vk("snapshot", "-a", "snap1", img))
    qcheck_clean(img)
    assert qemu_raw(tmp, img) == before
    ok(vk("snapshot", "-d", "snap2", img))
    qcheck_clean(img)
    ok(vk("snapshot", "-d", "snap1", img))
    qcheck_clean(img)
    assert "snap" not in ok(qimg("snapshot", "-l", img)).stdout
    r = vk("snapshot", "-a", "nonexistent", img)
    assert r.returncode == 1 and "nonexistent" in r.stderr


def test_commit(qcow2):
    tmp = qcow2
    base, top = tmp / "base.qcow2", tmp / "top.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", base, SIZE))
    qio(base, "write -P 1 0 1M")
    ok(vk("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", top))
    qio(top, "write -P 2 512k 1M", "write -z 0 64k")
    want = qemu_raw(tmp, top)
    r = ok(vk("commit", top))
    assert r.stdout == "Image committed.\n"
    qcheck_clean(base)
    qcheck_clean(top)
    assert qemu_raw(tmp, base, "base.raw") == want
    assert qemu_raw(tmp, top, "top.raw") == want
    assert_empty_overlay(top, base)


def assert_empty_overlay(top, base):
    """qemu-img sees nothing allocated in `top`: every range reads from base."""
    for m in json.loads(ok(qimg("map", "--output=json", top)).stdout):
        assert m["depth"] >= 1, m
    assert ok(qimg("compare", top, base)).returncode == 0
    chk = json.loads(ok(qimg("check", "--output=json", top)).stdout)
    assert chk.get("allocated-clusters", 0) == 0, chk


@pytest.mark.parametrize("opts", ["", "cluster_size=4k,compat=0.10", "extended_l2=on",
                                  "lazy_refcounts=on", "refcount_bits=1"])
def test_commit_empties_top(qcow2, opts):
    tmp = qcow2
    base, top = tmp / "base.qcow2", tmp / "top.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", base, SIZE))
    qio(base, "write -P 1 0 1M", "write -P 5 3M 512k")
    ok(vk("create", "-q", "-f", "qcow2", *(["-o", opts] if opts else []),
          "-b", base.name, "-F", "qcow2", top))
    qio(top, "write -P 2 512k 1M", "write -z 3M 64k", "write -P 3 100k 4k")
    if "extended_l2" not in opts:      # a compressed cluster in the top too
        qio(top, "write -c -P 7 2M 64k")
    want = qemu_raw(tmp, top)
    size_before = os.stat(top).st_blocks
    ok(vk("commit", top))
    qcheck_clean(base)
    qcheck_clean(top)
    assert qemu_raw(tmp, base, "base.raw") == want
    assert qemu_raw(tmp, top, "top.raw") == want
    assert_empty_overlay(top, base)
    assert os.stat(top).st_blocks < size_before       # space given back
    qio(top, "write -P 9 0 64k")                         # still a usable overlay
    qcheck_clean(top)


def test_commit_keeps_snapshot_data(qcow2):
    tmp = qcow2
    base, top = tmp / "base.qcow2", tmp / "top.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", base, SIZE))
    qio(base, "write -P 1 0 2M")
    ok(qimg("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", top))
    qio(top, "write -P 2 0 1M")
    ok(vk("snapshot", "-c", "s1", top))
    snap = qemu_raw(tmp, top, "snap.raw")
    qio(top, "write -P 3 64k 64k", "write -P 4 3M 64k")
    want = qemu_raw(tmp, top)
    ok(vk("commit", top))
    qcheck_clean(top)
    qcheck_clean(base)
    assert qemu_raw(tmp, base, "base.raw") == want
    for m in json.loads(ok(qimg("map", "--output=json", top)).stdout):
        assert m["depth"] >= 1, m
    ok(qimg("snapshot", "-a", "s1", top))        # the snapshot still has its own data
    qcheck_clean(top)
    got = qemu_raw(tmp, top, "after.raw")
    assert got[:1 << 20] == snap[:1 << 20]


def test_commit_d_keeps_top(qcow2):
    tmp = qcow2
    base, top = tmp / "base.qcow2", tmp / "top.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", base, SIZE))
    ok(qimg("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", top))
    qio(top, "write -P 2 512k 1M")
    map_before = ok(qimg("map", "--output=json", top)).stdout
    before = open(top, "rb").read()
    want = qemu_raw(tmp, top)
    ok(vk("commit", "-d", top))
    assert open(top, "rb").read() == before
    assert ok(qimg("map", "--output=json", top)).stdout == map_before
    assert qemu_raw(tmp, base, "base.raw") == want


def test_commit_intermediate_base(qcow2):
    tmp = qcow2
    a, b, c = tmp / "a.qcow2", tmp / "b.qcow2", tmp / "c.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", a, SIZE))
    qio(a, "write -P 1 0 4M")
    ok(vk("create", "-q", "-f", "qcow2", "-b", a.name, "-F", "qcow2", b))
    qio(b, "write -P 2 1M 1M")
    ok(vk("create", "-q", "-f", "qcow2", "-b", b.name, "-F", "qcow2", c))
    qio(c, "write -P 3 1536k 1M")
    want = qemu_raw(tmp, c)
    ok(vk("commit", "-p", "-b", a, c))
    for img in (a, b, c):
        qcheck_clean(img)
    assert qemu_raw(tmp, a, "a.raw") == want
    assert qemu_raw(tmp, c, "c.raw") == want


def test_rebase_safe_unsafe_flatten(qcow2):
    tmp = qcow2
    old, new, top = tmp / "old.qcow2", tmp / "new.qcow2", tmp / "top.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", old, SIZE))
    qio(old, "write -P 1 0 2M")
    ok(vk("create", "-q", "-f", "qcow2", new, SIZE))
    qio(new, "write -P 9 1M 2M")
    ok(vk("create", "-q", "-f", "qcow2", "-b", old.name, "-F", "qcow2", top))
    qio(top, "write -P 2 1536k 64k")
    want = qemu_raw(tmp, top)
    ok(vk("rebase", "-p", "-b", new.name, "-F", "qcow2", top))
    qcheck_clean(top)
    j = json.loads(ok(qimg("info", "--output=json", top)).stdout)
    assert j["backing-filename"] == new.name
    assert qemu_raw(tmp, top, "r1.raw") == want
    # flatten
    ok(vk("rebase", "-b", "", top))
    qcheck_clean(top)
    assert "backing-filename" not in json.loads(ok(qimg("info", "--output=json", top)).stdout)
    assert qemu_raw(tmp, top, "r2.raw") == want
    # unsafe: only the header changes
    ok(vk("rebase", "-u", "-b", old.name, "-F", "qcow2", top))
    qcheck_clean(top)
    assert json.loads(ok(qimg("info", "--output=json", top)).stdout)["backing-filename"] == old.name
    assert qemu_raw(tmp, top, "r3.raw") == want       # fully allocated now


@pytest.mark.parametrize("opts", ["", "cluster_size=4k", "compat=0.10"])
def test_resize(qcow2, opts):
    tmp = qcow2
    img = tmp / "r.qcow2"
    args = ["-o", opts] if opts else []
    ok(vk("create", "-q", "-f", "qcow2", *args, img, SIZE))
    qio(img, "write -P 1 0 4M")
    ok(vk("resize", img, "+60M"))
    qcheck_clean(img)
    got = qemu_raw(tmp, img)
    assert len(got) == 64 << 20 and got[:SIZE] == b"\x01" * SIZE and got[SIZE:].count(0) == len(got) - SIZE
    assert vk("resize", img, "1M").returncode == 1
    ok(vk("resize", "--shrink", img, "1M"))
    qcheck_clean(img)
    assert qemu_raw(tmp, img, "s.raw") == b"\x01" * (1 << 20)


def test_amend(qcow2):
    tmp = qcow2
    img = tmp / "a.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", "-o", "compat=0.10", img, SIZE))
    pattern_writes(img, SIZE, seed=5)
    want = qemu_raw(tmp, img)
    ok(vk("amend", "-o", "compat=1.1,lazy_refcounts=on", img))
    qcheck_clean(img)
    j = json.loads(ok(qimg("info", "--output=json", img)).stdout)["format-specific"]["data"]
    assert j["compat"] == "1.1" and j["lazy-refcounts"] is True
    # refcount_bits changes: the block layer refuses them cleanly for now
    r = vk("amend", "-o", "refcount_bits=4", img)
    if r.returncode == 0:
        assert json.loads(ok(qimg("info", "--output=json", img)).stdout)["format-specific"]["data"]["refcount-bits"] == 4
    else:
        assert r.returncode == 1 and "refcount_bits" in r.stderr
    qcheck_clean(img)
    ok(vk("amend", "-o", "refcount_bits=16", img))      # v2 needs 16-bit refcounts
    qcheck_clean(img)
    ok(vk("amend", "-o", "lazy_refcounts=off,compat=0.10", img))
    qcheck_clean(img)
    assert qemu_raw(tmp, img, "after.raw") == want
    r = vk("amend", "-o", "cluster_size=4k", img)
    assert r.returncode == 1 and "cluster_size" in r.stderr


def test_check_repairs_leaks(qcow2):
    tmp = qcow2
    img = tmp / "l.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", img, SIZE))
    qio(img, "write -P 1 0 64k")
    # leak: append a cluster and give it refcount 1 through qemu's own repair-free path:
    # make the image longer and bump a refcount with qemu-io is not possible, so
    # write a refcount by hand: refcount block entry for the cluster after the end.
    import struct
    with open(img, "r+b") as f:
        hdr = f.read(104)
        rt_off = struct.unpack(">Q", hdr[48:56])[0]
        f.seek(rt_off)
        rb_off = struct.unpack(">Q", f.read(8))[0]
        end = os.path.getsize(img)
        cl = end // 65536
        f.seek(rb_off + 2 * cl)
        f.write(struct.pack(">H", 1))
        f.seek(end)
        f.write(b"\0" * 65536)
    r = vk("check", img)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "1 leaked clusters were found on the image." in r.stdout
    assert qimg("check", img).returncode == 3
    r = vk("check", "-r", "leaks", img)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "The following inconsistencies were found and repaired:" in r.stdout
    qcheck_clean(img)


def test_measure_matches_qemu(qcow2):
    tmp = qcow2
    src = make_source(tmp)
    for args in (["-O", "qcow2", "--size", "2G"], ["--output=json", "-O", "qcow2", "--size", "1G",
                                                  "-o", "cluster_size=4k"],
                 ["-O", "qcow2", "-f", "raw", str(src)], ["--output=json", "-O", "raw", "-f", "raw", str(src)]):
        v = ok(vk("measure", *args)).stdout
        q = ok(qimg("measure", *args)).stdout
        assert v == q, args


def test_dd_and_map_qcow2(qcow2):
    tmp = qcow2
    img = tmp / "m.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", img, SIZE))
    qio(img, "write -P 1 0 1M", "write -z 2M 64k")
    v = json.loads(ok(vk("map", "--output=json", img)).stdout)
    q = json.loads(ok(qimg("map", "--output=json", img)).stdout)
    assert v == q
    assert ok(vk("map", img)).stdout == ok(qimg("map", img)).stdout
    out = tmp / "dd.raw"
    ok(vk("dd", "bs=64k", "skip=8", "count=4", f"if={img}", f"of={out}"))
    assert read_raw(out) == qemu_raw(tmp, img)[512 << 10:768 << 10]


def test_create_backing_rules(qcow2):
    tmp = qcow2
    base = tmp / "base.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", base, "3M"))
    # qemu-img 7.2 wants the backing format
    r = vk("create", "-f", "qcow2", "-b", base.name, tmp / "o.qcow2")
    assert r.returncode == 1 and "Backing file specified without backing format" in r.stderr
    assert "Detected format of qcow2." in r.stderr
    # without a size the backing file's size is used; same line as qemu-img
    v = ok(vk("create", "-f", "qcow2", "-b", base.name, "-F", "qcow2", tmp / "o.qcow2")).stdout
    q = ok(qimg("create", "-f", "qcow2", "-b", base.name, "-F", "qcow2", tmp / "p.qcow2")).stdout
    assert v.replace("o.qcow2", "p.qcow2") == q
    assert "size=3145728" in v
    qcheck_clean(tmp / "o.qcow2")
    assert json.loads(ok(qimg("info", "--output=json", tmp / "o.qcow2")).stdout)["backing-filename-format"] == "qcow2"
    # a missing backing file is an error unless -u
    r = vk("create", "-f", "qcow2", "-b", "nope.qcow2", "-F", "qcow2", tmp / "u.qcow2", "1M")
    assert r.returncode == 1 and "nope.qcow2" in r.stderr
    ok(vk("create", "-q", "-u", "-f", "qcow2", "-b", "nope.qcow2", "-F", "qcow2", tmp / "u.qcow2", "1M"))
    assert json.loads(ok(qimg("info", "-U", "--output=json", tmp / "u.qcow2")).stdout)["backing-filename"] == "nope.qcow2"
    # bad option values name the option
    for opts, word in (("cluster_size=3000", "cluster"), ("refcount_bits=3", "refcount"),
                       ("compat=2.0", "compat"), ("foo=bar", "foo"),
                       ("compression_type=lzo", "compression")):
        r = vk("create", "-f", "qcow2", "-o", opts, tmp / "bad.qcow2", "1M")
        assert r.returncode == 1 and word in r.stderr.lower(), (opts, r.stderr)


def test_progress_bars(qcow2):
    tmp = qcow2
    src = make_source(tmp)
    img = tmp / "p.qcow2"
    r = ok(vk("convert", "-p", "-f", "raw", "-O", "qcow2", src, img))
    assert "    (0.00/100%)\r" in r.stdout.replace("\n", "\r") and "(100.00/100%)" in r.stdout
    r = ok(vk("compare", "-p", "-f", "raw", src, img))
    assert "(100.00/100%)" in r.stdout and r.stdout.endswith("Images are identical.\n")
    top = tmp / "t.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", "-b", img.name, "-F", "qcow2", top))
    qio(top, "write -P 5 0 64k")
    assert "(100.00/100%)" in ok(vk("commit", "-p", top)).stdout
    assert "(100.00/100%)" in ok(vk("rebase", "-p", "-b", "", top)).stdout
    assert ok(vk("convert", "-q", "-p", "-O", "raw", img, tmp / "q.raw")).stdout == ""


def test_check_reports_and_repairs_corruption(qcow2):
    """A data cluster whose refcount was zeroed: same report as qemu-img, exit 2;
    -r all repairs it and qemu-img agrees the image is clean."""
    import struct
    tmp = qcow2
    img = tmp / "cor.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", img, SIZE))
    qio(img, "write -P 1 0 64k")
    with open(img, "r+b") as f:
        rd = lambda off: (f.seek(off), struct.unpack(">Q", f.read(8))[0])[1]
        l1 = rd(40)
        l2 = rd(l1) & 0x00fffffffffffe00
        data = rd(l2) & 0x00fffffffffffe00
        rb = rd(rd(48))
        f.seek(rb + 2 * (data // 65536))
        f.write(struct.pack(">H", 0))
    want = qemu_raw(tmp, img)
    v, q = vk("check", img), qimg("check", img)
    assert v.returncode == q.returncode == 2
    assert v.stdout == q.stdout
    vj = json.loads(vk("check", "--output=json", img).stdout)
    qj = json.loads(qimg("check", "--output=json", img).stdout)
    assert vj == qj
    r = vk("check", "-r", "all", img)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "The following inconsistencies were found and repaired:" in r.stdout
    qcheck_clean(img)
    assert qemu_raw(tmp, img, "after.raw") == want


def test_rebase_zero_ranges_and_shorter_backing(qcow2):
    tmp = qcow2
    old, new, top = tmp / "old.qcow2", tmp / "new.raw", tmp / "top.qcow2"
    ok(vk("create", "-q", "-f", "qcow2", old, SIZE))
    qio(old, "write -P 1 1M 64k", "write -z 2M 64k")
    ok(vk("create", "-q", "-f", "raw", new, "3M"))            # shorter than the image
    qio(new, "write -P 7 0 512k", "write -P 8 2M 1M", fmt="raw")
    ok(vk("create", "-q", "-f", "qcow2", "-b", old.name, "-F", "qcow2", top))
    qio(top, "write -P 2 3M 4k")
    want = qemu_raw(tmp, top)
    ok(vk("rebase", "-b", new.name, "-F", "raw", top))
    qcheck_clean(top)
    assert qemu_raw(tmp, top, "after.raw") == want
    j = json.loads(ok(qimg("info", "--output=json", top)).stdout)
    assert j["backing-filename"] == new.name and j["backing-filename-format"] == "raw"
