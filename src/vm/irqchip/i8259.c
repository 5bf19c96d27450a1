/* The master/slave 8259A pair (ports 0x20/0x21, 0xa0/0xa1) and the ELCR
 * (0x4d0/0x4d1), as wired on a PC: the slave's INT feeds master input 2 and
 * the master's INT feeds LINT0 of the local APICs.
 *
 * Supported: ICW1-4 (edge/level, single/cascade, AEOI, special fully nested),
 * OCW1 (mask), OCW2 (non-specific/specific EOI, rotations, set priority),
 * OCW3 (IRR/ISR read, poll, special mask). Buffered mode and 8080 mode are
 * accepted and ignored. */
#include "irqchip_int.h"

#include <string.h>

/* Lowest priority number (0 = highest) among set bits, 8 if none. */
static int priority_of(const struct pic8259 *s, uint8_t mask)
{
    for (int p = 0; p < 8; p++)
        if (mask & (1u << ((p + s->prio_add) & 7)))
            return p;
    return 8;
}

/* The IR input this chip would signal now, or -1. */
static int pic_get_irq(const struct pic8259 *s, bool master)
{
    int p = priority_of(s, s->irr & ~s->imr);
    if (p == 8)
        return -1;
    uint8_t in_service = s->isr;
    if (s->special_mask)
        in_service &= ~s->imr;
    if (master && s->sfnm)
        in_service &= ~(1u << 2);   /* the slave may nest over itself */
    if (p < priority_of(s, in_service))
        return (p + s->prio_add) & 7;
    return -1;
}

static void pic_update(struct irqchip *ic)
{
    struct pic8259 *m = &ic->pic[0], *sl = &ic->pic[1];
    if (pic_get_irq(sl, false) >= 0)
        m->irr |= 1u << 2;
    else
        m->irr &= ~(1u << 2);
    bool out = pic_get_irq(m, true) >= 0;
    if (out != m->int_out) {
        m->int_out = out;
        lapic_extint_changed(ic);
    }
}

bool pic_output(struct irqchip *ic)
{
    return ic->pic[0].int_out;
}

bool pic_irq_pending(struct irqchip *ic, unsigned irq)
{
    const struct pic8259 *s = &ic->pic[(irq >> 3) & 1];
    return (s->irr & ~s->imr) & (1u << (irq & 7));
}

static void chip_init_reset(struct pic8259 *s)
{
    s->isr = s->imr = 0;
    s->irr = s->lines & s->elcr;     /* edges must be seen anew */
    s->prio_add = 0;
    s->special_mask = s->read_isr = s->poll = false;
    s->auto_eoi = s->rotate_aeoi = s->sfnm = false;
}

void pic_reset(struct irqchip *ic)
{
    for (unsigned i = 0; i < 2; i++) {
        struct pic8259 *s = &ic->pic[i];
        uint8_t lines = s->lines;
        memset(s, 0, sizeof(*s));
        s->lines = lines;
        s->elcr_mask = i == 0 ? 0xf8 : 0xde;
        chip_init_reset(s);
    }
    pic_update(ic);
}

void pic_set_irq(struct irqchip *ic, unsigned irq, int level)
{
    if (irq >= 16)
        return;
    struct pic8259 *s = &ic->pic[irq >> 3];
    uint8_t bit = 1u << (irq & 7);
    if ((s->elcr & bit) || s->ltim) {
        if (level)
            s->irr |= bit;
        else
            s->irr &= ~bit;
    } else if (level && !(s->lines & bit)) {
        s->irr |= bit;
    }
    if (level)
        s->lines |= bit;
    else
        s->lines &= ~bit;
    pic_update(ic);
}

static void chip_ack(struct pic8259 *s, int irq)
{
    uint8_t bit = 1u << irq;
    if (s->auto_eoi) {
        if (s->rotate_aeoi)
            s->prio_add = (irq + 1) & 7;
    } else {
        s->isr |= bit;
    }
    if (!(s->elcr & bit) && !s->ltim)
        s->irr &= ~bit;
}

int pic_intack(struct irqchip *ic)
{
    struct pic8259 *m = &ic->pic[0], *sl = &ic->pic[1];
    int vector;
    int irq = pic_get_irq(m, true);
    if (irq < 0) {
        vector = m->base + 7;           /* spurious IRQ7 */
    } else {
        chip_ack(m, irq);
        if (irq == 2) {
            int irq2 = pic_get_irq(sl, false);
            if (irq2 < 0) {
                vector = sl->base + 7;  /* spurious IRQ15 */
            } else {
                chip_ack(sl, irq2);
                vector = sl->base + irq2;
            }
        } else {
            vector = m->base + irq;
        }
    }
    pic_update(ic);
    return vector;
}

static uint8_t pic_poll_read(struct irqchip *ic, unsigned chip)
{
    struct pic8259 *s = &ic->pic[chip];
    int irq = pic_get_irq(s, chip == 0);
    if (irq < 0)
        return 0;
    chip_ack(s, irq);
    pic_update(ic);
    return 0x80 | irq;
}

uint64_t pic_io_read(struct irqchip *ic, unsigned chip, unsigned port)
{
    struct pic8259 *s = &ic->pic[chip];
    if (s->poll) {
        s->poll = false;
        return pic_poll_read(ic, chip);
    }
    if (port == 0)
        return s->read_isr ? s->isr : s->irr;
    return s->imr;
}

static void pic_ocw2(struct pic8259 *s, uint8_t v)
{
    unsigned cmd = v >> 5;
    int irq;
    switch (cmd) {
    case 0: s->rotate_aeoi = false; break;
    case 4: s->rotate_aeoi = true; break;
    case 1: case 5: {                       /* non-specific EOI (+rotate) */
        int p = priority_of(s, s->isr);
        if (p == 8)
            break;
        irq = (p + s->prio_add) & 7;
        s->isr &= ~(1u << irq);
        if (cmd == 5)
            s->prio_add = (irq + 1) & 7;
        break;
    }
    case 3:                                 /* specific EOI */
        s->isr &= ~(1u << (v & 7));
        break;
    case 7:                                 /* rotate on specific EOI */
        s->isr &= ~(1u << (v & 7));
        s->prio_add = ((v & 7) + 1) & 7;
        break;
    case 6:                                 /* set priority: v&7 lowest */
        s->prio_add = ((v & 7) + 1) & 7;
        break;
    default:
        break;
    }
}

void pic_io_write(struct irqchip *ic, unsigned chip, unsigned port, uint8_t v)
{
    struct pic8259 *s = &ic->pic[chip];
    if (port == 0) {
        if (v & 0x10) {                     /* ICW1 */
            chip_init_reset(s);
            s->ltim = v & 0x08;
            s->single = v & 0x02;
            s->icw4_needed = v & 0x01;
            s->init_step = 2;
            if (s->ltim)
                s->irr = s->lines;
        } else if (v & 0x08) {              /* OCW3 */
            if (v & 0x04)
                s->poll = true;
            if (v & 0x02)
                s->read_isr = v & 0x01;
            if (v & 0x40)
                s->special_mask = (v >> 5) & 1;
        } else {
            pic_ocw2(s, v);
        }
    } else {
        switch (s->init_step) {
        case 0:
            s->imr = v;
            break;
        case 2:
            s->base = v & 0xf8;
            s->init_step = !s->single ? 3 : s->icw4_needed ? 4 : 0;
            break;
        case 3:                             /* ICW3: cascade wiring is fixed */
            s->init_step = s->icw4_needed ? 4 : 0;
            break;
        case 4:
            s->auto_eoi = v & 0x02;
            s->sfnm = v & 0x10;
            s->init_step = 0;
            break;
        }
    }
    pic_update(ic);
}

uint8_t pic_elcr_read(struct irqchip *ic, unsigned chip)
{
    return ic->pic[chip].elcr;
}

void pic_elcr_write(struct irqchip *ic, unsigned chip, uint8_t v)
{
    struct pic8259 *s = &ic->pic[chip];
    s->elcr = v & s->elcr_mask;
    /* Level inputs now follow their line; edge inputs keep what they latched. */
    s->irr = (s->irr & ~s->elcr) | (s->lines & s->elcr);
    pic_update(ic);
}
