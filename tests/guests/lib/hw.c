/* Platform helpers: LAPIC, IOAPIC, 8259, 8254, fw_cfg, CMOS, ACPI, PCI. */
#include "guest.h"

uint32_t lapic_read(unsigned reg) { return mmio_read32(LAPIC_BASE + reg); }
void lapic_write(unsigned reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }
unsigned lapic_id(void) { return lapic_read(0x20) >> 24; }
void lapic_eoi(void) { lapic_write(0xb0, 0); }

void lapic_enable(void)
{
    lapic_write(0xf0, 0x100 | 0xff);    /* software enable, spurious vector 0xff */
    lapic_write(0x80, 0);               /* TPR: accept everything */
}

void lapic_send_ipi(unsigned apic_id, uint32_t icr_low)
{
    lapic_write(0x310, apic_id << 24);
    lapic_write(0x300, icr_low);
    for (int i = 0; i < 100000 && (lapic_read(0x300) & (1u << 12)); i++)
        cpu_relax();                    /* delivery status */
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE, reg);
    mmio_write32(IOAPIC_BASE + 0x10, v);
}

void ioapic_route(unsigned gsi, unsigned vector, bool level, bool active_low, unsigned dest)
{
    uint32_t lo = vector | (level ? (1u << 15) : 0) | (active_low ? (1u << 13) : 0);
    ioapic_write(0x10 + 2 * gsi + 1, dest << 24);
    ioapic_write(0x10 + 2 * gsi, lo);
}

void ioapic_mask(unsigned gsi)
{
    ioapic_write(0x10 + 2 * gsi, 1u << 16);
}

void pic_disable(void)
{
    outb(0x20, 0x11); outb(0xa0, 0x11);     /* ICW1: init, ICW4 follows */
    outb(0x21, 0x20); outb(0xa1, 0x28);     /* vectors 0x20 / 0x28 */
    outb(0x21, 0x04); outb(0xa1, 0x02);     /* cascade on IRQ2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);     /* 8086 mode */
    outb(0x21, 0xff); outb(0xa1, 0xff);     /* mask everything */
}

void pit_periodic(unsigned hz)
{
    unsigned div = 1193182 / hz;
    outb(0x43, 0x34);                       /* channel 0, lo/hi, mode 2 */
    outb(0x40, (uint8_t)div);
    outb(0x40, (uint8_t)(div >> 8));
}

void pit_stop(void)
{
    outb(0x43, 0x30);                       /* mode 0, one shot; never reloaded */
    outb(0x40, 0);
    outb(0x40, 0);
}

/* ---- fw_cfg -------------------------------------------------------------- */
void fwcfg_read(uint16_t key, void *buf, size_t len)
{
    outw(0x510, key);
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = inb(0x511);
}

int fwcfg_find_file(const char *name, uint32_t *size)
{
    uint32_t count;
    int found = -1;

    fwcfg_read(FWCFG_FILE_DIR, &count, 4);
    count = bswap32(count);
    for (uint32_t i = 0; i < count && i < 256; i++) {
        uint8_t e[64];
        for (int k = 0; k < 64; k++)
            e[k] = inb(0x511);
        if (found < 0 && !strncmp((const char *)e + 8, name, 56)) {
            found = bswap16(rd16(e + 4));
            if (size)
                *size = bswap32(rd32(e));
        }
    }
    return found;
}

uint32_t fwcfg_dma_read(uint16_t key, void *buf, uint32_t len)
{
    static volatile struct { uint32_t control, length; uint64_t address; } desc
        __attribute__((aligned(16)));
    uint64_t addr = (uintptr_t)&desc;

    desc.control = bswap32(((uint32_t)key << 16) | 0x08 | 0x02);   /* select + read */
    desc.length = bswap32(len);
    desc.address = ((uint64_t)bswap32((uint32_t)(uintptr_t)buf) << 32) |
                   bswap32((uint32_t)((uint64_t)(uintptr_t)buf >> 32));
    outl(0x514, bswap32((uint32_t)(addr >> 32)));
    outl(0x518, bswap32((uint32_t)addr));
    return bswap32(desc.control);
}

/* ---- CMOS ---------------------------------------------------------------- */
uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

void cmos_write(uint8_t reg, uint8_t v)
{
    outb(0x70, reg);
    outb(0x71, v);
}

/* ---- ACPI ---------------------------------------------------------------- */
bool acpi_checksum_ok(const void *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + ((const uint8_t *)p)[i]);
    return s == 0;
}

static const uint8_t *find_rsdp(void)
{
    for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
        if (!memcmp((const void *)a, "RSD PTR ", 8) && acpi_checksum_ok((const void *)a, 20))
            return (const uint8_t *)a;
    return NULL;
}

const uint8_t *acpi_find(const char *sig)
{
    const uint8_t *rsdp = find_rsdp(), *rsdt;

    if (!rsdp)
        return NULL;
    rsdt = (const uint8_t *)(uintptr_t)rd32(rsdp + 16);
    if (memcmp(rsdt, "RSDT", 4) || !acpi_checksum_ok(rsdt, rd32(rsdt + 4)))
        return NULL;
    for (uint32_t o = 36; o + 4 <= rd32(rsdt + 4); o += 4) {
        const uint8_t *t = (const uint8_t *)(uintptr_t)rd32(rsdt + o);
        if (!memcmp(t, sig, 4))
            return acpi_checksum_ok(t, rd32(t + 4)) ? t : NULL;
    }
    return NULL;
}

/* Find \_S5's first package element in the DSDT's AML. */
static int dsdt_s5(const uint8_t *dsdt)
{
    uint32_t len = rd32(dsdt + 4);
    for (uint32_t i = 36; i + 8 < len; i++) {
        if (memcmp(dsdt + i, "_S5_", 4) || dsdt[i + 4] != 0x12)
            continue;
        const uint8_t *p = dsdt + i + 5;
        p += ((*p >> 6) & 3) + 1;       /* PkgLength */
        p++;                            /* NumElements */
        if (*p == 0x0a)
            return p[1];                /* BytePrefix */
        if (*p <= 1)
            return *p;                  /* Zero / One */
        return -1;
    }
    return -1;
}

bool acpi_pm_info(struct acpi_pm_info *pm)
{
    const uint8_t *fadt = acpi_find("FACP");
    const uint8_t *dsdt;
    int s5;

    if (!fadt)
        return false;
    dsdt = (const uint8_t *)(uintptr_t)rd32(fadt + 40);
    if (memcmp(dsdt, "DSDT", 4) || !acpi_checksum_ok(dsdt, rd32(dsdt + 4)))
        return false;
    s5 = dsdt_s5(dsdt);
    if (s5 < 0)
        return false;
    pm->sci = rd16(fadt + 46);
    pm->pm1a_evt = (uint16_t)rd32(fadt + 56);
    pm->pm1a_cnt = (uint16_t)rd32(fadt + 64);
    pm->pm_tmr = (uint16_t)rd32(fadt + 76);
    pm->gpe0 = (uint16_t)rd32(fadt + 80);
    pm->s5_typ = (uint8_t)s5;
    pm->reset_supported = (rd32(fadt + 112) & (1u << 10)) && fadt[116] == 1;
    pm->reset_port = (uint16_t)rd64(fadt + 120);
    pm->reset_value = fadt[128];
    return true;
}

void acpi_poweroff(const struct acpi_pm_info *pm)
{
    outw(pm->pm1a_cnt, (uint16_t)((pm->s5_typ << 10) | (1u << 13)));
    for (int i = 0; i < 1000000; i++)
        cpu_relax();
}

unsigned acpi_madt_cpus(uint8_t *ids, unsigned max)
{
    const uint8_t *madt = acpi_find("APIC");
    unsigned n = 0;

    if (!madt)
        return 0;
    for (uint32_t o = 44; o + 2 <= rd32(madt + 4) && madt[o + 1] >= 2; o += madt[o + 1])
        if (madt[o] == 0 && (rd32(madt + o + 4) & 1) && n < max)
            ids[n++] = madt[o + 3];
    return n;
}

/* ---- PCI configuration mechanism #1 --------------------------------------- */
uint32_t pci_cfg_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    outl(0xcf8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (off & 0xfc));
    return inl(0xcfc);
}

void pci_cfg_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v)
{
    outl(0xcf8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (off & 0xfc));
    outl(0xcfc, v);
}
