"""Shared fixtures for end-to-end tests: they run the built binaries as a user would.

VIRTKIT_BUILD points at the meson build directory (default: ./build).
Guest assets prepared by scripts/bootstrap live in VIRTKIT_ASSETS (default: .cache/assets).
"""
import os
import pathlib
import shutil
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("VIRTKIT_BUILD", TOP / "build"))
ASSETS = pathlib.Path(os.environ.get("VIRTKIT_ASSETS", TOP / ".cache" / "assets"))
CONFORMANCE = TOP.parent / "shared" / "conformance" / "kvm-unit-tests"


def binary(name):
    """Path of a built binary: virtkit, virtkit-vm, virtkitd."""
    for sub in ("src/cli", "src/vm", "src/daemon", "."):
        p = BUILD / sub / name
        if p.exists():
            return str(p)
    pytest.fail(f"{name} is not built in {BUILD}")


def run(args, check=False, timeout=120, **kw):
    """Run a command, capture text output; never raises on non-zero unless check."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          check=check, **kw)


@pytest.fixture
def virtkit():
    path = binary("virtkit")

    def _run(*args, **kw):
        return run([path, *map(str, args)], **kw)
    _run.path = path
    return _run


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


needs_kvm = pytest.mark.skipif(not kvm_usable(), reason="SKIP: /dev/kvm is not usable on this host")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="SKIP: needs root (network namespaces)")


def needs_tool(name):
    return pytest.mark.skipif(shutil.which(name) is None,
                              reason=f"SKIP: {name} is not installed (run scripts/bootstrap)")
