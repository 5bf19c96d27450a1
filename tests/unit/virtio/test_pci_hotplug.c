/* ACPI PCI hot-plug on a CPU-less machine: the register block (UP/DOWN
 * read-clear, EJECT, PRESENT), GPE0 bit 1 and the SCI through acpi_pm, plug
 * and unplug of real virtio devices driven by the shared mini driver, ids,
 * a full bus, hostile register writes, reset completing a pending unplug;
 * and the DSDT part checked with iasl (disassembly) and acpiexec (the AML
 * methods run). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "virtio.h"
#include "vtest_io.h"
#include "acpi/acpi.h"
#include "acpi/aml.h"
#include "devices/acpi_pm.h"
#include "pci/pci_hotplug.h"

extern const struct device_ops pci_host_device;

/* machine.c functions the hot-plug worker and acpi_pm use. */
void machine_pause(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->state == MACHINE_RUNNING)
        m->state = MACHINE_PAUSED;
    pthread_mutex_unlock(&m->lock);
}

void machine_resume(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->state == MACHINE_PAUSED)
        m->state = MACHINE_RUNNING;
    pthread_mutex_unlock(&m->lock);
}

enum machine_state machine_get_state(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    enum machine_state s = m->state;
    pthread_mutex_unlock(&m->lock);
    return s;
}

void machine_request(struct machine *m, enum machine_state state, int exit_status) {}

static struct pci_hotplug *HP;
static pthread_mutex_t dlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dcond = PTHREAD_COND_INITIALIZER;
static char deleted_id[PCIHP_ID_MAX];
static unsigned deleted_slot, deleted_count;

static void on_deleted(void *opaque, const char *id, unsigned slot)
{
    pthread_mutex_lock(&dlock);
    snprintf(deleted_id, sizeof(deleted_id), "%s", id);
    deleted_slot = slot;
    deleted_count++;
    pthread_cond_broadcast(&dcond);
    pthread_mutex_unlock(&dlock);
}

/* Wait (without a time limit that could make the test flaky on a loaded
 * host: the worker always answers) until `n` deletions were reported. */
static void wait_deleted(unsigned n)
{
    pthread_mutex_lock(&dlock);
    while (deleted_count < n)
        pthread_cond_wait(&dcond, &dlock);
    pthread_mutex_unlock(&dlock);
}

static int add_at(const struct device_ops *ops, uint64_t base, unsigned irq)
{
    struct vk_err err = { 0 };
    struct device_instance *d = realloc(M->devices, (M->nr_devices + 1) * sizeof(*d));
    struct device_config dc = { .base = base, .irq = irq };
    void *state = NULL;

    M->devices = d;
    int r = ops->init(M, &dc, &state, &err);
    if (r == 0)
        M->devices[M->nr_devices++] = (struct device_instance){ ops, state };
    else
        printf("# %s: %s\n", ops->name, err.msg);
    return r;
}

static uint32_t hp_reg(unsigned off)
{
    uint64_t v = 0;
    bus_read(&M->pio, PCIHP_PORT_BASE + off, 4, &v);
    return (uint32_t)v;
}

static void hp_write(unsigned off, uint32_t v)
{
    bus_write(&M->pio, PCIHP_PORT_BASE + off, 4, v);
}

static uint8_t gpe_sts(void)
{
    uint64_t v = 0;
    bus_read(&M->pio, ACPI_PM_PORT_BASE + ACPI_GPE0_BLK, 1, &v);
    return (uint8_t)v;
}

static void gpe_ack(void)
{
    bus_write(&M->pio, ACPI_PM_PORT_BASE + ACPI_GPE0_BLK, 1, 1u << PCIHP_GPE_BIT);
}

static struct vm_config cfg;

static int setup(void)
{
    memset(&cfg, 0, sizeof(cfg));
    M = fake_machine_new(&cfg);
    M->state = MACHINE_RUNNING;
    next_gpa = 1 << 20;
    if (add_at(&pci_host_device, 0, 0) || add_at(&acpi_pm_device, ACPI_PM_PORT_BASE, 9) ||
        add_at(&pci_hotplug_device, PCIHP_PORT_BASE, 0))
        return -1;
    HP = pci_hotplug_find(M);
    pci_hotplug_set_listener(HP, on_deleted, NULL);
    /* the guest enables GPE0 bit 1 */
    bus_write(&M->pio, ACPI_PM_PORT_BASE + ACPI_GPE0_BLK + 4, 1, 1u << PCIHP_GPE_BIT);
    return 0;
}

static int create_fail(struct machine *m, const char *spec, struct vk_err *err)
{
    return vk_err_set(err, -EINVAL, "refused");
}

static void test_plug_use_unplug(const char *img)
{
    struct vk_err err = { 0 };
    char spec[300];

    tap_is_int(hp_reg(PCIHP_PRESENT), 0, "empty bus: PRESENT is 0");
    tap_is_int(atomic_load(&fake_irq_level[9]), 0, "SCI low");

    snprintf(spec, sizeof(spec), "path=%s,format=raw", img);
    int slot = pci_hotplug_plug(HP, virtio_blk_create, spec, "disk1", &err);
    tap_is_int(slot, 1, "virtio-blk plugged into slot 1");
    tap_ok(gpe_sts() & (1u << PCIHP_GPE_BIT), "GPE0 status bit 1 latched");
    tap_is_int(atomic_load(&fake_irq_level[9]), 1, "SCI raised");
    tap_is_int(hp_reg(PCIHP_UP), 1u << 1, "UP reports slot 1");
    tap_is_int(hp_reg(PCIHP_UP), 0, "UP is cleared by the read");
    tap_is_int(hp_reg(PCIHP_DOWN), 0, "DOWN is empty");
    tap_is_int(hp_reg(PCIHP_PRESENT), 1u << 1, "PRESENT has slot 1");
    gpe_ack();
    tap_is_int(atomic_load(&fake_irq_level[9]), 0, "SCI drops once the GPE is acknowledged");

    /* the guest uses the new disk */
    struct vdrv d;
    tap_is_int(vdrv_find(&d, &io, 2, 0), 1, "driver finds virtio-blk in slot 1");
    tap_is_int(vdrv_init(&d, 0), 0, "features negotiated");
    tap_is_int(vdrv_setup_queue(&d, 0, 16), 0, "queue set up");
    vdrv_driver_ok(&d);
    uint64_t hg, bg, sg;
    uint8_t *hdr = alloc(NULL, 16, &hg), *buf = alloc(NULL, 512, &bg), *st = alloc(NULL, 1, &sg);
    memset(hdr, 0, 16);
    hdr[8] = 3;                         /* sector 3 */
    *st = 0xff;
    struct vdrv_seg segs[3] = { { hg, 16, false }, { bg, 512, true }, { sg, 1, true } };
    tap_ok(vdrv_transfer(&d, 0, segs, 3, 20000000ul) > 0, "read request completed");
    tap_is_int(*st, 0, "read status OK");
    tap_is_int(buf[0], 0x5c, "sector 3 holds the pattern");

    /* ids */
    tap_is_int(pci_hotplug_plug(HP, virtio_rng_create, "", "disk1", &err), -EEXIST,
               "duplicate id refused");
    tap_ok(strstr(err.msg, "Duplicate") != NULL, "... with a message");
    tap_is_int(pci_hotplug_plug(HP, create_fail, "", "x", &err), -EINVAL,
               "constructor error passed through");
    tap_is_int(hp_reg(PCIHP_UP), 0, "a failed plug latches nothing");
    tap_is_int(pci_hotplug_unplug(HP, "nope", &err), -ENODEV, "unknown id: -ENODEV");
    tap_is_int(pci_hotplug_unplug(HP, "", &err), -EINVAL, "empty id: -EINVAL");

    struct pcihp_info info[32];
    unsigned n = pci_hotplug_query(HP, info, 32);
    tap_is_int(n, 2, "query: host bridge and the disk");
    tap_is_int(info[1].slot, 1, "query: slot");
    tap_is_int(info[1].device, 0x1042, "query: virtio-blk id");
    tap_is_int(info[1].class_code, 0x018000, "query: class");
    tap_is_str(info[1].id, "disk1", "query: qdev id");
    tap_ok(info[1].nr_regions >= 2, "query: BARs listed");

    /* unplug: the host asks, the guest ejects */
    tap_is_int(pci_hotplug_unplug(HP, "disk1", &err), 0, "unplug requested");
    tap_ok(gpe_sts() & (1u << PCIHP_GPE_BIT), "GPE latched again");
    tap_is_int(deleted_count, 0, "nothing deleted before the guest ejects");
    tap_is_int(hp_reg(PCIHP_DOWN), 1u << 1, "DOWN reports slot 1");
    tap_is_int(hp_reg(PCIHP_DOWN), 0, "DOWN cleared by the read");
    gpe_ack();
    tap_is_int(hp_reg(PCIHP_PRESENT), 1u << 1, "still present until the guest ejects");
    hp_write(PCIHP_EJECT, 1u << 1);
    wait_deleted(1);
    tap_is_str(deleted_id, "disk1", "listener told: disk1");
    tap_is_int(deleted_slot, 1, "... from slot 1");
    tap_is_int(hp_reg(PCIHP_PRESENT), 0, "slot 1 is empty");
    /* the listener runs while the vCPUs are parked; they go on right after */
    while (machine_get_state(M) == MACHINE_PAUSED)
        relax(NULL);
    tap_is_int(machine_get_state(M), MACHINE_RUNNING, "the machine runs again after the eject");
    tap_is_int(pci_hotplug_query(HP, info, 32), 1, "query: only the host bridge");
    uint32_t vendor = cfg_read(NULL, 1, 0, 4);
    tap_is_int(vendor, 0xffffffffu, "config space of slot 1 reads all ones");
}

static void test_hostile_and_full(void)
{
    struct vk_err err = { 0 };
    uint64_t v = 0;

    hp_write(PCIHP_EJECT, 0xffffffffu);         /* nothing there: nothing happens */
    hp_write(PCIHP_EJECT, 1u);                  /* the host bridge never goes */
    bus_write(&M->pio, PCIHP_PORT_BASE + PCIHP_UP, 4, 0xffffffffu);
    bus_write(&M->pio, PCIHP_PORT_BASE + PCIHP_EJECT + 1, 2, 0xffff);
    tap_ok(bus_read(&M->pio, PCIHP_PORT_BASE + 3, 1, &v) && v == 0, "odd-width read is 0");
    tap_ok(bus_read(&M->pio, PCIHP_PORT_BASE + 2, 4, &v) && v == 0, "unaligned read is 0");
    tap_is_int(hp_reg(PCIHP_EJECT), 0, "EJECT reads 0");
    tap_is_int(cfg_read(NULL, 0, 0, 4) & 0xffff, 0x1b36, "host bridge still there");

    /* fill the bus: 31 slots, then a clean error */
    int ok = 0, r;
    char id[16];
    for (int i = 0; i < 31; i++) {
        snprintf(id, sizeof(id), "rng%d", i);
        r = pci_hotplug_plug(HP, virtio_rng_create, "", id, &err);
        ok += r == i + 1;
    }
    tap_is_int(ok, 31, "31 devices plugged into slots 1..31");
    tap_is_int(hp_reg(PCIHP_PRESENT), 0xfffffffeu, "PRESENT: every slot");
    tap_is_int(pci_hotplug_plug(HP, virtio_rng_create, "", "one-more", &err), -ENOSPC,
               "a full bus is -ENOSPC");
    tap_is_int(hp_reg(PCIHP_UP), 0xfffffffeu, "UP accumulated every slot");
    gpe_ack();

    /* eject several at once, one of them never asked for (the guest may) */
    unsigned before = deleted_count;
    tap_is_int(pci_hotplug_unplug(HP, "rng4", &err), 0, "unplug rng4");
    hp_write(PCIHP_EJECT, 1u << 5 | 1u << 7);
    wait_deleted(before + 2);
    tap_is_int(hp_reg(PCIHP_PRESENT), 0xfffffffeu & ~(1u << 5 | 1u << 7), "slots 5 and 7 freed");

    /* a pending unplug completes on machine reset */
    tap_is_int(pci_hotplug_unplug(HP, "rng10", &err), 0, "unplug rng10, guest does not answer");
    before = deleted_count;
    for (unsigned i = 0; i < M->nr_devices; i++)
        if (M->devices[i].ops == &pci_hotplug_device)
            M->devices[i].ops->reset(M->devices[i].state);
    tap_is_int(deleted_count, before + 1, "reset removed it");
    tap_is_str(deleted_id, "rng10", "... and reported rng10");
    tap_is_int(hp_reg(PCIHP_UP), 0, "reset cleared UP");

    /* freed slots are reused */
    tap_is_int(pci_hotplug_plug(HP, virtio_rng_create, "", "again", &err), 5,
               "a new device takes the first free slot");
}

static void tap_skip(int n, const char *why)
{
    for (int i = 0; i < n; i++)
        printf("ok %d # SKIP %s\n", ++tap_n, why);
}

/* Devices from the command line (--disk/--net id=...) can be unplugged
 * by id too. */
static void test_cold_plugged_ids(const char *img)
{
    struct vk_err err = { 0 };
    char spec[300];
    unsigned before = deleted_count;

    snprintf(spec, sizeof(spec), "path=%s,format=raw,readonly=on,id=boot0", img);
    tap_is_int(virtio_blk_create(M, spec, &err), 0, "--disk ...,id=boot0 created");
    snprintf(spec, sizeof(spec), "path=%s,format=raw,readonly=on,id=boot0", img);
    tap_is_int(virtio_blk_create(M, spec, &err), -EEXIST, "a second id=boot0 is refused");
    snprintf(spec, sizeof(spec), "path=%s,format=raw,id=0bad", img);
    tap_is_int(virtio_blk_create(M, spec, &err), -EINVAL, "a malformed id is refused");
    tap_is_int(virtio_net_create(M, "tap=x,id=boot0", &err), -EEXIST,
               "--net with a taken id is refused before opening anything");
    tap_is_int(pci_hotplug_plug(HP, virtio_rng_create, "", "boot0", &err), -EEXIST,
               "device_add with the id of a cold-plugged device is refused");
    struct pcihp_info info[32];
    unsigned n = pci_hotplug_query(HP, info, 32), slot = 0;
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(info[i].id, "boot0"))
            slot = info[i].slot;
    tap_ok(slot > 0, "query shows qdev id boot0 (slot %u)", slot);
    tap_is_int(pci_hotplug_unplug(HP, "boot0", &err), 0, "device_del boot0");
    tap_is_int(hp_reg(PCIHP_DOWN), 1u << slot, "DOWN reports its slot");
    hp_write(PCIHP_EJECT, 1u << slot);
    wait_deleted(before + 1);
    tap_is_str(deleted_id, "boot0", "boot0 deleted");
    gpe_ack();
}

static uint32_t le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int run_cmd(const char *cmd)
{
    int r = system(cmd);
    return r;
}

static void test_aml(void)
{
    struct acpi_config c;
    struct acpi_tables t;
    struct vk_err err = { 0 };
    const uint8_t *dsdt = NULL;

    acpi_config_default(&c, 1);
    if (acpi_build(&c, &t, &err) < 0) {
        tap_ok(0, "acpi_build: %s", err.msg);
        return;
    }
    const uint8_t *data = t.files[ACPI_FILE_TABLES].data;
    size_t len = t.files[ACPI_FILE_TABLES].len;
    for (size_t off = 0; off + 36 <= len && !dsdt; off += 8)
        if (!memcmp(data + off, "DSDT", 4) && le32(data + off + 4) <= len - off)
            dsdt = data + off;
    tap_ok(dsdt != NULL, "DSDT found");
    if (!dsdt || access("/usr/bin/iasl", X_OK) != 0 || access("/usr/bin/acpiexec", X_OK) != 0) {
        tap_skip(6, "iasl/acpiexec (acpica-tools) not installed");
        acpi_tables_free(&t);
        return;
    }
    char dir[] = "/tmp/vk-pcihp-XXXXXX", path[300], cmd[900];
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        acpi_tables_free(&t);
        return;
    }
    /* The checksum is the table loader's job (acpi_add_checksum): do it here. */
    uint32_t tlen = le32(dsdt + 4);
    uint8_t *copy = malloc(tlen), sum = 0;
    if (!copy) {
        tap_ok(0, "malloc");
        acpi_tables_free(&t);
        return;
    }
    memcpy(copy, dsdt, tlen);
    copy[9] = 0;
    for (uint32_t i = 0; i < tlen; i++)
        sum = (uint8_t)(sum + copy[i]);
    copy[9] = (uint8_t)(0x100 - sum);
    snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    tap_ok(fd >= 0 && write(fd, copy, tlen) == (ssize_t)tlen, "DSDT written");
    free(copy);
    if (fd >= 0)
        close(fd);
    acpi_tables_free(&t);

    snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >log 2>&1", dir);
    tap_is_int(run_cmd(cmd), 0, "iasl -d accepts the DSDT");
    char *dsl = NULL;
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
    if (vk_read_file(path, &dsl, &n, &err) == 0) {
        tap_ok(strstr(dsl, "OperationRegion (PCHP, SystemIO, 0xAE00, 0x10)") != NULL,
               "DSDT: hot-plug register region");
        tap_ok(strstr(dsl, "Device (SL31)") && strstr(dsl, "Name (_SUN, 0x1F)") &&
               strstr(dsl, "Method (_EJ0, 1"), "DSDT: slot devices with _SUN and _EJ0");
        tap_ok(strstr(dsl, "Notify (SL07, 0x03)") && strstr(dsl, "Notify (SL07, One)"),
               "DSDT: PCNT notifies device check and eject request");
        tap_ok(strstr(dsl, "Method (_E01, 0") != NULL, "DSDT: \\_GPE._E01");
        free(dsl);
    } else {
        tap_skip(4, "iasl wrote no DSDT.dsl");
    }
    /* acpiexec loads the table and runs the methods (regions are emulated
     * in memory there); any AML error shows in its output. */
    snprintf(cmd, sizeof(cmd),
             "cd %s && acpiexec -b 'execute \\_GPE._E01; execute \\_SB.PCI0.SL05._EJ0 0; "
             "execute \\_SB.PCI0.PCNT' dsdt.dat >exec.log 2>&1; "
             "grep -q 'Evaluating ._SB.PCI0.PCNT' exec.log && "
             "! grep -qE 'AE_[A-Z_]+|Error|Fault' exec.log", dir);
    tap_is_int(run_cmd(cmd), 0, "acpiexec runs _E01, _EJ0 and PCNT without AML errors");
    if (getenv("VK_TEST_KEEP")) {       /* debugging: keep dsdt.dat and the logs */
        printf("# kept %s\n", dir);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (run_cmd(cmd)) {}
}

int main(void)
{
    char img[] = "/tmp/vk-hp-img-XXXXXX";
    int fd = mkstemp(img);
    uint8_t sector[512];

    if (fd < 0)
        tap_skip_all("cannot create a temporary image");
    for (int s = 0; s < 16; s++) {
        memset(sector, s == 3 ? 0x5c : 0, sizeof(sector));
        if (write(fd, sector, sizeof(sector)) != (ssize_t)sizeof(sector))
            tap_skip_all("cannot write the temporary image");
    }
    close(fd);
    if (setup() < 0) {
        unlink(img);
        tap_skip_all("cannot build the fake machine");
    }
    test_plug_use_unplug(img);
    test_hostile_and_full();
    /* free a few slots for the next part */
    struct vk_err err = { 0 };
    unsigned before = deleted_count;
    tap_is_int(pci_hotplug_unplug(HP, "rng20", &err), 0, "unplug rng20");
    hp_write(PCIHP_EJECT, 1u << 21);
    wait_deleted(before + 1);
    tap_is_int(hp_reg(PCIHP_DOWN), 1u << 21, "DOWN had slot 21");
    test_cold_plugged_ids(img);
    fake_machine_free(M);
    unlink(img);
    test_aml();
    return tap_done();
}
