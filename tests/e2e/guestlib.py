"""Helpers for e2e tests that boot virtkit's own test guests (tests/guests).

A guest reports on COM1 (stdout here) and ends through isa-debug-exit: it
prints "RESULT: PASS" and exits with status 1 ((0 << 1) | 1), or prints
"RESULT: FAIL ..." and exits 3.
"""
import functools
import os
import socket
import subprocess
import threading
import time
import json

import pytest

from conftest import BUILD, binary, kvm_usable, run

GUESTS = BUILD / "tests" / "guests"
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x4"
PASS_STATUS = 1


def guest(name):
    path = GUESTS / f"{name}.elf"
    if not path.exists():
        pytest.skip(f"SKIP: test guest {name} is not built (meson option guests=true)")
    return str(path)


@functools.lru_cache(maxsize=None)
def tcg_works():
    """True once `virtkit-vm --accel tcg` runs a test guest to completion."""
    path = GUESTS / "acpi_off.elf"
    if not path.exists():
        return False
    try:
        r = run([binary("virtkit-vm"), "--accel", "tcg", "--kernel", str(path)], timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0 and "powering off" in r.stdout


def vm_args(accel, name, *args):
    if accel == "kvm" and not kvm_usable():
        pytest.skip("SKIP: /dev/kvm is not usable on this host")
    if accel == "tcg" and not tcg_works():
        pytest.skip("SKIP: virtkit-vm --accel tcg cannot run the test guests yet")
    return [binary("virtkit-vm"), "--accel", accel, "--device", DEBUG_EXIT,
            "--kernel", guest(name), *map(str, args)]


def run_guest(accel, name, *args, input=None, timeout=90):
    return run(vm_args(accel, name, *args), input=input, timeout=timeout)


ACCELS = ["kvm", "tcg"]


class Console:
    """A running VM whose serial output (stdout) is collected by a thread."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for line in self.proc.stdout:
            with self.cond:
                self.out.append(line)
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return "".join(self.out)

    def wait_for(self, needle, timeout=60):
        end = time.monotonic() + timeout
        with self.cond:
            while needle not in "".join(self.out):
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.thread.is_alive():
                    return False
                self.cond.wait(min(left, 0.5))
        return True

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.thread.join(timeout=5)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Qmp:
    """Minimal QMP client: greeting, commands with ids, events kept aside."""

    def __init__(self, path, timeout=30):
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        """Next non-event message."""
        while True:
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def cmd(self, name, arguments=None, id=None):
        req = {"execute": name}
        if arguments is not None:
            req["arguments"] = arguments
        if id is not None:
            req["id"] = id
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.reply()

    def event(self, name, timeout=30):
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            self.sock.settimeout(max(0.1, end - time.monotonic()))
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)

    def close(self):
        self.sock.close()
