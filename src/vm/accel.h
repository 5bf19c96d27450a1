/* The accelerator interface: what runs guest instructions.
 *
 * Two implementations plug in here: KVM (accel/kvm.c) and the software CPU
 * (accel/tcg.c, a thin adapter over src/cpu). The generic run loop
 * (vcpu_loop.c) owns the switch on exit reasons and dispatches port and
 * MMIO accesses to the device model (bus.h), so devices never know which
 * engine made an access.
 *
 * Threads: vm_* ops run on the main thread during setup; vcpu_* ops run on
 * the vCPU's own thread, except vcpu_kick which any thread may call.
 */
#ifndef VK_VM_ACCEL_H
#define VK_VM_ACCEL_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct machine;
struct vcpu;

/* Architectural register state, shared by every accelerator so boot code
 * sets up a vCPU once for all of them. */
struct vk_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
};

struct vk_segment {
    uint64_t base;
    uint32_t limit;
    uint16_t selector;
    uint8_t type, present, dpl, db, s, l, g, avl, unusable;
};

struct vk_dtable { uint64_t base; uint16_t limit; };

struct vk_sregs {
    struct vk_segment cs, ds, es, fs, gs, ss, tr, ldt;
    struct vk_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

enum vk_exit_reason {
    VK_EXIT_NONE,
    VK_EXIT_IO,          /* port I/O: io.* valid */
    VK_EXIT_MMIO,        /* MMIO outside RAM: mmio.* valid */
    VK_EXIT_HLT,         /* only when the accel does not handle HLT itself */
    VK_EXIT_SHUTDOWN,    /* triple fault: the machine resets */
    VK_EXIT_INTR,        /* interrupted by vcpu_kick: check machine state */
    VK_EXIT_SYSTEM_EVENT,/* reset/shutdown requested by the accel */
    VK_EXIT_FAIL,        /* cannot continue: message in `fail` */
};

struct vk_exit {
    enum vk_exit_reason reason;
    union {
        struct {
            uint16_t port;
            uint8_t size;      /* 1, 2 or 4 */
            bool is_write;
            uint32_t count;    /* >1 for string I/O (KVM); data is size*count */
            uint8_t *data;     /* accel-owned buffer; reads are filled in place */
        } io;
        struct {
            uint64_t addr;
            uint8_t len;       /* 1..8 */
            bool is_write;
            uint8_t data[8];   /* writes: value; reads: fill in */
        } mmio;
        struct {
            bool reset;        /* true: reset, false: power off */
        } system;
    };
    char fail[256];
};

struct accel_ops {
    const char *name;                 /* "kvm", "tcg" */
    /* 0 if usable on this host; >0 (1) if usable but stock guests cannot
     * run accelerated (PVM-based KVM); -errno with detail otherwise. */
    int (*probe)(struct vk_err *err);

    /* Lifecycle: vm_init, map_ram per RAM region, vcpu_init per vCPU; on a
     * machine reset everything is torn down (vcpu_exit, vm_exit) and built
     * again the same way, so vm_init must work again after vm_exit. Boot
     * code then sets the BSP's registers (APs stay waiting for SIPI). */
    int (*vm_init)(struct machine *m, struct vk_err *err);
    void (*vm_exit)(struct machine *m);
    /* Map guest RAM [gpa, gpa+size) to host memory `hva`. */
    int (*map_ram)(struct machine *m, uint64_t gpa, uint64_t size, void *hva,
                   struct vk_err *err);
    /* Drive an interrupt line (GSI) of the platform irqchip. */
    void (*set_irq)(struct machine *m, unsigned gsi, int level);
    /* Deliver an MSI message; returns 0 or -errno. */
    int (*signal_msi)(struct machine *m, uint64_t addr, uint32_t data);
    /* Optional: signal eventfd `fd` on a `len`-byte guest write to MMIO
     * `addr` without leaving the kernel (virtio notifications); assign=false
     * removes it. The bus handler stays registered as the fallback. */
    int (*ioeventfd)(struct machine *m, uint64_t addr, unsigned len, int fd, bool assign);
    /* Optional: a write to eventfd `fd` pulses interrupt line `gsi` without
     * a trip through user space (an I/O thread's completion interrupt);
     * assign=false removes it. Returns 0 or -errno. */
    int (*irqfd)(struct machine *m, unsigned gsi, int fd, bool assign);
    /* Optional: guest RAM [gpa, gpa+len) was written by a device (DMA), not
     * by a vCPU; an accelerator that caches decoded guest code drops what
     * it made from those bytes. Any thread. */
    void (*invalidate_code)(struct machine *m, uint64_t gpa, uint64_t len);

    int (*vcpu_init)(struct vcpu *v, struct vk_err *err);
    void (*vcpu_exit)(struct vcpu *v);
    /* Run until something needs the generic loop; fill `exit`. After an I/O
     * or MMIO read exit the loop fills the data and calls vcpu_run again,
     * which completes the instruction. */
    int (*vcpu_run)(struct vcpu *v, struct vk_exit *exit);
    /* Make a running vcpu_run return VK_EXIT_INTR soon. Any thread. */
    void (*vcpu_kick)(struct vcpu *v);

    int (*get_regs)(struct vcpu *v, struct vk_regs *r);
    int (*set_regs)(struct vcpu *v, const struct vk_regs *r);
    int (*get_sregs)(struct vcpu *v, struct vk_sregs *s);
    int (*set_sregs)(struct vcpu *v, const struct vk_sregs *s);
    int (*set_msr)(struct vcpu *v, uint32_t index, uint64_t value);
    /* Put the vCPU in its power-on/INIT state (APs wait for SIPI). */
    int (*vcpu_reset)(struct vcpu *v);
};

extern const struct accel_ops accel_kvm;
extern const struct accel_ops accel_tcg;

/* Resolve "kvm", "tcg" or "auto" to an accelerator. */
const struct accel_ops *accel_select(const char *name, struct vk_err *err);

#endif
