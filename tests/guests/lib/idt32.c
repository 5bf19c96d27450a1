/* 32-bit IDT: every vector goes through entry32.S's stubs to isr_dispatch. */
#include "guest.h"

extern const uint32_t isr_table[256];
static uint64_t idt[256] __attribute__((aligned(8)));
static irq_handler handlers[256];

void idt_set_handler(unsigned vector, irq_handler h)
{
    if (vector < 256)
        handlers[vector] = h;
}

void idt_init(void)
{
    struct __attribute__((packed)) { uint16_t limit; uint32_t base; } desc;

    for (unsigned i = 0; i < 256; i++) {
        uint32_t off = isr_table[i];
        /* present, DPL 0, 32-bit interrupt gate, selector 0x08 */
        idt[i] = (uint64_t)(off & 0xffff) | ((uint64_t)0x08 << 16) |
                 ((uint64_t)0x8e00 << 32) | ((uint64_t)(off >> 16) << 48);
    }
    desc.limit = sizeof(idt) - 1;
    desc.base = (uint32_t)(uintptr_t)idt;
    __asm__ volatile("lidt %0" :: "m"(desc));
}

void isr_dispatch(unsigned vector);
void isr_dispatch(unsigned vector)
{
    if (vector < 256 && handlers[vector]) {
        handlers[vector](vector);
        return;
    }
    if (vector < 32)
        guest_fail("unexpected exception %u", vector);
    /* Spurious or unexpected interrupt: acknowledge and go on. */
    if (vector != 0xff)
        lapic_eoi();
}
