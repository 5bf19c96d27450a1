"""kvm-unit-tests under virtkit-vm --accel tcg (the software CPU with the
user-space LAPIC/IOAPIC/PIC/PIT), through scripts/kvm-unit-tests.

Asserted: every configuration that passes under QEMU TCG on this kind of
host (the conformance README's table) except sieve, which passes but is too
slow for a test run here (bench/tcg_boot.sh times it); vmexit_vmcall fails
under QEMU TCG too and is not asserted."""
import os
import re
import subprocess

import pytest

from conftest import BUILD, CONFORMANCE, TOP

EXPECT_PASS = [
    "realmode", "setjmp", "smptest", "smptest3", "memory", "msr", "msr64", "tsc", "xsave",
    "vmexit_cpuid", "vmexit_mov_from_cr8", "vmexit_mov_to_cr8", "vmexit_inl_pmtimer",
    "vmexit_ple_round_robin", "vmexit_tscdeadline", "vmexit_tscdeadline_immed",
    "vmexit_ipi", "vmexit_ipi_halt", "vmexit_cr0_wp", "vmexit_cr4_pge", "eventinj", "syscall",
]


@pytest.fixture(scope="module")
def results():
    if not (CONFORMANCE / "unittests.cfg").exists():
        pytest.skip(f"SKIP: kvm-unit-tests not present in {CONFORMANCE}")
    env = dict(os.environ, VIRTKIT_BUILD=str(BUILD))
    p = subprocess.run([str(TOP / "scripts" / "kvm-unit-tests"), "--accel", "tcg", "-j", "2",
                        "--timeout", "120", *EXPECT_PASS],
                       capture_output=True, text=True, timeout=1800, env=env)
    out = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(PASS|FAIL|SKIP) (\S+) ", line)
        if m:
            out[m.group(2)] = (m.group(1), line)
    assert out, p.stdout + p.stderr
    return out


@pytest.mark.parametrize("name", EXPECT_PASS)
def test_passes_on_software_cpu(results, name):
    assert results[name][0] == "PASS", results[name][1]
