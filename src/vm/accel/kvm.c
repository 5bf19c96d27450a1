/* The KVM accelerator: one VM fd, one fd + kvm_run page per vCPU, the
 * in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT.
 *
 * Kicks: vcpu_kick sets kvm_run.immediate_exit and sends SIG_KICK to the
 * vCPU thread; the signal makes a running KVM_RUN return -EINTR and
 * immediate_exit covers the window before the thread enters KVM_RUN. The
 * generic loop re-checks the machine state after every exit, so a kick is
 * never lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../machine.h"
#include "kvm_cpuid.h"
#include "host.h"

#define KVM_TSS_ADDR      0xfffbd000ULL   /* 3 pages, below the firmware window */
#define KVM_IDMAP_ADDR    0xfffbc000ULL

struct kvm_vm {
    int sys_fd, vm_fd;
    int run_size;
    unsigned next_slot;
    struct kvm_cpuid2 *supported;
};

struct kvm_vcpu {
    int fd;
    struct kvm_run *run;
    bool mmio_read_pending;
};

static int kvm_set_msr(struct vcpu *v, uint32_t index, uint64_t value);

static int sig_kick(void) { return SIGRTMIN; }
static void kick_handler(int sig) { (void)sig; }

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do
        r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR && req != KVM_RUN);
    return r < 0 ? -errno : r;
}

static int kvm_probe(struct vk_err *err)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return vk_err_errno(err, -errno, "/dev/kvm");
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (v != KVM_API_VERSION)
        return vk_err_set(err, -ENOTSUP, "/dev/kvm: API version %d, want %d", v, KVM_API_VERSION);
    return vk_host_kvm_flavour(NULL) == VK_KVM_HW ? 0 : 1;
}

static int get_supported_cpuid(struct kvm_vm *k, struct vk_err *err)
{
    for (unsigned n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            return vk_err_set(err, -ENOMEM, "out of memory");
        c->nent = n;
        int r = xioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
        if (r == 0) {
            k->supported = c;
            return 0;
        }
        free(c);
        if (r != -E2BIG)
            return vk_err_errno(err, r, "KVM_GET_SUPPORTED_CPUID");
    }
    return vk_err_set(err, -E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

static void kvm_vm_exit(struct machine *m)
{
    struct kvm_vm *k = m->accel_state;
    if (!k)
        return;
    if (k->vm_fd >= 0)
        close(k->vm_fd);
    if (k->sys_fd >= 0)
        close(k->sys_fd);
    free(k->supported);
    free(k);
    m->accel_state = NULL;
}

/* The PC wiring of ISA IRQ 0 (the PIT) to IOAPIC pin 2, as the MADT's
 * interrupt source override says (acpi_build.c) and QEMU does; KVM's
 * default table would route GSI 0 to pin 0. GSIs 0-15 also reach the PICs
 * (except 2, the cascade); 16-23 are IOAPIC-only (PCI INTx). */
static int kvm_set_pc_irq_routing(struct kvm_vm *k, struct vk_err *err)
{
    struct {
        struct kvm_irq_routing r;
        struct kvm_irq_routing_entry e[40];
    } t;
    unsigned n = 0;

    memset(&t, 0, sizeof(t));
    for (unsigned gsi = 0; gsi < 16; gsi++) {
        if (gsi == 2)
            continue;
        t.e[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                           .pin = gsi % 8 } };
    }
    for (unsigned gsi = 0; gsi < 24; gsi++) {
        if (gsi == 2)
            continue;
        t.e[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi } };
    }
    t.r.nr = n;
    int rc = xioctl(k->vm_fd, KVM_SET_GSI_ROUTING, &t);
    return rc < 0 ? vk_err_errno(err, rc, "KVM_SET_GSI_ROUTING") : 0;
}

static int kvm_vm_init(struct machine *m, struct vk_err *err)
{
    struct kvm_vm *k = calloc(1, sizeof(*k));
    if (!k)
        return vk_err_set(err, -ENOMEM, "out of memory");
    k->vm_fd = -1;
    m->accel_state = k;
    int rc;
    k->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (k->sys_fd < 0) {
        rc = vk_err_errno(err, -errno, "/dev/kvm");
        goto fail;
    }
    if (ioctl(k->sys_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        rc = vk_err_set(err, -ENOTSUP, "/dev/kvm: unsupported API version");
        goto fail;
    }
    do
        k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
    while (k->vm_fd < 0 && errno == EINTR);
    if (k->vm_fd < 0) {
        rc = vk_err_errno(err, -errno, "KVM_CREATE_VM");
        goto fail;
    }
    k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (k->run_size <= 0) {
        rc = vk_err_errno(err, -errno, "KVM_GET_VCPU_MMAP_SIZE");
        goto fail;
    }
    /* Intel needs these pages in guest-physical space for real mode; they
     * lie in the PCI hole, never RAM. Other flavours may refuse: harmless. */
    if (ioctl(k->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0)
        xioctl(k->vm_fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)KVM_TSS_ADDR);
    if (ioctl(k->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
        uint64_t a = KVM_IDMAP_ADDR;
        xioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a);
    }
    rc = xioctl(k->vm_fd, KVM_CREATE_IRQCHIP, NULL);
    if (rc < 0) {
        vk_err_errno(err, rc, "KVM_CREATE_IRQCHIP");
        goto fail;
    }
    rc = kvm_set_pc_irq_routing(k, err);
    if (rc < 0)
        goto fail;
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    rc = xioctl(k->vm_fd, KVM_CREATE_PIT2, &pit);
    if (rc < 0) {
        vk_err_errno(err, rc, "KVM_CREATE_PIT2");
        goto fail;
    }
    rc = get_supported_cpuid(k, err);
    if (rc < 0)
        goto fail;

    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(sig_kick(), &sa, NULL);
    return 0;
fail:
    kvm_vm_exit(m);
    return rc;
}

static int kvm_map_ram(struct machine *m, uint64_t gpa, uint64_t size, void *hva,
                       struct vk_err *err)
{
    struct kvm_vm *k = m->accel_state;
    struct kvm_userspace_memory_region r = {
        .slot = k->next_slot, .guest_phys_addr = gpa, .memory_size = size,
        .userspace_addr = (uintptr_t)hva,
    };
    int rc = xioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
    if (rc < 0)
        return vk_err_errno(err, rc, "KVM_SET_USER_MEMORY_REGION 0x%llx+0x%llx",
                            (unsigned long long)gpa, (unsigned long long)size);
    k->next_slot++;
    return 0;
}

static void kvm_set_irq(struct machine *m, unsigned gsi, int level)
{
    struct kvm_vm *k = m->accel_state;
    struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)!!level };
    if (k && xioctl(k->vm_fd, KVM_IRQ_LINE, &l) < 0)
        vk_warn_ratelimited("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

static int kvm_signal_msi(struct machine *m, uint64_t addr, uint32_t data)
{
    struct kvm_vm *k = m->accel_state;
    struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
                           .data = data };
    int r = xioctl(k->vm_fd, KVM_SIGNAL_MSI, &msi);
    return r < 0 ? r : 0;
}

static int kvm_ioeventfd(struct machine *m, uint64_t addr, unsigned len, int fd, bool assign)
{
    struct kvm_vm *k = m->accel_state;
    struct kvm_ioeventfd io = { .addr = addr, .len = len, .fd = fd,
                                .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN };
    int r = xioctl(k->vm_fd, KVM_IOEVENTFD, &io);
    return r < 0 ? r : 0;
}

/* An eventfd that raises GSI `gsi` in the kernel when written (edge: the
 * line pulses). */
static int kvm_irqfd(struct machine *m, unsigned gsi, int fd, bool assign)
{
    struct kvm_vm *k = m->accel_state;
    struct kvm_irqfd irq = { .fd = (uint32_t)fd, .gsi = gsi,
                             .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
    int r = xioctl(k->vm_fd, KVM_IRQFD, &irq);
    return r < 0 ? r : 0;
}

/* LINT0 = ExtINT on the BSP (the PIC reaches the CPU through it, as PC
 * firmware leaves it), LINT1 = NMI. */
static int setup_lapic(struct kvm_vcpu *c, bool bsp)
{
    struct kvm_lapic_state la;
    int rc = xioctl(c->fd, KVM_GET_LAPIC, &la);
    if (rc < 0)
        return rc;
    uint32_t *lint0 = (uint32_t *)&la.regs[0x350], *lint1 = (uint32_t *)&la.regs[0x360];
    if (bsp)
        *lint0 = (*lint0 & ~0x700u) | 0x700u;
    *lint1 = (*lint1 & ~0x700u) | 0x400u;
    return xioctl(c->fd, KVM_SET_LAPIC, &la);
}

static void kvm_vcpu_exit(struct vcpu *v)
{
    struct kvm_vcpu *c = v->accel_state;
    struct kvm_vm *k = v->m->accel_state;
    if (!c)
        return;
    if (c->run && k)
        munmap(c->run, (size_t)k->run_size);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    v->accel_state = NULL;
}

static int kvm_vcpu_init(struct vcpu *v, struct vk_err *err)
{
    struct machine *m = v->m;
    struct kvm_vm *k = m->accel_state;
    struct kvm_vcpu *c = calloc(1, sizeof(*c));
    if (!c)
        return vk_err_set(err, -ENOMEM, "out of memory");
    v->accel_state = c;
    int rc;
    c->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->index);
    if (c->fd < 0) {
        rc = vk_err_errno(err, -errno, "KVM_CREATE_VCPU %u", v->index);
        c->fd = -1;
        goto fail;
    }
    c->run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
    if (c->run == MAP_FAILED) {
        c->run = NULL;
        rc = vk_err_errno(err, -errno, "mmap kvm_run");
        goto fail;
    }
    struct kvm_cpuid2 *cpuid;
    rc = kvm_cpuid_build(k->supported, m->cfg && m->cfg->cpu_model ? m->cfg->cpu_model : "host",
                         v->index, m->nr_vcpus, &cpuid, err);
    if (rc < 0)
        goto fail;
    rc = xioctl(c->fd, KVM_SET_CPUID2, cpuid);
    free(cpuid);
    if (rc < 0) {
        vk_err_errno(err, rc, "KVM_SET_CPUID2");
        goto fail;
    }
    rc = setup_lapic(c, v->index == 0);
    if (rc < 0) {
        vk_err_errno(err, rc, "setting up the local APIC");
        goto fail;
    }
    /* IA32_MISC_ENABLE: fast strings on, as PC firmware leaves it. Best
     * effort: a host that refuses the MSR still runs the guest. */
    v->accel_state = c;
    kvm_set_msr(v, 0x1a0, 1);
    return 0;
fail:
    kvm_vcpu_exit(v);
    return rc;
}

static const char *exit_name(uint32_t r)
{
    static const char *const names[] = {
        [KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION",
        [KVM_EXIT_IO] = "IO", [KVM_EXIT_HYPERCALL] = "HYPERCALL", [KVM_EXIT_DEBUG] = "DEBUG",
        [KVM_EXIT_HLT] = "HLT", [KVM_EXIT_MMIO] = "MMIO",
        [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN", [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
        [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY", [KVM_EXIT_INTR] = "INTR",
        [KVM_EXIT_SET_TPR] = "SET_TPR", [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
        [KVM_EXIT_NMI] = "NMI", [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
    };
    return r < VK_ARRAY_SIZE(names) && names[r] ? names[r] : "?";
}

static int kvm_vcpu_run(struct vcpu *v, struct vk_exit *exit)
{
    struct kvm_vcpu *c = v->accel_state;
    struct kvm_run *run = c->run;
    if (c->mmio_read_pending) {
        memcpy(run->mmio.data, exit->mmio.data, sizeof(run->mmio.data));
        c->mmio_read_pending = false;
    }
    exit->reason = VK_EXIT_NONE;
    int r = ioctl(c->fd, KVM_RUN, 0);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            exit->reason = VK_EXIT_INTR;
            return 0;
        }
        exit->reason = VK_EXIT_FAIL;
        snprintf(exit->fail, sizeof(exit->fail), "KVM_RUN: %s", strerror(errno));
        return 0;
    }
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        exit->reason = VK_EXIT_IO;
        exit->io.port = run->io.port;
        exit->io.size = run->io.size;
        exit->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
        exit->io.count = run->io.count;
        exit->io.data = (uint8_t *)run + run->io.data_offset;
        /* The kernel keeps data_offset and size*count inside the run page;
         * check anyway, this is the one pointer we take from it. */
        if (!vk_range_ok(run->io.data_offset, (uint64_t)run->io.size * run->io.count,
                         (uint64_t)((struct kvm_vm *)v->m->accel_state)->run_size)) {
            exit->reason = VK_EXIT_FAIL;
            snprintf(exit->fail, sizeof(exit->fail), "KVM_EXIT_IO: data outside the run page");
        }
        break;
    case KVM_EXIT_MMIO:
        exit->reason = VK_EXIT_MMIO;
        exit->mmio.addr = run->mmio.phys_addr;
        exit->mmio.len = (uint8_t)VK_MIN(run->mmio.len, 8u);
        exit->mmio.is_write = run->mmio.is_write;
        memcpy(exit->mmio.data, run->mmio.data, 8);
        c->mmio_read_pending = !run->mmio.is_write;
        break;
    case KVM_EXIT_HLT:
        exit->reason = VK_EXIT_HLT;
        break;
    case KVM_EXIT_SHUTDOWN:
        exit->reason = VK_EXIT_SHUTDOWN;
        break;
    case KVM_EXIT_INTR:
        exit->reason = VK_EXIT_INTR;
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            exit->reason = VK_EXIT_SYSTEM_EVENT;
            exit->system.reset = false;
            break;
        case KVM_SYSTEM_EVENT_RESET:
            exit->reason = VK_EXIT_SYSTEM_EVENT;
            exit->system.reset = true;
            break;
        default:
            exit->reason = VK_EXIT_FAIL;
            snprintf(exit->fail, sizeof(exit->fail), "KVM system event %u (guest crash)",
                     run->system_event.type);
        }
        break;
    case KVM_EXIT_IRQ_WINDOW_OPEN: case KVM_EXIT_NMI: case KVM_EXIT_DEBUG:
    case KVM_EXIT_SET_TPR: case KVM_EXIT_TPR_ACCESS:
        exit->reason = VK_EXIT_NONE;   /* nothing to do: run again */
        break;
    case KVM_EXIT_FAIL_ENTRY:
        exit->reason = VK_EXIT_FAIL;
        snprintf(exit->fail, sizeof(exit->fail), "KVM entry failed, hardware reason 0x%llx",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_INTERNAL_ERROR: {
        exit->reason = VK_EXIT_FAIL;
        int n = snprintf(exit->fail, sizeof(exit->fail), "KVM internal error, suberror %u%s",
                         run->internal.suberror,
                         run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                             ? " (instruction emulation failed)" : "");
        for (unsigned i = 0; i < run->internal.ndata && i < 4 && n > 0 &&
                             (size_t)n < sizeof(exit->fail); i++)
            n += snprintf(exit->fail + n, sizeof(exit->fail) - (size_t)n, " 0x%llx",
                          (unsigned long long)run->internal.data[i]);
        break;
    }
    default:
        exit->reason = VK_EXIT_FAIL;
        snprintf(exit->fail, sizeof(exit->fail), "unhandled KVM exit reason %u (%s)",
                 run->exit_reason, exit_name(run->exit_reason));
        break;
    }
    return 0;
}

static void kvm_vcpu_kick(struct vcpu *v)
{
    struct kvm_vcpu *c = v->accel_state;
    if (!c || !v->thread_started)
        return;
    __atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    pthread_kill(v->thread, sig_kick());
}

static void seg_to_kvm(struct kvm_segment *d, const struct vk_segment *s)
{
    *d = (struct kvm_segment){
        .base = s->base, .limit = s->limit, .selector = s->selector, .type = s->type,
        .present = s->present, .dpl = s->dpl, .db = s->db, .s = s->s, .l = s->l, .g = s->g,
        .avl = s->avl, .unusable = s->unusable,
    };
}

static void seg_from_kvm(struct vk_segment *d, const struct kvm_segment *s)
{
    *d = (struct vk_segment){
        .base = s->base, .limit = s->limit, .selector = s->selector, .type = s->type,
        .present = s->present, .dpl = s->dpl, .db = s->db, .s = s->s, .l = s->l, .g = s->g,
        .avl = s->avl, .unusable = s->unusable,
    };
}

static int kvm_get_regs(struct vcpu *v, struct vk_regs *r)
{
    struct kvm_vcpu *c = v->accel_state;
    struct kvm_regs k;
    int rc = xioctl(c->fd, KVM_GET_REGS, &k);
    if (rc < 0)
        return rc;
    *r = (struct vk_regs){ k.rax, k.rbx, k.rcx, k.rdx, k.rsi, k.rdi, k.rsp, k.rbp,
                           k.r8, k.r9, k.r10, k.r11, k.r12, k.r13, k.r14, k.r15,
                           k.rip, k.rflags };
    return 0;
}

static int kvm_set_regs(struct vcpu *v, const struct vk_regs *r)
{
    struct kvm_vcpu *c = v->accel_state;
    struct kvm_regs k = { r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
                          r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
                          r->rip, r->rflags };
    return xioctl(c->fd, KVM_SET_REGS, &k);
}

static int kvm_get_sregs(struct vcpu *v, struct vk_sregs *s)
{
    struct kvm_vcpu *c = v->accel_state;
    struct kvm_sregs k;
    int rc = xioctl(c->fd, KVM_GET_SREGS, &k);
    if (rc < 0)
        return rc;
    seg_from_kvm(&s->cs, &k.cs); seg_from_kvm(&s->ds, &k.ds); seg_from_kvm(&s->es, &k.es);
    seg_from_kvm(&s->fs, &k.fs); seg_from_kvm(&s->gs, &k.gs); seg_from_kvm(&s->ss, &k.ss);
    seg_from_kvm(&s->tr, &k.tr); seg_from_kvm(&s->ldt, &k.ldt);
    s->gdt = (struct vk_dtable){ k.gdt.base, k.gdt.limit };
    s->idt = (struct vk_dtable){ k.idt.base, k.idt.limit };
    s->cr0 = k.cr0; s->cr2 = k.cr2; s->cr3 = k.cr3; s->cr4 = k.cr4; s->cr8 = k.cr8;
    s->efer = k.efer; s->apic_base = k.apic_base;
    return 0;
}

static int kvm_set_sregs(struct vcpu *v, const struct vk_sregs *s)
{
    struct kvm_vcpu *c = v->accel_state;
    struct kvm_sregs k;
    /* Start from the current state so interrupt_bitmap stays as it is. */
    int rc = xioctl(c->fd, KVM_GET_SREGS, &k);
    if (rc < 0)
        return rc;
    seg_to_kvm(&k.cs, &s->cs); seg_to_kvm(&k.ds, &s->ds); seg_to_kvm(&k.es, &s->es);
    seg_to_kvm(&k.fs, &s->fs); seg_to_kvm(&k.gs, &s->gs); seg_to_kvm(&k.ss, &s->ss);
    seg_to_kvm(&k.tr, &s->tr); seg_to_kvm(&k.ldt, &s->ldt);
    k.gdt = (struct kvm_dtable){ .base = s->gdt.base, .limit = s->gdt.limit };
    k.idt = (struct kvm_dtable){ .base = s->idt.base, .limit = s->idt.limit };
    k.cr0 = s->cr0; k.cr2 = s->cr2; k.cr3 = s->cr3; k.cr4 = s->cr4; k.cr8 = s->cr8;
    k.efer = s->efer;
    if (s->apic_base)
        k.apic_base = s->apic_base;
    return xioctl(c->fd, KVM_SET_SREGS, &k);
}

static int kvm_set_msr(struct vcpu *v, uint32_t index, uint64_t value)
{
    struct kvm_vcpu *c = v->accel_state;
    struct { struct kvm_msrs h; struct kvm_msr_entry e; } msrs = {
        .h = { .nmsrs = 1 }, .e = { .index = index, .data = value },
    };
    int rc = xioctl(c->fd, KVM_SET_MSRS, &msrs);
    return rc == 1 ? 0 : (rc < 0 ? rc : -EINVAL);
}

/* Architectural power-on state (SDM "Processor state after reset"). */
static int kvm_vcpu_reset(struct vcpu *v)
{
    struct kvm_vcpu *c = v->accel_state;
    struct vk_sregs s = { 0 };
    struct vk_segment data = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };
    s.cs = data;
    s.cs.type = 0xb;
    s.cs.selector = 0xf000;
    s.cs.base = 0xffff0000;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = (struct vk_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
    s.ldt = (struct vk_segment){ .limit = 0xffff, .type = 2, .present = 1 };
    s.gdt.limit = s.idt.limit = 0xffff;
    s.cr0 = 0x60000010;
    int rc = kvm_set_sregs(v, &s);
    struct vk_regs r = { .rip = 0xfff0, .rflags = 2, .rdx = 0x600 };
    if (rc == 0)
        rc = kvm_set_regs(v, &r);
    struct kvm_mp_state mp = { v->index == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED };
    if (rc == 0)
        rc = xioctl(c->fd, KVM_SET_MP_STATE, &mp);
    return rc;
}

const struct accel_ops accel_kvm = {
    .name = "kvm",
    .probe = kvm_probe,
    .vm_init = kvm_vm_init,
    .vm_exit = kvm_vm_exit,
    .map_ram = kvm_map_ram,
    .set_irq = kvm_set_irq,
    .signal_msi = kvm_signal_msi,
    .ioeventfd = kvm_ioeventfd,
    .irqfd = kvm_irqfd,
    .vcpu_init = kvm_vcpu_init,
    .vcpu_exit = kvm_vcpu_exit,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .get_regs = kvm_get_regs,
    .set_regs = kvm_set_regs,
    .get_sregs = kvm_get_sregs,
    .set_sregs = kvm_set_sregs,
    .set_msr = kvm_set_msr,
    .vcpu_reset = kvm_vcpu_reset,
};
