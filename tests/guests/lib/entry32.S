/* Multiboot v1 entry for the 32-bit test guests: header, GDT, stack, the
 * interrupt stubs and the real-mode trampoline application processors start
 * in (copied to AP_TRAMPOLINE by smp code; SIPI vector AP_TRAMPOLINE >> 12). */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003          /* page-aligned modules, memory info */
#define AP_TRAMPOLINE 0x8000

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text
    .code32
    .globl _start
_start:
    cli
    lgdt gdt_desc
    ljmp $0x08, $1f
1:  mov $0x10, %cx
    mov %cx, %ds
    mov %cx, %es
    mov %cx, %fs
    mov %cx, %gs
    mov %cx, %ss
    mov $stack_top, %esp
    xor %ecx, %ecx
    cmp $0x2BADB002, %eax
    jne 2f
    testl $4, (%ebx)                 /* MBI has a command line */
    jz 2f
    mov 16(%ebx), %ecx
2:  push %ecx
    call guest_start
3:  cli
    hlt
    jmp 3b

/* ---- application processors ------------------------------------------- */
    .globl ap_entry32
ap_entry32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    mov %ax, %ss
    mov $1, %eax
    lock xadd %eax, ap_next_stack
    inc %eax
    shl $12, %eax
    lea ap_stacks(%eax), %esp
    call ap_main
4:  cli
    hlt
    jmp 4b

    .code16
    .globl ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    lgdtl AP_TRAMPOLINE + (ap_gdt_desc - ap_trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $ap_entry32
    .align 4
ap_gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
ap_trampoline_end:
    .code32

/* ---- interrupt stubs: push a dummy error code where the CPU does not -- */
    .macro isr_stub vec
    .align 8
isr_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21)
    .else
    push $0
    .endif
    push $\vec
    jmp isr_common
    .endm

isr_common:
    pusha
    mov 32(%esp), %eax               /* vector */
    push %eax
    call isr_dispatch
    add $4, %esp
    popa
    add $8, %esp                     /* vector, error code */
    /* Return without IRET: the instruction emulator of PVM-based KVM hosts
     * cannot emulate a protected-mode IRET. Same privilege level only:
     * turn [eip, cs, eflags] into [eflags, eip], then popf; ret. An
     * interrupt taken between the two nests on the stack and is fine. */
    push %eax
    mov 4(%esp), %eax
    xchg %eax, 12(%esp)
    mov %eax, 8(%esp)
    pop %eax
    add $4, %esp
    popfl
    ret

    .altmacro
    .macro isr_entry vec
    .long isr_\vec
    .endm

    .set v, 0
    .rept 256
    isr_stub %v
    .set v, v + 1
    .endr

    .section .rodata
    .align 4
    .globl isr_table
isr_table:
    .set v, 0
    .rept 256
    isr_entry %v
    .set v, v + 1
    .endr

    .section .data
    .align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF         /* 0x08: code, flat 4 GiB */
    .quad 0x00CF92000000FFFF         /* 0x10: data, flat 4 GiB */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
ap_next_stack:
    .long 0

    .section .bss
    .align 4096
    .space 16384
stack_top:
    .globl ap_stacks
ap_stacks:
    .space 4096 * 17                 /* up to 16 APs, 4 KiB each */
