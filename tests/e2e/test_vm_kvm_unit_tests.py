"""kvm-unit-tests under virtkit-vm --accel kvm, through scripts/kvm-unit-tests.

Asserted: every configuration that passes under QEMU with KVM on this kind of
host (the conformance README's table), and the ones virtkit passes beyond it
(eventinj, memory, xsave). Known to fail under QEMU KVM here too, not asserted:
sieve (too slow under PVM), vmexit_vmcall, msr/msr64, syscall; tsc skips."""
import os
import re
import subprocess

import pytest

from conftest import BUILD, CONFORMANCE, TOP, needs_kvm

pytestmark = needs_kvm

EXPECT_PASS = [
    "realmode", "smptest", "smptest3", "setjmp",
    "vmexit_cpuid", "vmexit_mov_from_cr8", "vmexit_mov_to_cr8", "vmexit_inl_pmtimer",
    "vmexit_ipi", "vmexit_ipi_halt", "vmexit_ple_round_robin", "vmexit_tscdeadline",
    "vmexit_tscdeadline_immed", "vmexit_cr0_wp", "vmexit_cr4_pge",
    "eventinj", "memory", "xsave",
]
EXPECT_SKIP = ["tsc"]


@pytest.fixture(scope="module")
def results():
    if not (CONFORMANCE / "unittests.cfg").exists():
        pytest.skip(f"SKIP: kvm-unit-tests not present in {CONFORMANCE}")
    env = dict(os.environ, VIRTKIT_BUILD=str(BUILD))
    p = subprocess.run([str(TOP / "scripts" / "kvm-unit-tests"), "--accel", "kvm", "-j", "2",
                        "--timeout", "300", *EXPECT_PASS, *EXPECT_SKIP],
                       capture_output=True, text=True, timeout=1800, env=env)
    out = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(PASS|FAIL|SKIP) (\S+) ", line)
        if m:
            out[m.group(2)] = (m.group(1), line)
    assert out, p.stdout + p.stderr
    return out


@pytest.mark.parametrize("name", EXPECT_PASS)
def test_passes(results, name):
    assert results[name][0] == "PASS", results[name][1]


@pytest.mark.parametrize("name", EXPECT_SKIP)
def test_skips(results, name):
    assert results[name][0] == "SKIP", results[name][1]


def test_dummy_exit_status():
    """The smallest guest: isa-debug-exit status 1, its greeting on COM1."""
    if not (CONFORMANCE / "dummy.flat").exists():
        pytest.skip("SKIP: dummy.flat not present")
    vm = BUILD / "src" / "vm" / "virtkit-vm"
    p = subprocess.run([str(vm), "--accel", "kvm", "--kernel", str(CONFORMANCE / "dummy.flat"),
                        "--device", "isa-debug-exit,iobase=0xf4,iosize=0x4",
                        "--device", "pc-testdev", "--serial", "stdio", "--no-reboot"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stderr
    assert "Dummy Hello World!" in p.stdout
