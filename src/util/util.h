/* virtkit utility library: errors, logging, files, checked arithmetic.
 *
 * Conventions used across virtkit:
 *  - functions return 0 (or a non-negative count) on success and -errno on
 *    failure; human-readable detail goes into an optional `struct vk_err *`
 *    passed last (may be NULL);
 *  - only the outermost layer (a binary's main) prints fatal errors or exits.
 */
#ifndef VK_UTIL_H
#define VK_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define VK_MUST_CHECK __attribute__((warn_unused_result))
#define VK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VK_ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define VK_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define VK_IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)

/* ---- errors ------------------------------------------------------------ */

struct vk_err {
    int code;          /* -errno, 0 when unset */
    char msg[512];
};

/* Record `code` (a -errno) and a message; returns `code` so callers can
 * write `return vk_err_set(err, -EINVAL, "bad %s", x);`. NULL err is fine. */
int vk_err_set(struct vk_err *err, int code, const char *fmt, ...) VK_PRINTF(3, 4);
/* As vk_err_set, appending ": strerror(-code)". */
int vk_err_errno(struct vk_err *err, int code, const char *fmt, ...) VK_PRINTF(3, 4);
/* Prefix an existing message with more context ("opening x: <old>"). */
void vk_err_prefix(struct vk_err *err, const char *fmt, ...) VK_PRINTF(2, 3);

/* ---- logging ----------------------------------------------------------- */

enum vk_log_level { VK_LOG_ERROR, VK_LOG_WARN, VK_LOG_INFO, VK_LOG_DEBUG };
void vk_log_set_level(enum vk_log_level level);
void vk_log_set_prefix(const char *prefix);   /* e.g. "virtkit-vm" */
void vk_log(enum vk_log_level level, const char *fmt, ...) VK_PRINTF(2, 3);
#define vk_error(...) vk_log(VK_LOG_ERROR, __VA_ARGS__)
#define vk_warn(...)  vk_log(VK_LOG_WARN, __VA_ARGS__)
#define vk_info(...)  vk_log(VK_LOG_INFO, __VA_ARGS__)
#define vk_debug(...) vk_log(VK_LOG_DEBUG, __VA_ARGS__)
/* Rate-limited warning for guest-triggerable conditions: at most a few lines
 * per call site per second, so a hostile guest cannot flood the log. */
#define vk_warn_ratelimited(...) do {                                     \
        static struct vk_ratelimit rl_;                                   \
        if (vk_ratelimit_ok(&rl_)) vk_log(VK_LOG_WARN, __VA_ARGS__);      \
    } while (0)
struct vk_ratelimit { int64_t window; unsigned count; };
bool vk_ratelimit_ok(struct vk_ratelimit *rl);

/* ---- files ------------------------------------------------------------- */

/* Write a whole file atomically: temp file in the same directory, fsync,
 * rename over `path`, fsync the directory. Readers see old or new, never a
 * mix; a crash at any point leaves one of the two. */
int vk_write_file_atomic(const char *path, const void *data, size_t len,
                         mode_t mode, struct vk_err *err) VK_MUST_CHECK;
/* Read a whole file into a NUL-terminated malloc'd buffer. */
int vk_read_file(const char *path, char **data, size_t *len, struct vk_err *err) VK_MUST_CHECK;
/* pread/pwrite that loop over short transfers; return 0 or -errno
 * (-EIO on unexpected EOF for reads). */
int vk_pread_full(int fd, void *buf, size_t len, off_t off);
int vk_pwrite_full(int fd, const void *buf, size_t len, off_t off);
int vk_write_full(int fd, const void *buf, size_t len);
/* mkdir -p */
int vk_mkdir_p(const char *path, mode_t mode);

/* ---- numbers and strings ----------------------------------------------- */

/* Parse sizes as qemu-img does: plain bytes, or suffixes k K M G T P E
 * (powers of 1024), optional trailing B/iB. Returns 0 or -EINVAL/-ERANGE. */
int vk_parse_size(const char *s, uint64_t *out);
/* Format bytes as "1 GiB", "512 KiB", "1.5 MiB" (qemu-img info style). */
void vk_format_size(uint64_t bytes, char *buf, size_t len);
/* Strict integer parsing: whole string, base 0, range checked. */
int vk_parse_u64(const char *s, uint64_t *out);
int vk_parse_int(const char *s, int min, int max, int *out);

/* Checked arithmetic for guest- and file-controlled offsets and lengths:
 * true when the result overflowed. */
static inline bool vk_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{ return __builtin_add_overflow(a, b, r); }
static inline bool vk_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{ return __builtin_mul_overflow(a, b, r); }
/* true when [off, off+len) lies inside [0, size) */
static inline bool vk_range_ok(uint64_t off, uint64_t len, uint64_t size)
{ uint64_t end; return !vk_add_overflow_u64(off, len, &end) && end <= size; }

/* Monotonic clock in nanoseconds. */
int64_t vk_now_ns(void);

/* ---- growable strings ---------------------------------------------------- */

/* Append-only string for generated files. On allocation failure `oom` is
 * set and later appends do nothing: check it once at the end. */
struct vk_strbuf { char *s; size_t len, cap; bool oom; };
void vk_strbuf_printf(struct vk_strbuf *b, const char *fmt, ...) VK_PRINTF(2, 3);
void vk_strbuf_free(struct vk_strbuf *b);

/* ---- key=value option strings ("path=x,format=qcow2,readonly=on") ----- */

struct vk_kv { char *key; char *val; };
struct vk_kvlist { struct vk_kv *items; size_t n; };
/* Split "a=1,b=2,flag" (",," escapes a comma, as in QEMU). A bare first
 * item with no '=' is stored under `implied_key` if non-NULL. */
int vk_kv_parse(const char *s, const char *implied_key, struct vk_kvlist *out,
                struct vk_err *err) VK_MUST_CHECK;
const char *vk_kv_get(const struct vk_kvlist *l, const char *key);
void vk_kv_free(struct vk_kvlist *l);
/* "on/off/yes/no/true/false/1/0" -> 1/0, else -EINVAL */
int vk_parse_bool(const char *s);

#endif
