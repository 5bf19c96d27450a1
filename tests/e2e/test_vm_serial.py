"""virtkit-vm serial backends: stdio, file, null, unix socket (server), pty;
output and input (a guest that echoes what it receives until 'q')."""
import os
import re
import select
import shutil
import socket
import subprocess
import time

import pytest

from conftest import binary, needs_kvm, run
from vm_guests import ECHO, MBINFO, build, require_accel

DEBUG_EXIT = ["--device", "isa-debug-exit,iobase=0xf4,iosize=0x4"]


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    if not all(shutil.which(t) for t in ("as", "ld")):
        pytest.skip("SKIP: binutils (as, ld) not installed")
    d = tmp_path_factory.mktemp("guest")
    return {"echo": build(ECHO, d, "echo"), "mbinfo": build(MBINFO, d, "mbinfo")}


def vm_cmd(kernel, *serial, accel="kvm"):
    cmd = [binary("virtkit-vm"), "--accel", accel, "--kernel", kernel, "--no-reboot", *DEBUG_EXIT]
    for s in serial:
        cmd += ["--serial", s]
    return cmd


def read_until(fd, marker, limit=30.0):
    """Read from fd until marker shows up (bounded wait, not a timing assertion)."""
    buf = b""
    end = time.monotonic() + limit
    while marker not in buf and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


@pytest.mark.parametrize("accel", ["kvm", "tcg"])
def test_stdio_input_and_output(guests, accel):
    require_accel(binary("virtkit-vm"), accel)
    r = run(vm_cmd(guests["echo"], "stdio", accel=accel), input="abcq", timeout=60)
    assert r.returncode == 1, r.stderr
    assert r.stdout == "READY\nabcq\n"


@needs_kvm
def test_file_backend(guests, tmp_path):
    out = tmp_path / "serial.log"
    r = run(vm_cmd(guests["mbinfo"], f"file:{out}"), timeout=60)
    assert r.returncode == 85, r.stderr
    assert r.stdout == ""
    assert "string-io-ok" in out.read_text()


@needs_kvm
def test_null_backend(guests):
    r = run(vm_cmd(guests["mbinfo"], "null"), timeout=60)
    assert r.returncode == 85, r.stderr
    assert r.stdout == ""


@needs_kvm
def test_second_port_is_com2(guests, tmp_path):
    # COM1 -> file, COM2 -> null: the guest writes to COM1 only
    out = tmp_path / "com1.log"
    r = run(vm_cmd(guests["mbinfo"], f"file:{out}", "null"), timeout=60)
    assert r.returncode == 85
    assert "string-io-ok" in out.read_text()


@needs_kvm
@pytest.mark.parametrize("suffix", ["", ",server,nowait"])
def test_unix_socket_backend(guests, tmp_path, suffix):
    path = tmp_path / "serial.sock"
    p = subprocess.Popen(vm_cmd(guests["echo"], f"unix:{path}{suffix}"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(300):
            try:
                s.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.05)
        s.sendall(b"hi")
        s.sendall(b"q")
        got = read_until(s.fileno(), b"q\n")
        assert got.endswith(b"hiq\n"), got
        assert p.wait(timeout=60) == 1
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


@needs_kvm
def test_pty_backend(guests):
    p = subprocess.Popen(vm_cmd(guests["echo"], "pty"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        line = p.stderr.readline().decode()
        m = re.fullmatch(r"char device redirected to (/dev/pts/\d+) \(label serial0\)\n", line)
        assert m, line
        fd = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY)
        try:
            import tty
            tty.setraw(fd)
            # Read the echo while the VM still runs: a pty's unread data is
            # dropped when the master side closes at exit.
            os.write(fd, b"xy")
            got = read_until(fd, b"xy")
            assert got.endswith(b"xy"), got
            os.write(fd, b"q")
        finally:
            os.close(fd)
        assert p.wait(timeout=60) == 1
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


@needs_kvm
def test_sigterm_ends_vm_cleanly(guests):
    """SIGTERM while the guest waits for input: exit 0, as QEMU."""
    import signal
    p = subprocess.Popen(vm_cmd(guests["echo"], "stdio"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert read_until(p.stdout.fileno(), b"READY\n") == b"READY\n"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        assert b"terminating on signal 15" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
