/* 16550A UART (COM1-COM4), with a 16-byte receive FIFO and a transmitter
 * that sends each byte to the backend at once (so THR is always empty
 * again by the time the guest looks).
 *
 * Interrupts follow the 16550A data sheet: IIR reports the highest-priority
 * pending source (line status > received data > THR empty > modem status);
 * the THRE interrupt is raised when THR becomes empty or ETBEI is enabled
 * while it is empty, and cleared by reading IIR (when IIR reported it) or
 * writing THR. The IRQ line follows "an interrupt is pending" (the ISA line
 * is edge-detected by the PIC). MCR loopback mode works, since Linux's 8250
 * driver probes the UART with it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../machine.h"
#include "chardev.h"

enum { RX_FIFO = 16 };

#define IER_ERBFI 0x01  /* received data available */
#define IER_ETBEI 0x02  /* THR empty */
#define IER_ELSI  0x04  /* line status */
#define IER_EDSSI 0x08  /* modem status */
#define IIR_NONE  0x01
#define IIR_RLS   0x06
#define IIR_RDA   0x04
#define IIR_THRE  0x02
#define IIR_MSI   0x00
#define LCR_DLAB  0x80
#define LSR_DR    0x01
#define LSR_OE    0x02
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define MCR_LOOP  0x10

struct ns16550 {
    struct machine *m;
    struct chardev *chr;
    pthread_mutex_t lock;
    unsigned irq;
    int irq_level;
    uint8_t rx[RX_FIFO];
    unsigned rx_head, rx_count;
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
    bool thre_pending;          /* THRE interrupt latched */
    uint8_t msr_delta;          /* MSR bits 0-3 */
};

static uint8_t iir_locked(const struct ns16550 *s)
{
    uint8_t fifo = (s->fcr & 1) ? 0xc0 : 0;
    if ((s->ier & IER_ELSI) && (s->lsr & LSR_OE))
        return IIR_RLS | fifo;
    if ((s->ier & IER_ERBFI) && s->rx_count)
        return IIR_RDA | fifo;
    if ((s->ier & IER_ETBEI) && s->thre_pending)
        return IIR_THRE | fifo;
    if ((s->ier & IER_EDSSI) && s->msr_delta)
        return IIR_MSI | fifo;
    return IIR_NONE | fifo;
}

static void update_irq_locked(struct ns16550 *s)
{
    int level = !(iir_locked(s) & IIR_NONE);
    if (level != s->irq_level) {
        s->irq_level = level;
        machine_set_irq(s->m, s->irq, level);
    }
}

static uint8_t modem_status(const struct ns16550 *s)
{
    if (s->mcr & MCR_LOOP) {
        /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
        return (uint8_t)(((s->mcr & 1) << 5) | ((s->mcr & 2) << 3) |
                         ((s->mcr & 4) << 4) | ((s->mcr & 8) << 4)) | s->msr_delta;
    }
    return 0xb0 | s->msr_delta;  /* DCD, DSR, CTS: a peer is always there */
}

static void rx_push_locked(struct ns16550 *s, uint8_t b)
{
    if (s->rx_count == RX_FIFO) {
        s->lsr |= LSR_OE;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % RX_FIFO] = b;
    s->rx_count++;
    s->lsr |= LSR_DR;
}

static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
    struct ns16550 *s = opaque;
    uint8_t v = 0;
    bool room = false;
    pthread_mutex_lock(&s->lock);
    switch (off) {
    case 0:
        if (s->lcr & LCR_DLAB) {
            v = s->dll;
            break;
        }
        if (s->rx_count) {
            v = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % RX_FIFO;
            s->rx_count--;
            room = true;
        }
        if (!s->rx_count)
            s->lsr &= (uint8_t)~LSR_DR;
        break;
    case 1:
        v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
        break;
    case 2:
        v = iir_locked(s);
        if ((v & 0x0f) == IIR_THRE)
            s->thre_pending = false;
        break;
    case 3: v = s->lcr; break;
    case 4: v = s->mcr; break;
    case 5:
        v = s->lsr;
        s->lsr &= (uint8_t)~LSR_OE;  /* reading LSR clears error bits */
        break;
    case 6:
        v = modem_status(s);
        s->msr_delta = 0;
        break;
    case 7: v = s->scr; break;
    }
    update_irq_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (room && !(s->mcr & MCR_LOOP))
        chardev_accept_input(s->chr);
    return v;
}

static void uart_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct ns16550 *s = opaque;
    uint8_t v = (uint8_t)value;
    bool send = false;
    pthread_mutex_lock(&s->lock);
    switch (off) {
    case 0:
        if (s->lcr & LCR_DLAB) {
            s->dll = v;
            break;
        }
        if (s->mcr & MCR_LOOP)
            rx_push_locked(s, v);
        else
            send = true;
        s->thre_pending = true;  /* sent at once: THR is empty again */
        break;
    case 1:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
            break;
        }
        /* Enabling ETBEI while THR is empty raises THRE at once. */
        if (!(s->ier & IER_ETBEI) && (v & IER_ETBEI))
            s->thre_pending = true;
        s->ier = v & 0x0f;
        break;
    case 2:
        if (v & 0x02) {
            s->rx_head = s->rx_count = 0;
            s->lsr &= (uint8_t)~LSR_DR;
        }
        s->fcr = v & 0xc9;
        break;
    case 3: s->lcr = v; break;
    case 4: {
        uint8_t old = modem_status(s);
        s->mcr = v & 0x1f;
        uint8_t now = modem_status(s);
        /* Delta bits for CTS/DSR/DCD and trailing-edge RI. */
        uint8_t changed = (old ^ now) & 0xb0;
        s->msr_delta |= (uint8_t)(changed >> 4);
        if ((old & 0x40) && !(now & 0x40))
            s->msr_delta |= 0x04;
        break;
    }
    case 5: break;  /* LSR is read-only */
    case 6: break;
    case 7: s->scr = v; break;
    }
    update_irq_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (send)
        chardev_write(s->chr, &v, 1);
}

static const struct bus_ops uart_ops = { .read = uart_read, .write = uart_write };

static size_t uart_can_receive(void *opaque)
{
    struct ns16550 *s = opaque;
    pthread_mutex_lock(&s->lock);
    size_t n = (s->mcr & MCR_LOOP) ? 0 : RX_FIFO - s->rx_count;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void uart_receive(void *opaque, const unsigned char *buf, size_t len)
{
    struct ns16550 *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < len; i++)
        rx_push_locked(s, buf[i]);
    update_irq_locked(s);
    pthread_mutex_unlock(&s->lock);
}

static const struct chardev_frontend uart_frontend = {
    .can_receive = uart_can_receive, .receive = uart_receive,
};

static void uart_reset(void *opaque)
{
    struct ns16550 *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->ier = s->lcr = s->mcr = s->scr = s->fcr = s->msr_delta = 0;
    s->dll = 0x0c;  /* 9600 baud */
    s->dlm = 0;
    s->lsr = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
    s->thre_pending = false;
    update_irq_locked(s);
    pthread_mutex_unlock(&s->lock);
}

static void uart_destroy(void *opaque)
{
    struct ns16550 *s = opaque;
    if (s->chr)
        chardev_close(s->chr);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int uart_init(struct machine *m, const struct device_config *cfg, void **state,
                     struct vk_err *err)
{
    struct ns16550 *s = calloc(1, sizeof(*s));
    if (!s)
        return vk_err_set(err, -ENOMEM, "out of memory");
    s->m = m;
    s->irq = cfg->irq;
    pthread_mutex_init(&s->lock, NULL);
    char label[16];
    snprintf(label, sizeof(label), "serial%u", cfg->index);
    int rc = chardev_open(cfg->args ? cfg->args : "null", label, &s->chr, err);
    if (rc < 0) {
        vk_err_prefix(err, "--serial %s", cfg->args ? cfg->args : "null");
        uart_destroy(s);
        return rc;
    }
    uart_reset(s);
    rc = bus_register(&m->pio, cfg->base, 8, &uart_ops, s, label, err);
    if (rc == 0)
        rc = chardev_attach(s->chr, &uart_frontend, s, err);
    if (rc < 0) {
        bus_unregister(&m->pio, cfg->base, s);
        uart_destroy(s);
        return rc;
    }
    if (m->nr_chardevs < VK_ARRAY_SIZE(m->chardevs))
        m->chardevs[m->nr_chardevs++] = s->chr;
    *state = s;
    return 0;
}

const struct device_ops ns16550_ops = {
    .name = "ns16550",
    .init = uart_init,
    .reset = uart_reset,
    .destroy = uart_destroy,
};
