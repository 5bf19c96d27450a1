/* The machine: guest RAM, address spaces, vCPUs, devices, lifecycle.
 * Internal to src/vm (the public entry point is vm.h). */
#ifndef VK_VM_MACHINE_H
#define VK_VM_MACHINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accel.h"
#include "bus.h"
#include "vm.h"

/* Memory map (see docs/machine.md). RAM below 4 GiB stops at the PCI hole. */
#define MACHINE_PCI_HOLE_START  0xC0000000ULL   /* 3 GiB: 32-bit PCI MMIO, ECAM, LAPIC, IOAPIC */
#define MACHINE_HIGH_RAM_START  0x100000000ULL  /* 4 GiB */
#define MACHINE_MAX_RAM_REGIONS 4
#define MACHINE_MAX_FIRMWARE    (256 * 1024)    /* ends at 4 GiB, above the KVM TSS pages */
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
    unsigned index;             /* also the initial APIC ID; 0 is the BSP */
    pthread_t thread;
    bool thread_started;
    void *accel_state;          /* owned by the accelerator */
    atomic_bool paused;         /* acknowledged pause */
    atomic_int tid;             /* host thread id once running (QMP query-cpus-fast) */
};

struct device_ops;
struct chardev;

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
    uint8_t *rom;               /* --firmware image, mapped below 4 GiB (also in ram[]) */
    uint64_t rom_size;

    struct bus pio, mmio;

    struct vcpu *vcpus[MACHINE_MAX_VCPUS];
    unsigned nr_vcpus;

    struct device_instance *devices;
    unsigned nr_devices;

    struct chardev *chardevs[8];  /* serial backends, for query-chardev */
    unsigned nr_chardevs;

    /* Held for writing while a reboot tears the accelerator down and builds
     * it again; machine_set_irq holds it for reading, so device threads
     * (RTC timer, serial input) never reach a half-built irqchip. */
    pthread_rwlock_t accel_lock;

    pthread_mutex_t lock;       /* guards state changes below */
    pthread_cond_t cond;        /* broadcast on every change below */
    enum machine_state state;
    int exit_status;
    bool pause_requested;
    atomic_bool attention;      /* vCPUs must look at state/pause_requested */
    unsigned nr_paused;         /* vCPUs parked because of pause_requested */
    unsigned nr_running;        /* vCPU threads not yet finished */
};

/* Guest physical -> host pointer for [gpa, gpa+len) entirely inside RAM,
 * else NULL. Use this for every guest-supplied address. */
void *machine_gpa_to_hva(struct machine *m, uint64_t gpa, uint64_t len);

/* A device wrote guest RAM [gpa, gpa+len) (DMA): tell the accelerator, so
 * the software CPU never runs stale decoded code. Devices call this for
 * every buffer they fill; it is free on KVM. */
static inline void machine_dma_written(struct machine *m, uint64_t gpa, uint64_t len)
{
    if (m->accel && m->accel->invalidate_code)
        m->accel->invalidate_code(m, gpa, len);
}

/* Does the accelerator need to hear of device writes into guest RAM (it
 * caches decoded guest code: the software CPU)? Then the kernel must not
 * write guest RAM behind its back (vhost). */
static inline bool machine_tracks_dma(const struct machine *m)
{
    return m->accel && m->accel->invalidate_code;
}

/* Drive a platform interrupt line (GSI) through the accelerator's irqchip. */
void machine_set_irq(struct machine *m, unsigned gsi, int level);

/* Request a state change from any thread (device, control socket, vCPU).
 * SHUTDOWN, RESET, FAILED and DEBUG_EXIT end the current run (the first one
 * requested wins; a later request cannot override it); the main thread
 * then exits or, for RESET without --no-reboot, reboots the machine.
 * RUNNING/PAUSED are accepted too but machine_pause/resume are preferred. */
void machine_request(struct machine *m, enum machine_state state, int exit_status);

/* Stop every vCPU at an instruction boundary and wait until they have all
 * parked (QMP `stop`); machine_resume lets them go on (`cont`). From a vCPU
 * thread (a device asking for a pause) machine_pause only requests it and
 * returns without waiting. Both are no-ops in the wrong state. */
void machine_pause(struct machine *m);
void machine_resume(struct machine *m);
/* Current state (a snapshot; for query-status). */
enum machine_state machine_get_state(struct machine *m);

/* Lifecycle, used by vm_main: create (RAM, accelerator, vCPUs, devices from
 * the board table, boot image), run until the guest ends, destroy. */
int machine_create(const struct vm_config *cfg, struct machine **out, struct vk_err *err);
/* Runs the machine, rebooting on reset; returns the process exit status. */
int machine_run(struct machine *m, struct vk_err *err);
void machine_destroy(struct machine *m);

/* The e820 map of this machine (RAM below the PCI hole and above 4 GiB, the
 * BIOS areas reserved). Returns the number of entries written (<= max). */
struct e820_entry { uint64_t addr, size; uint32_t type; } __attribute__((packed));
#define E820_RAM      1
#define E820_RESERVED 2
unsigned machine_e820(const struct machine *m, struct e820_entry *e, unsigned max);

/* A platform device: one file, one const ops table, listed in the board
 * table (board.c) with its placement. Handlers see offsets only. */
struct device_config {
    uint64_t base;              /* port or MMIO base from the board table */
    uint64_t size;              /* length of the range at base */
    unsigned irq;               /* GSI, if any */
    unsigned index;             /* instance number (COM1 = 0, COM2 = 1 ...) */
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

/* The board: which devices a machine has and where. One line per device in
 * board.c, initialised in level order (then table order) and reset in the
 * same order. `when` says whether an entry is present on a given command
 * line:
 *   BOARD_ALWAYS    always (its init may still decide to do nothing, e.g. a
 *                   control socket without --control: it then sets *state
 *                   to NULL and returns 0);
 *   BOARD_SERIAL    when --serial number `index` was given (args = spec);
 *   BOARD_OPTIONAL  only with `--device NAME[,opts]` (args = the whole spec,
 *                   parse it with vk_kv_parse(args, "driver", ...)).
 * A --device name that matches no BOARD_OPTIONAL entry is a command-line
 * error. */
enum board_level {
    BOARD_LEVEL_CORE,           /* irqchips, firmware interfaces */
    BOARD_LEVEL_DEV,            /* ordinary devices */
    BOARD_LEVEL_LATE,           /* needs the others: ACPI tables, control socket */
    BOARD_NR_LEVELS,
};
enum board_when { BOARD_ALWAYS, BOARD_SERIAL, BOARD_OPTIONAL };

struct board_entry {
    const struct device_ops *ops;
    uint64_t base, size;
    unsigned irq;
    enum board_level level;
    enum board_when when;
    unsigned index;
};
extern const struct board_entry board_pc[];
extern const unsigned board_pc_size;

/* Set by the binary's signal handler (SIGINT/SIGTERM/SIGHUP): machine_run
 * then ends the VM as QEMU does ("terminating on signal"), exit status 0. */
extern volatile int machine_signal_received;

/* Run one vCPU until the machine leaves the running/paused states
 * (vcpu_loop.c; the thread body machine_run starts). */
void *vcpu_thread(void *arg);
/* The vCPU the calling thread runs, or NULL on other threads. */
extern __thread struct vcpu *vcpu_current;
/* Print the vCPU's registers at error level (after a fatal exit). */
void vcpu_dump_regs(struct vcpu *v);

/* Names accepted by --device (BOARD_OPTIONAL entries), for --help. */
void board_list_optional(char *buf, size_t len);
/* The same, skipping entries whose device file is not built (NULL ops). */
void board_optional_names(char *buf, size_t len);

#endif
