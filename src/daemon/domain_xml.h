/* libvirt domain XML: the subset virtkit supports (docs/domain-xml.md).
 *
 * dom_def_parse() validates strictly: every error names the element (and
 * attribute) and what is wrong; elements virtkit does not support are
 * refused; elements real libvirt writes that carry no meaning for virtkit
 * are accepted and ignored (the table in domain_xml.c says which).
 * dom_def_format() writes canonical XML in libvirt's layout.
 */
#ifndef VK_DOMAIN_XML_H
#define VK_DOMAIN_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define DOM_MAX_VCPUS 255
#define DOM_MAX_DISKS 64
#define DOM_MAX_IFACES 32
#define DOM_IFACE_MAX_QUEUES 8   /* <driver queues='N'/> */
#define DOM_MAX_BOOT 4
#define DOM_MAX_TIMERS 8
#define DOM_XML_MAX (1u << 20)      /* bytes of XML accepted */

struct dom_disk {
    char *type;          /* "file" | "block" */
    char *device;        /* "disk" | "cdrom" */
    char *driver_type;   /* "raw" | "qcow2" | ... (NULL = raw) */
    char *cache;         /* NULL | "none" | "writeback" | "writethrough" | "directsync" | "unsafe" */
    char *source;        /* path, NULL for an empty cdrom */
    char *target;        /* "vda" */
    char *bus;           /* "virtio" */
    char *serial;
    bool readonly;
    bool shareable;
    int boot_order;      /* 0 = none */
};

struct dom_iface {
    char *type;          /* "network" | "bridge" */
    char *source;        /* network or bridge name */
    char mac[18];        /* "52:54:00:xx:xx:xx" */
    char *model;         /* "virtio" */
    char *target;        /* TAP name when running, or requested name */
    int boot_order;
    unsigned queues;     /* <driver queues='N'/>: queue pairs, 0 = unset (1) */
};

struct dom_timer {
    char *name;
    char *tickpolicy;
    char *present;       /* "yes" | "no" | NULL */
};

#define DOM_MAX_SERIALS 4   /* COM1-COM4 */

/* Host side of a serial port (libvirt's <serial type=...>). */
enum dom_chr_type {
    DOM_CHR_PTY,         /* port 0 only: relayed by the daemon (`virtkit console`) */
    DOM_CHR_FILE,        /* output written to path (truncated at start) */
    DOM_CHR_UNIX,        /* virtkit-vm listens on path (mode='bind') */
};

struct dom_serial {
    enum dom_chr_type type;
    char *path;          /* file / unix: absolute path */
};

struct dom_def {
    char *type;          /* "kvm" | "qemu" */
    char *name;
    unsigned char uuid[16];
    char *title;
    char *description;
    char *metadata;      /* inner XML of <metadata>, kept verbatim */
    uint64_t memory_kib;
    uint64_t current_kib;
    unsigned vcpus;
    /* os */
    char *arch;          /* "x86_64" */
    char *machine;       /* kept as written, e.g. "pc-q35-7.2" */
    char *kernel, *initrd, *cmdline;
    char *boot[DOM_MAX_BOOT];
    int n_boot;
    bool bootmenu;
    /* features */
    bool acpi, apic, pae;
    /* cpu */
    char *cpu_mode;      /* "host-passthrough" | "host-model" | "maximum" | "custom" | NULL */
    char *cpu_model;
    unsigned sockets, dies, cores, threads;   /* 0 = not given */
    /* clock */
    char *clock_offset;  /* "utc" | "localtime" */
    struct dom_timer timers[DOM_MAX_TIMERS];
    int n_timers;
    /* lifecycle actions */
    char *on_poweroff, *on_reboot, *on_crash;
    /* pm: -1 unset, 0 no, 1 yes */
    int pm_mem, pm_disk;
    /* devices */
    char *emulator;
    struct dom_disk *disks;      /* n_disks entries (malloc'd) */
    int n_disks;
    struct dom_iface *ifaces;    /* n_ifaces entries (malloc'd) */
    int n_ifaces;
    int n_serials;       /* <serial> count: ports 0..n_serials-1 */
    bool console;        /* <console> (target serial: port 0) */
    /* serials[0] also holds a lone <console>'s host side (n_serials 0) */
    struct dom_serial serials[DOM_MAX_SERIALS];
    bool rng;            /* <rng model='virtio'> -> --device virtio-rng */
    char *rng_backend;   /* backend 'random': "/dev/urandom" or "/dev/random" */
    bool rng_builtin;    /* backend 'builtin' (rng_backend NULL) */
    bool memballoon;     /* model virtio */
    bool memballoon_none;/* explicit model none */
};

/* Parse and validate. On success *out is a new def (dom_def_free). */
int dom_def_parse(const char *xml, size_t len, struct dom_def **out,
                  struct vk_err *err) VK_MUST_CHECK;
/* Validation of a def built or changed in code (also called by parse). */
int dom_def_validate(const struct dom_def *def, struct vk_err *err) VK_MUST_CHECK;
/* Canonical XML. id >= 1 adds id='N' (running domains). malloc'd. */
char *dom_def_format(const struct dom_def *def, int id);
void dom_def_free(struct dom_def *def);
/* Deep copy (NULL on ENOMEM). */
struct dom_def *dom_def_copy(const struct dom_def *def);

/* Append a zeroed disk / interface; NULL at the limit or on ENOMEM. The
 * returned pointer is valid until the next append. */
struct dom_disk *dom_def_add_disk(struct dom_def *def);
struct dom_iface *dom_def_add_iface(struct dom_def *def);

/* Helpers */
void dom_uuid_format(const unsigned char uuid[16], char out[37]);
int dom_uuid_parse(const char *s, unsigned char uuid[16]);
void dom_uuid_generate(unsigned char uuid[16]);
/* "52:54:00:xx:xx:xx" with random tail */
void dom_mac_generate(char out[18]);
int dom_mac_parse(const char *s, char out[18]);
/* Memory value + unit (libvirt units: b, bytes, KB, k, KiB, MB, M, MiB,
 * GB, G, GiB, TB, T, TiB) -> KiB, rounded up. */
int dom_parse_memory(const char *value, const char *unit, uint64_t *kib);
/* Names: non-empty, at most 200 bytes, no '/', no control chars, not
 * starting with '.' and not all digits... (see docs). */
int dom_name_check(const char *name, struct vk_err *err);

#endif
