"""Hostile and broken images: a clear error naming the bad field, a non-zero
exit, never a signal, and the file left byte-for-byte unchanged."""
import os
import struct

import pytest

from test_img_common import needs_qemu, ok, qimg, qio, qcow2, sha, vk

pytestmark = needs_qemu

# qcow2 header field offsets (qcow2 spec, "Header")
F = {
    "version": (4, ">I"), "backing_file_offset": (8, ">Q"), "backing_file_size": (16, ">I"),
    "cluster_bits": (20, ">I"), "size": (24, ">Q"), "crypt_method": (32, ">I"),
    "l1_size": (36, ">I"), "l1_table_offset": (40, ">Q"), "refcount_table_offset": (48, ">Q"),
    "refcount_table_clusters": (56, ">I"), "nb_snapshots": (60, ">I"),
    "snapshots_offset": (64, ">Q"), "incompatible_features": (72, ">Q"),
    "refcount_order": (96, ">I"), "header_length": (100, ">I"),
}


def get(path, field):
    off, fmt = F[field]
    with open(path, "rb") as f:
        f.seek(off)
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def put(path, field, value):
    off, fmt = F[field]
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(fmt, value))


def base_image(tmp, name="bad.qcow2", opts="cluster_size=4k"):
    img = tmp / name
    ok(qimg("create", "-q", "-f", "qcow2", "-o", opts, img, "4M"))
    qio(img, "write -P 1 0 64k", "write -P 2 2M 8k")
    return img


def assert_refused(tmp, img, words, commands=None):
    """Every command fails cleanly, names the problem, leaves the file alone."""
    before = sha(img)
    commands = commands or [
        ["info", str(img)],
        ["info", "--output=json", str(img)],
        ["convert", "-O", "raw", str(img), str(tmp / "out.raw")],
        ["map", str(img)],
        ["compare", str(img), str(img)],
        ["dd", f"if={img}", f"of={tmp / 'dd.raw'}"],
        ["bench", "-w", "-c", "16", str(img)],
        ["snapshot", "-c", "s", str(img)],
        ["resize", str(img), "+1M"],
    ]
    for cmd in commands:
        r = vk(*cmd)
        assert r.returncode > 0, f"{cmd}: rc={r.returncode} (negative = killed by a signal)\n{r.stderr}"
        msg = r.stderr.lower()
        assert any(w in msg for w in words), f"{cmd}: error does not name {words}: {r.stderr}"
        assert "sanitizer" not in msg
    # check reports, never crashes; without -r it writes nothing
    r = vk("check", img)
    assert r.returncode > 0, r.stdout + r.stderr
    assert sha(img) == before, "the image was modified"


def test_truncated_header(qcow2):
    img = base_image(qcow2)
    with open(img, "r+b") as f:
        f.truncate(50)
    assert_refused(qcow2, img, ["header", "truncated", "short", "end of file", "eof"])


def test_l1_table_past_eof(qcow2):
    img = base_image(qcow2)
    put(img, "l1_table_offset", 1 << 40)
    assert_refused(qcow2, img, ["l1"])


def test_refcount_table_past_eof(qcow2):
    img = base_image(qcow2)
    put(img, "refcount_table_offset", 1 << 40)
    assert_refused(qcow2, img, ["refcount"])


def test_l1_overlaps_header(qcow2):
    img = base_image(qcow2)
    put(img, "l1_table_offset", 0)
    assert_refused(qcow2, img, ["l1", "overlap"])


def test_refcount_table_overlaps_l1(qcow2):
    img = base_image(qcow2)
    put(img, "refcount_table_offset", get(img, "l1_table_offset"))
    assert_refused(qcow2, img, ["refcount", "overlap"])


def test_unknown_incompatible_feature(qcow2):
    img = base_image(qcow2)
    put(img, "incompatible_features", 1 << 40)
    assert_refused(qcow2, img, ["feature"])


def test_absurd_size(qcow2):
    img = base_image(qcow2)
    put(img, "size", 1 << 62)
    assert_refused(qcow2, img, ["size", "l1"])


def test_bad_cluster_bits(qcow2):
    img = base_image(qcow2)
    put(img, "cluster_bits", 40)
    assert_refused(qcow2, img, ["cluster"])


def test_bad_refcount_order(qcow2):
    img = base_image(qcow2)
    put(img, "refcount_order", 9)
    assert_refused(qcow2, img, ["refcount"])


def test_huge_l1_size(qcow2):
    img = base_image(qcow2)
    put(img, "l1_size", 0x7fffffff)
    assert_refused(qcow2, img, ["l1"])


def test_backing_name_past_eof(qcow2):
    img = base_image(qcow2)
    put(img, "backing_file_offset", 1 << 30)
    put(img, "backing_file_size", 100)
    assert_refused(qcow2, img, ["backing"])


def test_l2_entry_past_eof_read_fails_cleanly(qcow2):
    tmp = qcow2
    img = base_image(tmp)
    l1 = get(img, "l1_table_offset")
    with open(img, "rb") as f:
        f.seek(l1)
        l2 = struct.unpack(">Q", f.read(8))[0] & 0x00fffffffffffe00
        f.seek(l2)
        entry = struct.unpack(">Q", f.read(8))[0]
    with open(img, "r+b") as f:
        f.seek(l2)
        f.write(struct.pack(">Q", (entry & ~0x00fffffffffffe00) | (1 << 40)))
    before = sha(img)
    r = vk("convert", "-O", "raw", img, tmp / "out.raw")
    assert r.returncode == 1, r.stderr
    size = os.path.getsize(img)
    assert "0x10000000000" in r.stderr and str(size) in r.stderr, r.stderr
    r = vk("check", img)
    assert r.returncode == 2, r.stdout + r.stderr     # corruption reported
    assert qimg("check", img).returncode == 2
    assert sha(img) == before


def test_looping_backing_chain(qcow2):
    tmp = qcow2
    a, b = tmp / "a.qcow2", tmp / "b.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", a, "1M"))
    ok(qimg("create", "-q", "-f", "qcow2", "-u", "-b", a.name, "-F", "qcow2", b, "1M"))
    ok(qimg("rebase", "-u", "-b", b.name, "-F", "qcow2", a))
    before = sha(a), sha(b)
    for cmd in (["info", "--backing-chain", b], ["convert", "-O", "raw", b, tmp / "o.raw"],
                ["map", b], ["compare", a, b]):
        r = vk(*cmd)
        assert r.returncode > 0, cmd
        assert "loop" in r.stderr.lower() or "cycle" in r.stderr.lower(), r.stderr
    assert (sha(a), sha(b)) == before


def test_refcount_overflow_refused(qcow2):
    """refcount_bits=1 cannot count a cluster shared by a snapshot."""
    tmp = qcow2
    img = tmp / "r1.qcow2"
    ok(qimg("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", img, "1M"))
    qio(img, "write -P 1 0 64k")
    r = vk("snapshot", "-c", "s", img)
    assert r.returncode == 1 and r.stderr, r.stderr
    assert qimg("check", img).returncode in (0, 3)


def test_garbage_is_raw_not_crash(tmp_path):
    img = tmp_path / "junk"
    img.write_bytes(b"QFI\xfb" + os.urandom(60))
    r = vk("info", img)
    assert r.returncode >= 0
    r = vk("info", "-f", "qcow2", img)
    assert r.returncode == 1


@pytest.mark.parametrize("size", ["16E", "8E", "4E", "1E"])
def test_create_absurd_size_refused(qcow2, size):
    r = vk("create", "-f", "qcow2", qcow2 / "big.qcow2", size)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "size" in r.stderr.lower() or "l1" in r.stderr.lower()
    r = vk("create", "-f", "qcow2", "-o", "cluster_size=512", qcow2 / "big.qcow2", "100T")
    # qemu-img's message: the L1 table for it would exceed qemu's 32 MiB limit
    assert r.returncode == 1 and "too large" in r.stderr and "cluster size" in r.stderr
    assert not (qcow2 / "big.qcow2").exists()
