/* A stand-in for the machine in device unit tests: one RAM region, real
 * buses, and recorders for IRQ lines and state requests. Provides
 * machine_gpa_to_hva, machine_set_irq and machine_request. */
#ifndef VK_TEST_FAKE_MACHINE_H
#define VK_TEST_FAKE_MACHINE_H

#include "machine.h"

struct fake_machine {
    struct machine m;
    struct vm_config cfg;
    int irq_level[64];
    unsigned irq_changes;
    enum machine_state last_request;
    unsigned nr_requests;
};

/* `ram` bytes of zeroed RAM at guest address 0. */
struct fake_machine *fake_machine_new(uint64_t ram, unsigned ncpus);
void fake_machine_free(struct fake_machine *f);
/* Create a board device and add it to m->devices. */
void *fake_machine_add(struct fake_machine *f, const struct device_ops *ops, uint64_t base,
                       unsigned irq, const char *args);

#endif
