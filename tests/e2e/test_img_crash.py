"""Crash safety: `virtkit img bench -w` is SIGKILLed at random points; each
time the image passes `qemu-img check` (leaks allowed, corruption not) and
every request a completed flush covered reads back intact."""
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import binary
from test_img_common import needs_qemu, ok, qimg, qcow2, read_raw, vk

pytestmark = needs_qemu

SIZE = 8 << 20
REQ = 4096
STEP = 69632            # 17 pages: touches a new cluster on most requests
COUNT = 4000
ROUNDS = 12


def expected_offsets(n):
    off, out = 0, []
    for _ in range(n):
        out.append(off)
        off = (off + STEP) % SIZE
        if SIZE - off < REQ:
            off = 0
    return out


@pytest.mark.parametrize("opts", ["cluster_size=4k", "cluster_size=64k,lazy_refcounts=on",
                                  "compat=0.10,cluster_size=512"])
def test_sigkill_writer(qcow2, opts):
    tmp = qcow2
    rnd = random.Random(opts)
    for rnd_i in range(ROUNDS):
        img, log = tmp / "crash.qcow2", tmp / "flushed.log"
        for p in (img, log):
            if p.exists():
                p.unlink()
        ok(vk("create", "-q", "-f", "qcow2", "-o", opts, img, SIZE))
        pattern = 1 + rnd_i
        proc = subprocess.Popen([binary("virtkit"), "img", "bench", "-q", "-w", "-d", "8",
                                 "-c", str(COUNT), "-s", str(REQ), "-S", str(STEP),
                                 f"--pattern={pattern}", "--flush-interval=16",
                                 f"--flushed-log={log}", str(img)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # kill at a random moment: while it runs, or sometimes right away
        time.sleep(rnd.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0), err
        r = qimg("check", "--output=json", img)
        assert r.returncode in (0, 3), f"round {rnd_i}: qemu-img check rc={r.returncode}\n{r.stdout}{r.stderr}"
        # virtkit agrees there is no corruption and can repair the leaks
        v = vk("check", img)
        assert v.returncode in (0, 3), v.stdout + v.stderr
        durable = 0
        if log.exists():
            lines = log.read_text().split()
            if lines:
                durable = max(int(x) for x in lines)
        raw = tmp / "after.raw"
        ok(qimg("convert", "-O", "raw", img, raw))
        data = read_raw(raw)
        want = bytes([pattern]) * REQ
        for i, off in enumerate(expected_offsets(durable)):
            assert data[off:off + REQ] == want, f"round {rnd_i}: flushed request {i} at {off} lost"
        if r.returncode == 3:
            ok(vk("check", "-r", "leaks", img))
            assert qimg("check", img).returncode == 0
