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
