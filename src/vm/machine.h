/* The machine: guest RAM, address spaces, vCPUs, devices, lifecycle.
 * Internal to src/vm (the public entry point is vm.h). */
#ifndef VK_VM_MACHINE_H
#define VK_VM_MACHINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "accel.h"
#include "bus.h"
#include "vm.h"

/* Memory map (see docs/machine.md). RAM below 4 GiB stops at the PCI hole. */
#define MACHINE_PCI_HOLE_START  0xC0000000ULL   /* 3 GiB: 32-bit PCI MMIO, ECAM, LAPIC, IOAPIC */
#define MACHINE_HIGH_RAM_START  0x100000000ULL  /* 4 GiB */
#define MACHINE_MAX_RAM_REGIONS 4
#define MACHINE_MAX_VCPUS       64

struct ram_region {
    uint64_t gpa, size;
    uint8_t *hva;
};

enum machine_state {
    MACHINE_RUNNING,
    MACHINE_PAUSED,
    MACHINE_SHUTDOWN,     /* power-off requested: exit 0 */
    MACHINE_RESET,        /* reset requested */
    MACHINE_FAILED,       /* unrecoverable error: exit 1 */
    MACHINE_DEBUG_EXIT,   /* isa-debug-exit: exit with exit_status */
};

struct vcpu {
    struct machine *m;
    unsigned index;
    pthread_t thread;
    void *accel_state;          /* owned by the accelerator */
    atomic_bool paused;         /* acknowledged pause */
};

struct device_ops;

struct device_instance {
    const struct device_ops *ops;
    void *state;
};

struct machine {
    const struct vm_config *cfg;
    const struct accel_ops *accel;
    void *accel_state;

    struct ram_region ram[MACHINE_MAX_RAM_REGIONS];
    unsigned nr_ram;
    uint64_t ram_size;
    int ram_fd;                 /* memfd backing all RAM */

    struct bus pio, mmio;

    struct vcpu *vcpus[MACHINE_MAX_VCPUS];
    unsigned nr_vcpus;

    struct device_instance *devices;
    unsigned nr_devices;

    pthread_mutex_t lock;       /* guards state changes below */
    pthread_cond_t cond;
    enum machine_state state;
    int exit_status;
    bool pause_requested;
};

/* Guest physical -> host pointer for [gpa, gpa+len) entirely inside RAM,
 * else NULL. Use this for every guest-supplied address. */
void *machine_gpa_to_hva(struct machine *m, uint64_t gpa, uint64_t len);

/* Drive a platform interrupt line (GSI) through the accelerator's irqchip. */
void machine_set_irq(struct machine *m, unsigned gsi, int level);

/* Request a state change from any thread (device, control socket, vCPU). */
void machine_request(struct machine *m, enum machine_state state, int exit_status);

/* A platform device: one file, one const ops table, listed in the board
 * table (board.c) with its placement. Handlers see offsets only. */
struct device_config {
    uint64_t base;              /* port or MMIO base from the board table */
    unsigned irq;               /* GSI, if any */
    const char *args;           /* --device/--serial option string, may be NULL */
};

struct device_ops {
    const char *name;
    /* Create state, register bus ranges. Returns 0 or -errno with detail. */
    int (*init)(struct machine *m, const struct device_config *cfg, void **state,
                struct vk_err *err);
    void (*reset)(void *state);     /* optional: machine reset */
    void (*destroy)(void *state);   /* optional */
};

#endif
