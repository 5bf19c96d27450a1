/* fw_cfg: QEMU's firmware configuration device (I/O port layout of the PC).
 *
 * Items are read-only; writes through the data port are ignored and DMA
 * writes fail with the error bit, as for read-only items in QEMU. Reading
 * past the end of an item, or an item that does not exist, yields zeros.
 * Every guest-supplied value (selector, DMA descriptor address, lengths) is
 * checked here; a bad one sets the DMA error bit, never more.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_cfg.h"
#include "../bus.h"
#include "../machine.h"

struct fw_cfg_item {
    uint8_t *data;
    uint32_t len;
    char name[FW_CFG_FILE_NAME_MAX];   /* files only */
};

struct fw_cfg {
    pthread_mutex_t lock;
    struct fw_cfg_item fixed[FW_CFG_FILE_FIRST];
    struct fw_cfg_item *files;          /* key FW_CFG_FILE_FIRST + index */
    unsigned nr_files;
    uint8_t *dir;                       /* FW_CFG_FILE_DIR contents */
    uint32_t dir_len;

    uint16_t selector;
    uint32_t offset;
    uint32_t dma_hi;                    /* DMA address, high half */

    fw_cfg_gpa_fn gpa;
    void *gpa_opaque;
};

/* One directory entry, big-endian, as the guest sees it. */
struct fw_cfg_dirent {
    uint32_t size;
    uint16_t select;
    uint16_t reserved;
    char name[FW_CFG_FILE_NAME_MAX];
} __attribute__((packed));

struct fw_cfg_dma_desc {
    uint32_t control;
    uint32_t length;
    uint64_t address;
} __attribute__((packed));

static int set_item(struct fw_cfg_item *it, const void *data, size_t len, struct vk_err *err)
{
    uint8_t *copy = NULL;

    if (len > UINT32_MAX)
        return vk_err_set(err, -EFBIG, "fw_cfg item too large (%zu bytes)", len);
    if (len) {
        copy = malloc(len);
        if (!copy)
            return vk_err_errno(err, -ENOMEM, "fw_cfg item");
        memcpy(copy, data, len);
    }
    free(it->data);
    it->data = copy;
    it->len = (uint32_t)len;
    return 0;
}

struct fw_cfg *fw_cfg_new(fw_cfg_gpa_fn gpa, void *gpa_opaque)
{
    struct fw_cfg *fc = calloc(1, sizeof(*fc));
    uint32_t id = htole32(FW_CFG_VERSION | (gpa ? FW_CFG_VERSION_DMA : 0));

    if (!fc)
        return NULL;
    pthread_mutex_init(&fc->lock, NULL);
    fc->gpa = gpa;
    fc->gpa_opaque = gpa_opaque;
    if (set_item(&fc->fixed[FW_CFG_SIGNATURE], "QEMU", 4, NULL) ||
        set_item(&fc->fixed[FW_CFG_ID], &id, sizeof(id), NULL) ||
        set_item(&fc->fixed[FW_CFG_FILE_DIR], (uint32_t[]){0}, 4, NULL)) {
        fw_cfg_free(fc);
        return NULL;
    }
    return fc;
}

void fw_cfg_free(struct fw_cfg *fc)
{
    if (!fc)
        return;
    for (unsigned i = 0; i < FW_CFG_FILE_FIRST; i++)
        free(fc->fixed[i].data);
    for (unsigned i = 0; i < fc->nr_files; i++)
        free(fc->files[i].data);
    free(fc->files);
    pthread_mutex_destroy(&fc->lock);
    free(fc);
}

int fw_cfg_add_bytes(struct fw_cfg *fc, uint16_t key, const void *data, size_t len,
                     struct vk_err *err)
{
    int r;

    if (key >= FW_CFG_FILE_FIRST || key == FW_CFG_FILE_DIR)
        return vk_err_set(err, -EINVAL, "fw_cfg key 0x%x is not a numbered item", key);
    pthread_mutex_lock(&fc->lock);
    r = set_item(&fc->fixed[key], data, len, err);
    pthread_mutex_unlock(&fc->lock);
    return r;
}

int fw_cfg_add_u16(struct fw_cfg *fc, uint16_t key, uint16_t v, struct vk_err *err)
{
    uint16_t le = htole16(v);
    return fw_cfg_add_bytes(fc, key, &le, sizeof(le), err);
}

int fw_cfg_add_u32(struct fw_cfg *fc, uint16_t key, uint32_t v, struct vk_err *err)
{
    uint32_t le = htole32(v);
    return fw_cfg_add_bytes(fc, key, &le, sizeof(le), err);
}

int fw_cfg_add_u64(struct fw_cfg *fc, uint16_t key, uint64_t v, struct vk_err *err)
{
    uint64_t le = htole64(v);
    return fw_cfg_add_bytes(fc, key, &le, sizeof(le), err);
}

static int cmp_file_name(const void *a, const void *b)
{
    const struct fw_cfg_item *x = *(struct fw_cfg_item *const *)a;
    const struct fw_cfg_item *y = *(struct fw_cfg_item *const *)b;
    return strcmp(x->name, y->name);
}

/* Rebuild the directory item: count, then entries sorted by name. */
static int rebuild_dir(struct fw_cfg *fc, struct vk_err *err)
{
    size_t len = 4 + (size_t)fc->nr_files * sizeof(struct fw_cfg_dirent);
    uint8_t *buf = calloc(1, len);
    struct fw_cfg_item **order = calloc(fc->nr_files + 1, sizeof(*order));
    uint32_t count = htobe32(fc->nr_files);

    if (!buf || !order) {
        free(buf);
        free(order);
        return vk_err_errno(err, -ENOMEM, "fw_cfg directory");
    }
    for (unsigned i = 0; i < fc->nr_files; i++)
        order[i] = &fc->files[i];
    qsort(order, fc->nr_files, sizeof(*order), cmp_file_name);
    memcpy(buf, &count, 4);
    for (unsigned i = 0; i < fc->nr_files; i++) {
        struct fw_cfg_dirent d = {0};
        unsigned idx = (unsigned)(order[i] - fc->files);

        d.size = htobe32(order[i]->len);
        d.select = htobe16((uint16_t)(FW_CFG_FILE_FIRST + idx));
        memcpy(d.name, order[i]->name, sizeof(d.name));
        memcpy(buf + 4 + i * sizeof(d), &d, sizeof(d));
    }
    free(order);
    free(fc->fixed[FW_CFG_FILE_DIR].data);
    fc->fixed[FW_CFG_FILE_DIR].data = buf;
    fc->fixed[FW_CFG_FILE_DIR].len = (uint32_t)len;
    return 0;
}

int fw_cfg_add_file(struct fw_cfg *fc, const char *name, const void *data, size_t len,
                    struct vk_err *err)
{
    struct fw_cfg_item *it = NULL;
    int r;

    if (!name || !*name || strlen(name) >= FW_CFG_FILE_NAME_MAX)
        return vk_err_set(err, -EINVAL, "fw_cfg file name '%s' is empty or too long",
                          name ? name : "");
    pthread_mutex_lock(&fc->lock);
    for (unsigned i = 0; i < fc->nr_files; i++)
        if (!strcmp(fc->files[i].name, name))
            it = &fc->files[i];
    if (!it) {
        struct fw_cfg_item *n;

        if (FW_CFG_FILE_FIRST + fc->nr_files > FW_CFG_KEY_MASK) {
            r = vk_err_set(err, -ENOSPC, "fw_cfg: too many files");
            goto out;
        }
        n = realloc(fc->files, (fc->nr_files + 1) * sizeof(*n));
        if (!n) {
            r = vk_err_errno(err, -ENOMEM, "fw_cfg file");
            goto out;
        }
        fc->files = n;
        it = &fc->files[fc->nr_files++];
        memset(it, 0, sizeof(*it));
        snprintf(it->name, sizeof(it->name), "%s", name);
    }
    r = set_item(it, data, len, err);
    if (!r)
        r = rebuild_dir(fc, err);
out:
    pthread_mutex_unlock(&fc->lock);
    return r;
}

int fw_cfg_file_key(struct fw_cfg *fc, const char *name)
{
    int key = -ENOENT;

    pthread_mutex_lock(&fc->lock);
    for (unsigned i = 0; i < fc->nr_files; i++)
        if (!strcmp(fc->files[i].name, name))
            key = FW_CFG_FILE_FIRST + (int)i;
    pthread_mutex_unlock(&fc->lock);
    return key;
}

/* ---- guest interface (called with fc->lock held) ----------------------- */

static const struct fw_cfg_item *current_item(struct fw_cfg *fc)
{
    unsigned key = fc->selector & FW_CFG_KEY_MASK;

    if (fc->selector & FW_CFG_ARCH_LOCAL)
        return NULL;                    /* no arch-local items on this board */
    if (key < FW_CFG_FILE_FIRST)
        return fc->fixed[key].data || key == FW_CFG_FILE_DIR ? &fc->fixed[key] : NULL;
    key -= FW_CFG_FILE_FIRST;
    return key < fc->nr_files ? &fc->files[key] : NULL;
}

static uint8_t read_byte(struct fw_cfg *fc)
{
    const struct fw_cfg_item *it = current_item(fc);

    if (!it || fc->offset >= it->len)
        return 0;
    return it->data[fc->offset++];
}

static void select_key(struct fw_cfg *fc, uint16_t key)
{
    fc->selector = key;
    fc->offset = 0;
}

/* Copy or skip `len` bytes of the current item to guest memory. */
static int dma_transfer(struct fw_cfg *fc, uint32_t control, uint32_t len, uint64_t addr)
{
    const struct fw_cfg_item *it = current_item(fc);
    uint32_t avail = it && fc->offset < it->len ? it->len - fc->offset : 0;
    uint32_t n = VK_MIN(avail, len);

    if (control & FW_CFG_DMA_WRITE)
        return -EPERM;                  /* every item is read-only */
    if (control & FW_CFG_DMA_READ) {
        uint8_t *dst = len ? fc->gpa(fc->gpa_opaque, addr, len) : NULL;

        if (len && !dst)
            return -EFAULT;
        if (n)
            memcpy(dst, it->data + fc->offset, n);
        if (len > n)
            memset(dst + n, 0, len - n);
    } else if (!(control & FW_CFG_DMA_SKIP)) {
        return 0;
    }
    fc->offset += n;
    return 0;
}

static void dma_run(struct fw_cfg *fc, uint64_t desc_gpa)
{
    struct fw_cfg_dma_desc *d = fc->gpa(fc->gpa_opaque, desc_gpa, sizeof(*d));
    uint32_t control, result = 0;

    if (!d) {
        vk_warn_ratelimited("fw_cfg: DMA descriptor at 0x%llx is outside RAM",
                            (unsigned long long)desc_gpa);
        return;
    }
    control = be32toh(d->control);
    if (control & FW_CFG_DMA_SELECT)
        select_key(fc, (uint16_t)(control >> 16));
    if (dma_transfer(fc, control, be32toh(d->length), be64toh(d->address)) < 0)
        result = FW_CFG_DMA_ERROR;
    d->control = htobe32(result);
}

static uint64_t fw_cfg_read(void *opaque, uint64_t offset, unsigned size)
{
    struct fw_cfg *fc = opaque;
    uint64_t v = 0;

    pthread_mutex_lock(&fc->lock);
    if (offset == 1) {
        /* The data port is byte-wide; wider reads return consecutive
         * bytes in string order. */
        for (unsigned i = 0; i < size && i < 8; i++)
            v |= (uint64_t)read_byte(fc) << (8 * i);
    } else if (offset >= 4 && offset < 12 && fc->gpa) {
        /* DMA address register reads back the "QEMU CFG" signature. */
        uint8_t sig[8];
        uint64_t be = htobe64(FW_CFG_DMA_SIGNATURE);

        memcpy(sig, &be, 8);
        for (unsigned i = 0; i < size && offset - 4 + i < 8; i++)
            v |= (uint64_t)sig[offset - 4 + i] << (8 * i);
    } else {
        v = ~0ULL >> (64 - 8 * (size > 8 ? 8 : size));
    }
    pthread_mutex_unlock(&fc->lock);
    return v;
}

static void fw_cfg_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct fw_cfg *fc = opaque;

    pthread_mutex_lock(&fc->lock);
    if (offset == 0 && size >= 2) {
        select_key(fc, (uint16_t)value);
    } else if (offset == 4 && size == 4 && fc->gpa) {
        fc->dma_hi = be32toh((uint32_t)value);
    } else if (offset == 8 && size == 4 && fc->gpa) {
        /* Writing the low half starts the transfer. */
        uint64_t gpa = ((uint64_t)fc->dma_hi << 32) | be32toh((uint32_t)value);

        fc->dma_hi = 0;
        dma_run(fc, gpa);
    } else if (offset != 1) {
        vk_warn_ratelimited("fw_cfg: ignored %u-byte write at offset %llu", size,
                            (unsigned long long)offset);
    }
    pthread_mutex_unlock(&fc->lock);
}

const struct bus_ops fw_cfg_pio_ops = {
    .read = fw_cfg_read,
    .write = fw_cfg_write,
};

/* ---- the board device --------------------------------------------------- */

static void *machine_gpa(void *opaque, uint64_t gpa, uint64_t len)
{
    return machine_gpa_to_hva(opaque, gpa, len);
}

static void fw_cfg_destroy(void *state)
{
    fw_cfg_free(state);
}

static int fw_cfg_init(struct machine *m, const struct device_config *cfg, void **state,
                       struct vk_err *err)
{
    struct fw_cfg *fc = fw_cfg_new(machine_gpa, m);
    unsigned ncpus = m->cfg && m->cfg->smp ? m->cfg->smp : 1;
    int r;

    if (!fc)
        return vk_err_errno(err, -ENOMEM, "fw_cfg");
    if ((r = fw_cfg_add_u16(fc, FW_CFG_NB_CPUS, (uint16_t)ncpus, err)) ||
        (r = fw_cfg_add_u16(fc, FW_CFG_MAX_CPUS, (uint16_t)ncpus, err)) ||
        (r = fw_cfg_add_u64(fc, FW_CFG_RAM_SIZE, m->ram_size, err)) ||
        (r = fw_cfg_add_u16(fc, FW_CFG_NOGRAPHIC, 1, err)) ||
        (r = fw_cfg_add_u16(fc, FW_CFG_BOOT_MENU, 0, err)) ||
        (r = fw_cfg_add_file(fc, "bootorder", "", 0, err)))
        goto fail;
    r = bus_register(&m->pio, cfg->base, FW_CFG_PORT_LEN, &fw_cfg_pio_ops, fc, "fw_cfg", err);
    if (r < 0)
        goto fail;
    *state = fc;
    return 0;
fail:
    fw_cfg_free(fc);
    return r;
}

static void fw_cfg_reset(void *state)
{
    struct fw_cfg *fc = state;

    pthread_mutex_lock(&fc->lock);
    select_key(fc, 0);
    fc->dma_hi = 0;
    pthread_mutex_unlock(&fc->lock);
}

const struct device_ops fw_cfg_device = {
    .name = "fw_cfg",
    .init = fw_cfg_init,
    .reset = fw_cfg_reset,
    .destroy = fw_cfg_destroy,
};

struct fw_cfg *fw_cfg_find(struct machine *m)
{
    for (unsigned i = 0; i < m->nr_devices; i++)
        if (m->devices[i].ops == &fw_cfg_device)
            return m->devices[i].state;
    return NULL;
}
