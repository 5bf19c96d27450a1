/* Block layer internals: the format driver contract and struct blk.
 *
 * A format is one file (raw.c, qcow2*.c) that defines one const struct
 * blk_driver, listed in blk_drivers[] (block.c). The generic layer (block.c,
 * block_io.c) owns: opening the file descriptor, probing, range checks,
 * read-only refusal, O_DIRECT alignment, and opening the backing chain.
 *
 * Locking: the generic layer takes no lock around driver I/O calls; drivers
 * that keep metadata lock it themselves (qcow2: one mutex per image around
 * metadata, released for data I/O to allocated clusters). Calls that the
 * public header marks as "stop I/O first" are not called concurrently with
 * anything else on the same image.
 */
#ifndef VK_BLOCK_INT_H
#define VK_BLOCK_INT_H

#include <pthread.h>

#include "block.h"

struct blk {
    const struct blk_driver *drv;
    void *opaque;              /* drv->instance_size bytes, zeroed */
    char *filename;
    int fd;                    /* the image file */
    unsigned flags;            /* BLK_O_* */
    uint32_t align;            /* 1, or the O_DIRECT alignment */
    struct blk_open_opts opts; /* strings not owned; valid during open only */
    uint64_t cache_size;
    /* Backing: set by the driver's open (malloc'd strings, freed by core). */
    char *backing_name;        /* as stored in the image */
    char *backing_fmt;         /* as stored in the image */
    char *backing_path;        /* resolved path actually opened */
    struct blk *backing;       /* opened by the core after drv->open */
    int depth;                 /* position in the chain: 0 = top */
};

struct blk_driver {
    const char *name;
    size_t instance_size;
    /* Score how sure we are that `buf` (the first `len` bytes of the file,
     * len may be < 512 for tiny files) is this format: 0 = no, 1 = raw,
     * 100 = magic matched. */
    int (*probe)(const uint8_t *buf, size_t len, const char *filename);
    /* b->fd, b->flags, b->filename set. Parse and validate metadata; set
     * b->backing_name / b->backing_fmt when the image has a backing file.
     * On failure everything allocated is freed (close is not called). */
    int (*open)(struct blk *b, struct vk_err *err);
    /* Flush nothing (core flushed already), free driver state. */
    void (*close)(struct blk *b);
    uint64_t (*getlength)(struct blk *b);
    /* Read/write inside [0, getlength). Called with any alignment unless
     * b->align > 1 (then off/len/buffer are aligned). Unallocated ranges
     * are filled via blk_read_backing(). */
    int (*pread)(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err);
    int (*pwrite)(struct blk *b, uint64_t off, const void *buf, size_t len, struct vk_err *err);
    /* Optional; NULL = core writes a zero buffer. */
    int (*pwrite_zeroes)(struct blk *b, uint64_t off, uint64_t len, unsigned flags,
                         struct vk_err *err);
    /* Optional; NULL = no-op. */
    int (*discard)(struct blk *b, uint64_t off, uint64_t len, struct vk_err *err);
    /* Optional; NULL = -ENOTSUP. Deallocate everything this layer holds so
     * reads fall through to the backing chain; durable on return. Called
     * with I/O on the image stopped. */
    int (*make_empty)(struct blk *b, struct vk_err *err);
    /* Optional; NULL = fdatasync(b->fd). */
    int (*flush)(struct blk *b, struct vk_err *err);
    /* Optional; NULL = everything DATA|ALLOCATED at identity offset. This
     * layer only; st->depth is set by the core. */
    int (*block_status)(struct blk *b, uint64_t off, uint64_t len, struct blk_status *st,
                        struct vk_err *err);
    int (*truncate)(struct blk *b, uint64_t size, bool shrink_ok, enum blk_prealloc prealloc,
                    struct vk_err *err);
    int (*create)(const char *path, uint64_t size, const struct blk_create_opts *opts,
                  struct vk_err *err);
    /* Fill format-specific parts; the core fills format/filename/sizes/backing. */
    int (*get_info)(struct blk *b, struct blk_info *info, struct vk_err *err);
    int (*check)(struct blk *b, unsigned fix, struct blk_check_result *res, struct vk_err *err);
    int (*change_backing)(struct blk *b, const char *file, const char *fmt, struct vk_err *err);
    int (*amend)(struct blk *b, const struct blk_amend_opts *o, struct vk_err *err);
    int (*measure)(const struct blk_create_opts *opts, uint64_t size, struct blk *src,
                   uint64_t *required, uint64_t *fully, struct vk_err *err);
    uint32_t (*cluster_size)(struct blk *b);
    long (*compress_cluster)(struct blk *b, const void *in, size_t len, void *out,
                             size_t out_cap, struct vk_err *err);
    int (*write_compressed)(struct blk *b, uint64_t off, const void *cbuf, size_t clen,
                            struct vk_err *err);
    /* Snapshots: optional as a group. */
    int (*snapshot_create)(struct blk *b, const char *name, const struct blk_snapshot_info *meta,
                           struct vk_err *err);
    int (*snapshot_list)(struct blk *b, struct blk_snapshot_info **out, size_t *n,
                         struct vk_err *err);
    int (*snapshot_apply)(struct blk *b, const char *id_or_name, struct vk_err *err);
    int (*snapshot_delete)(struct blk *b, const char *id_or_name, struct vk_err *err);
};

extern const struct blk_driver blk_raw_driver;
extern const struct blk_driver blk_qcow2_driver;
extern const struct blk_driver *const blk_drivers[];

const struct blk_driver *blk_find_driver(const char *name);

/* Read [off, off+len) of b's backing chain into buf (zeroes past the end of
 * the backing file, or everywhere when there is none). For drivers. */
int blk_read_backing(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err);

/* File I/O honouring b->align (bounce buffers for O_DIRECT). */
int blk_file_pread(struct blk *b, int fd, uint64_t off, void *buf, size_t len);
int blk_file_pwrite(struct blk *b, int fd, uint64_t off, const void *buf, size_t len);
/* aligned malloc (4 KiB) for buffers used with O_DIRECT; free with free() */
void *blk_alloc_aligned(size_t len);
/* Resolve a backing file name relative to the image that names it. */
char *blk_resolve_backing(const char *image, const char *backing);

#endif
