/* Entry of the 64-bit test guest started through the Linux boot protocol:
 * long mode, identity-mapped, RSI = the zero page (struct boot_params). */
    .section .text
    .code64
    .globl _start64
_start64:
    cli
    lea stack_top(%rip), %rsp
    mov %rsi, %rdi
    call linux_entry
1:  cli
    hlt
    jmp 1b

    .section .bss
    .align 4096
    .space 16384
stack_top:
