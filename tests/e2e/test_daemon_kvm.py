"""virtkitd supervising real virtkit-vm guests, on KVM and on the software CPU.

The guest is a tiny Multiboot program assembled here: it prints a banner on
COM1, echoes serial input and powers off through ACPI S5 when the power
button (QMP system_powerdown, i.e. `virtkit shutdown`) is pressed. It idles
in hlt, so it costs no CPU while it waits.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import binary, needs_kvm, needs_tool, run
from test_daemon import Daemon, console_close, console_send, console_session

IDLE_GUEST = r"""
# Idle multiboot guest for daemon tests: prints a banner on COM1, echoes
# serial input, powers off (ACPI S5) when the power button is pressed.
# Interrupt driven (PIC): hlt between events.
.set MB_MAGIC, 0x1BADB002
.set MB_FLAGS, 0x00000003
.set PM_BASE, 0x600
.section .text
.globl _start
.align 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

putc:
    push %edx
    push %eax
    mov $0x3fd, %dx
1:  in %dx, %al
    test $0x20, %al
    jz 1b
    pop %eax
    mov $0x3f8, %dx
    out %al, %dx
    pop %edx
    ret
puts:
    push %ebx
    mov %eax, %ebx
2:  movb (%ebx), %al
    test %al, %al
    jz 3f
    call putc
    inc %ebx
    jmp 2b
3:  pop %ebx
    ret

# interrupt gate for vector %ecx -> handler %eax
setgate:
    lea idt(,%ecx,8), %edi
    mov %ax, (%edi)
    movw $0x08, 2(%edi)
    movw $0x8e00, 4(%edi)
    shr $16, %eax
    mov %ax, 6(%edi)
    ret

_start:
    cli
    lgdt gdtr               # Multiboot leaves GDTR undefined: our own flat GDT
    ljmp $0x08, $reload
reload:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $stack_top, %esp
    # IDT: every vector -> ignore, then ours
    xor %ecx, %ecx
4:  mov $isr_ignore, %eax
    call setgate
    inc %ecx
    cmp $256, %ecx
    jne 4b
    mov $isr_master, %eax
    mov $0x20, %ecx
5:  call setgate_keep
    inc %ecx
    cmp $0x28, %ecx
    jne 5b
    mov $isr_slave, %eax
6:  call setgate_keep
    inc %ecx
    cmp $0x30, %ecx
    jne 6b
    mov $isr_com1, %eax
    mov $0x24, %ecx
    call setgate_keep
    mov $isr_sci, %eax
    mov $0x29, %ecx
    call setgate_keep
    lidt idtr
    # PICs: vectors 0x20/0x28, cascade on IRQ2
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xa0
    mov $0x20, %al
    out %al, $0x21
    mov $0x28, %al
    out %al, $0xa1
    mov $4, %al
    out %al, $0x21
    mov $2, %al
    out %al, $0xa1
    mov $1, %al
    out %al, $0x21
    out %al, $0xa1
    mov $0xeb, %al          # unmask IRQ2 (cascade) and IRQ4 (COM1)
    out %al, $0x21
    mov $0xfd, %al          # unmask IRQ9 (SCI)
    out %al, $0xa1
    mov $0x02, %al          # IRQ9 level triggered (ELCR)
    mov $0x4d1, %dx
    out %al, %dx
    # COM1: RX interrupt, OUT2
    mov $0x3f9, %dx
    mov $1, %al
    out %al, %dx
    mov $0x3fc, %dx
    mov $0x0b, %al
    out %al, %dx
    # ACPI: power button event enabled
    mov $(PM_BASE + 2), %dx
    mov $0x100, %ax
    out %ax, %dx
    mov $banner, %eax
    call puts
idle:                       # PVM's KVM cannot emulate a protected-mode iret:
    mov $stack_top, %esp    # handlers come back here instead
    sti
    hlt
    jmp idle

setgate_keep:
    push %eax
    push %ecx
    call setgate
    pop %ecx
    pop %eax
    ret

isr_ignore:
    jmp idle
isr_master:
    push %eax
    mov $0x20, %al
    out %al, $0x20
    jmp idle
isr_slave:
    push %eax
    mov $0x20, %al
    out %al, $0xa0
    out %al, $0x20
    jmp idle
isr_com1:
    push %eax
    push %edx
8:  mov $0x3fd, %dx
    in %dx, %al
    test $1, %al
    jz 9f
    mov $0x3f8, %dx
    in %dx, %al
    call putc
    jmp 8b
9:  mov $0x20, %al
    out %al, $0x20
    jmp idle
isr_sci:
    push %eax
    push %edx
    mov $PM_BASE, %dx
    in %dx, %ax
    test $0x100, %ax
    jz 10f
    out %ax, %dx            # clear the status bits we saw
    mov $bye, %eax
    call puts
    mov $(PM_BASE + 4), %dx
    mov $((5 << 10) | (1 << 13)), %ax
    out %ax, %dx            # SLP_TYP=S5, SLP_EN: soft off
10: mov $0x20, %al
    out %al, $0xa0
    out %al, $0x20
    jmp idle

.section .data
banner: .asciz "idle-guest: up\r\n"
bye:    .asciz "idle-guest: power button, powering off\r\n"
.align 8
gdt:    .quad 0, 0x00cf9a000000ffff, 0x00cf92000000ffff
gdtr:   .word 3 * 8 - 1
        .long gdt
.align 8
idtr:   .word 256 * 8 - 1
        .long idt
.section .bss
.align 16
idt:    .space 256 * 8
stack:  .space 8192
stack_top:
"""


@pytest.fixture(scope="module")
def idle_guest(tmp_path_factory):
    d = tmp_path_factory.mktemp("guest")
    (d / "idle.S").write_text(IDLE_GUEST)
    r = run(["as", "--32", "-o", str(d / "idle.o"), str(d / "idle.S")])
    assert r.returncode == 0, r.stderr
    r = run(["ld", "-m", "elf_i386", "-Ttext=0x100000", "-o", str(d / "idle.elf"), str(d / "idle.o")])
    assert r.returncode == 0, r.stderr
    os.chmod(d, 0o755)
    return d / "idle.elf"


@pytest.fixture
def kvm_daemon():
    d = Daemon(emulator=binary("virtkit-vm"))
    try:
        yield d.start()
    finally:
        d.cleanup()


def guest_xml(name, kernel, dtype="kvm"):
    return (f"<domain type='{dtype}'><name>{name}</name><memory unit='MiB'>32</memory>"
            f"<vcpu placement='static'>1</vcpu>"
            f"<os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel}</kernel></os>"
            f"<features><acpi/><apic/></features><cpu mode='host-passthrough'/>"
            f"<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
            f"<on_crash>destroy</on_crash>"
            f"<devices><serial type='pty'/><console type='pty'/></devices></domain>")


def console_roundtrip(d, dom, text):
    p = console_session(d, dom)
    try:
        got = console_send(p, text.encode(), text.encode(), timeout=60)
        console_close(p)
    finally:
        if p.poll() is None:
            p.kill()
    return got.decode(errors="replace")


def kvm_ok():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


def tcg_ok():
    r = run([binary("virtkit-vm"), "--help"])
    return "tcg" in r.stdout + r.stderr


@needs_tool("as")
@pytest.mark.parametrize("dtype,accel", [("kvm", "kvm"), ("qemu", "tcg")])
def test_guest_full_lifecycle(kvm_daemon, idle_guest, dtype, accel):
    """<domain type='kvm'> runs on KVM, type='qemu' on virtkit's software CPU."""
    if accel == "kvm" and not kvm_ok():
        pytest.skip("SKIP: /dev/kvm is not usable on this host")
    if accel == "tcg" and not tcg_ok():
        pytest.skip("SKIP: virtkit-vm has no software CPU (--accel tcg)")
    d = kvm_daemon
    d.define(guest_xml("idle", idle_guest, dtype))
    assert d.ok("start", "idle") == "Domain 'idle' started\n\n"
    assert d.state("idle") == "running (booted)"
    log = (d.logs / "domains" / "idle.log").read_text()
    assert f"--accel {accel}" in log and "--memory 32M" in log
    # the console reaches the guest's UART through the daemon
    assert "xyzzy" in console_roundtrip(d, "idle", "xyzzy")
    assert d.ok("suspend", "idle") == "Domain 'idle' suspended\n\n"
    assert d.state("idle") == "paused (user)"
    d.ok("resume", "idle")
    assert d.state("idle") == "running (unpaused)"
    # ACPI power button: the guest powers itself off
    assert d.ok("shutdown", "idle") == "Domain 'idle' is being shutdown\n\n"
    d.wait_state("idle", "shut off (shutdown)", timeout=60)
    assert "exited with status 0; shutdown" in (d.logs / "domains" / "idle.log").read_text()
    # crash detection: kill -9 the VM
    d.ok("start", "idle")
    pid = json.loads(d.ok("dominfo", "idle", "--json"))["pid"]
    os.kill(pid, signal.SIGKILL)
    d.wait_state("idle", "shut off (crashed)", timeout=30)
    # destroy
    d.ok("start", "idle")
    assert d.ok("destroy", "idle") == "Domain 'idle' destroyed\n\n"
    assert d.state("idle") == "shut off (destroyed)"


@needs_kvm
@needs_tool("as")
def test_kvm_daemon_restart_adopts(kvm_daemon, idle_guest):
    d = kvm_daemon
    d.define(guest_xml("stay", idle_guest))
    d.ok("start", "stay")
    pid = json.loads(d.ok("dominfo", "stay", "--json"))["pid"]
    d.stop()
    os.kill(pid, 0)
    d.start()
    info = json.loads(d.ok("dominfo", "stay", "--json"))
    assert info["state"] == "running" and info["pid"] == pid
    # control and console work on the adopted VM
    assert "plugh" in console_roundtrip(d, "stay", "plugh")
    d.ok("shutdown", "stay")
    d.wait_state("stay", "shut off (shutdown)", timeout=60)


@needs_kvm
@needs_tool("as")
def test_kvm_guest_with_disk_and_libvirt_devices(kvm_daemon, idle_guest):
    """A disk image reaches virtkit-vm as --disk; the <memballoon>/<rng> that
    libvirt writes into every definition never stop a start (left out, with a
    note in the domain log, when this virtkit-vm lacks them)."""
    d = kvm_daemon
    img = d.root / "data.img"
    img.write_bytes(b"\0" * (1 << 20))
    xml = guest_xml("withdisk", idle_guest).replace(
        "<devices>",
        f"<devices><disk type='file' device='disk'><driver name='qemu' type='raw' cache='none'/>"
        f"<source file='{img}'/><target dev='vda' bus='virtio'/><serial>DATA1</serial></disk>"
        f"<memballoon model='virtio'/><rng model='virtio'><backend model='random'>/dev/urandom"
        f"</backend></rng>")
    d.define(xml)
    d.ok("start", "withdisk")
    assert d.state("withdisk") == "running (booted)"
    log = (d.logs / "domains" / "withdisk.log").read_text()
    assert f"--disk path={img},format=raw,cache=none,serial=DATA1" in log
    help_text = run([binary("virtkit-vm"), "--help"])
    for dev in ("virtio-rng", "virtio-balloon"):
        if dev in help_text.stdout + help_text.stderr:
            assert f"--device {dev}" in log
        else:
            assert f"has no {dev} device: left out" in log
    lst = d.ok("domblklist", "withdisk")
    assert f" vda      {img}" in lst
    d.ok("destroy", "withdisk")


@needs_kvm
@needs_tool("as")
def test_kvm_setmem_live_balloon(kvm_daemon, idle_guest):
    """setmem --live on a real running guest: QMP `balloon` reaches
    virtkit-vm's virtio-balloon and query-balloon answers. The idle guest has
    no balloon driver, so it never hands pages over: `actual` stays at the
    full RAM (what a driverless guest shows) while the target is accepted."""
    d = kvm_daemon
    xml = guest_xml("bal", idle_guest).replace(
        "<devices>",
        "<devices><memballoon model='virtio'/>"
        "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
    d.define(xml)
    d.ok("start", "bal")
    assert d.state("bal") == "running (booted)"
    log = (d.logs / "domains" / "bal.log").read_text()
    assert "--device virtio-rng" in log and "--device virtio-balloon" in log
    assert "Used memory:    32768 KiB" in d.ok("dominfo", "bal")
    assert d.ok("setmem", "bal", "16M", "--live") == "\n"
    assert "<currentMemory unit='KiB'>16384</currentMemory>" in d.ok("dumpxml", "bal")
    st = d.ok("dommemstat", "bal").splitlines()
    assert st[0] == "actual 32768"          # no guest driver: nothing ballooned
    assert st[1].startswith("rss ") and int(st[1].split()[1]) > 0
    assert "Used memory:    32768 KiB" in d.ok("dominfo", "bal")
    r = d.virtkit("setmem", "bal", "64M", "--live")
    assert r.returncode == 1 and "cannot set memory higher than max memory" in r.stderr
    # the guest is unaffected: still answering on its console
    assert "xyzzy" in console_roundtrip(d, "bal", "xyzzy")
    d.ok("destroy", "bal")
    # without a balloon device: libvirt's message
    d.define(guest_xml("nobal", idle_guest))
    d.ok("start", "nobal")
    r = d.virtkit("setmem", "nobal", "16M")
    assert r.returncode == 1 and "without the balloon device and guest OS balloon driver" in r.stderr
    assert d.ok("dommemstat", "nobal").startswith("rss ")
    d.ok("destroy", "nobal")
