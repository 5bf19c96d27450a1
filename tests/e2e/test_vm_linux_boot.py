"""The Linux boot protocol under KVM with a tiny 64-bit "kernel": a bzImage
(setup header, 64-bit entry at +0x200) and a vmlinux ELF64 (entry translated
from its virtual to its physical address) both start in long mode with RSI
pointing at a zero page that carries the command line, the e820 map and the
initrd. (Stock Linux cannot boot on this host's PVM-based KVM: the software
CPU's tests boot the real kernel.)"""
import shutil

import pytest

from conftest import binary, needs_kvm, run
from vm_guests import build_linux64

pytestmark = needs_kvm


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    if not all(shutil.which(t) for t in ("as", "ld", "objcopy")):
        pytest.skip("SKIP: binutils (as, ld, objcopy) not installed")
    return build_linux64(tmp_path_factory.mktemp("linux64"))


@pytest.mark.parametrize("kind", [0, 1], ids=["bzImage", "vmlinux"])
def test_64bit_entry_zero_page(kernels, kind, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"INITRD-CONTENT")
    r = run([binary("virtkit-vm"), "--accel", "kvm", "--kernel", kernels[kind],
             "--initrd", str(initrd), "--append", "console=ttyS0 root=/dev/vda",
             "--memory", "128M", "--serial", "stdio", "--no-reboot",
             "--device", "isa-debug-exit"], timeout=60)
    assert r.returncode == (21 << 1) | 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert "linux64 cmdline=console=ttyS0 root=/dev/vda" in lines
    assert "e820=5" in lines
    assert "initrd=INITRD-CONTENT" in lines


def test_initrd_too_big(kernels, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(bytes(40 << 20))
    r = run([binary("virtkit-vm"), "--accel", "kvm", "--kernel", kernels[0], "--initrd", str(big),
             "--memory", "32M", "--serial", "null"], timeout=60)
    assert r.returncode == 1
    assert "does not fit" in r.stderr
