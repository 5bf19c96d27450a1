/* virtkit block layer: disk image formats (raw, qcow2) behind one API.
 *
 * Contract for every function here:
 *  - returns 0 (or a non-negative count) on success, -errno on failure, with
 *    detail in the optional `struct vk_err *err` passed last;
 *  - offsets and lengths are in bytes and may be arbitrary (the generic
 *    layer handles alignment, splitting, zero-fill past the end of a backing
 *    file and read-only refusal);
 *  - a `struct blk` may be used from several threads at once for
 *    pread/pwrite/pwrite_zeroes/discard/flush/block_status; the other calls
 *    (truncate, snapshots, check, amend, change_backing) need the caller to
 *    stop I/O on that image first.
 *
 * Typical use:
 *     struct blk *b;
 *     if (blk_open("disk.qcow2", NULL, BLK_O_RDWR, NULL, &b, err) < 0) ...
 *     blk_pwrite(b, 4096, buf, 512, err);
 *     blk_close(b);
 */
#ifndef VK_BLOCK_H
#define VK_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/util/util.h"

struct blk;

/* ---- open / close ------------------------------------------------------ */

enum {
    BLK_O_RDWR       = 1u << 0, /* read-write; default is read-only */
    BLK_O_NO_BACKING = 1u << 1, /* don't open the backing chain (info -U, rebase -u) */
    BLK_O_DIRECT     = 1u << 2, /* O_DIRECT (cache=none): bypass the host page cache */
    BLK_O_UNSAFE     = 1u << 3, /* open images marked corrupt / with a dirty
                                 * bit without repairing (for check -r, info);
                                 * never writes unless blk_check repairs */
    BLK_O_NO_FLUSH   = 1u << 4, /* cache=unsafe: blk_flush writes metadata
                                 * but skips fdatasync */
};

struct blk_open_opts {
    uint64_t cache_size;       /* bytes of L2 + refcount metadata cache; 0 = default (32 MiB) */
    const char *backing_file;  /* override the backing file named in the image (NULL = use image's) */
    const char *backing_fmt;   /* format of the override / of the image's backing (NULL = probe) */
    unsigned backing_flags;    /* extra BLK_O_* for backing layers (they are always read-only) */
};

/* Open `path`. `fmt` is "raw", "qcow2" or NULL to probe (highest probe score
 * wins; raw always scores lowest). `opts` may be NULL. Opens the whole
 * backing chain (each layer read-only) unless BLK_O_NO_BACKING; a looping or
 * too-deep (> BLK_MAX_CHAIN) chain is an error (-ELOOP). */
#define BLK_MAX_CHAIN 256
int blk_open(const char *path, const char *fmt, unsigned flags,
             const struct blk_open_opts *opts, struct blk **out,
             struct vk_err *err) VK_MUST_CHECK;
/* Flush (if writable) and free; closes the backing chain too. Returns the
 * flush result. NULL is fine. */
int blk_close(struct blk *b);

/* ---- I/O ---------------------------------------------------------------- */

/* Read [off, off+len) of the virtual disk. Must lie within blk_getlength(). */
int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err);
/* Write; -EROFS on a read-only image, -ENOSPC-style errors from the host. */
int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len, struct vk_err *err);

enum {
    BLK_ZERO_MAY_UNMAP = 1u << 0, /* may deallocate (reads still return zeroes) */
};
/* Make [off, off+len) read as zeroes, efficiently (zero clusters, holes). */
int blk_pwrite_zeroes(struct blk *b, uint64_t off, uint64_t len, unsigned flags,
                      struct vk_err *err);
/* Hint that [off, off+len) is unused: content becomes zeroes or backing
 * data (qcow2 with a backing file) -- like qemu's discard. May be a no-op. */
int blk_discard(struct blk *b, uint64_t off, uint64_t len, struct vk_err *err);
/* Deallocate everything the image itself stores (not its backing chain) so
 * every read falls through to the backing file, as qemu-img commit leaves
 * the committed image; internal snapshots keep their data. Durable on
 * return. Stop I/O on the image first. -ENOTSUP for formats that cannot
 * (raw). */
int blk_make_empty(struct blk *b, struct vk_err *err);
/* Make every completed write durable (metadata in crash-safe order, then
 * fdatasync). */
int blk_flush(struct blk *b, struct vk_err *err);
/* Virtual disk size in bytes. */
uint64_t blk_getlength(struct blk *b);

enum blk_prealloc {
    BLK_PREALLOC_OFF = 0,
    BLK_PREALLOC_METADATA,  /* qcow2 only: L2 tables and data clusters allocated, not written */
    BLK_PREALLOC_FALLOC,    /* posix_fallocate */
    BLK_PREALLOC_FULL,      /* write zeroes */
};
/* Parse "off"/"metadata"/"falloc"/"full"; -EINVAL otherwise. */
int blk_prealloc_parse(const char *s, enum blk_prealloc *out);
/* Resize the virtual disk. Shrinking needs `shrink_ok` (else -EINVAL with a
 * message), and discards data past the new end. Images with internal
 * snapshots cannot shrink (-ENOTSUP). */
int blk_truncate(struct blk *b, uint64_t size, bool shrink_ok, enum blk_prealloc prealloc,
                 struct vk_err *err);

/* ---- block status (map, convert, rebase, compare) ---------------------- */

enum {
    BLK_ST_DATA         = 1u << 0, /* reads come from stored data (not known zero) */
    BLK_ST_ZERO         = 1u << 1, /* reads return zeroes */
    BLK_ST_ALLOCATED    = 1u << 2, /* defined by the layer at `depth` (not passed down) */
    BLK_ST_COMPRESSED   = 1u << 3, /* stored as a compressed cluster */
    BLK_ST_OFFSET_VALID = 1u << 4, /* host_offset is the byte offset in that layer's file */
    BLK_ST_EOF          = 1u << 5, /* past the end of every layer: zeroes, nothing allocated */
};
struct blk_status {
    uint64_t len;          /* bytes from `off` with this same status (> 0, <= requested len) */
    unsigned flags;        /* BLK_ST_* */
    uint64_t host_offset;  /* with BLK_ST_OFFSET_VALID */
    int depth;             /* layer the content comes from: 0 = `b` itself, 1 = its
                            * backing, ...; when nothing in the chain allocates
                            * the range, the chain length and no ALLOCATED flag */
    const char *filename;  /* file of that layer (the host_offset's file; a
                            * qcow2 external data file when used) */
};
/* Status of [off, off+len) (len > 0, inside the disk). With whole_chain
 * false only `b` is looked at: a range `b` doesn't allocate comes back
 * without BLK_ST_ALLOCATED, depth 0 and flags 0 when it has a backing file
 * (content = backing), or ZERO when it has none. */
int blk_block_status(struct blk *b, uint64_t off, uint64_t len, bool whole_chain,
                     struct blk_status *st, struct vk_err *err);

/* For callers that submit their own file I/O (io_uring; blk_direct.c): 1 if
 * the first out->len bytes of [off, off+len) may be read (write: written)
 * directly on out->fd at out->host_off, honouring out->align (> 1 with
 * O_DIRECT: offsets, lengths and buffers aligned); 0 if that range must go
 * through blk_pread/blk_pwrite; -EINVAL outside the disk. */
struct blk_direct { int fd; uint32_t align; uint64_t host_off, len; };
int blk_map_direct(struct blk *b, uint64_t off, uint64_t len, bool write, struct blk_direct *out);

/* ---- compressed writes (convert -c) ------------------------------------- */

/* Cluster size of the format (0 when the format has no clusters, e.g. raw). */
uint32_t blk_cluster_size(struct blk *b);
/* Write one whole cluster compressed: `off` cluster-aligned, `len` equal to
 * the cluster size (or the tail up to the disk end). Falls back to a plain
 * write when the data doesn't compress. -ENOTSUP for formats without
 * compression. */
int blk_pwrite_compressed(struct blk *b, uint64_t off, const void *buf, size_t len,
                          struct vk_err *err);
/* Parallel compression, step 1 (thread-safe, touches no image state):
 * compress one cluster of `b`'s format into `out` (capacity `out_cap`, at
 * least blk_cluster_size(b)). Returns the compressed length (> 0), or
 * -ENOSPC when it doesn't shrink enough to be worth storing compressed
 * (write it plainly then), or another -errno. */
long blk_compress_cluster(struct blk *b, const void *in, size_t len, void *out,
                          size_t out_cap, struct vk_err *err);
/* Step 2 (serialises internally): store an already-compressed cluster made
 * by blk_compress_cluster for the cluster at `off`. */
int blk_pwrite_precompressed(struct blk *b, uint64_t off, const void *cbuf, size_t clen,
                             struct vk_err *err);

/* ---- create -------------------------------------------------------------- */

struct blk_create_opts {
    uint32_t cluster_size;        /* 0 = default 64 KiB; power of two 512..2 MiB */
    const char *compat;           /* "0.10" (v2) or "1.1" (v3, default); "v2"/"v3" also accepted */
    const char *backing_file;     /* NULL = none */
    const char *backing_fmt;      /* NULL = probe the backing file at create time */
    enum blk_prealloc preallocation;
    const char *compression_type; /* "zlib" (default) or "zstd"; needs compat 1.1 for zstd */
    bool lazy_refcounts;
    uint32_t refcount_bits;       /* 0 = default 16; power of two 1..64 */
    bool extended_l2;             /* subclusters; needs cluster_size >= 16 KiB */
    const char *data_file;        /* external data file (qcow2 v3); NULL = none */
    bool data_file_raw;
    bool nocow;                   /* chattr +C style hint; ignored when unsupported */
};
/* Fill `o` from qemu-img style "-o" options (cluster_size=64k,compat=1.1,
 * backing_file=..,backing_fmt=..,preallocation=..,compression_type=..,
 * lazy_refcounts=on,refcount_bits=..,extended_l2=..,data_file=..,
 * data_file_raw=..,size=..). String fields point into `kv`, which must
 * outlive `o`. A "size" option is stored in *size if size != NULL.
 * Unknown options: -EINVAL naming the option. `o` is reset first. */
int blk_create_opts_parse(const struct vk_kvlist *kv, const char *fmt,
                          struct blk_create_opts *o, uint64_t *size, struct vk_err *err);
/* Create a new image (truncating an existing file). `opts` may be NULL
 * (defaults). For a backing file without backing_fmt the backing is probed;
 * a size of 0 with a backing file takes the backing file's size. */
int blk_create(const char *path, const char *fmt, uint64_t size,
               const struct blk_create_opts *opts, struct vk_err *err) VK_MUST_CHECK;

/* ---- info ------------------------------------------------------------------ */

struct blk_snapshot_info {
    char id[128];              /* "1", "2", ... */
    char name[256];
    uint64_t vm_state_size;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;           /* UINT64_MAX when not recorded */
};

struct blk_info {
    char format[16];            /* "raw", "qcow2" */
    char *filename;             /* as opened */
    uint64_t virtual_size;
    uint64_t actual_size;       /* st_blocks * 512 of the image file */
    uint32_t cluster_size;      /* 0 = none */
    char *backing_filename;     /* as stored in the image; NULL = none */
    char *full_backing_filename;/* resolved relative to the image's directory */
    char *backing_fmt;          /* backing format recorded in the image; NULL = none */
    bool dirty_flag;
    bool encrypted;
    bool has_qcow2;             /* format-specific data below is valid */
    struct {
        char compat[8];            /* "0.10" / "1.1" */
        char compression_type[8];  /* "zlib" / "zstd" */
        bool lazy_refcounts;
        uint32_t refcount_bits;
        bool corrupt;
        bool extended_l2;
        char *data_file;           /* NULL = none */
        bool data_file_raw;
        bool has_bitmaps;          /* a bitmaps extension is present (kept, not interpreted) */
    } qcow2;
    struct blk_snapshot_info *snapshots;
    size_t nb_snapshots;
};
int blk_get_info(struct blk *b, struct blk_info *out, struct vk_err *err);
void blk_info_free(struct blk_info *info);

const char *blk_format_name(struct blk *b);
const char *blk_filename(struct blk *b);
bool blk_is_writable(struct blk *b);
/* Probe the format of a file without opening it as an image: "raw",
 * "qcow2"... -errno when it can't be read. */
int blk_probe_format(const char *path, const char **fmt, struct vk_err *err);

/* ---- check / repair --------------------------------------------------------- */

enum {
    BLK_CHECK_FIX_LEAKS  = 1u << 0,  /* check -r leaks */
    BLK_CHECK_FIX_ERRORS = 1u << 1,  /* with LEAKS: check -r all */
    BLK_CHECK_FIX_ALL    = BLK_CHECK_FIX_LEAKS | BLK_CHECK_FIX_ERRORS,
};
struct blk_check_result {
    int64_t corruptions;        /* remaining after repair */
    int64_t leaks;              /* remaining after repair */
    int64_t check_errors;       /* I/O errors while checking */
    int64_t corruptions_fixed;
    int64_t leaks_fixed;
    uint64_t image_end_offset;  /* end of the last used host cluster */
    uint64_t total_clusters;    /* virtual size in clusters */
    uint64_t allocated_clusters;
    uint64_t fragmented_clusters;
    uint64_t compressed_clusters;
    bool has_cluster_stats;     /* false for formats without clusters */
};
/* Check (and with `fix` repair, needing BLK_O_RDWR) metadata consistency.
 * Messages about individual problems go to vk_warn ("Leaked cluster 5
 * refcount=1 reference=0" style). -ENOTSUP for formats without metadata. */
int blk_check(struct blk *b, unsigned fix, struct blk_check_result *res, struct vk_err *err);

/* ---- internal snapshots (qcow2) --------------------------------------------- */

/* Create a snapshot of the current state named `name` (must be unique).
 * `meta` may be NULL (date = now, no VM state); otherwise its date/vm clock/
 * icount fields are used (id is assigned). */
int blk_snapshot_create(struct blk *b, const char *name, const struct blk_snapshot_info *meta,
                        struct vk_err *err);
/* List: *out is malloc'd (free()), possibly NULL with *n == 0. */
int blk_snapshot_list(struct blk *b, struct blk_snapshot_info **out, size_t *n,
                      struct vk_err *err);
/* Revert the disk to a snapshot (by id or, failing that, name). */
int blk_snapshot_apply(struct blk *b, const char *id_or_name, struct vk_err *err);
int blk_snapshot_delete(struct blk *b, const char *id_or_name, struct vk_err *err);

/* ---- backing chain ------------------------------------------------------------ */

/* The opened backing image, or NULL (none, or BLK_O_NO_BACKING). */
struct blk *blk_backing(struct blk *b);
/* Backing file name as stored in the image (NULL = none) and its format. */
const char *blk_backing_filename(struct blk *b);
const char *blk_backing_format(struct blk *b);
/* Rewrite the backing file reference in the header (rebase, commit). `file`
 * NULL removes the backing file; `fmt` NULL records none. Does not copy
 * data and does not reopen the chain: blk_backing() keeps pointing at the
 * old chain until the image is reopened. */
int blk_change_backing_file(struct blk *b, const char *file, const char *fmt,
                            struct vk_err *err);

/* ---- amend / measure ----------------------------------------------------------- */

/* Fields left at their "unset" value are not changed. */
struct blk_amend_opts {
    const char *compat;          /* NULL = keep; "0.10"/"1.1" */
    int lazy_refcounts;          /* -1 = keep, 0/1 */
    uint32_t refcount_bits;      /* 0 = keep */
    uint64_t size;               /* 0 = keep (growing only; use blk_truncate to shrink) */
    const char *backing_file;    /* NULL = keep */
    const char *backing_fmt;     /* NULL = keep */
};
/* Fill `o` from "-o" options (all fields reset to "keep" first); strings
 * point into `kv`. Options that cannot be amended: -ENOTSUP naming them. */
int blk_amend_opts_parse(const struct vk_kvlist *kv, struct blk_amend_opts *o,
                         struct vk_err *err);
int blk_amend(struct blk *b, const struct blk_amend_opts *o, struct vk_err *err);

/* Size estimate for creating a `fmt` image of `size` (or holding the data of
 * `src` when non-NULL, size then defaults to src's length): bytes required
 * with the data present, and when fully allocated (qemu-img measure). */
int blk_measure(const char *fmt, const struct blk_create_opts *opts, uint64_t size,
                struct blk *src, uint64_t *required, uint64_t *fully_allocated,
                struct vk_err *err);

#endif
