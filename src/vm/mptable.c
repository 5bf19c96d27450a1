/* Intel MultiProcessor Specification 1.4 tables, for guests that look for
 * "_MP_" instead of (or before) ACPI: the floating pointer at MPTABLE_FLOAT
 * and the configuration table after it, both in the reserved F-segment.
 *
 * The routing matches the ACPI tables: ISA IRQs to IOAPIC pins 1:1 except
 * IRQ0 -> pin 2, the SCI (IRQ 9) level/active-high, PCI slot S pin P to pin
 * 16 + ((S + P) mod 8); LINT0 ExtINT and LINT1 NMI on every CPU.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"
#include "mptable.h"
#include "acpi/acpi.h"
#include "devices/acpi_pm.h"

enum {
    MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINT = 3, MP_LOCALINT = 4,
    MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3,
    MP_BUS_ISA = 0, MP_BUS_PCI = 1,
};

struct mp_writer {
    uint8_t *buf;
    size_t len, cap;
    unsigned entries;
};

static void put(struct mp_writer *w, const void *p, size_t n)
{
    if (w->len + n <= w->cap)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put8(struct mp_writer *w, uint8_t v) { put(w, &v, 1); }
static void put16(struct mp_writer *w, uint16_t v) { v = htole16(v); put(w, &v, 2); }
static void put32(struct mp_writer *w, uint32_t v) { v = htole32(v); put(w, &v, 4); }

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return (uint8_t)-s;
}

static void irq_entry(struct mp_writer *w, uint8_t type, uint8_t kind, uint16_t flags,
                      uint8_t bus, uint8_t src, uint8_t dst_id, uint8_t dst_pin)
{
    put8(w, type);
    put8(w, kind);
    put16(w, flags);
    put8(w, bus);
    put8(w, src);
    put8(w, dst_id);
    put8(w, dst_pin);
    w->entries++;
}

long mptable_build(uint8_t *buf, size_t cap, uint32_t table_addr, unsigned ncpus, unsigned sci)
{
    struct mp_writer w = { .buf = buf, .cap = cap };
    const uint8_t ioapic_id = 0;       /* as in the MADT and the IOAPIC's ID register */

    if (!ncpus || ncpus > 255)
        return -EINVAL;
    /* Configuration table header; length, count and checksum patched below. */
    put(&w, "PCMP", 4);
    put16(&w, 0);
    put8(&w, 4);                        /* spec revision 1.4 */
    put8(&w, 0);
    put(&w, "VIRTKIT ", 8);
    put(&w, "PC          ", 12);
    put32(&w, 0);                       /* no OEM table */
    put16(&w, 0);
    put16(&w, 0);
    put32(&w, ACPI_LAPIC_ADDR);
    put16(&w, 0);                       /* no extended table */
    put8(&w, 0);
    put8(&w, 0);

    for (unsigned i = 0; i < ncpus; i++) {
        put8(&w, MP_PROCESSOR);
        put8(&w, (uint8_t)i);           /* local APIC ID */
        put8(&w, 0x14);                 /* local APIC version */
        put8(&w, (uint8_t)(0x01 | (i == 0 ? 0x02 : 0)));   /* enabled, BSP */
        put32(&w, 0x00000600);          /* family 6 */
        put32(&w, 0x00000201);          /* FPU, APIC */
        put32(&w, 0);
        put32(&w, 0);
        w.entries++;
    }
    put8(&w, MP_BUS); put8(&w, MP_BUS_PCI); put(&w, "PCI   ", 6); w.entries++;
    put8(&w, MP_BUS); put8(&w, MP_BUS_ISA); put(&w, "ISA   ", 6); w.entries++;
    put8(&w, MP_IOAPIC);
    put8(&w, ioapic_id);
    put8(&w, 0x11);                     /* IOAPIC version */
    put8(&w, 0x01);                     /* enabled */
    put32(&w, ACPI_IOAPIC_ADDR);
    w.entries++;

    irq_entry(&w, MP_IOINT, MP_EXTINT, 0, MP_BUS_ISA, 0, ioapic_id, 0);
    for (unsigned irq = 0; irq < 16; irq++) {
        uint16_t flags = 0;             /* conforms to the bus: edge, high */

        if (irq == 2)
            continue;                   /* the cascade */
        if (irq == sci)
            flags = 0x000d;             /* level, active-high */
        irq_entry(&w, MP_IOINT, MP_INT, flags, MP_BUS_ISA, (uint8_t)irq, ioapic_id,
                  (uint8_t)(irq == 0 ? 2 : irq));
    }
    for (unsigned slot = 1; slot < 32; slot++)
        for (unsigned pin = 0; pin < 4; pin++)
            irq_entry(&w, MP_IOINT, MP_INT, 0, MP_BUS_PCI, (uint8_t)((slot << 2) | pin),
                      ioapic_id, (uint8_t)(ACPI_PCI_GSI_BASE + ((slot + pin) & 7)));
    irq_entry(&w, MP_LOCALINT, MP_EXTINT, 0, MP_BUS_ISA, 0, 0xff, 0);
    irq_entry(&w, MP_LOCALINT, MP_NMI, 0, MP_BUS_ISA, 0, 0xff, 1);

    /* The floating pointer follows the table, 16-byte aligned. */
    size_t fp = VK_ALIGN_UP(w.len, (size_t)16);
    size_t table_len = w.len;
    while (w.len < fp)
        put8(&w, 0);
    put(&w, "_MP_", 4);
    put32(&w, table_addr);
    put8(&w, 1);                        /* length in 16-byte units */
    put8(&w, 4);                        /* revision 1.4 */
    put8(&w, 0);                        /* checksum */
    put8(&w, 0);                        /* feature 1: configuration table present */
    put8(&w, 0);                        /* feature 2: virtual wire mode */
    put8(&w, 0); put8(&w, 0); put8(&w, 0);
    if (w.len > cap)
        return -E2BIG;

    uint16_t v16 = htole16((uint16_t)table_len);
    memcpy(buf + 4, &v16, 2);
    v16 = htole16((uint16_t)w.entries);
    memcpy(buf + 34, &v16, 2);
    buf[7] = checksum(buf, table_len);
    buf[fp + 10] = checksum(buf + fp, 16);
    return (long)w.len;
}

int mptable_install(struct machine *m, struct vk_err *err)
{
    struct acpi_pm *pm = acpi_pm_find(m);
    unsigned ncpus = m->nr_vcpus ? m->nr_vcpus : 1;
    uint8_t *dst = machine_gpa_to_hva(m, MPTABLE_ADDR, MPTABLE_MAX);
    long n;

    if (!dst)
        return vk_err_set(err, -EFAULT, "mptable: 0x%x is not guest RAM", MPTABLE_ADDR);
    n = mptable_build(dst, MPTABLE_MAX, MPTABLE_ADDR, ncpus, pm ? acpi_pm_sci(pm) : 9);
    if (n < 0)
        return vk_err_set(err, (int)n, "mptable: %u CPUs do not fit", ncpus);
    return 0;
}

struct mptable_state {
    struct machine *m;
};

static int mptable_init(struct machine *m, const struct device_config *cfg, void **state,
                        struct vk_err *err)
{
    struct mptable_state *s;
    int r;

    if (m->cfg && m->cfg->firmware)
        return 0;                       /* firmware builds its own */
    r = mptable_install(m, err);
    if (r < 0)
        return r;
    s = calloc(1, sizeof(*s));
    if (!s)
        return vk_err_errno(err, -ENOMEM, "mptable");
    s->m = m;
    *state = s;
    return 0;
}

static void mptable_reset(void *state)
{
    struct mptable_state *s = state;
    struct vk_err err = {0};

    if (mptable_install(s->m, &err) < 0)
        vk_warn("%s", err.msg);
}

static void mptable_destroy(void *state)
{
    free(state);
}

const struct device_ops mptable_device = {
    .name = "mptable",
    .init = mptable_init,
    .reset = mptable_reset,
    .destroy = mptable_destroy,
};
