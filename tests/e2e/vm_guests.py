"""Tiny Multiboot guests for the virtkit-vm e2e tests, assembled at test time
with binutils (as --32, ld -m elf_i386). Each exits through isa-debug-exit."""
import pathlib
import subprocess

COMMON = r"""
.set MB_MAGIC, 0x1BADB002
.set MB_FLAGS, 0x00000003
.section .text
.globl _start
.align 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
putc:                       # %al -> COM1 (waits for THR empty)
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
puts:                       # %eax = NUL-terminated string
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
exit:                       # %eax = code -> port 0xf4
    mov $0xf4, %dx
    out %eax, %dx
    cli
4:  hlt
    jmp 4b
.section .bss
.align 16
stack: .space 8192
stack_top:
.section .text
"""

# Prints the command line, each module's string and contents, a line sent
# with one `rep outsb` (string I/O), then exits with v = 42 (status 85).
MBINFO = COMMON + r"""
_start:
    mov $stack_top, %esp
    mov %ebx, %esi
    mov $msg_cmd, %eax
    call puts
    mov 16(%esi), %eax
    call puts
    mov $'\n', %al
    call putc
    mov 20(%esi), %ecx
    mov 24(%esi), %edi
5:  test %ecx, %ecx
    jz 8f
    push %ecx
    mov $msg_mod, %eax
    call puts
    mov 8(%edi), %eax
    call puts
    mov $'=', %al
    call putc
    mov (%edi), %ebx
    mov 4(%edi), %edx
6:  cmp %edx, %ebx
    jae 7f
    movb (%ebx), %al
    call putc
    inc %ebx
    jmp 6b
7:  mov $'\n', %al
    call putc
    add $16, %edi
    pop %ecx
    dec %ecx
    jmp 5b
8:  mov $msg_str, %esi
    mov $msg_str_len, %ecx
    mov $0x3f8, %dx
    cld
    rep outsb
    mov $42, %eax
    call exit
.section .rodata
msg_cmd: .asciz "cmdline="
msg_mod: .asciz "module="
msg_str: .ascii "string-io-ok\n"
.set msg_str_len, . - msg_str
"""

# Prints READY, then echoes serial input until it sees 'q'; exits v = 0.
ECHO = COMMON + r"""
_start:
    mov $stack_top, %esp
    mov $msg_ready, %eax
    call puts
9:  mov $0x3fd, %dx
    in %dx, %al
    test $1, %al
    jz 9b
    mov $0x3f8, %dx
    in %dx, %al
    call putc
    cmp $'q', %al
    jne 9b
    mov $'\n', %al
    call putc
    xor %eax, %eax
    call exit
.section .rodata
msg_ready: .asciz "READY\n"
"""


def build(src, outdir, name):
    outdir = pathlib.Path(outdir)
    s, o, elf = outdir / f"{name}.S", outdir / f"{name}.o", outdir / f"{name}.elf"
    s.write_text(src)
    subprocess.run(["as", "--32", "-o", str(o), str(s)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0x100000", "-e", "_start", "-o", str(elf),
                    str(o)], check=True)
    return str(elf)


# A kernel for the Linux boot protocol's 64-bit entry: prints what the zero
# page (RSI) says (command line, e820 count, initrd contents) using only
# RIP-relative addressing, then exits with v = 21 (status 43).
LINUX64 = r"""
.code64
.section .text
.globl _start
_start:
    mov $0x80000, %rsp              # the protocol gives no stack: use low RAM
    mov %rsi, %r15                  # zero page
    lea msg_hello(%rip), %rax
    call puts
    mov 0x228(%r15), %eax           # cmd_line_ptr
    call puts
    mov $'\n', %al
    call putc
    lea msg_e820(%rip), %rax
    call puts
    movzbl 0x1e8(%r15), %eax        # e820_entries, one digit
    add $'0', %al
    call putc
    mov $'\n', %al
    call putc
    lea msg_initrd(%rip), %rax
    call puts
    mov 0x218(%r15), %ebx           # ramdisk_image
    mov 0x21c(%r15), %ecx           # ramdisk_size
1:  test %rcx, %rcx
    jz 2f
    movb (%rbx), %al
    call putc
    inc %rbx
    dec %rcx
    jmp 1b
2:  mov $'\n', %al
    call putc
    mov %cr4, %rax                  # PAE must be on in long mode
    test $0x20, %al
    jz 3f
    mov $21, %eax
    mov $0xf4, %dx
    out %eax, %dx
3:  hlt
    jmp 3b
putc:
    push %rdx
    mov $0x3f8, %dx
    out %al, %dx
    pop %rdx
    ret
puts:
    push %rbx
    mov %rax, %rbx
4:  movb (%rbx), %al
    test %al, %al
    jz 5f
    call putc
    inc %rbx
    jmp 4b
5:  pop %rbx
    ret
msg_hello:  .asciz "linux64 cmdline="
msg_e820:   .asciz "e820="
msg_initrd: .asciz "initrd="
"""


def build_linux64(outdir):
    """Returns (bzImage path, vmlinux path) with the same 64-bit code."""
    import struct
    outdir = pathlib.Path(outdir)
    s, o = outdir / "linux64.S", outdir / "linux64.o"
    s.write_text(LINUX64)
    subprocess.run(["as", "--64", "-o", str(o), str(s)], check=True)
    # bzImage: boot sector + 1 setup sector, then 0x200 bytes before startup_64
    flat_elf, flat = outdir / "linux64.flat.elf", outdir / "linux64.bin"
    subprocess.run(["ld", "-m", "elf_x86_64", "-Ttext=0x1000200", "-e", "_start", "-o",
                    str(flat_elf), str(o)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(flat_elf), str(flat)], check=True)
    code = flat.read_bytes()
    setup = bytearray(2 * 512)
    setup[0x1f1] = 1                                       # setup_sects
    struct.pack_into("<H", setup, 0x1fe, 0xAA55)
    setup[0x200], setup[0x201] = 0xEB, 0x66                # jump over the header
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)           # protocol 2.15
    setup[0x211] = 0x01                                    # LOADED_HIGH
    struct.pack_into("<I", setup, 0x214, 0x100000)
    struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)       # initrd_addr_max
    struct.pack_into("<I", setup, 0x230, 0x200000)         # kernel_alignment
    setup[0x234] = 1                                       # relocatable
    struct.pack_into("<H", setup, 0x236, 0x0001)           # XLF_KERNEL_64
    struct.pack_into("<I", setup, 0x238, 2048)             # cmdline_size
    struct.pack_into("<Q", setup, 0x258, 0x1000000)        # pref_address
    struct.pack_into("<I", setup, 0x260, 0x100000)         # init_size
    body = bytes(0x200) + code
    bz = outdir / "bzImage"
    bz.write_bytes(bytes(setup) + body)
    # vmlinux: the same code linked high, loaded at its physical address
    lds = outdir / "vmlinux.lds"
    lds.write_text("SECTIONS { . = 0xffffffff81000000; .text : AT(0x1000000) { *(.text) } }\n")
    vmlinux = outdir / "vmlinux"
    subprocess.run(["ld", "-m", "elf_x86_64", "-T", str(lds), "-e", "_start", "-o", str(vmlinux),
                    str(o)], check=True)
    return str(bz), str(vmlinux)


# Counts its boots in CMOS NVRAM byte 0x50 (which survives a reset) and
# resets three ways: i8042 command 0xFE, port 0x92 bit 0, a triple fault;
# on the 4th boot prints the count and exits with v = 4 (status 9).
RESET = COMMON + r"""
_start:
    mov $stack_top, %esp
    mov $0x50, %al
    out %al, $0x70
    in $0x71, %al
    inc %al
    mov %al, %bl
    mov $0x50, %al
    out %al, $0x70
    mov %bl, %al
    out %al, $0x71
    mov $msg_boot, %eax
    call puts
    mov %bl, %al
    add $'0', %al
    call putc
    mov $'\n', %al
    call putc
    cmp $1, %bl
    je kbd_reset
    cmp $2, %bl
    je p92_reset
    cmp $3, %bl
    je triple
    movzbl %bl, %eax
    call exit
kbd_reset:
    mov $0xfe, %al
    out %al, $0x64
    jmp .
p92_reset:
    in $0x92, %al
    or $1, %al
    out %al, $0x92
    jmp .
triple:
    lidt null_idt
    ud2
    jmp .
.section .rodata
.align 8
null_idt: .word 0
          .long 0
msg_boot: .asciz "boot "
"""


# Prints CPUID facts as "max=<leaf 0 EAX> l1c=<leaf 1 ECX> l1b=<leaf 1 EBX>
# l7b=<leaf 7 EBX>" in hex, then exits with v = 0.
CPUID = COMMON + r"""
_start:
    mov $stack_top, %esp
    xor %eax, %eax
    cpuid
    mov %eax, %edi
    mov $msg_max, %eax
    call puts
    mov %edi, %eax
    call puthex
    mov $1, %eax
    cpuid
    mov %ebx, %esi
    mov %ecx, %ebp
    mov $msg_l1c, %eax
    call puts
    mov %ebp, %eax
    call puthex
    mov $msg_l1b, %eax
    call puts
    mov %esi, %eax
    call puthex
    xor %ebx, %ebx
    cmp $7, %edi
    jb 1f
    mov $7, %eax
    xor %ecx, %ecx
    cpuid
1:  mov $msg_l7b, %eax
    call puts
    mov %ebx, %eax
    call puthex
    mov $'\n', %al
    call putc
    xor %eax, %eax
    call exit
puthex:                     # %eax as 8 hex digits
    push %ecx
    push %ebx
    mov %eax, %ebx
    mov $8, %ecx
2:  rol $4, %ebx
    mov %bl, %al
    and $0xf, %al
    add $'0', %al
    cmp $'9', %al
    jbe 3f
    add $7, %al
3:  call putc
    dec %ecx
    jnz 2b
    pop %ebx
    pop %ecx
    ret
.section .rodata
msg_max: .asciz "max="
msg_l1c: .asciz " l1c="
msg_l1b: .asciz " l1b="
msg_l7b: .asciz " l7b="
"""



def require_accel(vm, accel):
    """Skip (with the reason) when `accel` cannot run here: kvm needs
    /dev/kvm, tcg needs the software CPU built into virtkit-vm."""
    import pytest
    from conftest import kvm_usable
    if accel == "kvm" and not kvm_usable():
        pytest.skip("SKIP: /dev/kvm is not usable on this host")
    if accel == "tcg":
        r = subprocess.run([vm, "--accel", "tcg", "--kernel", "/nonexistent", "--serial", "null"],
                           capture_output=True, text=True, timeout=30)
        if "not built in" in r.stderr:
            pytest.skip("SKIP: the software CPU is not built into virtkit-vm")
