/* virtkit install: what cmd_install.c (options, the plan) hands to
 * install_run.c (making things through the daemon, undoing them). */
#ifndef VK_CLI_INSTALL_CMD_H
#define VK_CLI_INSTALL_CMD_H

#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "cli.h"
#include "install/install.h"
#include "paths.h"

extern const struct cli_command cmd_install;

/* The command line as given (pointers into argv). */
struct args {
    const char *name, *description, *memory, *vcpus, *os, *location, *cdrom, *boot, *extra,
        *graphics, *console, *wait, *print_xml, *virt_type, *accel, *connect, *autoconsole;
    const char *disks[INST_MAX_DISKS], *nets[INST_MAX_NICS], *inject[INST_MAX_INJECT];
    int n_disks, n_nets, n_inject;
    bool import, noautoconsole, dry_run, autostart, json, has_wait, has_print_xml, noreboot, transient;
};

/* What install will make, all decided before anything is made. */
struct plan {
    struct inst in;
    struct vk_paths paths;
    const struct inst_layout *layout;
    const char *iso;            /* --location / --cdrom source */
    bool iso_is_dir;
    bool net_given;             /* any --network (none included) */
    const char *const *inject;  /* --initrd-inject files */
    int n_inject;
    char kernel_out[PATH_MAX], initrd_out[PATH_MAX];
    bool extracted;
};

/* "virtkit:///system" or "virtkit:///session": the instance install talks to. */
const char *inst_uri_name(void);
/* Make the plan real: check with the daemon, create disks and kernel files,
 * define, start, attach; undo everything on failure. CLI_* status. */
int inst_run(struct args *a, struct plan *p);

static inline bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

#endif
