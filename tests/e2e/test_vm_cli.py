"""virtkit-vm command line: help, usage errors (exit 2), load errors (exit 1),
Multiboot command line and modules, string I/O, isa-debug-exit status."""
import pytest

import shutil

from conftest import binary, needs_kvm, run
from vm_guests import MBINFO, build, require_accel

DEBUG_EXIT = ["--device", "isa-debug-exit,iobase=0xf4,iosize=0x4"]


@pytest.fixture(scope="module")
def vm():
    return binary("virtkit-vm")


@pytest.fixture(scope="module")
def mbinfo(tmp_path_factory):
    if not all(shutil.which(t) for t in ("as", "ld")):
        pytest.skip("SKIP: binutils (as, ld) not installed")
    return build(MBINFO, tmp_path_factory.mktemp("guest"), "mbinfo")


def test_help_lists_options(vm):
    r = run([vm, "--help"])
    assert r.returncode == 0
    for opt in ("--kernel", "--initrd", "--append", "--memory", "--smp", "--cpu", "--serial",
                "--control", "--no-reboot", "--accel", "--device", "--firmware"):
        assert opt in r.stdout, opt
    assert "isa-debug-exit" in r.stdout and "pc-testdev" in r.stdout


def test_no_kernel_is_usage_error(vm):
    r = run([vm])
    assert r.returncode == 2
    assert "no --kernel" in r.stderr


def test_unknown_option(vm):
    r = run([vm, "--frobnicate", "x"])
    assert r.returncode == 2
    assert "frobnicate" in r.stderr


@pytest.mark.parametrize("mem", ["lots", "1X", "0", "1K", "-5M"])
def test_bad_memory(vm, mem, tmp_path):
    r = run([vm, "--kernel", str(tmp_path / "k"), "--memory", mem])
    assert r.returncode == 2
    assert "--memory" in r.stderr and mem in r.stderr


def test_bad_smp(vm, tmp_path):
    r = run([vm, "--kernel", str(tmp_path / "k"), "--smp", "0"])
    assert r.returncode == 2 and "--smp" in r.stderr


def test_unknown_device(vm, tmp_path):
    r = run([vm, "--kernel", str(tmp_path / "k"), "--device", "sound-blaster,irq=5"])
    assert r.returncode == 2
    assert "unknown device" in r.stderr and "sound-blaster" in r.stderr
    assert "isa-debug-exit" in r.stderr   # lists what exists


def test_bad_device_option(vm, mbinfo):
    r = run([vm, "--accel", "kvm", "--kernel", mbinfo, "--serial", "null",
             "--device", "isa-debug-exit,iobase=nope"])
    assert r.returncode == 1
    assert "iobase" in r.stderr


def test_bad_serial_backend(vm, mbinfo):
    r = run([vm, "--accel", "kvm", "--kernel", mbinfo, "--serial", "carrier-pigeon"])
    assert r.returncode == 1
    assert "carrier-pigeon" in r.stderr


@needs_kvm
def test_missing_kernel_file(vm, tmp_path):
    missing = tmp_path / "no-such-kernel"
    r = run([vm, "--accel", "kvm", "--kernel", str(missing)])
    assert r.returncode == 1
    assert str(missing) in r.stderr and "No such file" in r.stderr


@needs_kvm
def test_not_a_kernel(vm, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF-not-really" + bytes(5000))
    r = run([vm, "--accel", "kvm", "--kernel", str(junk)])
    assert r.returncode == 1
    assert "not a Linux bzImage" in r.stderr


@needs_kvm
def test_missing_initrd(vm, mbinfo, tmp_path):
    r = run([vm, "--accel", "kvm", "--kernel", mbinfo, "--initrd", str(tmp_path / "nope"),
             "--serial", "null"])
    assert r.returncode == 1
    assert "--initrd" in r.stderr


@pytest.mark.parametrize("accel", ["kvm", "tcg"])
def test_multiboot_cmdline_modules_and_exit_status(vm, mbinfo, tmp_path, accel):
    require_accel(vm, accel)
    m1, m2 = tmp_path / "env", tmp_path / "second"
    m1.write_text("KEY=value")
    m2.write_text("payload")
    r = run([vm, "--accel", accel, "--kernel", mbinfo, "--append", "hello world",
             "--initrd", f"{m1} a1 a2,{m2}", "--serial", "stdio", "--no-reboot", *DEBUG_EXIT],
            timeout=60)
    assert r.returncode == (42 << 1) | 1, r.stderr
    lines = r.stdout.splitlines()
    assert f"cmdline={mbinfo} hello world" in lines
    assert f"module={m1} a1 a2=KEY=value" in lines
    assert f"module={m2}=payload" in lines
    assert "string-io-ok" in lines


@needs_kvm
@pytest.mark.parametrize("mem", ["16M", "64", "1G", "4G"])
def test_memory_sizes_boot(vm, mbinfo, mem):
    r = run([vm, "--accel", "kvm", "--kernel", mbinfo, "--memory", mem, "--serial", "null",
             *DEBUG_EXIT], timeout=60)
    assert r.returncode == 85, r.stderr


@needs_kvm
def test_qemu_spellings(vm, mbinfo):
    r = run([vm, "-accel", "kvm", "-kernel", mbinfo, "-m", "64", "-smp", "2", "-append", "q",
             "-serial", "stdio", "-no-reboot", "-device", "isa-debug-exit"], timeout=60)
    assert r.returncode == 85, r.stderr
    assert f"cmdline={mbinfo} q" in r.stdout.splitlines()


@needs_kvm
def test_hugepages(vm, mbinfo):
    """Runs when the host has 2 MiB pages reserved, else fails cleanly."""
    r = run([vm, "--accel", "kvm", "--kernel", mbinfo, "--memory", "32M", "--hugepages",
             "--serial", "null", *DEBUG_EXIT], timeout=60)
    with open("/proc/sys/vm/nr_hugepages") as f:
        reserved = int(f.read())
    if reserved >= 16:
        assert r.returncode == 85, r.stderr
    else:
        assert r.returncode in (1, 85), r.stderr
        if r.returncode == 1:
            assert "huge pages" in r.stderr


@needs_kvm
def test_seabios_firmware_boot(vm):
    """--firmware bios.bin: SeaBIOS runs from the reset vector, prints on
    COM1 (etc/sercon-port) and finds no boot disk."""
    import subprocess
    import time
    from conftest import ASSETS
    bios = ASSETS / "seabios" / "bios.bin"
    if not bios.exists():
        pytest.skip(f"SKIP: {bios} not present (scripts/bootstrap)")
    p = subprocess.Popen([vm, "--accel", "kvm", "--firmware", str(bios), "--memory", "128M",
                          "--serial", "stdio", "--no-reboot"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = b""
        end = time.monotonic() + 120
        while b"No bootable device" not in out and time.monotonic() < end:
            chunk = p.stdout.read1(4096)
            if not chunk:
                break
            out += chunk
        assert b"SeaBIOS (version" in out, out
        assert b"No bootable device" in out, out
    finally:
        p.terminate()
        assert p.wait(timeout=30) == 0


def test_firmware_errors(vm, tmp_path):
    odd = tmp_path / "odd.bin"
    odd.write_bytes(bytes(1000))
    r = run([vm, "--accel", "kvm", "--firmware", str(odd), "--serial", "null"])
    assert r.returncode == 1 and "multiple of 64 KiB" in r.stderr
    r = run([vm, "--accel", "kvm", "--firmware", str(tmp_path / "none.bin"), "--serial", "null"])
    assert r.returncode == 1 and "--firmware" in r.stderr


@needs_kvm
def test_qemu_machine_and_ignored_options(vm, mbinfo):
    r = run([vm, "-machine", "pc,accel=kvm", "-nodefaults", "-nographic", "-display", "none",
             "-kernel", mbinfo, "-serial", "stdio", "-device", "isa-debug-exit"], timeout=60)
    assert r.returncode == 85, r.stderr
    r = run([vm, "-machine", "accel=xen", "-kernel", mbinfo])
    assert r.returncode == 2 and "xen" in r.stderr


def test_stdio_twice_refused(vm, tmp_path):
    r = run([vm, "--kernel", str(tmp_path / "k"), "--serial", "stdio", "--serial", "stdio"])
    assert r.returncode == 2 and "one port only" in r.stderr


def test_accel_auto(vm, mbinfo):
    """auto: KVM on a VT-x/AMD-V host, else the software CPU; the guest runs
    the same either way (or a clear error when neither can)."""
    r = run([vm, "--accel", "auto", "--kernel", mbinfo, "--append", "auto", "--serial", "stdio",
             "--device", "isa-debug-exit"], timeout=120)
    if r.returncode == 1 and "not built in" in r.stderr:
        assert "--accel auto" in r.stderr
        pytest.skip("SKIP: no KVM for stock guests and no software CPU here")
    assert r.returncode == 85, r.stderr
    assert f"cmdline={mbinfo} auto" in r.stdout.splitlines()
