/* virtkit-vm: one virtual machine per process. Public entry point. */
#ifndef VK_VM_H
#define VK_VM_H

#include <stdbool.h>
#include <stdint.h>

struct vm_config {
    const char *kernel, *initrd, *append, *firmware;
    uint64_t memory;            /* bytes */
    unsigned smp;
    const char *cpu_model;      /* "host", "baseline" */
    const char *accel;          /* "kvm", "tcg", "auto" */
    const char *serial[4];      /* COM1..COM4 backend specs, NULL = none */
    const char *control;        /* control (QMP) socket path */
    bool no_reboot;
    bool hugepages;
    bool debug;                 /* --debug: verbose log, register dumps on resets */
    const char **devices;       /* --device specs */
    unsigned nr_devices;
    const char **disks;         /* --disk specs */
    unsigned nr_disks;
    const char **nets;          /* --net specs */
    unsigned nr_nets;
};

/* Parse argv, build the machine, run it; returns the process exit status. */
int vm_main(int argc, char **argv);

#endif
