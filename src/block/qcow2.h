/* qcow2 driver: private definitions shared by the qcow2*.c files.
 * On-disk format: QEMU's docs/interop/qcow2.txt (all fields big endian).
 *
 * Locking: `lock` protects every field below it, the caches and the file
 * layout. Data I/O to clusters that are already allocated and exclusively
 * owned (COPIED) happens without the lock.
 */
#ifndef VK_QCOW2_H
#define VK_QCOW2_H

#include <endian.h>
#include <pthread.h>
#include <string.h>

#include "block_int.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20)      /* as QEMU: 32 MiB of L1 entries */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_BACKING_NAME 1023

#define QCOW2_INCOMPAT_DIRTY      (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT    (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE  (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2      (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN      0x1full
#define QCOW2_COMPAT_LAZY         (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS   (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW  (1ull << 1)

#define QCOW2_EXT_END          0x00000000u
#define QCOW2_EXT_BACKING_FMT  0xe2792acau
#define QCOW2_EXT_FEATURES     0x6803f857u
#define QCOW2_EXT_BITMAPS      0x23852875u
#define QCOW2_EXT_CRYPTO       0x0537be77u
#define QCOW2_EXT_DATA_FILE    0x44415441u

#define L1E_OFFSET_MASK 0x00fffffffffffe00ull
#define L2E_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW_OFLAG_COPIED     (1ull << 63)
#define QCOW_OFLAG_COMPRESSED (1ull << 62)
#define QCOW_OFLAG_ZERO       (1ull << 0)
#define REFT_OFFSET_MASK      0xfffffffffffffe00ull

enum qcow2_ctype { QC_UNALLOC, QC_ZERO_PLAIN, QC_ZERO_ALLOC, QC_NORMAL, QC_COMPRESSED };

struct qcache_entry {
    uint64_t offset;    /* 0 = free slot */
    void *buf;
    uint64_t stamp;
    int pin;
    bool dirty;
    int next;           /* hash chain */
};
struct qcache {
    struct qcache_entry *e;
    int n;
    int *buckets;
    int nbuckets;
    uint64_t clock;
    const char *what;   /* "L2" / "refcount" for messages */
};

struct qcow2_unknown_ext {
    uint32_t type, len;
    uint8_t *data;
};

struct qcow2_snapshot {
    uint64_t l1_offset;
    uint32_t l1_size;
    char *id, *name;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    uint64_t disk_size;      /* UINT64_MAX when unknown */
    uint64_t icount;         /* UINT64_MAX when unknown */
    uint8_t *extra;          /* extra data beyond what we interpret (kept) */
    uint32_t extra_size;
};

struct freed_range { uint64_t cluster, n; };
struct inflight { uint64_t start, end; };   /* guest bytes being allocated */

struct qcow2_state {
    pthread_mutex_t lock;
    struct blk *b;
    /* header */
    uint32_t version;
    uint32_t cluster_bits;
    uint32_t cluster_size;
    uint64_t size;
    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1;            /* host-endian copy of the active L1 (entries as on disk) */
    bool l1_dirty;
    uint64_t reftable_offset;
    uint32_t reftable_clusters;
    uint64_t *reftable;      /* host-endian */
    uint64_t reftable_size;  /* entries */
    uint32_t refcount_order;
    uint32_t refcount_bits;
    uint64_t refcount_max;
    uint64_t rb_entries;     /* refcount entries per block */
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t snapshots_size;     /* bytes of the on-disk snapshot table */
    uint64_t incompat, compat, autoclear;
    uint32_t header_length;
    uint8_t compression_type;    /* 0 zlib, 1 zstd */
    char *backing_name, *backing_fmt;
    char *feature_table;         /* raw feature name table (kept for messages / rewrite) */
    uint32_t feature_table_len;
    struct qcow2_unknown_ext *unknown;
    int nb_unknown;
    /* geometry */
    bool extl2;
    uint32_t l2_entry_bytes;     /* 8 or 16 */
    uint32_t l2_bits;            /* log2(entries per L2 table) */
    uint64_t l2_entries;
    uint32_t subcluster_size;    /* cluster_size / 32 with extl2 */
    uint32_t csize_shift;        /* compressed descriptor: bit where the sector count starts */
    uint64_t csize_mask;
    /* external data file */
    char *data_file_name;
    int data_fd;                 /* == b->fd when none */
    bool data_raw;
    /* run-time */
    struct qcache l2_cache, rb_cache;
    struct qcow2_snapshot *snapshots;
    uint64_t free_cluster_hint;
    uint64_t free_byte_offset;   /* for packing compressed clusters; 0 = none */
    struct freed_range *freed;   /* deferred refcount decrements */
    size_t nb_freed, cap_freed;
    bool dirty_marked;           /* we set the dirty bit (lazy refcounts) */
    bool corrupt;                /* found inconsistent metadata: no more writes */
    bool header_dirty;
    bool unsynced;               /* metadata or new-cluster data written since the last sync */
    uint64_t file_size_seen;     /* image file size last seen (atomic; the file only grows) */
    /* Allocating writes drop the lock while their data goes to disk; other
     * requests touching the same guest clusters wait on alloc_cond. */
    pthread_cond_t alloc_cond;
    struct inflight inflight[64];
    int nb_inflight;
};

/* Wait (lock held) until no allocation is in flight over guest [start, end). */
void qcow2_wait_inflight(struct qcow2_state *s, uint64_t start, uint64_t end);

static inline struct qcow2_state *Q(struct blk *b) { return b->opaque; }

/* qcow2.c */
int qcow2_write_header(struct qcow2_state *s, struct vk_err *err);
int qcow2_signal_corruption(struct qcow2_state *s, struct vk_err *err, const char *fmt, ...)
    VK_PRINTF(3, 4);
int qcow2_sync(struct qcow2_state *s, struct vk_err *err);
/* Ordering barrier: sync only if something was written since the last sync. */
int qcow2_barrier(struct qcow2_state *s, struct vk_err *err);
int qcow2_meta_flush(struct qcow2_state *s, struct vk_err *err);   /* lock held */
int qcow2_truncate(struct blk *b, uint64_t size, bool shrink_ok, enum blk_prealloc prealloc,
                   struct vk_err *err);
int qcow2_create(const char *path, uint64_t size, const struct blk_create_opts *o,
                 struct vk_err *err);
int qcow2_measure(const struct blk_create_opts *opts, uint64_t size, struct blk *src,
                  uint64_t *required, uint64_t *fully, struct vk_err *err);
int qcow2_amend(struct blk *b, const struct blk_amend_opts *o, struct vk_err *err);

/* qcow2_io.c */
int qcow2_pread(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err);
int qcow2_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len, struct vk_err *err);
int qcow2_pwrite_zeroes(struct blk *b, uint64_t off, uint64_t len, unsigned flags,
                        struct vk_err *err);
int qcow2_discard(struct blk *b, uint64_t off, uint64_t len, struct vk_err *err);
int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len, struct blk_status *st,
                       struct vk_err *err);
int qcow2_preallocate(struct qcow2_state *s, uint64_t from, uint64_t to,
                      enum blk_prealloc mode, struct vk_err *err);
/* Write guest [off, off+len) (inside one L2 table) into newly allocated
 * clusters, copying the old content around it. Lock held. */
int qcow2_cow_write(struct qcow2_state *s, uint64_t off, const uint8_t *buf, uint64_t len,
                    struct vk_err *err);
int qcow2_write_compressed(struct blk *b, uint64_t off, const void *cbuf, size_t clen,
                           struct vk_err *err);
int qcow2_make_empty(struct blk *b, struct vk_err *err);

/* qcow2_cache.c */
int qcache_init(struct qcache *c, int n, const char *what);
void qcache_destroy(struct qcache *c);
/* Get the table at `offset` (read from the file unless `fresh`: then
 * zero-filled). Pinned until qcache_put. Lock held. */
int qcache_get(struct qcow2_state *s, struct qcache *c, uint64_t offset, bool fresh,
               void **table, struct vk_err *err);
void qcache_put(struct qcache *c, uint64_t offset);
void qcache_mark_dirty(struct qcache *c, uint64_t offset);
int qcache_flush(struct qcow2_state *s, struct qcache *c, bool *wrote, struct vk_err *err);
bool qcache_has_dirty(struct qcache *c);
void qcache_drop(struct qcache *c, uint64_t offset);   /* forget (table freed) */
void qcache_clear(struct qcache *c);                   /* forget everything (not dirty) */

/* qcow2_cluster.c */
struct qcow2_map {
    enum qcow2_ctype type;
    uint64_t host;        /* host offset of the cluster (normal / zero-alloc) */
    uint64_t l2e, bitmap; /* raw entry */
};
/* Type of the guest cluster containing `off`, plus how many following
 * bytes (from off, <= len) map contiguously with the same type. Lock held. */
int qcow2_get_mapping(struct qcow2_state *s, uint64_t off, uint64_t len, struct qcow2_map *m,
                      uint64_t *run, bool *sub_alloc_partial, struct vk_err *err);
/* Get the L2 table covering `off` for modification (allocating or COW-ing it
 * as needed); returns the pinned table and the entry index. Lock held. */
int qcow2_get_l2_for_write(struct qcow2_state *s, uint64_t off, uint64_t **l2, uint64_t *l2_off,
                           uint64_t *idx, struct vk_err *err);
int qcow2_grow_l1(struct qcow2_state *s, uint64_t min_size, struct vk_err *err);
bool qcow2_entry_decode(struct qcow2_state *s, uint64_t e, uint64_t bitmap, struct qcow2_map *m);
void qcow2_compressed_range(struct qcow2_state *s, uint64_t e, uint64_t *off, uint64_t *len);
uint64_t l2_get(struct qcow2_state *s, const uint64_t *l2, uint64_t i, uint64_t *bitmap);
void l2_set(struct qcow2_state *s, uint64_t *l2, uint64_t i, uint64_t e, uint64_t bitmap);
/* Validate a table offset from the file. */
int qcow2_check_offset(struct qcow2_state *s, uint64_t off, const char *what, uint64_t where,
                       struct vk_err *err);

/* qcow2_refcount.c */
int qcow2_get_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t *rc, struct vk_err *err);
int qcow2_update_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t n, int64_t delta,
                          struct vk_err *err);
int qcow2_set_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t rc, struct vk_err *err);
/* Allocate n contiguous clusters (refcount 1); returns the host offset. */
int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *off, struct vk_err *err);
/* Free (refcount - 1) a host byte range's clusters, deferred to the next
 * metadata flush (after the tables that stopped referencing them are on
 * disk). */
int qcow2_free_deferred(struct qcow2_state *s, uint64_t host, uint64_t len);
int qcow2_apply_deferred(struct qcow2_state *s, struct vk_err *err);
/* Free an L2 entry's storage (deferred). */
void qcow2_free_entry(struct qcow2_state *s, uint64_t e);
/* Add `delta` (+1/-1) to every cluster reachable from an L1 table
 * (L2 tables and data) -- snapshot create/apply/delete. */
int qcow2_update_tree_refcounts(struct qcow2_state *s, uint64_t *l1, uint32_t l1_size,
                                int delta, struct vk_err *err);
/* Recompute COPIED flags of the active L1/L2 from the refcounts. */
int qcow2_fix_copied(struct qcow2_state *s, struct vk_err *err);
/* amend refcount_bits: rebuild the refcount structures with 2^order bits. */
int qcow2_change_refcount_order(struct qcow2_state *s, uint32_t order, struct vk_err *err);
uint64_t rb_get(struct qcow2_state *s, const void *blk, uint64_t i);
void rb_set(struct qcow2_state *s, void *blk, uint64_t i, uint64_t v);

/* qcow2_compress.c */
long qcow2_compress(struct blk *b, const void *in, size_t len, void *out, size_t out_cap,
                    struct vk_err *err);
int qcow2_decompress(struct qcow2_state *s, const void *in, size_t in_len, void *out,
                     size_t out_len);

/* qcow2_snapshot.c */
int qcow2_read_snapshots(struct qcow2_state *s, struct vk_err *err);
void qcow2_free_snapshots(struct qcow2_state *s);
int qcow2_snapshot_create(struct blk *b, const char *name, const struct blk_snapshot_info *meta,
                          struct vk_err *err);
int qcow2_snapshot_list(struct blk *b, struct blk_snapshot_info **out, size_t *n,
                        struct vk_err *err);
int qcow2_snapshot_apply(struct blk *b, const char *id_or_name, struct vk_err *err);
int qcow2_snapshot_delete(struct blk *b, const char *id_or_name, struct vk_err *err);

/* qcow2_check.c; QCOW2_CHECK_QUIET (internal fix flag): no per-cluster messages */
#define QCOW2_CHECK_QUIET (1u << 8)
int qcow2_check(struct blk *b, unsigned fix, struct blk_check_result *res, struct vk_err *err);

static inline uint64_t qcow2_size_to_clusters(const struct qcow2_state *s, uint64_t bytes)
{
    return (bytes + s->cluster_size - 1) >> s->cluster_bits;
}
static inline uint64_t ld64(const void *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static inline uint32_t ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static inline uint16_t ld16(const void *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static inline void st64(void *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static inline void st32(void *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static inline void st16(void *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }

#endif
