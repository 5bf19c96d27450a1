/* virtkit install (virt-install): shared types of the install command.
 *
 * cmd_install.c parses the command line into a `struct inst`, then:
 * osinfo.c supplies the OS variant defaults, location.c finds the installer
 * kernel and initrd inside an ISO (or a tree), install_opts.c parses the
 * comma-separated sub-options (--disk, --network, --boot, ...), and
 * install_xml.c writes the two domain definitions virt-install uses:
 * the install phase (the installer kernel booted directly) and the final
 * one (boot from the disk). See docs/install.md. */
#ifndef VK_CLI_INSTALL_H
#define VK_CLI_INSTALL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define INST_MAX_DISKS 16
#define INST_MAX_NICS 8
#define INST_MAX_INJECT 16

/* ---- OS variants (osinfo.c) --------------------------------------------- */

struct osinfo {
    const char *name;           /* short id: "debian12" */
    const char *full_name;      /* "Debian 12" */
    const char *family;         /* "linux" */
    const char *id;             /* libosinfo URI, written into <metadata> */
    unsigned ram_mib;           /* recommended RAM */
    unsigned vcpus;             /* recommended vCPUs */
    unsigned disk_gib;          /* recommended disk size */
};

/* NULL when unknown. Accepts the short id or the libosinfo URI, and a
 * "name=" / "id=" prefix as virt-install's --osinfo does. */
const struct osinfo *osinfo_find(const char *s);
const struct osinfo *osinfo_generic(void);
/* The table, NULL-name terminated. */
extern const struct osinfo osinfo_table[];

/* ---- sub-options (install_opts.c) ---------------------------------------- */

/* "a=1,b='x,y',flag": split on commas outside quotes; quotes removed. */
struct subopt { char key[32]; char *val; };
struct subopts { struct subopt items[24]; int n; char *buf; };
int subopts_parse(const char *s, const char *implied_key, struct subopts *out, struct vk_err *err);
void subopts_free(struct subopts *o);
const char *subopts_get(const struct subopts *o, const char *key);
/* Refuse keys not in `known` (NULL-terminated). */
int subopts_check(const struct subopts *o, const char *opt, const char *const *known,
                  struct vk_err *err);

struct inst_disk {
    char *path;                 /* NULL until resolved (default pool path) */
    uint64_t size;              /* bytes; 0 = not given */
    char format[16];            /* "qcow2", "raw", ... ("" = probe an existing file) */
    bool cdrom;                 /* device=cdrom (read-only) */
    bool readonly;
    bool shareable;
    char cache[16];
    char target[8];             /* vda, vdb... */
    bool exists;                /* the file was there before install */
    bool created;               /* install created it (removed on failure) */
    bool install_only;          /* the installer ISO: not in the final definition */
};

struct inst_nic {
    char type[16];              /* "network" | "bridge" */
    char source[64];
    char mac[18];
};

struct inst_boot {
    char *kernel, *initrd, *cmdline;
    const char *devs[4];
    int n_devs;
};

int inst_parse_disk(const char *arg, struct inst_disk *d, struct vk_err *err);
/* Returns 1 for "none" (no interface), 0 for an interface. */
int inst_parse_network(const char *arg, struct inst_nic *n, struct vk_err *err);
int inst_parse_boot(const char *arg, struct inst_boot *b, struct vk_err *err);
int inst_parse_graphics(const char *arg, struct vk_err *err);
int inst_parse_console(const char *arg, struct vk_err *err);
void inst_random_mac(char mac[18]);
void inst_random_uuid(char uuid[37]);

/* ---- installer trees (location.c) ---------------------------------------- */

struct inst_layout {
    const char *distro;         /* "debian", "ubuntu", "fedora", "alpine" */
    const char *kernel;         /* path inside the tree */
    const char *initrd;
};

/* Find a known layout in `location` (an ISO file or a directory). On
 * success *layout points into a static table. */
int location_probe(const char *location, const struct inst_layout **layout,
                   struct vk_err *err) VK_MUST_CHECK;
/* Copy the layout's kernel and initrd out of `location` into the files
 * `kernel_out` and `initrd_out` (created 0644, replaced atomically).
 * Stops with -EINTR (and removes what it wrote) once *cancel is set. */
int location_extract(const char *location, const struct inst_layout *layout,
                     const char *kernel_out, const char *initrd_out,
                     const volatile sig_atomic_t *cancel, struct vk_err *err) VK_MUST_CHECK;

/* --initrd-inject (initrd_inject.c): append `files` (at the root, by
 * their base names, modes kept) to the initrd as one more cpio archive. */
int initrd_inject(const char *initrd, const char *const *files, int n,
                  struct vk_err *err) VK_MUST_CHECK;
/* A file that can be injected: a readable regular file. */
int inst_check_inject(const char *file, struct vk_err *err);

/* ---- the whole request and its XML (install_xml.c) ------------------------ */

struct inst {
    const char *name, *description;
    uint64_t memory_mib;
    unsigned vcpus;
    const struct osinfo *os;
    const char *domain_type;    /* "kvm" | "qemu" */
    struct inst_disk disks[INST_MAX_DISKS];
    int n_disks;
    struct inst_nic nics[INST_MAX_NICS];
    int n_nics;
    struct inst_boot boot;      /* final-phase boot (--boot / --import) */
    char uuid[37];
    /* install phase: the installer kernel (NULL for --import / --boot) */
    char *inst_kernel, *inst_initrd;
    const char *extra_args;
};

/* The domain XML; install_phase adds the installer kernel, initrd and
 * command line and makes a guest reboot end the domain (virt-install's
 * install phase). Returns a malloc'd string, NULL on out of memory. */
char *inst_domain_xml(const struct inst *in, bool install_phase);

#endif
