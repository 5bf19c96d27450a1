/* The generic vCPU run loop: owns the switch on exit reasons, whichever
 * accelerator produced them, and dispatches port and MMIO accesses to the
 * device model. One host thread per vCPU. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"

static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void store_le(uint8_t *p, unsigned size, uint64_t v)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void handle_io(struct machine *m, const struct vk_exit *e)
{
    unsigned size = e->io.size;
    if (size != 1 && size != 2 && size != 4) {
        vk_warn_ratelimited("port I/O of size %u at 0x%x ignored", size, e->io.port);
        return;
    }
    /* String I/O (count > 1) is a sequence of accesses to the same port. */
    for (uint32_t i = 0; i < e->io.count; i++) {
        uint8_t *p = e->io.data + (size_t)i * size;
        if (e->io.is_write) {
            bus_write(&m->pio, e->io.port, size, load_le(p, size));
        } else {
            uint64_t v;
            bus_read(&m->pio, e->io.port, size, &v);
            store_le(p, size, v);
        }
    }
}

static void handle_mmio(struct machine *m, struct vk_exit *e)
{
    unsigned len = e->mmio.len;
    if (len == 0 || len > 8) {
        vk_warn_ratelimited("MMIO access of length %u at 0x%llx ignored", len,
                            (unsigned long long)e->mmio.addr);
        return;
    }
    if (e->mmio.is_write) {
        bus_write(&m->mmio, e->mmio.addr, len, load_le(e->mmio.data, len));
    } else {
        uint64_t v;
        bus_read(&m->mmio, e->mmio.addr, len, &v);
        memset(e->mmio.data, 0, sizeof(e->mmio.data));
        store_le(e->mmio.data, len, v);
    }
}

void vcpu_dump_regs(struct vcpu *v)
{
    const struct accel_ops *a = v->m->accel;
    struct vk_regs r;
    struct vk_sregs s;
    if (a->get_regs(v, &r) < 0 || a->get_sregs(v, &s) < 0) {
        vk_error("vCPU %u: registers unavailable", v->index);
        return;
    }
    vk_error("vCPU %u registers:\n"
             " RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
             " RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
             " R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
             " R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n"
             " RIP=%016llx RFL=%08llx\n"
             " CS=%04x base=%016llx limit=%08x type=%x l=%u db=%u\n"
             " SS=%04x DS=%04x ES=%04x FS=%04x GS=%04x TR=%04x\n"
             " GDT=%016llx/%04x IDT=%016llx/%04x\n"
             " CR0=%016llx CR2=%016llx CR3=%016llx CR4=%016llx EFER=%016llx",
             v->index,
             (unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
             (unsigned long long)r.rdx, (unsigned long long)r.rsi, (unsigned long long)r.rdi,
             (unsigned long long)r.rbp, (unsigned long long)r.rsp, (unsigned long long)r.r8,
             (unsigned long long)r.r9, (unsigned long long)r.r10, (unsigned long long)r.r11,
             (unsigned long long)r.r12, (unsigned long long)r.r13, (unsigned long long)r.r14,
             (unsigned long long)r.r15, (unsigned long long)r.rip, (unsigned long long)r.rflags,
             s.cs.selector, (unsigned long long)s.cs.base, s.cs.limit, s.cs.type, s.cs.l, s.cs.db,
             s.ss.selector, s.ds.selector, s.es.selector, s.fs.selector, s.gs.selector,
             s.tr.selector, (unsigned long long)s.gdt.base, s.gdt.limit,
             (unsigned long long)s.idt.base, s.idt.limit, (unsigned long long)s.cr0,
             (unsigned long long)s.cr2, (unsigned long long)s.cr3, (unsigned long long)s.cr4,
             (unsigned long long)s.efer);
}

static bool ended(enum machine_state s)
{
    return s != MACHINE_RUNNING && s != MACHINE_PAUSED;
}

/* Park while paused; false when the run is over. */
static bool check_state(struct vcpu *v)
{
    struct machine *m = v->m;
    if (!atomic_load(&m->attention))
        return true;
    pthread_mutex_lock(&m->lock);
    while (m->pause_requested && !ended(m->state)) {
        atomic_store(&v->paused, true);
        m->nr_paused++;
        pthread_cond_broadcast(&m->cond);
        pthread_cond_wait(&m->cond, &m->lock);
        m->nr_paused--;
        atomic_store(&v->paused, false);
    }
    bool go_on = !ended(m->state);
    pthread_mutex_unlock(&m->lock);
    return go_on;
}

__thread struct vcpu *vcpu_current;

void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    vcpu_current = v;
    struct machine *m = v->m;
    struct vk_exit exit;
    memset(&exit, 0, sizeof(exit));
    atomic_store(&v->tid, (int)gettid());
    bool read_pending = false;  /* an I/O or MMIO read waits for vcpu_run to complete it */
    for (;;) {
        /* Before parking or leaving, let the accelerator finish a read the
         * guest is in the middle of (a kick makes vcpu_run complete it and
         * return at once), so a paused vCPU's registers are consistent. */
        if (read_pending && atomic_load(&m->attention) && m->accel->vcpu_kick)
            m->accel->vcpu_kick(v);
        else if (!check_state(v))
            break;
        read_pending = false;
        if (m->accel->vcpu_run(v, &exit) < 0) {
            exit.reason = VK_EXIT_FAIL;
            snprintf(exit.fail, sizeof(exit.fail), "vcpu_run failed");
        }
        switch (exit.reason) {
        case VK_EXIT_IO:
            handle_io(m, &exit);
            read_pending = !exit.io.is_write;
            break;
        case VK_EXIT_MMIO:
            handle_mmio(m, &exit);
            read_pending = !exit.mmio.is_write;
            break;
        case VK_EXIT_NONE:
        case VK_EXIT_INTR:
        case VK_EXIT_HLT:    /* the accelerator waits for interrupts itself */
            break;
        case VK_EXIT_SHUTDOWN:
            vk_info("vCPU %u: triple fault, resetting", v->index);
            if (m->cfg && m->cfg->debug)
                vcpu_dump_regs(v);
            machine_request(m, MACHINE_RESET, 0);
            break;
        case VK_EXIT_SYSTEM_EVENT:
            machine_request(m, exit.system.reset ? MACHINE_RESET : MACHINE_SHUTDOWN, 0);
            break;
        case VK_EXIT_FAIL:
        default:
            vk_error("vCPU %u: %s", v->index,
                     exit.reason == VK_EXIT_FAIL ? exit.fail : "unknown exit reason");
            vcpu_dump_regs(v);
            machine_request(m, MACHINE_FAILED, 1);
            break;
        }
    }
    pthread_mutex_lock(&m->lock);
    m->nr_running--;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return NULL;
}
