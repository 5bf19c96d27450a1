"""Machine reset: keyboard-controller reset (0xFE to port 0x64), port 0x92
fast reset and a triple fault each reboot the machine (the kernel is loaded
again, CMOS NVRAM survives); with --no-reboot the first reset ends the VM
with status 0, as QEMU does."""
import shutil

import pytest

from conftest import binary, needs_kvm, run
from vm_guests import RESET, build, require_accel



@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    if not all(shutil.which(t) for t in ("as", "ld")):
        pytest.skip("SKIP: binutils (as, ld) not installed")
    return build(RESET, tmp_path_factory.mktemp("guest"), "reset")


@pytest.mark.parametrize("accel", ["kvm", "tcg"])
def test_three_resets_then_exit(guest, accel):
    require_accel(binary("virtkit-vm"), accel)
    r = run([binary("virtkit-vm"), "--accel", accel, "--kernel", guest, "--serial", "stdio",
             "--device", "isa-debug-exit"], timeout=120)
    assert r.returncode == (4 << 1) | 1, r.stderr
    assert r.stdout.splitlines() == ["boot 1", "boot 2", "boot 3", "boot 4"]


@needs_kvm
def test_no_reboot_exits_zero(guest):
    r = run([binary("virtkit-vm"), "--accel", "kvm", "--kernel", guest, "--serial", "stdio",
             "--device", "isa-debug-exit", "--no-reboot"], timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["boot 1"]


@needs_kvm
def test_smp_reset(guest):
    r = run([binary("virtkit-vm"), "--accel", "kvm", "--kernel", guest, "--serial", "stdio",
             "--smp", "2", "--device", "isa-debug-exit"], timeout=120)
    assert r.returncode == 9, r.stderr
    assert r.stdout.splitlines()[-1] == "boot 4"
