#include <stdlib.h>
#include <string.h>

#include "fake_machine.h"

static struct fake_machine *the_fake;

void *machine_gpa_to_hva(struct machine *m, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < m->nr_ram; i++) {
        struct ram_region *r = &m->ram[i];
        if (gpa >= r->gpa && vk_range_ok(gpa - r->gpa, len, r->size))
            return r->hva + (gpa - r->gpa);
    }
    return NULL;
}

void machine_set_irq(struct machine *m, unsigned gsi, int level)
{
    if (the_fake && gsi < 64) {
        the_fake->irq_level[gsi] = level;
        the_fake->irq_changes++;
    }
}

void machine_request(struct machine *m, enum machine_state state, int exit_status)
{
    if (the_fake) {
        the_fake->last_request = state;
        the_fake->nr_requests++;
    }
}

struct fake_machine *fake_machine_new(uint64_t ram, unsigned ncpus)
{
    struct fake_machine *f = calloc(1, sizeof(*f));

    f->cfg.smp = ncpus;
    f->cfg.memory = ram;
    f->m.cfg = &f->cfg;
    f->m.ram[0].gpa = 0;
    f->m.ram[0].size = ram;
    f->m.ram[0].hva = calloc(1, ram);
    f->m.nr_ram = 1;
    f->m.ram_size = ram;
    f->m.nr_vcpus = ncpus;
    f->m.devices = calloc(16, sizeof(*f->m.devices));
    f->last_request = MACHINE_RUNNING;
    bus_init(&f->m.pio, "pio");
    bus_init(&f->m.mmio, "mmio");
    pthread_mutex_init(&f->m.lock, NULL);
    pthread_cond_init(&f->m.cond, NULL);
    the_fake = f;
    return f;
}

void *fake_machine_add(struct fake_machine *f, const struct device_ops *ops, uint64_t base,
                       unsigned irq, const char *args)
{
    struct device_config dc = { .base = base, .irq = irq, .args = args };
    struct vk_err err = {0};
    void *state = NULL;

    if (f->m.nr_devices == 16 || ops->init(&f->m, &dc, &state, &err) < 0)
        return NULL;
    f->m.devices[f->m.nr_devices++] = (struct device_instance){ ops, state };
    return state;
}

void fake_machine_free(struct fake_machine *f)
{
    for (unsigned i = f->m.nr_devices; i-- > 0;)
        if (f->m.devices[i].ops->destroy && f->m.devices[i].state)
            f->m.devices[i].ops->destroy(f->m.devices[i].state);
    free(f->m.devices);
    free(f->m.ram[0].hva);
    bus_destroy(&f->m.pio);
    bus_destroy(&f->m.mmio);
    pthread_mutex_destroy(&f->m.lock);
    pthread_cond_destroy(&f->m.cond);
    if (the_fake == f)
        the_fake = NULL;
    free(f);
}
