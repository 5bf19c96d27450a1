/* The ACPI tables of the virtkit PC board (ACPI 6.4 chapter 5 layouts).
 *
 * Choices (see docs/acpi-fwcfg.md):
 *  - FADT revision 3 (ACPI 2.0 layout with 64-bit X_ fields), not
 *    hardware-reduced; no SMI command port, so the OS finds ACPI enabled.
 *  - Power button: the fixed-feature button (PWRBTN_STS/EN in PM1); it is
 *    not also described in the namespace, which would make the OS register
 *    two buttons.
 *  - Sleep states: \_S5 (soft off) only, SLP_TYP 5.
 *  - PCI INTx routing: APIC mode only, straight to IOAPIC GSIs 16-23:
 *    slot S pin P (0=INTA) -> GSI 16 + ((S + P) mod 8). No PCI link
 *    devices and no PIC-mode table; guests that use ACPI use the IOAPIC.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "acpi.h"
#include "aml.h"
#include "../devices/acpi_pm.h"
#include "../machine.h"

#define ACPI_HDR_LEN 36
#define ACPI_OEM_ID        "VIRTKT"
#define ACPI_OEM_TABLE_ID  "VKPC    "
#define ACPI_CREATOR_ID    "VKIT"

void acpi_config_default(struct acpi_config *c, unsigned ncpus)
{
    memset(c, 0, sizeof(*c));
    c->ncpus = ncpus ? ncpus : 1;
    c->pm_base = ACPI_PM_PORT_BASE;
    c->sci_irq = ACPI_PM_SCI_IRQ;
    c->lapic_addr = ACPI_LAPIC_ADDR;
    c->ioapic_addr = ACPI_IOAPIC_ADDR;
    c->ioapic_id = 0;
    c->pci = true;
    c->ecam_base = 0xE0000000ULL;
    c->ecam_buses = 256;
    c->pci_mmio_base = (uint32_t)MACHINE_PCI_HOLE_START;
    c->pci_mmio_end = 0xDFFFFFFFu;
}

static void w8(uint8_t *p, size_t off, uint8_t v) { p[off] = v; }
static void w16(uint8_t *p, size_t off, uint16_t v) { v = htole16(v); memcpy(p + off, &v, 2); }
static void w32(uint8_t *p, size_t off, uint32_t v) { v = htole32(v); memcpy(p + off, &v, 4); }
static void w64(uint8_t *p, size_t off, uint64_t v) { v = htole64(v); memcpy(p + off, &v, 8); }

static uint8_t *tdata(struct acpi_tables *t, long off)
{
    return t->files[ACPI_FILE_TABLES].data + off;
}

/* Allocate a table with its standard header and register its checksum. */
static long table_new(struct acpi_tables *t, const char *sig, size_t len, uint8_t rev)
{
    long off = acpi_file_alloc(t, ACPI_FILE_TABLES, len, 8);
    uint8_t *p;

    if (off < 0)
        return off;
    p = tdata(t, off);
    memcpy(p, sig, 4);
    w32(p, 4, (uint32_t)len);
    w8(p, 8, rev);
    memcpy(p + 10, ACPI_OEM_ID, 6);
    memcpy(p + 16, ACPI_OEM_TABLE_ID, 8);
    w32(p, 24, 1);
    memcpy(p + 28, ACPI_CREATOR_ID, 4);
    w32(p, 32, 1);
    acpi_add_checksum(t, ACPI_FILE_TABLES, (uint32_t)off + 9, (uint32_t)off, (uint32_t)len);
    return off;
}

/* Generic Address Structure in system I/O space. */
static void gas_io(uint8_t *p, size_t off, uint16_t port, uint8_t bits, uint8_t access)
{
    w8(p, off, 1);
    w8(p, off + 1, bits);
    w8(p, off + 2, 0);
    w8(p, off + 3, access);
    w64(p, off + 4, port);
}

static long build_facs(struct acpi_tables *t)
{
    long off = acpi_file_alloc(t, ACPI_FILE_TABLES, 64, 64);
    uint8_t *p;

    if (off < 0)
        return off;
    p = tdata(t, off);
    memcpy(p, "FACS", 4);
    w32(p, 4, 64);
    w8(p, 32, 1);                       /* version */
    return off;
}

static void dsdt_pci(struct aml *a, const struct acpi_config *c)
{
    struct aml res;

    aml_device_open(a, "PCI0");
    aml_name(a, "_HID");
    aml_eisaid(a, "PNP0A08");           /* PCI Express root bridge */
    aml_name(a, "_CID");
    aml_eisaid(a, "PNP0A03");           /* ... compatible with PCI */
    aml_name(a, "_ADR");
    aml_integer(a, 0);
    aml_name(a, "_UID");
    aml_integer(a, 0);
    aml_name(a, "_SEG");
    aml_integer(a, 0);
    aml_name(a, "_BBN");
    aml_integer(a, 0);

    aml_init(&res);
    aml_res_word_bus(&res, 0, (uint16_t)((c->ecam_buses ? c->ecam_buses : 256) - 1));
    aml_res_io(&res, 0x0cf8, 0x0cf8, 1, 8);
    aml_res_word_io(&res, 0x0000, 0x0cf7);
    aml_res_word_io(&res, 0x0d00, 0xffff);
    aml_res_dword_mem(&res, 0x000a0000, 0x000bffff, 1);     /* legacy VGA */
    if (c->pci_mmio_end > c->pci_mmio_base)
        aml_res_dword_mem(&res, c->pci_mmio_base, c->pci_mmio_end, 0);
    aml_res_end(&res);
    if (res.error)
        a->error = a->error ? a->error : res.error;
    aml_name(a, "_CRS");
    aml_buffer(a, res.buf, res.len);
    aml_free(&res);

    /* _PRT: every slot, every pin, to a GSI (the source is 0). */
    aml_name(a, "_PRT");
    aml_package_open(a, 128);
    for (unsigned slot = 0; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            aml_package_open(a, 4);
            aml_integer(a, ((uint64_t)slot << 16) | 0xffff);
            aml_integer(a, pin);
            aml_integer(a, 0);
            aml_integer(a, ACPI_PCI_GSI_BASE + ((slot + pin) & 7));
            aml_close(a);
        }
    }
    aml_close(a);
    aml_close(a);                       /* PCI0 */

    if (c->ecam_base) {
        /* Reserve ECAM as a motherboard resource (Linux checks this
         * before it uses MCFG). */
        aml_device_open(a, "MRES");
        aml_name(a, "_HID");
        aml_eisaid(a, "PNP0C02");
        aml_name(a, "_UID");
        aml_integer(a, 1);
        aml_init(&res);
        aml_res_fixed_mem32(&res, (uint32_t)c->ecam_base, c->ecam_buses << 20);
        aml_res_end(&res);
        if (res.error)
            a->error = a->error ? a->error : res.error;
        aml_name(a, "_CRS");
        aml_buffer(a, res.buf, res.len);
        aml_free(&res);
        aml_close(a);
    }
}

/* The CMOS RTC (devices/mc146818.c): ports 0x70-0x71, ISA IRQ 8, so an OS
 * that enumerates ACPI devices (Linux's rtc_cmos over PNP, Windows) finds
 * it and its alarm/update interrupt. */
static void dsdt_rtc(struct aml *a)
{
    struct aml res;

    aml_device_open(a, "RTC_");
    aml_name(a, "_HID");
    aml_eisaid(a, "PNP0B00");
    aml_init(&res);
    aml_res_io(&res, 0x70, 0x70, 1, 2);
    aml_res_irq_noflags(&res, 8);
    aml_res_end(&res);
    if (res.error)
        a->error = a->error ? a->error : res.error;
    aml_name(a, "_CRS");
    aml_buffer(a, res.buf, res.len);
    aml_free(&res);
    aml_close(a);
}

static void dsdt_sleep_state(struct aml *a, const char *name, unsigned typ)
{
    aml_name(a, name);
    aml_package_open(a, 4);
    aml_integer(a, typ);                /* PM1a_CNT.SLP_TYP */
    aml_integer(a, typ);                /* PM1b_CNT.SLP_TYP (no PM1b) */
    aml_integer(a, 0);
    aml_integer(a, 0);
    aml_close(a);
}

/* PCI hot-plug slots and \_GPE._E01 (pci/pci_hotplug_aml.c). Weak: builds
 * without the hot-plug controller (unit tests) leave it out. */
void pci_hotplug_build_aml(struct aml *a, uint16_t port) __attribute__((weak));
#define PCIHP_DSDT_PORT 0xAE00      /* board.c places pci-hotplug here */

static long build_dsdt(struct acpi_tables *t, const struct acpi_config *c)
{
    struct aml a;
    long off;

    aml_init(&a);
    aml_scope_open(&a, "\\_SB_");
    if (c->pci)
        dsdt_pci(&a, c);
    dsdt_rtc(&a);
    aml_close(&a);
    if (c->pci && pci_hotplug_build_aml)
        pci_hotplug_build_aml(&a, PCIHP_DSDT_PORT);
    dsdt_sleep_state(&a, "\\_S0_", 0);
    dsdt_sleep_state(&a, "\\_S5_", ACPI_S5_SLP_TYP);
    if (aml_finish(&a)) {
        t->error = t->error ? t->error : a.error;
        aml_free(&a);
        return t->error;
    }
    off = table_new(t, "DSDT", ACPI_HDR_LEN + a.len, 2);
    if (off >= 0)
        memcpy(tdata(t, off) + ACPI_HDR_LEN, a.buf, a.len);
    aml_free(&a);
    return off;
}

static long build_fadt(struct acpi_tables *t, const struct acpi_config *c, long facs, long dsdt)
{
    long off = table_new(t, "FACP", 244, 3);
    uint8_t *p;
    uint16_t pm = c->pm_base;

    if (off < 0)
        return off;
    p = tdata(t, off);
    w16(p, 46, (uint16_t)c->sci_irq);
    /* SMI_CMD, ACPI_ENABLE, ACPI_DISABLE stay 0: always in ACPI mode. */
    w32(p, 56, pm + ACPI_PM1_STS);      /* PM1a_EVT_BLK */
    w32(p, 64, pm + ACPI_PM1_CNT);      /* PM1a_CNT_BLK */
    w32(p, 76, pm + ACPI_PM_TMR);       /* PM_TMR_BLK */
    w32(p, 80, pm + ACPI_GPE0_BLK);     /* GPE0_BLK */
    w8(p, 88, 4);                       /* PM1_EVT_LEN */
    w8(p, 89, 2);                       /* PM1_CNT_LEN */
    w8(p, 91, 4);                       /* PM_TMR_LEN */
    w8(p, 92, ACPI_GPE0_BLK_LEN);
    w16(p, 96, 101);                    /* P_LVL2_LAT > 100: no C2 */
    w16(p, 98, 1001);                   /* P_LVL3_LAT > 1000: no C3 */
    w8(p, 108, 0x32);                   /* CENTURY: CMOS register */
    w16(p, 109, 0x0003);                /* IAPC_BOOT_ARCH: legacy devices, 8042 */
    /* Flags: WBINVD, PROC_C1, SLP_BUTTON (none), TMR_VAL_EXT (32-bit),
     * RESET_REG_SUP. PWR_BUTTON clear: fixed-feature power button. */
    w32(p, 112, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 8) | (1u << 10));
    gas_io(p, 116, (uint16_t)(pm + ACPI_RESET_REG), 8, 1);
    w8(p, 128, ACPI_RESET_VALUE);
    gas_io(p, 148, (uint16_t)(pm + ACPI_PM1_STS), 32, 2);
    gas_io(p, 172, (uint16_t)(pm + ACPI_PM1_CNT), 16, 2);
    gas_io(p, 208, (uint16_t)(pm + ACPI_PM_TMR), 32, 3);
    gas_io(p, 220, (uint16_t)(pm + ACPI_GPE0_BLK), ACPI_GPE0_BLK_LEN * 8, 1);
    acpi_add_pointer(t, ACPI_FILE_TABLES, (uint32_t)off + 36, 4, ACPI_FILE_TABLES, (uint64_t)facs);
    acpi_add_pointer(t, ACPI_FILE_TABLES, (uint32_t)off + 40, 4, ACPI_FILE_TABLES, (uint64_t)dsdt);
    acpi_add_pointer(t, ACPI_FILE_TABLES, (uint32_t)off + 132, 8, ACPI_FILE_TABLES, (uint64_t)facs);
    acpi_add_pointer(t, ACPI_FILE_TABLES, (uint32_t)off + 140, 8, ACPI_FILE_TABLES, (uint64_t)dsdt);
    return off;
}

static long build_madt(struct acpi_tables *t, const struct acpi_config *c)
{
    size_t len = ACPI_HDR_LEN + 8 + c->ncpus * 8 + 12 + 2 * 10 + 6;
    long off = table_new(t, "APIC", len, 3);
    uint8_t *p;
    size_t q;

    if (off < 0)
        return off;
    p = tdata(t, off);
    w32(p, 36, c->lapic_addr);
    w32(p, 40, 1);                      /* PCAT_COMPAT: 8259s present */
    q = 44;
    for (unsigned i = 0; i < c->ncpus; i++, q += 8) {
        w8(p, q, 0);                    /* Processor Local APIC */
        w8(p, q + 1, 8);
        w8(p, q + 2, (uint8_t)i);       /* ACPI processor UID */
        w8(p, q + 3, (uint8_t)i);       /* APIC ID */
        w32(p, q + 4, 1);               /* enabled */
    }
    w8(p, q, 1);                        /* I/O APIC */
    w8(p, q + 1, 12);
    w8(p, q + 2, c->ioapic_id);
    w32(p, q + 4, c->ioapic_addr);
    w32(p, q + 8, 0);                   /* GSI base */
    q += 12;
    /* ISA IRQ 0 (PIT) is wired to GSI 2. */
    w8(p, q, 2);
    w8(p, q + 1, 10);
    w8(p, q + 2, 0);                    /* ISA */
    w8(p, q + 3, 0);
    w32(p, q + 4, 2);
    w16(p, q + 8, 0);                   /* conforms to the bus */
    q += 10;
    /* The SCI: level-triggered, active-high. */
    w8(p, q, 2);
    w8(p, q + 1, 10);
    w8(p, q + 2, 0);
    w8(p, q + 3, (uint8_t)c->sci_irq);
    w32(p, q + 4, c->sci_irq);
    w16(p, q + 8, 0x000d);              /* polarity 01 (high), trigger 11 (level) */
    q += 10;
    /* Local APIC NMI: LINT1 of every processor. */
    w8(p, q, 4);
    w8(p, q + 1, 6);
    w8(p, q + 2, 0xff);
    w16(p, q + 3, 0);
    w8(p, q + 5, 1);
    return off;
}

static long build_mcfg(struct acpi_tables *t, const struct acpi_config *c)
{
    long off = table_new(t, "MCFG", ACPI_HDR_LEN + 8 + 16, 1);
    uint8_t *p;

    if (off < 0)
        return off;
    p = tdata(t, off);
    w64(p, 44, c->ecam_base);
    w16(p, 52, 0);                      /* segment */
    w8(p, 54, 0);                       /* first bus */
    w8(p, 55, (uint8_t)(c->ecam_buses - 1));
    return off;
}

/* RSDT (4-byte entries) or XSDT (8-byte entries) listing `tables`. */
static long build_sdt(struct acpi_tables *t, const char *sig, unsigned entry,
                      const long *tables, unsigned n)
{
    long off = table_new(t, sig, ACPI_HDR_LEN + (size_t)n * entry, 1);

    if (off < 0)
        return off;
    for (unsigned i = 0; i < n; i++)
        acpi_add_pointer(t, ACPI_FILE_TABLES, (uint32_t)(off + ACPI_HDR_LEN + i * entry),
                         (uint8_t)entry, ACPI_FILE_TABLES, (uint64_t)tables[i]);
    return off;
}

static int build_rsdp(struct acpi_tables *t, long rsdt, long xsdt)
{
    long off = acpi_file_alloc(t, ACPI_FILE_RSDP, 36, 16);
    uint8_t *p;

    if (off < 0)
        return (int)off;
    p = t->files[ACPI_FILE_RSDP].data + off;
    memcpy(p, "RSD PTR ", 8);
    memcpy(p + 9, ACPI_OEM_ID, 6);
    w8(p, 15, 2);                       /* revision: ACPI 2.0+, has XSDT */
    w32(p, 20, 36);
    acpi_add_pointer(t, ACPI_FILE_RSDP, 16, 4, ACPI_FILE_TABLES, (uint64_t)rsdt);
    acpi_add_pointer(t, ACPI_FILE_RSDP, 24, 8, ACPI_FILE_TABLES, (uint64_t)xsdt);
    acpi_add_checksum(t, ACPI_FILE_RSDP, 8, 0, 20);
    acpi_add_checksum(t, ACPI_FILE_RSDP, 32, 0, 36);
    return 0;
}

int acpi_build(const struct acpi_config *c, struct acpi_tables *t, struct vk_err *err)
{
    long facs, dsdt, list[4];
    unsigned n = 0;

    memset(t, 0, sizeof(*t));
    if (!c->ncpus || c->ncpus > 255)
        return vk_err_set(err, -EINVAL, "acpi: %u CPUs (1..255 supported)", c->ncpus);
    if (c->ecam_base && (!c->ecam_buses || c->ecam_buses > 256 ||
                         c->ecam_base + ((uint64_t)c->ecam_buses << 20) > 0x100000000ULL))
        return vk_err_set(err, -EINVAL, "acpi: bad ECAM window");
    t->files[ACPI_FILE_TABLES].name = "etc/acpi/tables";
    t->files[ACPI_FILE_TABLES].align = 64;
    t->files[ACPI_FILE_RSDP].name = "etc/acpi/rsdp";
    t->files[ACPI_FILE_RSDP].align = 16;
    t->files[ACPI_FILE_RSDP].fseg = true;

    facs = build_facs(t);
    dsdt = build_dsdt(t, c);
    list[n++] = build_fadt(t, c, facs, dsdt);
    list[n++] = build_madt(t, c);
    if (c->ecam_base)
        list[n++] = build_mcfg(t, c);
    if (!t->error) {
        long rsdt = build_sdt(t, "RSDT", 4, list, n);
        long xsdt = build_sdt(t, "XSDT", 8, list, n);

        if (!t->error)
            build_rsdp(t, rsdt, xsdt);
    }
    if (t->error) {
        int r = t->error;

        acpi_tables_free(t);
        return vk_err_set(err, r, "acpi: building tables failed (%d)", r);
    }
    return 0;
}
