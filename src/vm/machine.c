/* The machine: guest RAM, the accelerator, vCPU threads, devices from the
 * board table, and the lifecycle (run, pause, reset, power-off). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "boot/boot.h"
#include "machine.h"

volatile int machine_signal_received;

/* Put the guest image in RAM and set up the boot vCPU (creation, reboot).
 * Firmware tables (ACPI, MP table) are board devices at the late level:
 * their init and reset ops install them. */
static int load_guest(struct machine *m, struct vk_err *err)
{
    return boot_load(m, err);
}

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
    pthread_rwlock_rdlock(&m->accel_lock);
    if (m->accel && m->accel->set_irq && m->accel_state)
        m->accel->set_irq(m, gsi, level);
    pthread_rwlock_unlock(&m->accel_lock);
}

static bool ended(enum machine_state s)
{
    return s != MACHINE_RUNNING && s != MACHINE_PAUSED;
}

static void kick_all(struct machine *m)
{
    for (unsigned i = 0; i < m->nr_vcpus; i++)
        if (m->vcpus[i] && m->accel->vcpu_kick)
            m->accel->vcpu_kick(m->vcpus[i]);
}

void machine_request(struct machine *m, enum machine_state state, int exit_status)
{
    pthread_mutex_lock(&m->lock);
    if (ended(m->state)) {
        pthread_mutex_unlock(&m->lock);   /* the first ending wins */
        return;
    }
    if (state == MACHINE_PAUSED || state == MACHINE_RUNNING) {
        pthread_mutex_unlock(&m->lock);
        if (state == MACHINE_PAUSED)
            machine_pause(m);
        else
            machine_resume(m);
        return;
    }
    m->state = state;
    m->exit_status = exit_status;
    atomic_store(&m->attention, true);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    kick_all(m);
}

void machine_pause(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->state != MACHINE_RUNNING) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    m->pause_requested = true;
    m->state = MACHINE_PAUSED;
    atomic_store(&m->attention, true);
    pthread_mutex_unlock(&m->lock);
    kick_all(m);
    if (vcpu_current)
        return;   /* waiting for ourselves to park would never end */
    pthread_mutex_lock(&m->lock);
    while (m->pause_requested && m->nr_paused < m->nr_running && !ended(m->state))
        pthread_cond_wait(&m->cond, &m->lock);
    pthread_mutex_unlock(&m->lock);
}

void machine_resume(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->state == MACHINE_PAUSED) {
        m->pause_requested = false;
        m->state = MACHINE_RUNNING;
        atomic_store(&m->attention, false);
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
}

enum machine_state machine_get_state(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    enum machine_state s = m->state;
    pthread_mutex_unlock(&m->lock);
    return s;
}

static int alloc_ram(struct machine *m, struct vk_err *err)
{
    uint64_t size = m->cfg->memory;
    unsigned flags = MFD_CLOEXEC;
    int mflags = MAP_SHARED | MAP_NORESERVE;
    if (m->cfg->hugepages) {
        /* Huge pages must be reserved up front: without MAP_NORESERVE the
         * mmap fails cleanly when the pool is short, instead of the guest
         * taking SIGBUS on first touch. */
        flags |= MFD_HUGETLB;
        mflags = MAP_SHARED | MAP_POPULATE;
        size = VK_ALIGN_UP(size, 2ULL << 20);
    }
    m->ram_fd = memfd_create("virtkit-ram", flags);
    if (m->ram_fd < 0)
        return vk_err_errno(err, -errno, "memfd_create%s",
                            m->cfg->hugepages ? " (hugepages)" : "");
    if (ftruncate(m->ram_fd, (off_t)size) < 0)
        return vk_err_errno(err, -errno, "allocating %llu bytes of guest RAM%s",
                            (unsigned long long)size,
                            m->cfg->hugepages ? " in huge pages" : "");
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, mflags, m->ram_fd, 0);
    if (p == MAP_FAILED)
        return vk_err_errno(err, -errno, "mapping %llu MiB of guest RAM%s",
                            (unsigned long long)(size >> 20),
                            m->cfg->hugepages ? " in huge pages (see /proc/sys/vm/nr_hugepages)"
                                              : "");
    madvise(p, size, MADV_MERGEABLE);
    uint64_t low = VK_MIN(size, MACHINE_PCI_HOLE_START);
    m->ram[m->nr_ram++] = (struct ram_region){ 0, low, p };
    if (size > low)
        m->ram[m->nr_ram++] = (struct ram_region){ MACHINE_HIGH_RAM_START, size - low,
                                                   (uint8_t *)p + low };
    m->ram_size = size;
    return 0;
}

/* --firmware: the image is mapped so that it ends at 4 GiB, where the CPU
 * fetches its first instruction (a writable slot: a ROM the guest could
 * scribble on only hurts itself). boot_load copies its last 128 KiB to the
 * legacy BIOS area below 1 MiB. */
static int load_firmware(struct machine *m, struct vk_err *err)
{
    char *img;
    size_t len;
    int rc = vk_read_file(m->cfg->firmware, &img, &len, err);
    if (rc < 0) {
        vk_err_prefix(err, "--firmware");
        return rc;
    }
    if (len == 0 || len % 65536 || len > MACHINE_MAX_FIRMWARE) {
        free(img);
        return vk_err_set(err, -EINVAL, "--firmware %s: %zu bytes; want a multiple of 64 KiB, "
                          "at most %u KiB", m->cfg->firmware, len, MACHINE_MAX_FIRMWARE / 1024);
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(img);
        return vk_err_errno(err, -errno, "mapping the firmware");
    }
    memcpy(p, img, len);
    free(img);
    m->rom = p;
    m->rom_size = len;
    m->ram[m->nr_ram++] = (struct ram_region){ (1ULL << 32) - len, len, p };
    return 0;
}

/* Accelerator VM, RAM slots and vCPUs: done at creation and again on reset
 * (the accelerator's whole state, in-kernel irqchips included, is rebuilt:
 * that is the simplest complete reset). */
static int accel_up(struct machine *m, struct vk_err *err)
{
    int rc = m->accel->vm_init(m, err);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < m->nr_ram; i++) {
        rc = m->accel->map_ram(m, m->ram[i].gpa, m->ram[i].size, m->ram[i].hva, err);
        if (rc < 0)
            return rc;
    }
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        rc = m->accel->vcpu_init(m->vcpus[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void accel_down(struct machine *m)
{
    for (unsigned i = 0; i < m->nr_vcpus; i++)
        if (m->vcpus[i] && m->vcpus[i]->accel_state)
            m->accel->vcpu_exit(m->vcpus[i]);
    if (m->accel_state)
        m->accel->vm_exit(m);
}

void board_optional_names(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < board_pc_size && n < len; i++)
        if (board_pc[i].when == BOARD_OPTIONAL && board_pc[i].ops)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", board_pc[i].ops->name);
}

static int devices_up(struct machine *m, struct vk_err *err)
{
    const struct vm_config *cfg = m->cfg;
    /* Every --device must name an optional board entry. */
    for (unsigned d = 0; d < cfg->nr_devices; d++) {
        size_t len = strcspn(cfg->devices[d], ",");
        bool found = false;
        for (unsigned i = 0; i < board_pc_size && !found; i++)
            found = board_pc[i].when == BOARD_OPTIONAL && board_pc[i].ops &&
                    strlen(board_pc[i].ops->name) == len &&
                    !strncmp(board_pc[i].ops->name, cfg->devices[d], len);
        if (!found) {
            char names[256];
            board_optional_names(names, sizeof(names));
            return vk_err_set(err, -EINVAL, "unknown --device '%.*s' (available: %s)",
                              (int)len, cfg->devices[d], names);
        }
    }
    m->devices = calloc(board_pc_size + cfg->nr_devices, sizeof(*m->devices));
    if (!m->devices)
        return vk_err_set(err, -ENOMEM, "out of memory");
    for (unsigned level = 0; level < BOARD_NR_LEVELS; level++) {
        for (unsigned i = 0; i < board_pc_size; i++) {
            const struct board_entry *b = &board_pc[i];
            if (b->level != level || !b->ops)
                continue;   /* NULL ops: a device whose file is not built */
            struct device_config dc = { .base = b->base, .size = b->size, .irq = b->irq,
                                        .index = b->index };
            unsigned copies = 1;
            if (b->when == BOARD_SERIAL) {
                if (b->index >= VK_ARRAY_SIZE(cfg->serial) || !cfg->serial[b->index])
                    continue;
                dc.args = cfg->serial[b->index];
            }
            if (b->when == BOARD_OPTIONAL)
                copies = 0;
            for (unsigned d = 0; d < cfg->nr_devices && b->when == BOARD_OPTIONAL; d++) {
                size_t len = strcspn(cfg->devices[d], ",");
                if (strlen(b->ops->name) != len || strncmp(b->ops->name, cfg->devices[d], len))
                    continue;
                dc.args = cfg->devices[d];
                copies = 1;
                break;   /* one instance per entry: a second would overlap */
            }
            if (!copies)
                continue;
            void *state = NULL;
            int rc = b->ops->init(m, &dc, &state, err);
            if (rc < 0) {
                vk_err_prefix(err, "%s", b->ops->name);
                return rc;
            }
            m->devices[m->nr_devices++] = (struct device_instance){ b->ops, state };
        }
    }
    return 0;
}

int machine_create(const struct vm_config *cfg, struct machine **out, struct vk_err *err)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m)
        return vk_err_set(err, -ENOMEM, "out of memory");
    m->cfg = cfg;
    m->ram_fd = -1;
    m->state = MACHINE_RUNNING;
    pthread_mutex_init(&m->lock, NULL);
    pthread_rwlock_init(&m->accel_lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    bus_init(&m->pio, "pio");
    bus_init(&m->mmio, "mmio");
    *out = m;   /* machine_destroy cleans up a half-built machine too */

    int rc;
    if (cfg->smp < 1 || cfg->smp > MACHINE_MAX_VCPUS)
        return vk_err_set(err, -EINVAL, "--smp %u: want 1..%d", cfg->smp, MACHINE_MAX_VCPUS);
    m->accel = accel_select(cfg->accel, err);
    if (!m->accel)
        return err && err->code ? err->code : -ENOTSUP;
    rc = alloc_ram(m, err);
    if (rc < 0)
        return rc;
    if (cfg->firmware) {
        rc = load_firmware(m, err);
        if (rc < 0)
            return rc;
    }
    m->nr_vcpus = cfg->smp;
    for (unsigned i = 0; i < cfg->smp; i++) {
        m->vcpus[i] = calloc(1, sizeof(struct vcpu));
        if (!m->vcpus[i])
            return vk_err_set(err, -ENOMEM, "out of memory");
        m->vcpus[i]->m = m;
        m->vcpus[i]->index = i;
    }
    rc = accel_up(m, err);
    if (rc < 0)
        return rc;
    rc = devices_up(m, err);
    if (rc < 0)
        return rc;
    return load_guest(m, err);
}

static int start_vcpus(struct machine *m, struct vk_err *err)
{
    sigset_t all, old;
    sigfillset(&all);
    /* vCPU threads take no process signals except the accelerator's kick. */
    sigdelset(&all, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        struct vcpu *v = m->vcpus[i];
        pthread_mutex_lock(&m->lock);
        m->nr_running++;
        pthread_mutex_unlock(&m->lock);
        rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (rc) {
            pthread_mutex_lock(&m->lock);
            m->nr_running--;
            pthread_mutex_unlock(&m->lock);
            vk_err_errno(err, -rc, "starting vCPU %u", i);
            machine_request(m, MACHINE_FAILED, 1);
            rc = -rc;
            break;
        }
        v->thread_started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void join_vcpus(struct machine *m)
{
    for (unsigned i = 0; i < m->nr_vcpus; i++) {
        struct vcpu *v = m->vcpus[i];
        if (v && v->thread_started) {
            pthread_join(v->thread, NULL);
            v->thread_started = false;
        }
    }
}

static int reboot(struct machine *m, struct vk_err *err)
{
    pthread_rwlock_wrlock(&m->accel_lock);
    accel_down(m);
    int rc = accel_up(m, err);
    pthread_rwlock_unlock(&m->accel_lock);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < m->nr_devices; i++)
        if (m->devices[i].ops->reset && m->devices[i].state)
            m->devices[i].ops->reset(m->devices[i].state);
    rc = load_guest(m, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&m->lock);
    m->state = MACHINE_RUNNING;
    m->pause_requested = false;
    atomic_store(&m->attention, false);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

int machine_run(struct machine *m, struct vk_err *err)
{
    for (;;) {
        int rc = start_vcpus(m, err);
        pthread_mutex_lock(&m->lock);
        while (!ended(m->state)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&m->cond, &m->lock, &ts);
            if (machine_signal_received && !ended(m->state)) {
                pthread_mutex_unlock(&m->lock);
                vk_info("terminating on signal %d", machine_signal_received);
                machine_request(m, MACHINE_SHUTDOWN, 0);
                pthread_mutex_lock(&m->lock);
            }
        }
        enum machine_state st = m->state;
        int status = m->exit_status;
        pthread_mutex_unlock(&m->lock);
        kick_all(m);
        join_vcpus(m);
        if (rc < 0)
            return 1;
        switch (st) {
        case MACHINE_RESET:
            if (m->cfg->no_reboot)
                return 0;
            if (reboot(m, err) < 0)
                return 1;
            continue;
        case MACHINE_SHUTDOWN:
            return 0;
        case MACHINE_DEBUG_EXIT:
            return status;
        default:
            return status ? status : 1;
        }
    }
}

void machine_destroy(struct machine *m)
{
    if (!m)
        return;
    join_vcpus(m);
    for (unsigned i = m->nr_devices; i-- > 0;)
        if (m->devices[i].ops->destroy && m->devices[i].state)
            m->devices[i].ops->destroy(m->devices[i].state);
    free(m->devices);
    if (m->accel)
        accel_down(m);
    for (unsigned i = 0; i < m->nr_vcpus; i++)
        free(m->vcpus[i]);
    if (m->nr_ram)
        munmap(m->ram[0].hva, m->ram_size);
    if (m->rom)
        munmap(m->rom, m->rom_size);
    if (m->ram_fd >= 0)
        close(m->ram_fd);
    bus_destroy(&m->pio);
    bus_destroy(&m->mmio);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    pthread_rwlock_destroy(&m->accel_lock);
    free(m);
}
