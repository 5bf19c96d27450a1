/* Install the ACPI tables for a machine: in guest RAM for direct kernel
 * boot, and as fw_cfg files (with the table-loader script) for firmware. */
#include <errno.h>
#include <stdlib.h>

#include "acpi.h"
#include "../devices/acpi_pm.h"
#include "../devices/fw_cfg.h"
#include "../machine.h"

static int publish_fw_cfg(struct fw_cfg *fc, const struct acpi_tables *t, struct vk_err *err)
{
    uint8_t *script;
    size_t len;
    int r;

    for (unsigned i = 0; i < ACPI_NR_FILES; i++) {
        r = fw_cfg_add_file(fc, t->files[i].name, t->files[i].data, t->files[i].len, err);
        if (r < 0)
            return r;
    }
    r = acpi_table_loader(t, &script, &len, err);
    if (r < 0)
        return r;
    r = fw_cfg_add_file(fc, "etc/table-loader", script, len, err);
    free(script);
    return r;
}

int acpi_build_install(struct machine *m, struct vk_err *err)
{
    struct acpi_pm *pm = acpi_pm_find(m);
    struct fw_cfg *fc = fw_cfg_find(m);
    unsigned ncpus = m->nr_vcpus ? m->nr_vcpus : (m->cfg && m->cfg->smp ? m->cfg->smp : 1);
    struct acpi_config c;
    struct acpi_tables t;
    int r;

    if (!pm)
        return vk_err_set(err, -ENODEV, "acpi: the board has no acpi-pm device");
    acpi_config_default(&c, ncpus);
    c.pm_base = acpi_pm_base(pm);
    c.sci_irq = acpi_pm_sci(pm);
    r = acpi_build(&c, &t, err);
    if (r < 0)
        return r;

    if (!(m->cfg && m->cfg->firmware)) {
        const uint64_t addr[ACPI_NR_FILES] = {
            [ACPI_FILE_TABLES] = ACPI_TABLES_ADDR,
            [ACPI_FILE_RSDP] = ACPI_RSDP_ADDR,
        };
        uint8_t *dst[ACPI_NR_FILES];

        if (t.files[ACPI_FILE_TABLES].len > ACPI_TABLES_MAX) {
            r = vk_err_set(err, -E2BIG, "acpi: tables (%zu bytes) do not fit in the F-segment",
                           t.files[ACPI_FILE_TABLES].len);
            goto out;
        }
        for (unsigned i = 0; i < ACPI_NR_FILES; i++) {
            dst[i] = machine_gpa_to_hva(m, addr[i], t.files[i].len);
            if (!dst[i]) {
                r = vk_err_set(err, -EFAULT, "acpi: 0x%llx is not guest RAM",
                               (unsigned long long)addr[i]);
                goto out;
            }
        }
        acpi_tables_link(&t, addr, dst);
    }
    if (fc)
        r = publish_fw_cfg(fc, &t, err);
out:
    acpi_tables_free(&t);
    return r;
}

/* The board entry (level LATE: RAM, fw_cfg and acpi-pm exist by then).
 * Reinstalled on reset, since the guest owned that memory meanwhile. */
struct acpi_tables_state {
    struct machine *m;
};

static int acpi_tables_init(struct machine *m, const struct device_config *cfg, void **state,
                            struct vk_err *err)
{
    struct acpi_tables_state *s;
    int r = acpi_build_install(m, err);

    if (r < 0)
        return r;
    s = calloc(1, sizeof(*s));
    if (!s)
        return vk_err_errno(err, -ENOMEM, "acpi");
    s->m = m;
    *state = s;
    return 0;
}

static void acpi_tables_reset(void *state)
{
    struct acpi_tables_state *s = state;
    struct vk_err err = {0};

    if (acpi_build_install(s->m, &err) < 0)
        vk_warn("acpi: reinstalling tables on reset: %s", err.msg);
}

static void acpi_tables_destroy(void *state)
{
    free(state);
}

const struct device_ops acpi_tables_device = {
    .name = "acpi-tables",
    .init = acpi_tables_init,
    .reset = acpi_tables_reset,
    .destroy = acpi_tables_destroy,
};
