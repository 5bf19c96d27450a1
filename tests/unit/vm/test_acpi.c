/* ACPI: AML encoding, the tables (structure, pointers, checksums, iasl
 * disassembly), the table-loader script, install into RAM + fw_cfg, and the
 * PM registers (power button, S5, reset, timer, GPE, SCI). */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "fake_machine.h"
#include "acpi/acpi.h"
#include "acpi/aml.h"
#include "devices/acpi_pm.h"
#include "devices/fw_cfg.h"

static uint32_t le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static uint16_t le16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static void test_aml(void)
{
    struct aml a;

    aml_init(&a);
    aml_eisaid(&a, "PNP0A03");
    tap_ok(a.len == 5 && !memcmp(a.buf, "\x0c\x41\xd0\x0a\x03", 5), "EisaId(PNP0A03)");
    aml_free(&a);

    aml_init(&a);
    aml_namestring(&a, "\\_SB_.PCI0");
    tap_ok(a.len == 10 && !memcmp(a.buf, "\\\x2e_SB_PCI0", 10), "dual name path");
    aml_free(&a);

    aml_init(&a);
    aml_namestring(&a, "_S5");
    tap_ok(a.len == 4 && !memcmp(a.buf, "_S5_", 4), "short segment padded");
    aml_namestring(&a, "bad!");
    tap_ok(aml_finish(&a) < 0, "invalid name is a sticky error");
    aml_free(&a);

    aml_init(&a);
    aml_integer(&a, 0);
    aml_integer(&a, 1);
    aml_integer(&a, 0x12);
    aml_integer(&a, 0x1234);
    aml_integer(&a, 0x12345678);
    aml_integer(&a, 0x123456789aULL);
    tap_is_int(a.len, 1 + 1 + 2 + 3 + 5 + 9, "integer encodings pick the smallest form");
    aml_free(&a);

    /* PkgLength: 1 byte below 63, then 2 bytes with the low nibble first. */
    uint8_t body[100] = {0};
    aml_init(&a);
    aml_buffer(&a, body, 58);       /* 2 (BytePrefix size) + 58 = 60, +1 = 61 */
    tap_ok(a.buf[0] == 0x11 && a.buf[1] == 61, "short PkgLength");
    aml_free(&a);
    aml_init(&a);
    aml_buffer(&a, body, 62);       /* 2 + 62 = 64, +2 = 66 = 0x42 */
    tap_ok(a.buf[1] == 0x42 && a.buf[2] == 0x04, "two-byte PkgLength");
    aml_free(&a);

    aml_init(&a);
    aml_scope_open(&a, "\\_SB_");
    tap_ok(aml_finish(&a) < 0, "unclosed scope reported");
    aml_free(&a);
}

/* The linked tables, as a guest would see them in a flat memory image. */
static uint8_t mem[0x20000];
#define BASE 0xE0000u
static uint8_t *at(uint64_t gpa) { return gpa >= BASE && gpa < BASE + sizeof(mem) ? mem + (gpa - BASE) : NULL; }

static const uint8_t *find_table(const uint8_t *rsdt, const char *sig, unsigned entry)
{
    uint32_t len = le32(rsdt + 4);
    for (uint32_t o = 36; o + entry <= len; o += entry) {
        const uint8_t *t = at(entry == 4 ? le32(rsdt + o) : le64(rsdt + o));
        if (t && !memcmp(t, sig, 4))
            return t;
    }
    return NULL;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(p, 1, n, fp);
        fclose(fp);
    }
}

static void iasl_check(const char *sig, const uint8_t *t)
{
    char dir[] = "/tmp/vk-acpi-XXXXXX", cmd[512], path[300];
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/%s.dat", dir, sig);
    write_file(path, t, le32(t + 4));
    snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat >log 2>&1", dir, sig);
    int rc = system(cmd);
    tap_is_int(rc, 0, "iasl -d %s succeeds", sig);
    if (!strcmp(sig, "DSDT")) {
        char *dsl = NULL;
        size_t n = 0;
        struct vk_err err;
        snprintf(path, sizeof(path), "%s/DSDT.dsl", dir);
        if (vk_read_file(path, &dsl, &n, &err) == 0) {
            tap_ok(strstr(dsl, "Name (\\_S5, Package (0x04)") != NULL, "DSDT: \\_S5 package");
            tap_ok(strstr(dsl, "PNP0A08") != NULL, "DSDT: PCI Express host bridge");
            tap_ok(strstr(dsl, "Name (_PRT, Package (0x80)") != NULL, "DSDT: _PRT with 128 entries");
            tap_ok(strstr(dsl, "0x00000017") != NULL || strstr(dsl, "0x17") != NULL,
                   "DSDT: routes to GSI 23");
            tap_ok(strstr(dsl, "WordBusNumber") != NULL && strstr(dsl, "DWordMemory") != NULL,
                   "DSDT: host bridge _CRS decodes");
            const char *rtc = strstr(dsl, "PNP0B00");
            tap_ok(rtc && strstr(rtc, "IO (Decode16,") && strstr(rtc, "0x0070,") &&
                   strstr(rtc, "IRQNoFlags ()") && strstr(rtc, "{8}"),
                   "DSDT: RTC PNP0B00 at 0x70 with IRQ 8");
            free(dsl);
        } else {
            tap_ok(0, "DSDT.dsl written");
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd)) {}
}

static void test_tables(unsigned ncpus)
{
    struct acpi_config c;
    struct acpi_tables t;
    struct vk_err err = {0};

    acpi_config_default(&c, ncpus);
    tap_is_int(acpi_build(&c, &t, &err), 0, "acpi_build (%u CPUs)", ncpus);
    memset(mem, 0, sizeof(mem));
    const uint64_t addr[ACPI_NR_FILES] = { [ACPI_FILE_TABLES] = BASE + 0x1000, [ACPI_FILE_RSDP] = BASE };
    uint8_t *dst[ACPI_NR_FILES] = { [ACPI_FILE_TABLES] = at(BASE + 0x1000), [ACPI_FILE_RSDP] = at(BASE) };
    acpi_tables_link(&t, addr, dst);

    const uint8_t *rsdp = mem;
    tap_ok(!memcmp(rsdp, "RSD PTR ", 8), "RSDP signature");
    tap_is_int(sum(rsdp, 20), 0, "RSDP checksum");
    tap_is_int(sum(rsdp, 36), 0, "RSDP extended checksum");
    tap_is_int(rsdp[15], 2, "RSDP revision 2");
    const uint8_t *rsdt = at(le32(rsdp + 16)), *xsdt = at(le64(rsdp + 24));
    tap_ok(rsdt && !memcmp(rsdt, "RSDT", 4) && sum(rsdt, le32(rsdt + 4)) == 0, "RSDT valid");
    tap_ok(xsdt && !memcmp(xsdt, "XSDT", 4) && sum(xsdt, le32(xsdt + 4)) == 0, "XSDT valid");
    if (!rsdt || !xsdt)
        return;
    tap_is_int(le32(rsdt + 4), 36 + 3 * 4, "RSDT lists FACP, APIC, MCFG");
    const uint8_t *fadt = find_table(rsdt, "FACP", 4), *madt = find_table(rsdt, "APIC", 4),
                  *mcfg = find_table(rsdt, "MCFG", 4);
    tap_ok(fadt && fadt == find_table(xsdt, "FACP", 8), "FADT in RSDT and XSDT");
    tap_ok(madt && madt == find_table(xsdt, "APIC", 8), "MADT in RSDT and XSDT");
    tap_ok(mcfg && mcfg == find_table(xsdt, "MCFG", 8), "MCFG in RSDT and XSDT");
    if (!fadt || !madt || !mcfg)
        return;
    tap_is_int(sum(fadt, le32(fadt + 4)), 0, "FADT checksum");
    tap_is_int(le16(fadt + 46), 9, "FADT SCI_INT 9");
    tap_is_int(le32(fadt + 56), 0x600, "FADT PM1a_EVT_BLK");
    tap_is_int(le32(fadt + 64), 0x604, "FADT PM1a_CNT_BLK");
    tap_is_int(le32(fadt + 76), 0x608, "FADT PM_TMR_BLK");
    tap_is_int(le32(fadt + 48), 0, "FADT: no SMI_CMD (always ACPI mode)");
    tap_ok(!(le32(fadt + 112) & (1u << 4)), "FADT: fixed-feature power button");
    tap_ok(le32(fadt + 112) & (1u << 8), "FADT: 32-bit PM timer");
    const uint8_t *facs = at(le32(fadt + 36)), *dsdt = at(le32(fadt + 40));
    tap_ok(facs && !memcmp(facs, "FACS", 4) && (le32(fadt + 36) & 63) == 0, "FACS, 64-byte aligned");
    tap_ok(dsdt && !memcmp(dsdt, "DSDT", 4) && sum(dsdt, le32(dsdt + 4)) == 0, "DSDT valid");
    tap_ok(le64(fadt + 132) == le32(fadt + 36) && le64(fadt + 140) == le32(fadt + 40),
           "X_FIRMWARE_CTRL and X_DSDT match the 32-bit fields");
    tap_is_int(le64(fadt + 208 + 4), 0x608, "FADT X_PM_TMR_BLK");

    tap_is_int(sum(madt, le32(madt + 4)), 0, "MADT checksum");
    unsigned lapics = 0, ioapics = 0, isos = 0, sci_flags = 0, irq0_gsi = 0;
    for (uint32_t o = 44; o + 2 <= le32(madt + 4); o += madt[o + 1]) {
        if (madt[o + 1] < 2)
            break;
        if (madt[o] == 0 && (le32(madt + o + 4) & 1) && madt[o + 3] == lapics)
            lapics++;
        if (madt[o] == 1 && le32(madt + o + 4) == 0xFEC00000u)
            ioapics++;
        if (madt[o] == 2) {
            isos++;
            if (madt[o + 3] == 0)
                irq0_gsi = le32(madt + o + 4);
            if (madt[o + 3] == 9)
                sci_flags = le16(madt + o + 8);
        }
    }
    tap_is_int(lapics, ncpus, "MADT: one enabled local APIC per CPU, IDs 0..n-1");
    tap_is_int(ioapics, 1, "MADT: IOAPIC at 0xFEC00000");
    tap_is_int(irq0_gsi, 2, "MADT: IRQ0 -> GSI 2");
    tap_is_int(sci_flags, 0xd, "MADT: SCI level-triggered, active-high");
    tap_is_int(le64(mcfg + 44), 0xE0000000ULL, "MCFG ECAM base");
    tap_is_int(mcfg[55], 255, "MCFG end bus");

    if (access("/usr/bin/iasl", X_OK) == 0) {
        iasl_check("DSDT", dsdt);
        iasl_check("FACP", fadt);
        iasl_check("APIC", madt);
        iasl_check("MCFG", mcfg);
        iasl_check("RSDT", rsdt);
        iasl_check("XSDT", xsdt);
        iasl_check("FACS", facs);
    } else {
        tap_ok(1, "# SKIP iasl not installed (acpica-tools)");
    }

    /* The table-loader script, run by a tiny interpreter, must give the
     * same bytes as acpi_tables_link. */
    uint8_t *script;
    size_t slen;
    tap_is_int(acpi_table_loader(&t, &script, &slen, &err), 0, "table-loader built");
    tap_ok(slen % 128 == 0 && le32(script) == 1 && !strcmp((char *)script + 4, "etc/acpi/rsdp") &&
           script[4 + 56 + 4] == 2, "loader: RSDP allocated first, in the F-segment");
    static uint8_t mem2[sizeof(mem)];
    uint8_t *files[2];
    uint64_t faddr[2];
    memset(mem2, 0, sizeof(mem2));
    for (size_t e = 0; e < slen; e += 128) {
        const uint8_t *x = script + e;
        if (le32(x) == 1) {
            int i = !strcmp((char *)x + 4, "etc/acpi/rsdp") ? ACPI_FILE_RSDP : ACPI_FILE_TABLES;
            faddr[i] = i == ACPI_FILE_RSDP ? BASE : BASE + 0x1000;
            files[i] = mem2 + (faddr[i] - BASE);
            memcpy(files[i], t.files[i].data, t.files[i].len);
        } else if (le32(x) == 2) {
            int d = !strcmp((char *)x + 4, "etc/acpi/rsdp") ? 1 : 0;
            int s = !strcmp((char *)x + 60, "etc/acpi/rsdp") ? 1 : 0;
            uint32_t off = le32(x + 116);
            uint64_t v = 0;
            memcpy(&v, files[d] + off, x[120]);
            v = le64toh(v) + faddr[s];
            v = htole64(v);
            memcpy(files[d] + off, &v, x[120]);
        } else if (le32(x) == 3) {
            int d = !strcmp((char *)x + 4, "etc/acpi/rsdp") ? 1 : 0;
            uint32_t off = le32(x + 60), start = le32(x + 64), len = le32(x + 68);
            files[d][off] = (uint8_t)(files[d][off] - sum(files[d] + start, len));
        }
    }
    tap_ok(!memcmp(mem, mem2, sizeof(mem)), "loader script reproduces the linked tables");
    free(script);
    acpi_tables_free(&t);
}

static void test_pm(void)
{
    struct fake_machine *f = fake_machine_new(2 << 20, 2);
    struct bus *pio = &f->m.pio;
    uint64_t v = 0;

    fake_machine_add(f, &fw_cfg_device, FW_CFG_PORT_BASE, 0, NULL);
    struct acpi_pm *pm = fake_machine_add(f, &acpi_pm_device, 0x600, 9, NULL);
    tap_ok(pm && acpi_pm_find(&f->m) == pm, "acpi-pm device at 0x600");
    if (!pm)
        return;
    bus_read(pio, 0x604, 2, &v);
    tap_ok(v & ACPI_PM1_SCI_EN, "SCI_EN reads 1 (ACPI mode)");

    tap_ok(!acpi_pm_press_power_button(pm), "button press with PWRBTN_EN clear: not enabled");
    tap_is_int(f->irq_level[9], 0, "no SCI while disabled");
    bus_read(pio, 0x600, 2, &v);
    tap_ok(v & ACPI_PM1_PWRBTN, "PWRBTN_STS latched anyway");
    bus_write(pio, 0x600, 2, ACPI_PM1_PWRBTN);
    bus_read(pio, 0x600, 2, &v);
    tap_ok(!(v & ACPI_PM1_PWRBTN), "PWRBTN_STS write-1-to-clear");
    bus_write(pio, 0x602, 2, ACPI_PM1_PWRBTN);
    tap_ok(acpi_pm_press_power_button(pm), "button press with PWRBTN_EN set");
    tap_is_int(f->irq_level[9], 1, "SCI raised on IRQ 9");
    bus_read(pio, 0x600, 4, &v);
    tap_ok((v & ACPI_PM1_PWRBTN) && ((v >> 16) & ACPI_PM1_PWRBTN), "32-bit read returns STS and EN");
    bus_write(pio, 0x600, 2, ACPI_PM1_PWRBTN);
    tap_is_int(f->irq_level[9], 0, "SCI dropped when the status is cleared");

    acpi_pm_set_gpe(pm, 3);
    tap_is_int(f->irq_level[9], 0, "GPE without enable: no SCI");
    bus_write(pio, 0x624, 1, 0x08);
    tap_is_int(f->irq_level[9], 1, "GPE enabled: SCI");
    bus_write(pio, 0x620, 1, 0x08);
    tap_is_int(f->irq_level[9], 0, "GPE status cleared");

    unsigned n = f->nr_requests;
    bus_write(pio, 0x604, 2, (3u << 10) | ACPI_PM1_SLP_EN);
    tap_is_int(f->nr_requests, n, "unsupported SLP_TYP ignored");
    bus_write(pio, 0x604, 2, (ACPI_S5_SLP_TYP << 10));
    tap_is_int(f->nr_requests, n, "SLP_TYP without SLP_EN does nothing");
    bus_write(pio, 0x604, 2, (ACPI_S5_SLP_TYP << 10) | ACPI_PM1_SLP_EN);
    tap_ok(f->nr_requests == n + 1 && f->last_request == MACHINE_SHUTDOWN, "S5 powers off");
    bus_write(pio, 0x60c, 1, ACPI_RESET_VALUE);
    tap_ok(f->last_request == MACHINE_RESET, "reset register resets");

    uint64_t t1 = 0, t2 = 0;
    bus_read(pio, 0x608, 4, &t1);
    for (long i = 0; i < 100000000 && t2 == t1; i++)
        bus_read(pio, 0x608, 4, &t2);
    tap_ok(t2 != t1, "PM timer counts");

    tap_is_int(acpi_build_install(&f->m, NULL), 0, "acpi_build_install");
    tap_ok(!memcmp(f->m.ram[0].hva + ACPI_RSDP_ADDR, "RSD PTR ", 8), "RSDP in the F-segment");
    struct fw_cfg *fc = fw_cfg_find(&f->m);
    tap_ok(fw_cfg_file_key(fc, "etc/acpi/tables") > 0 && fw_cfg_file_key(fc, "etc/acpi/rsdp") > 0 &&
           fw_cfg_file_key(fc, "etc/table-loader") > 0, "tables published over fw_cfg");

    srand(2);
    for (int i = 0; i < 20000; i++) {
        uint64_t port = 0x600 + (uint64_t)(rand() % ACPI_PM_LEN);
        unsigned size = 1u << (rand() % 3);
        if (port == 0x604 || port == 0x605 || port == 0x60c)
            continue;
        if (rand() & 1)
            bus_write(pio, port, size, (uint64_t)rand());
        else
            bus_read(pio, port, size, &v);
    }
    tap_ok(1, "random PM register traffic survived");
    fake_machine_free(f);
}

int main(void)
{
    test_aml();
    test_tables(1);
    test_tables(4);
    test_pm();
    return tap_done();
}
