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
