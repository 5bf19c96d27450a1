"""CMOS RTC interrupts on IRQ 8: the rtc_irq test guest enables the periodic,
update-ended and alarm interrupts in turn, counts them in its IRQ 8 handler
(which reads status C) and checks status C read-and-clear. Runs on KVM (the
in-kernel irqchip) and on the software CPU (the user-space irqchip)."""
import re

import pytest

from guestlib import ACCELS, PASS_STATUS, run_guest


def explain(r):
    return f"status {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


@pytest.mark.parametrize("accel", ACCELS)
def test_rtc_interrupts_periodic_update_alarm(accel):
    r = run_guest(accel, "rtc_irq")
    assert r.returncode == PASS_STATUS and "RESULT: PASS" in r.stdout, explain(r)
    periodic = int(re.search(r"rtc_irq: periodic (\d+)", r.stdout).group(1))
    update = int(re.search(r"rtc_irq: update (\d+)", r.stdout).group(1))
    alarm = int(re.search(r"rtc_irq: alarm (\d+)", r.stdout).group(1))
    assert periodic >= 16 and update >= 2 and alarm >= 3, explain(r)
    # status C: UF seen by polling, then cleared by the read
    assert re.search(r"status C 0x[0-9a-f][0-9a-f] then 0x[0-9a-f]{2}", r.stdout)


@pytest.mark.parametrize("part", ["periodic", "update", "alarm"])
def test_rtc_interrupt_parts_alone_kvm(part):
    r = run_guest("kvm", "rtc_irq", "--append", f"only={part}")
    assert r.returncode == PASS_STATUS and "RESULT: PASS" in r.stdout, explain(r)
    assert f"rtc_irq: {part} " in r.stdout
    for other in {"periodic", "update", "alarm"} - {part}:
        assert f"rtc_irq: {other} " not in r.stdout



@pytest.mark.parametrize("accel", ACCELS)
def test_rtc_reset_while_interrupting(accel):
    """A reset while IRQ 8 fires at 8 kHz: the machine reboots cleanly (the
    RTC thread never drives a half-rebuilt irqchip) and the second boot sees
    status B's interrupt enables cleared and no interrupts."""
    r = run_guest(accel, "rtc_irq", "--append", "only=reset")
    assert r.returncode == PASS_STATUS and "RESULT: PASS" in r.stdout, explain(r)
    assert "rtc_irq: resetting with" in r.stdout
    assert re.search(r"after reset B=0x02, 0 interrupts", r.stdout), explain(r)


LINUX_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "RTC-BEFORE: $(grep rtc0 /proc/interrupts)"
echo +2 > /sys/class/rtc/rtc0/wakealarm
sleep 5
echo "RTC-AFTER: $(grep rtc0 /proc/interrupts)"
echo "RTC-WAKEALARM: [$(cat /sys/class/rtc/rtc0/wakealarm)]"
echo "RTC-DONE"
poweroff -f
"""


def irq_count(line):
    # "8:  N [M ...]  IO-APIC   8-edge      rtc0": the per-CPU counts
    fields = line.split(":", 1)[1].split() if ":" in line else []
    return sum(int(f) for f in fields if f.isdigit())


def test_linux_rtc_cmos_alarm_interrupt(tmp_path):
    """Debian's kernel on the software CPU: rtc_cmos finds the RTC through the
    DSDT (PNP0B00, IRQ 8), and an alarm set through sysfs (wakealarm, i.e.
    AIE) arrives as an interrupt on IRQ 8."""
    import shutil
    import subprocess

    from conftest import ASSETS, TOP, binary, run
    from guestlib import tcg_works
    kernel = ASSETS / "kernel" / "vmlinuz"
    if not (ASSETS / "busybox").exists() or not kernel.exists():
        pytest.skip(f"SKIP: guest assets missing in {ASSETS} (run scripts/bootstrap)")
    for tool in ("cpio", "gzip"):
        if not shutil.which(tool):
            pytest.skip(f"SKIP: {tool} not installed")
    if not tcg_works():
        pytest.skip("SKIP: virtkit-vm --accel tcg cannot run the test guests yet")
    base = tmp_path / "base.cpio.gz"
    p = run([str(TOP / "scripts" / "mkinitramfs"), str(base)], timeout=120)
    assert p.returncode == 0, p.stderr
    # A second archive after the first replaces /init (the kernel unpacks
    # concatenated archives in order).
    over = tmp_path / "over"
    over.mkdir()
    (over / "init").write_text(LINUX_INIT)
    (over / "init").chmod(0o755)
    extra = subprocess.run("echo init | cpio -o -H newc --quiet -R 0:0 | gzip -9n",
                           shell=True, cwd=over, capture_output=True, check=True).stdout
    initrd = tmp_path / "initrd.cpio.gz"
    initrd.write_bytes(base.read_bytes() + extra)
    r = run([binary("virtkit-vm"), "--accel", "tcg", "--serial", "stdio", "--memory", "256M",
             "--kernel", str(kernel), "--initrd", str(initrd),
             "--append", "console=ttyS0 panic=-1", "--no-reboot"], timeout=600)
    out = r.stdout
    assert r.returncode == 0 and "RTC-DONE" in out, f"status {r.returncode}\n{out[-3000:]}"
    assert re.search(r"rtc_cmos 00:0\d: alarms up to one day", out), out[-3000:]
    before = re.search(r"RTC-BEFORE: (.*)", out).group(1)
    after = re.search(r"RTC-AFTER: (.*)", out).group(1)
    assert "rtc0" in after, out[-3000:]
    assert irq_count(after) >= irq_count(before) + 1, (before, after)
    assert "RTC-WAKEALARM: []" in out      # the alarm fired and was consumed
