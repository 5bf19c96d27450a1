"""virtkit-vm runs its own freestanding test guests (tests/guests) and they
report what they saw: serial in/out, RTC, ACPI power-off and reset, SMP
start-up, timer interrupts, fw_cfg, the Linux boot protocol.

Each test runs under --accel kvm and --accel tcg; the tcg runs skip until the
software CPU can run the guests."""
import datetime
import re

import pytest

from guestlib import ACCELS, PASS_STATUS, run_guest


def passed(r):
    return r.returncode == PASS_STATUS and "RESULT: PASS" in r.stdout


def explain(r):
    return f"status {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


@pytest.mark.parametrize("accel", ACCELS)
def test_serial_output_and_input_echo(accel):
    r = run_guest(accel, "hello", "--append", "greeting=1", input="typed on COM1\n")
    assert passed(r), explain(r)
    assert "hello: virtkit test guest" in r.stdout
    assert "greeting=1" in r.stdout
    assert "hello: echo 'typed on COM1'" in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
def test_rtc_time_and_memory_size(accel):
    before = datetime.datetime.now(datetime.timezone.utc)
    r = run_guest(accel, "rtc", "--memory", "256M")
    after = datetime.datetime.now(datetime.timezone.utc)
    assert passed(r), explain(r)
    m = re.search(r"rtc: date (\d+)-(\d+)-(\d+) time (\d+):(\d+):(\d+)", r.stdout)
    assert m, explain(r)
    guest = datetime.datetime(*map(int, m.groups()), tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(seconds=2) <= guest <= after + datetime.timedelta(seconds=2), \
        f"guest RTC {guest} outside [{before}, {after}]"
    # CMOS 0x34/0x35: RAM above 16 MiB in 64 KiB units.
    assert "rtc: mem-above-16M-64k %d" % ((256 - 16) * 16) in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
def test_acpi_soft_off_powers_the_vm_off(accel):
    r = run_guest(accel, "acpi_off")
    assert r.returncode == 0, explain(r)
    assert "acpi: powering off" in r.stdout
    assert "pm1a_cnt=0x604" in r.stdout and "sci=9 s5=5" in r.stdout
    assert "RESULT" not in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
@pytest.mark.parametrize("method", ["kbd", "port92", "acpi"])
def test_reset_reboots_the_guest(accel, method):
    r = run_guest(accel, "reset", "--append", f"method={method}")
    assert passed(r), explain(r)
    assert f"reset: resetting via {method}" in r.stdout
    assert "reset: second boot" in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
def test_reset_with_no_reboot_exits_zero(accel):
    r = run_guest(accel, "reset", "--no-reboot", "--append", "method=kbd")
    assert r.returncode == 0, explain(r)
    assert "reset: resetting via kbd" in r.stdout
    assert "second boot" not in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_smp_startup_init_sipi(accel, cpus):
    r = run_guest(accel, "smp", "--smp", cpus)
    assert passed(r), explain(r)
    assert f"smp: fw_cfg says {cpus} cpus, MADT lists {cpus}" in r.stdout
    assert f"smp: MP table lists {cpus} cpus" in r.stdout
    assert f"smp: {cpus} of {cpus} cpus up" in r.stdout
    for apic in range(1, cpus):
        assert f"smp: cpu apic-id {apic} up" in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
def test_pit_lapic_and_pm_timers(accel):
    r = run_guest(accel, "timers")
    assert passed(r), explain(r)
    # At least 10 of each (one more may land before the source is masked).
    for source in ("pit", "lapic"):
        m = re.search(rf"timers: {source} (\d+) ticks", r.stdout)
        assert m and int(m.group(1)) >= 10, explain(r)
    assert "timers: pm timer counts" in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
def test_fw_cfg_signature_cpus_files_and_dma(accel):
    r = run_guest(accel, "fwcfg", "--smp", 3, "--memory", "128M", "--append", "cpus=3")
    assert passed(r), explain(r)
    assert "fwcfg: signature 'QEMU' id 0x3 cpus 3 ram 128 MiB" in r.stdout
    for name in ("etc/acpi/rsdp", "etc/acpi/tables", "etc/table-loader", "bootorder"):
        assert f"fwcfg: file {name} key" in r.stdout
    assert "fwcfg: dma control 0x0, matches" in r.stdout


@pytest.mark.parametrize("accel", ACCELS)
def test_linux_boot_protocol_elf64(accel):
    r = run_guest(accel, "linux64", "--memory", "256M", "--append", "console=ttyS0 marker=42")
    assert passed(r), explain(r)
    assert "linux64: long mode active, paging on" in r.stdout
    assert "linux64: cmdline 'console=ttyS0 marker=42'" in r.stdout
    assert "linux64: e820 0000000000100000-000000000fffffff type 1" in r.stdout
    assert "linux64: ACPI FADT and MADT found" in r.stdout
