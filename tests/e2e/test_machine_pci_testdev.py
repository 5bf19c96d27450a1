"""--device pci-testdev: QEMU's PCI test device (1b36:0005) as kvm-unit-tests
use it. vmexit.flat's "pci-mem" and "pci-io" tests find it on bus 0 through
0xCF8/0xCFC, check BAR0 is memory and BAR1 I/O, then scan the tests each
BAR's header offers and time writes to them."""
import re
import subprocess

import pytest

from conftest import BUILD, CONFORMANCE, kvm_usable

DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x4"


def run_vmexit(*extra):
    flat = CONFORMANCE / "vmexit.flat"
    if not flat.exists():
        pytest.skip("SKIP: kvm-unit-tests vmexit.flat not present")
    if not kvm_usable():
        pytest.skip("SKIP: /dev/kvm is not usable on this host")
    vm = BUILD / "src" / "vm" / "virtkit-vm"
    return subprocess.run([str(vm), "--accel", "kvm", "--kernel", str(flat),
                           "--device", DEBUG_EXIT, "--serial", "stdio", "--no-reboot",
                           "--append", "pci-mem pci-io", *extra],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_vmexit_pci_mem_and_io_with_pci_testdev():
    p = run_vmexit("--device", "pci-testdev")
    out = p.stdout
    assert p.returncode == 1, f"status {p.returncode}\n{out}\n{p.stderr}"
    m = re.search(r"pci-testdev at 0x([0-9a-f]+) membar ([0-9a-f]+) iobar ([0-9a-f]+)", out)
    assert m, out
    assert int(m.group(2), 16) >= 0xc0000000 and int(m.group(3), 16) >= 0xc000
    for kind, test in (("mmio", "pci-mem"), ("portio", "pci-io")):
        for name in ("no-eventfd", "wildcard-eventfd", "datamatch-eventfd"):
            assert re.search(rf"{kind}-{name}:{test} \d+", out), out
    assert "FAIL" not in out and "skipped" not in out


def test_vmexit_pci_tests_skip_without_the_device():
    p = run_vmexit()
    assert p.returncode == 1, p.stderr
    assert "pci-mem (skipped)" in p.stdout and "pci-io (skipped)" in p.stdout
    assert "pci-testdev at" not in p.stdout
