"""virtkit img: command line, raw images, exit codes, output shapes vs qemu-img."""
import json
import os

import pytest

from test_img_common import (needs_qemu, ok, qimg, qio, read_raw, sha, vk)

pytestmark = needs_qemu

SUBCOMMANDS = ["amend", "bench", "check", "commit", "compare", "convert", "create", "dd",
               "info", "map", "measure", "rebase", "resize", "snapshot"]


def test_overview_and_help():
    r = vk("--help")
    ok(r)
    for s in SUBCOMMANDS:
        assert f"\n  {s} " in r.stdout
    for s in SUBCOMMANDS:
        h = vk(s, "--help")
        ok(h)
        assert h.stdout.startswith(f"usage: virtkit img {s}")


def test_unknown_subcommand_is_usage_error():
    r = vk("frob")
    assert r.returncode == 2
    assert "Command not found: frob" in r.stderr


@pytest.mark.parametrize("sub", ["create", "info", "check", "convert", "resize", "snapshot",
                                 "commit", "rebase", "map", "compare", "measure", "amend",
                                 "dd", "bench"])
def test_missing_arguments_exit_2(sub):
    r = vk(sub)
    # compare's error status is 2 in qemu-img too
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("virtkit: img: ")


def test_bad_option_values(tmp_path):
    img = tmp_path / "a.raw"
    ok(vk("create", "-q", "-f", "raw", img, "1M"))
    assert vk("info", "--output=xml", img).returncode == 2
    assert vk("check", "-r", "foo", img).returncode == 2
    assert vk("info", "--bogus", img).returncode == 2
    r = vk("create", "-f", "raw", tmp_path / "b.raw", "1Q")
    assert r.returncode == 1 and "Invalid image size" in r.stderr
    r = vk("create", "-f", "vmdkx", tmp_path / "b.raw", "1M")
    assert r.returncode == 1 and "Unknown file format 'vmdkx'" in r.stderr


def test_create_size_suffixes(tmp_path):
    for arg, size in [("1k", 1024), ("3M", 3 << 20), ("2G", 2 << 30), ("1T", 1 << 40),
                      ("512", 512), ("1.5M", 3 << 19)]:
        img = tmp_path / "s.raw"
        r = ok(vk("create", "-f", "raw", img, arg))
        assert r.stdout == f"Formatting '{img}', fmt=raw size={size}\n"
        assert os.path.getsize(img) == size
        q = json.loads(ok(qimg("info", "--output=json", "-f", "raw", img)).stdout)
        assert q["virtual-size"] == size


def test_create_help_lists_options():
    r = ok(vk("create", "-f", "qcow2", "-o", "help", "x"))
    for opt in ["cluster_size", "compat", "backing_file", "backing_fmt", "preallocation",
                "compression_type", "lazy_refcounts", "refcount_bits"]:
        assert f"  {opt}=" in r.stdout
    r = ok(vk("create", "-f", "raw", "-o", "help", "x"))
    assert "preallocation=" in r.stdout


def test_raw_info_map_match_qemu(tmp_path):
    img = tmp_path / "r.raw"
    ok(vk("create", "-q", "-f", "raw", img, "4M"))
    qio(img, "write -P 7 1M 64k", "write -P 9 3M 4k", fmt="raw")
    for args in (["info", "--output=json"], ["info"], ["map", "--output=json"], ["map"]):
        q = ok(qimg(*args, "-f", "raw", img))
        v = ok(vk(*args, "-f", "raw", img))
        assert v.stdout == q.stdout, args


def test_raw_convert_dd_compare(tmp_path):
    a, b, c = tmp_path / "a.raw", tmp_path / "b.raw", tmp_path / "c.raw"
    ok(vk("create", "-q", "-f", "raw", a, "4M"))
    qio(a, "write -P 0x11 0 100k", "write -P 0x22 2M 512", fmt="raw")
    r = ok(vk("convert", "-p", "-f", "raw", "-O", "raw", a, b))
    assert r.stdout.rstrip().endswith("(100.00/100%)")
    assert read_raw(a) == read_raw(b)
    assert os.stat(b).st_blocks * 512 < 1 << 20     # holes stayed holes
    r = ok(vk("compare", a, b))
    assert r.stdout == "Images are identical.\n"
    qio(b, "write -P 0x33 1M 512", fmt="raw")
    r = vk("compare", a, b)
    assert r.returncode == 1 and r.stdout == "Content mismatch at offset 1048576!\n"
    assert qimg("compare", a, b).stdout == r.stdout
    r = vk("compare", a, tmp_path / "nonexist")
    assert r.returncode == 2
    ok(vk("dd", "-f", "raw", "bs=4k", "skip=1", "count=10", f"if={a}", f"of={c}"))
    assert read_raw(c) == read_raw(a)[4096:4096 + 40960]


def test_compare_size_mismatch(tmp_path):
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    ok(vk("create", "-q", "-f", "raw", a, "1M"))
    ok(vk("create", "-q", "-f", "raw", b, "2M"))
    r = ok(vk("compare", a, b))
    assert r.stdout == "Warning: Image size mismatch!\nImages are identical.\n"
    r = vk("compare", "-s", a, b)
    assert r.returncode == 1 and "Strict mode: Image size mismatch!" in r.stdout
    qio(b, "write -P 1 1536k 512", fmt="raw")
    r = vk("compare", a, b)
    assert r.returncode == 1 and "Content mismatch at offset 1572864!" in r.stdout


def test_raw_resize(tmp_path):
    a = tmp_path / "a.raw"
    ok(vk("create", "-q", "-f", "raw", a, "4M"))
    r = ok(vk("resize", "-f", "raw", a, "+1M"))
    assert r.stdout == "Image resized.\n"
    assert os.path.getsize(a) == 5 << 20
    r = vk("resize", "-f", "raw", a, "-1M")
    assert r.returncode == 1 and "--shrink" in r.stderr
    assert os.path.getsize(a) == 5 << 20
    ok(vk("resize", "-f", "raw", "--shrink", a, "-2M"))
    assert os.path.getsize(a) == 3 << 20
    ok(vk("resize", "-f", "raw", a, "8M"))
    assert os.path.getsize(a) == 8 << 20


def test_raw_check_not_supported(tmp_path):
    a = tmp_path / "a.raw"
    ok(vk("create", "-q", "-f", "raw", a, "1M"))
    r = vk("check", "-f", "raw", a)
    assert r.returncode == qimg("check", "-f", "raw", a).returncode == 63


def test_measure_size_matches_qemu():
    for args in (["-O", "raw", "--size", "1G"], ["--output=json", "-O", "raw", "--size", "3M"],
                 ["-O", "raw", "--size", "1000"], ["-O", "qcow2", "--size", "1000"]):
        assert ok(vk("measure", *args)).stdout == ok(qimg("measure", *args)).stdout


def test_measure_raw_target_of_images_matches_qemu(tmp_path):
    """-O raw needs the whole disk whatever the source allocates."""
    sparse, odd, q = tmp_path / "s.raw", tmp_path / "odd.raw", tmp_path / "q.qcow2"
    ok(qimg("create", "-q", "-f", "raw", sparse, "4M"))
    qio(sparse, "write -P 1 0 100k", "write -P 2 1M 5k", fmt="raw")
    with open(odd, "wb") as f:
        f.write(b"x" * 1000)
    ok(qimg("create", "-q", "-f", "qcow2", q, "3M"))
    qio(q, "write -P 3 64k 64k", "write -z 1M 64k")
    for img, fmt in ((sparse, "raw"), (odd, "raw"), (q, "qcow2")):
        for extra in ([], ["--output=json"], ["-o", "preallocation=full"]):
            args = ["-O", "raw", *extra, "-f", fmt, img]
            assert ok(vk("measure", *args)).stdout == ok(qimg("measure", *args)).stdout, args
        args = ["-O", "qcow2", "-f", fmt, img]
        assert ok(vk("measure", *args)).stdout == ok(qimg("measure", *args)).stdout, args


def test_bench_output_shape(tmp_path):
    a = tmp_path / "a.raw"
    ok(vk("create", "-q", "-f", "raw", a, "4M"))
    r = ok(vk("bench", "-f", "raw", "-c", "100", "-d", "4", "-s", "8k", "-S", "64k", a))
    lines = r.stdout.splitlines()
    assert lines[0] == ("Sending 100 read requests, 8192 bytes each, 4 in parallel "
                        "(starting at offset 0, step size 65536)")
    assert lines[1].startswith("Run completed in ") and lines[1].endswith(" seconds.")
    r = ok(vk("bench", "-f", "raw", "-w", "-c", "64", "--pattern=171", "--flush-interval=8", a))
    assert "Sending flush every 8 requests" in r.stdout
    assert read_raw(a)[:64 * 4096] == b"\xab" * (64 * 4096)


def test_unreadable_image_is_clean_error(tmp_path):
    r = vk("info", tmp_path / "nope")
    assert r.returncode == 1
    assert "Could not open" in r.stderr and "nope" in r.stderr


def test_convert_options_raw(tmp_path):
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    ok(vk("create", "-q", "-f", "raw", a, "2M"))
    ok(vk("create", "-q", "-f", "raw", b, "1M"))
    qio(a, "write -P 1 0 4k", "write -P 2 1M 64k", fmt="raw")
    qio(b, "write -P 3 512k 512", fmt="raw")
    # several sources are concatenated
    cat = tmp_path / "cat.raw"
    ok(vk("convert", "-f", "raw", a, b, cat))
    assert read_raw(cat) == read_raw(a) + read_raw(b)
    # -S 0: every byte is written (no holes)
    full = tmp_path / "full.raw"
    ok(vk("convert", "-S", "0", "-f", "raw", a, full))
    assert read_raw(full) == read_raw(a)
    assert os.stat(full).st_blocks * 512 >= 2 << 20
    # -n: into an existing image; zeroes of the source overwrite old data
    tgt = tmp_path / "t.raw"
    ok(vk("create", "-q", "-f", "raw", tgt, "2M"))
    qio(tgt, "write -P 9 0 2M", fmt="raw")
    ok(vk("convert", "-n", "-f", "raw", "-O", "raw", a, tgt))
    assert read_raw(tgt) == read_raw(a)
    # -m 1, -m 16 -W give the same result
    for extra in (["-m", "1"], ["-m", "16", "-W"]):
        out = tmp_path / "m.raw"
        if out.exists():
            out.unlink()
        ok(vk("convert", *extra, "-f", "raw", a, out))
        assert read_raw(out) == read_raw(a)
    assert vk("convert", "-m", "17", a, tmp_path / "x").returncode == 1
    assert vk("convert", "-c", "-O", "raw", a, tmp_path / "x").returncode == 1
    r = ok(vk("convert", "-O", "qcow2", "-o", "help", a, tmp_path / "x"))
    assert "cluster_size=" in r.stdout


def test_json_alias_and_output_flag(tmp_path):
    a = tmp_path / "a.raw"
    ok(vk("create", "-q", "-f", "raw", a, "1M"))
    assert ok(vk("info", "--json", a)).stdout == ok(vk("info", "--output=json", a)).stdout
    assert json.loads(ok(vk("map", "--json", a)).stdout)[0]["start"] == 0


@pytest.mark.parametrize("args", [
    ["-f", "qcow2", "{}", "1E"],
    ["-f", "qcow2", "-o", "cluster_size=512", "{}", "100T"],
    ["-f", "qcow2", "-o", "extended_l2=on,cluster_size=16k", "{}", "600T"],
    ["-f", "qcow2", "-o", "cluster_size=3k", "{}", "1M"],
    ["-f", "qcow2", "-o", "compat=0.10,lazy_refcounts=on", "{}", "1M"],
    ["-f", "qcow2", "-o", "data_file={}.data,cluster_size=2M", "{}", "100T"],
    ["-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2", "{}"],
    ["-f", "raw", "-o", "preallocation=bogus", "{}", "1M"],
    ["-f", "raw", "{}", "7E"],
])
def test_failed_create_leaves_nothing(tmp_path, args):
    """A refused create leaves no file behind; an existing file keeps its content."""
    img = tmp_path / "new.img"
    argv = [a.replace("{}", str(img)) for a in args]
    r = vk("create", "-q", *argv)
    if r.returncode == 0:       # raw 7E on a file system that can hold it
        assert args[-1] == "7E"
        return
    assert r.returncode == 1, r.stderr
    assert sorted(os.listdir(tmp_path)) == [], os.listdir(tmp_path)
    img.write_bytes(b"precious")
    r = vk("create", "-q", *argv)
    assert r.returncode == 1
    assert img.read_bytes() == b"precious"
