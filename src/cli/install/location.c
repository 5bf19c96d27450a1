/* --location: find the installer kernel and initrd in an install ISO (read
 * with libarchive's ISO 9660 reader, Rock Ridge and Joliet names) or in an
 * unpacked tree, using the layouts distributions ship. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "install/install.h"

/* First match wins: every kernel/initrd pair a distribution puts on its
 * install media for a direct kernel boot. */
static const struct inst_layout layouts[] = {
    { "debian", "install.amd/vmlinuz", "install.amd/initrd.gz" },
    { "debian", "linux", "initrd.gz" },                         /* netboot mini.iso */
    { "ubuntu", "casper/vmlinuz", "casper/initrd" },
    { "fedora", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img" },
    { "alpine", "boot/vmlinuz-lts", "boot/initramfs-lts" },
    { "alpine", "boot/vmlinuz-virt", "boot/initramfs-virt" },
};

/* "./A/B;1" -> "a/b" style comparison: leading "./" or "/" and an ISO
 * version suffix are dropped, case is ignored (plain ISO 9660 names are
 * upper case). */
static void norm(const char *in, char *out, size_t len)
{
    while (in[0] == '.' && in[1] == '/')
        in += 2;
    while (*in == '/')
        in++;
    snprintf(out, len, "%s", in);
    char *semi = strrchr(out, ';');
    if (semi && semi[1] >= '0' && semi[1] <= '9')
        *semi = '\0';
    size_t n = strlen(out);
    if (n && out[n - 1] == '.')     /* "VMLINUZ." from plain ISO 9660 */
        out[n - 1] = '\0';
}

/* Every entry of the ISO (a DVD has tens of thousands: names are
 * allocated to their length). */
struct iso_entry {
    char *name;
    char *link;                 /* symlink target (resolved to a path) or hardlink; NULL = a file */
};

struct iso_list {
    struct iso_entry *e;
    size_t n, cap;
};

static int open_iso(const char *path, struct archive **out, struct vk_err *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return vk_err_set(err, -ENOMEM, "out of memory");
    archive_read_support_format_iso9660(a);
    if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
        int r = vk_err_set(err, -EINVAL, "'%s' is not an ISO 9660 image (%s)", path, archive_error_string(a));
        archive_read_free(a);
        return r;
    }
    *out = a;
    return 0;
}

/* Join a symlink target with the directory of `name`. */
static void resolve_link(const char *name, const char *target, char *out, size_t len)
{
    if (target[0] == '/') {
        norm(target, out, len);
        return;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", name);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    while (!strncmp(target, "../", 3)) {
        target += 3;
        slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            dir[0] = '\0';
    }
    while (!strncmp(target, "./", 2))
        target += 2;
    snprintf(out, len, "%s%s%s", dir, *dir ? "/" : "", target);
}

static int list_iso(const char *path, struct iso_list *l, struct vk_err *err)
{
    struct archive *a;
    int r = open_iso(path, &a, err);
    if (r < 0)
        return r;
    struct archive_entry *ent;
    int ar;
    while ((ar = archive_read_next_header(a, &ent)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 256;
            struct iso_entry *ne = realloc(l->e, cap * sizeof(*ne));
            if (!ne) {
                archive_read_free(a);
                return vk_err_set(err, -ENOMEM, "out of memory");
            }
            l->e = ne;
            l->cap = cap;
        }
        char name[PATH_MAX], link[PATH_MAX];
        const char *pn = archive_entry_pathname(ent);
        norm(pn ? pn : "", name, sizeof(name));
        const char *sl = archive_entry_symlink(ent), *hl = archive_entry_hardlink(ent);
        if (sl)
            resolve_link(name, sl, link, sizeof(link));
        else if (hl)
            norm(hl, link, sizeof(link));
        struct iso_entry *e = &l->e[l->n];
        e->name = strdup(name);
        e->link = sl || hl ? strdup(link) : NULL;
        if (!e->name || ((sl || hl) && !e->link)) {
            free(e->name);
            free(e->link);
            archive_read_free(a);
            return vk_err_set(err, -ENOMEM, "out of memory");
        }
        l->n++;
    }
    if (ar != ARCHIVE_EOF) {
        if (!l->n)
            r = vk_err_set(err, -EINVAL, "'%s' is not an ISO 9660 image (%s)", path, archive_error_string(a));
        else
            r = vk_err_set(err, -EIO, "reading '%s': %s", path, archive_error_string(a));
        archive_read_free(a);
        return r;
    }
    archive_read_free(a);
    if (!l->n)
        return vk_err_set(err, -EINVAL, "%s: not an ISO 9660 image (or an empty one)", path);
    return 0;
}

static void list_free(struct iso_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].name);
        free(l->e[i].link);
    }
    free(l->e);
    l->e = NULL;
    l->n = l->cap = 0;
}

/* The entry a name finally refers to (following up to 8 links); NULL if absent. */
static const struct iso_entry *lookup(const struct iso_list *l, const char *name)
{
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s", name);
    for (int depth = 0; depth < 8; depth++) {
        const struct iso_entry *hit = NULL;
        for (size_t i = 0; i < l->n && !hit; i++)
            if (!strcasecmp(l->e[i].name, want))
                hit = &l->e[i];
        if (!hit || !hit->link)
            return hit;
        snprintf(want, sizeof(want), "%s", hit->link);
    }
    return NULL;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool tree_has(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int no_layout(const char *location, struct vk_err *err)
{
    return vk_err_set(err, -ENOENT,
                      "Could not find an installable distribution at '%s': no known kernel/initrd "
                      "layout (install.amd/vmlinuz + initrd.gz, casper/vmlinuz + initrd, "
                      "images/pxeboot/vmlinuz + initrd.img, boot/vmlinuz-lts + initramfs-lts)",
                      location);
}

static int check_location(const char *location, struct vk_err *err)
{
    if (strstr(location, "://"))
        return vk_err_set(err, -ENOTSUP, "--location '%s': URLs are not supported; give an ISO file or a directory",
                          location);
    if (access(location, R_OK) < 0)
        return vk_err_errno(err, -errno, "--location '%s'", location);
    return 0;
}

int location_probe(const char *location, const struct inst_layout **layout, struct vk_err *err)
{
    int r = check_location(location, err);
    if (r < 0)
        return r;
    if (is_dir(location)) {
        for (size_t i = 0; i < VK_ARRAY_SIZE(layouts); i++)
            if (tree_has(location, layouts[i].kernel) && tree_has(location, layouts[i].initrd)) {
                *layout = &layouts[i];
                return 0;
            }
        return no_layout(location, err);
    }
    struct iso_list l = { 0 };
    if ((r = list_iso(location, &l, err)) < 0) {
        list_free(&l);
        return r;
    }
    const struct inst_layout *found = NULL;
    for (size_t i = 0; i < VK_ARRAY_SIZE(layouts) && !found; i++)
        if (lookup(&l, layouts[i].kernel) && lookup(&l, layouts[i].initrd))
            found = &layouts[i];
    list_free(&l);
    if (!found)
        return no_layout(location, err);
    *layout = found;
    return 0;
}

/* Copy fd `in` (or the current archive entry when a != NULL) to a temp file
 * beside `out`, then rename it into place. */
static int write_out(struct archive *a, int in, const char *out, const volatile sig_atomic_t *cancel,
                     struct vk_err *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return vk_err_errno(err, -errno, "creating '%s'", tmp);
    int r = 0;
    char buf[65536];
    for (;;) {
        if (cancel && *cancel) {
            r = vk_err_set(err, -EINTR, "interrupted");
            break;
        }
        ssize_t n = a ? archive_read_data(a, buf, sizeof(buf)) : read(in, buf, sizeof(buf));
        if (n == 0)
            break;
        if (n < 0) {
            r = a ? vk_err_set(err, -EIO, "reading the ISO: %s", archive_error_string(a))
                  : vk_err_errno(err, -errno, "reading");
            break;
        }
        if ((r = vk_write_full(fd, buf, (size_t)n)) < 0) {
            vk_err_errno(err, r, "writing '%s'", tmp);
            break;
        }
    }
    if (r == 0 && fchmod(fd, 0644) < 0)
        r = vk_err_errno(err, -errno, "chmod '%s'", tmp);
    if (close(fd) < 0 && r == 0)
        r = vk_err_errno(err, -errno, "writing '%s'", tmp);
    if (r == 0 && rename(tmp, out) < 0)
        r = vk_err_errno(err, -errno, "renaming to '%s'", out);
    if (r < 0)
        unlink(tmp);
    return r;
}

static int extract_tree(const char *dir, const char *rel, const char *out,
                        const volatile sig_atomic_t *cancel, struct vk_err *err)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vk_err_errno(err, -errno, "opening '%s'", p);
    int r = write_out(NULL, fd, out, cancel, err);
    close(fd);
    return r;
}

int location_extract(const char *location, const struct inst_layout *layout,
                     const char *kernel_out, const char *initrd_out,
                     const volatile sig_atomic_t *cancel, struct vk_err *err)
{
    int r;
    if (is_dir(location)) {
        if ((r = extract_tree(location, layout->kernel, kernel_out, cancel, err)) < 0)
            return r;
        if ((r = extract_tree(location, layout->initrd, initrd_out, cancel, err)) < 0)
            unlink(kernel_out);
        return r;
    }
    struct iso_list l = { 0 };
    if ((r = list_iso(location, &l, err)) < 0) {
        list_free(&l);
        return r;
    }
    const struct iso_entry *ke = lookup(&l, layout->kernel), *ie = lookup(&l, layout->initrd);
    if (!ke || !ie) {
        list_free(&l);
        return no_layout(location, err);
    }
    char kname[PATH_MAX], iname[PATH_MAX];
    snprintf(kname, sizeof(kname), "%s", ke->name);
    snprintf(iname, sizeof(iname), "%s", ie->name);
    list_free(&l);

    struct archive *a;
    if ((r = open_iso(location, &a, err)) < 0)
        return r;
    bool got_k = false, got_i = false;
    struct archive_entry *ent;
    int ar;
    while (!(got_k && got_i) &&
           ((ar = archive_read_next_header(a, &ent)) == ARCHIVE_OK || ar == ARCHIVE_WARN)) {
        char name[PATH_MAX];
        norm(archive_entry_pathname(ent), name, sizeof(name));
        bool k = !got_k && !strcasecmp(name, kname), i = !got_i && !strcasecmp(name, iname);
        if (!k && !i)
            continue;
        if ((r = write_out(a, -1, k ? kernel_out : initrd_out, cancel, err)) < 0)
            break;
        if (k && i) {           /* the same file twice: copy it */
            int fd = open(kernel_out, O_RDONLY | O_CLOEXEC);
            r = fd < 0 ? vk_err_errno(err, -errno, "opening '%s'", kernel_out)
                       : write_out(NULL, fd, initrd_out, cancel, err);
            if (fd >= 0)
                close(fd);
            if (r < 0)
                break;
        }
        got_k |= k;
        got_i |= i;
    }
    archive_read_free(a);
    if (r == 0 && !(got_k && got_i))
        r = vk_err_set(err, -EIO, "%s: the kernel or initrd could not be read", location);
    if (r < 0) {
        unlink(kernel_out);
        unlink(initrd_out);
    }
    return r;
}
