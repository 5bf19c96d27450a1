/* The IOAPIC (82093AA register model, version 0x20) at 0xfec00000: 24
 * pins, each with a 64-bit redirection entry. Level-triggered pins set
 * Remote IRR on delivery and clear it on the local APIC's EOI broadcast
 * (or a write to the EOI register); a pin still asserted then delivers
 * again. Edge-triggered pins deliver on the rising edge if unmasked (an
 * edge on a masked pin is lost, as on hardware). Pin polarity is not
 * modelled: `level` is "asserted" whatever the guest programs. */
#include "irqchip_int.h"

#define IOAPIC_VERSION  0x20
#define RTE_VECTOR      0xffULL
#define RTE_DM_SHIFT    8
#define RTE_LOGICAL     (1ULL << 11)
#define RTE_STATUS      (1ULL << 12)
#define RTE_REMOTE_IRR  (1ULL << 14)
#define RTE_LEVEL       (1ULL << 15)
#define RTE_MASKED      (1ULL << 16)
#define RTE_RO_BITS     (RTE_STATUS | RTE_REMOTE_IRR)

#define IOREGSEL 0x00
#define IOWIN    0x10
#define IOEOI    0x40

void ioapic_reset(struct irqchip *ic)
{
    struct ioapic *io = &ic->ioapic;
    io->id = 0;
    io->sel = 0;
    for (unsigned i = 0; i < IRQCHIP_IOAPIC_PINS; i++)
        io->redir[i] = RTE_MASKED;
}

static void ioapic_service(struct irqchip *ic, unsigned pin)
{
    struct ioapic *io = &ic->ioapic;
    uint64_t e = io->redir[pin];
    if (e & RTE_MASKED)
        return;
    bool level = e & RTE_LEVEL;
    if (level) {
        if (!(io->lines & (1u << pin)) || (e & RTE_REMOTE_IRR))
            return;
        io->redir[pin] |= RTE_REMOTE_IRR;
    }
    apic_bus_deliver(ic, (uint32_t)(e >> 56), e & RTE_LOGICAL, (e >> RTE_DM_SHIFT) & 7,
                     (uint8_t)(e & RTE_VECTOR), level);
}

void ioapic_set_irq(struct irqchip *ic, unsigned pin, int level)
{
    struct ioapic *io = &ic->ioapic;
    if (pin >= IRQCHIP_IOAPIC_PINS)
        return;
    uint32_t bit = 1u << pin;
    bool was = io->lines & bit;
    if (level)
        io->lines |= bit;
    else
        io->lines &= ~bit;
    if (!level)
        return;
    if (io->redir[pin] & RTE_LEVEL)
        ioapic_service(ic, pin);
    else if (!was)
        ioapic_service(ic, pin);
}

void ioapic_eoi(struct irqchip *ic, uint8_t vector)
{
    struct ioapic *io = &ic->ioapic;
    for (unsigned pin = 0; pin < IRQCHIP_IOAPIC_PINS; pin++) {
        uint64_t e = io->redir[pin];
        if ((e & RTE_VECTOR) != vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR))
            continue;
        io->redir[pin] &= ~RTE_REMOTE_IRR;
        ioapic_service(ic, pin);
    }
}

bool ioapic_pin_pending(struct irqchip *ic, unsigned pin)
{
    uint64_t e = ic->ioapic.redir[pin % IRQCHIP_IOAPIC_PINS];
    if (e & RTE_MASKED)
        return false;
    unsigned v = e & RTE_VECTOR;
    for (unsigned i = 0; i < ic->ncpus; i++)
        if (ic->lapics[i].irr[v >> 5] & (1u << (v & 31)))
            return true;
    return false;
}

static uint32_t ioapic_reg_read(struct ioapic *io)
{
    switch (io->sel) {
    case 0x00: return io->id << 24;
    case 0x01: return IOAPIC_VERSION | (IRQCHIP_IOAPIC_PINS - 1) << 16;
    case 0x02: return io->id << 24;
    default:
        if (io->sel >= 0x10 && io->sel < 0x10 + 2 * IRQCHIP_IOAPIC_PINS) {
            uint64_t e = io->redir[(io->sel - 0x10) / 2];
            return (io->sel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
        }
        return 0;
    }
}

static void ioapic_reg_write(struct irqchip *ic, uint32_t v)
{
    struct ioapic *io = &ic->ioapic;
    if (io->sel == 0x00) {
        io->id = (v >> 24) & 0xf;
        return;
    }
    if (io->sel < 0x10 || io->sel >= 0x10 + 2 * IRQCHIP_IOAPIC_PINS)
        return;
    unsigned pin = (io->sel - 0x10) / 2;
    uint64_t e = io->redir[pin];
    if (io->sel & 1) {
        e = (e & 0xffffffffULL) | (uint64_t)v << 32;
    } else {
        e = (e & ~0xffffffffULL) | (e & RTE_RO_BITS) | (v & ~(uint32_t)RTE_RO_BITS);
        /* Switching a pin to edge clears a stale Remote IRR (Linux relies on
         * this to recover a pin whose EOI was lost). */
        if (!(e & RTE_LEVEL))
            e &= ~RTE_REMOTE_IRR;
    }
    io->redir[pin] = e;
    if ((e & RTE_LEVEL) && !(e & RTE_MASKED))
        ioapic_service(ic, pin);
}

uint32_t ioapic_mmio_read(struct irqchip *ic, uint64_t offset)
{
    struct ioapic *io = &ic->ioapic;
    switch (offset) {
    case IOREGSEL: return io->sel;
    case IOWIN:    return ioapic_reg_read(io);
    default:       return 0;
    }
}

void ioapic_mmio_write(struct irqchip *ic, uint64_t offset, uint32_t v)
{
    struct ioapic *io = &ic->ioapic;
    switch (offset) {
    case IOREGSEL: io->sel = (uint8_t)v; break;
    case IOWIN:    ioapic_reg_write(ic, v); break;
    case IOEOI:    ioapic_eoi(ic, (uint8_t)v); break;
    default:       break;
    }
}
