"""The software-CPU milestone: Debian's cloud kernel (bootstrap assets) with
the busybox initramfs from scripts/mkinitramfs boots under
`virtkit-vm --accel tcg --serial stdio` to its first userspace line, loads the
virtio modules and powers off (exit status 0); with --smp 2 both CPUs come up.

The boot tests are slow (minutes on the software CPU today) and run only with
VIRTKIT_SLOW_TESTS=1. They also wait for the CPU fix tracked as item 0 of
docs/cpu-todo.md (an instruction-fetch fault reported at the previous
instruction kills the first user process); until then the kernel boots the
whole platform (ACPI, IOAPIC, LAPIC timer) and dies starting /init."""
import os
import subprocess

import pytest

from conftest import ASSETS, TOP, binary, run

KERNEL = ASSETS / "kernel" / "vmlinuz"
APPEND = "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1"

slow = pytest.mark.skipif(
    os.environ.get("VIRTKIT_SLOW_TESTS") != "1",
    reason="SKIP: booting Linux on the software CPU takes minutes; set VIRTKIT_SLOW_TESTS=1 "
           "(and see docs/cpu-todo.md item 0: user mode is not reached yet)")


@pytest.fixture(scope="module")
def initrd(tmp_path_factory):
    if not (ASSETS / "busybox").exists() or not KERNEL.exists():
        pytest.skip(f"SKIP: guest assets missing in {ASSETS} (run scripts/bootstrap)")
    out = tmp_path_factory.mktemp("initrd") / "initrd.cpio.gz"
    p = run([str(TOP / "scripts" / "mkinitramfs"), str(out)], timeout=120)
    assert p.returncode == 0, p.stderr
    return out


def test_initramfs_contents(initrd):
    """busybox, the /init script with its markers, and the virtio modules."""
    listing = subprocess.run(f"gzip -dc {initrd} | cpio -it --quiet", shell=True,
                             capture_output=True, text=True, timeout=60)
    names = set(listing.stdout.split())
    assert {"init", "bin/busybox"} <= names, listing.stdout
    for m in ("virtio_ring", "virtio", "virtio_pci", "virtio_blk", "virtio_net"):
        assert f"lib/modules/{m}.ko" in names, m
    init = subprocess.run(f"gzip -dc {initrd} | cpio -i --quiet --to-stdout init", shell=True,
                          capture_output=True, text=True, timeout=60).stdout
    assert "VIRTKIT-INIT" in init and "poweroff -f" in init


def boot(initrd, *extra, timeout=1200):
    return run([binary("virtkit-vm"), "--accel", "tcg", "--serial", "stdio", "--memory", "512M",
                "--kernel", str(KERNEL), "--initrd", str(initrd), "--append", APPEND,
                "--no-reboot", *map(str, extra)], timeout=timeout)


@slow
def test_boots_to_userspace_and_powers_off(initrd):
    r = boot(initrd)
    assert "VIRTKIT-INIT: userspace up, 1 cpus" in r.stdout, r.stdout[-4000:]
    assert "VIRTKIT-MOD: virtio_pci" in r.stdout
    assert "VIRTKIT-DONE" in r.stdout
    assert r.returncode == 0, r.stderr


@slow
def test_smp2_both_cpus_come_up(initrd):
    r = boot(initrd, "--smp", 2)
    assert "smp: Brought up 1 node, 2 CPUs" in r.stdout, r.stdout[-4000:]
    assert "VIRTKIT-INIT: userspace up, 2 cpus" in r.stdout
    assert r.returncode == 0, r.stderr
