"""CPU models under KVM, as a guest sees them through CPUID: the hypervisor
bit, per-vCPU APIC IDs and counts, and the baseline model's limits."""
import re
import shutil

import pytest

from conftest import binary, needs_kvm, run
from vm_guests import CPUID, build

pytestmark = needs_kvm


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    if not all(shutil.which(t) for t in ("as", "ld")):
        pytest.skip("SKIP: binutils (as, ld) not installed")
    return build(CPUID, tmp_path_factory.mktemp("guest"), "cpuid")


def cpuid(guest, *args):
    r = run([binary("virtkit-vm"), "--accel", "kvm", "--kernel", guest, "--serial", "stdio",
             "--device", "isa-debug-exit", *args], timeout=60)
    assert r.returncode == 1, r.stderr
    m = re.search(r"max=(\w+) l1c=(\w+) l1b=(\w+) l7b=(\w+)", r.stdout)
    assert m, r.stdout
    return [int(x, 16) for x in m.groups()]


def test_host_model(guest):
    mx, l1c, l1b, l7b = cpuid(guest, "--cpu", "host")
    assert l1c & (1 << 31), "hypervisor bit"
    assert l1b >> 24 == 0, "BSP APIC ID 0"
    assert mx >= 7


def test_host_model_smp_count(guest):
    mx, l1c, l1b, l7b = cpuid(guest, "--cpu", "host", "--smp", "3")
    assert (l1b >> 16) & 0xff == 3, "logical processor count"


def test_baseline_model(guest):
    mx, l1c, l1b, l7b = cpuid(guest, "--cpu", "baseline")
    assert mx <= 0xd
    assert l7b == 0, "no leaf-7 features"
    assert l1c & (1 << 31), "hypervisor bit"
    # Leaf 1 ECX is not asserted here: a PVM-based KVM shows the guest the
    # host's leaf-1 feature bits whatever the table says (the filtering
    # itself is unit-tested in test_kvm_cpuid).


def test_unknown_model(guest):
    r = run([binary("virtkit-vm"), "--accel", "kvm", "--kernel", guest, "--cpu", "486",
             "--serial", "null"], timeout=60)
    assert r.returncode == 1
    assert "unknown CPU model '486'" in r.stderr
