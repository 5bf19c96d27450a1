"""Helpers shared by the test_img*.py files (no tests here).

qemu-img / qemu-io from Debian's qemu-utils are the peer: they make images
and data, and judge what virtkit writes.
"""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import binary, run

QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")

needs_qemu = pytest.mark.skipif(QEMU_IMG is None or QEMU_IO is None,
                                reason="SKIP: qemu-img/qemu-io (qemu-utils) not installed")


def vk(*args, **kw):
    return run([binary("virtkit"), "img", *map(str, args)], **kw)


def qimg(*args, **kw):
    return run([QEMU_IMG, *map(str, args)], **kw)


def qio(path, *cmds, fmt=None):
    args = [QEMU_IO]
    if fmt:
        args += ["-f", fmt]
    for c in cmds:
        args += ["-c", c]
    r = run(args + [str(path)])
    assert r.returncode == 0 and "error" not in r.stdout.lower() + r.stderr.lower(), r.stdout + r.stderr
    return r


def ok(r):
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
    return r


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_raw(path):
    with open(path, "rb") as f:
        return f.read()


def qemu_raw(tmp, img, name="expect.raw"):
    """Guest-visible content of `img` according to qemu-img."""
    out = tmp / name
    ok(qimg("convert", "-O", "raw", img, out))
    return read_raw(out)


def vk_raw(tmp, img, name="got.raw"):
    """Guest-visible content of `img` according to virtkit."""
    out = tmp / name
    if out.exists():
        out.unlink()
    ok(vk("convert", "-O", "raw", img, out))
    return read_raw(out)


def qcheck_clean(img):
    r = qimg("check", "--output=json", img)
    assert r.returncode == 0, f"qemu-img check rc={r.returncode}: {r.stdout} {r.stderr}"
    j = json.loads(r.stdout)
    assert j.get("corruptions", 0) == 0 and j.get("leaks", 0) == 0, j
    return j


def qcow2_supported(tmp):
    r = vk("create", "-q", "-f", "qcow2", tmp / "probe.qcow2", "1M")
    if r.returncode != 0:
        return r.stderr.strip()
    r = vk("info", tmp / "probe.qcow2")
    if r.returncode != 0:
        return r.stderr.strip()
    return None


@pytest.fixture
def qcow2(tmp_path):
    """Skip when the block layer's qcow2 driver can't create/open yet."""
    why = qcow2_supported(tmp_path)
    if why:
        pytest.skip(f"SKIP: qcow2 driver not usable yet: {why}")
    return tmp_path


def pattern_writes(path, size, seed=1, fmt=None, n=6, maxlen=131072):
    """Deterministic scattered writes with qemu-io (patterned data + zeroes)."""
    import random
    rnd = random.Random(seed)
    cmds = []
    for i in range(n):
        ln = rnd.randrange(1, maxlen // 512 + 1) * 512
        off = rnd.randrange(0, (size - ln) // 512 + 1) * 512
        if i % 4 == 3:
            cmds.append(f"write -z {off} {ln}")
        else:
            cmds.append(f"write -P {rnd.randrange(1, 255)} {off} {ln}")
    qio(path, *cmds, fmt=fmt)
