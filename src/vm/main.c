/* virtkit-vm: the command line. Parses options into a vm_config, builds
 * the machine and runs it; the only place that prints fatal errors. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "machine.h"
#include "vm.h"

static void usage(FILE *out)
{
    char devs[256];
    board_optional_names(devs, sizeof(devs));
    fprintf(out,
"usage: virtkit-vm --kernel FILE [options]\n"
"\n"
"Run one virtual machine (x86-64 PC) in this process.\n"
"\n"
"  --kernel FILE       Linux bzImage or vmlinux ELF, or a Multiboot v1 kernel\n"
"  --initrd FILE       Linux: initial ramdisk. Multiboot: modules, comma-separated,\n"
"                      each \"FILE [args]\" (\",,\" is a literal comma)\n"
"  --append STRING     kernel command line\n"
"  --firmware FILE     boot firmware instead of --kernel (SeaBIOS bios.bin,\n"
"                      up to 256 KiB, mapped to end at 4 GiB)\n"
"  --memory SIZE       guest RAM, with suffix K/M/G (plain number: MiB); default 512M\n"
"  --hugepages         back guest RAM with huge pages\n"
"  --smp N             number of vCPUs (1-%d); default 1\n"
"  --cpu MODEL         CPU model: host (default) or baseline\n"
"  --accel NAME        kvm, tcg or auto (default): auto uses KVM when it runs\n"
"                      stock guests, else the software CPU\n"
"  --serial SPEC       next serial port (COM1..COM4): stdio, pty, unix:PATH\n"
"                      (server socket), file:PATH, null; repeatable.\n"
"                      Default: COM1 on stdio\n"
"  --device SPEC       optional device, e.g. isa-debug-exit,iobase=0xf4,iosize=0x4;\n"
"                      known: %s\n"
"  --disk SPEC         virtio-blk disk: path=FILE[,format=..,readonly=on,cache=..,\n"
"                      serial=..] (docs/virtio.md)\n"
"  --net SPEC          virtio-net: tap=NAME|fd=N[,mac=..] (docs/virtio.md)\n"
"  --control PATH      QMP-compatible control socket (UNIX socket path)\n"
"  --no-reboot         exit instead of rebooting when the guest resets\n"
"  --debug, --quiet    more (register dumps on triple faults) or less logging\n"
"  --version, --help\n"
"\n"
"QEMU spellings -kernel -initrd -append -m -smp -serial -device -no-reboot\n"
"-accel -cpu -bios -enable-kvm -machine accel=X are accepted too; -nographic,\n"
"-nodefaults and -display are ignored.\n"
"Exit status: the guest's (isa-debug-exit: (v << 1) | 1), 0 on power-off,\n"
"1 on errors, 2 on usage errors.\n", MACHINE_MAX_VCPUS, devs);
}

enum {
    OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_FIRMWARE, OPT_MEMORY, OPT_SMP, OPT_CPU,
    OPT_ACCEL, OPT_SERIAL, OPT_DEVICE, OPT_CONTROL, OPT_NO_REBOOT, OPT_HUGEPAGES, OPT_HELP,
    OPT_VERSION, OPT_DISK, OPT_NET, OPT_QUIET, OPT_DEBUG, OPT_ENABLE_KVM, OPT_MACHINE,
    OPT_IGNORED, OPT_IGNORED_ARG,
};

static const struct option options[] = {
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "initrd", required_argument, NULL, OPT_INITRD },
    { "append", required_argument, NULL, OPT_APPEND },
    { "firmware", required_argument, NULL, OPT_FIRMWARE },
    { "bios", required_argument, NULL, OPT_FIRMWARE },
    { "memory", required_argument, NULL, OPT_MEMORY },
    { "m", required_argument, NULL, OPT_MEMORY },
    { "smp", required_argument, NULL, OPT_SMP },
    { "cpu", required_argument, NULL, OPT_CPU },
    { "accel", required_argument, NULL, OPT_ACCEL },
    { "serial", required_argument, NULL, OPT_SERIAL },
    { "device", required_argument, NULL, OPT_DEVICE },
    { "control", required_argument, NULL, OPT_CONTROL },
    { "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
    { "hugepages", no_argument, NULL, OPT_HUGEPAGES },
    { "disk", required_argument, NULL, OPT_DISK },
    { "net", required_argument, NULL, OPT_NET },
    { "quiet", no_argument, NULL, OPT_QUIET },
    { "debug", no_argument, NULL, OPT_DEBUG },
    { "help", no_argument, NULL, OPT_HELP },
    { "h", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    /* QEMU spellings that mean nothing more here */
    { "enable-kvm", no_argument, NULL, OPT_ENABLE_KVM },
    { "machine", required_argument, NULL, OPT_MACHINE },
    { "nographic", no_argument, NULL, OPT_IGNORED },
    { "nodefaults", no_argument, NULL, OPT_IGNORED },
    { "display", required_argument, NULL, OPT_IGNORED_ARG },
    { NULL, 0, NULL, 0 },
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "virtkit-vm: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'virtkit-vm --help'.\n");
    return 2;
}

/* QEMU's -m takes MiB when no suffix is given; so do we. */
static int parse_memory(const char *s, uint64_t *out)
{
    size_t n = strspn(s, "0123456789");
    if (n > 0 && s[n] == 0) {
        uint64_t mib;
        if (vk_parse_u64(s, &mib) < 0 || mib > (1ULL << 24))
            return -ERANGE;
        *out = mib << 20;
        return 0;
    }
    return vk_parse_size(s, out);
}

static bool device_known(const char *spec)
{
    size_t len = strcspn(spec, ",");
    for (unsigned i = 0; i < board_pc_size; i++)
        if (board_pc[i].when == BOARD_OPTIONAL && board_pc[i].ops &&
            strlen(board_pc[i].ops->name) == len && !strncmp(board_pc[i].ops->name, spec, len))
            return true;
    return false;
}

static void on_signal(int sig) { machine_signal_received = sig; }

static bool push(const char ***list, unsigned *n, const char *v)
{
    const char **l = realloc(*list, (*n + 1) * sizeof(*l));
    if (!l)
        return false;
    l[(*n)++] = v;
    *list = l;
    return true;
}

int vm_main(int argc, char **argv)
{
    struct vm_config cfg = { .memory = 512ULL << 20, .smp = 1, .cpu_model = "host",
                             .accel = "auto" };
    unsigned nserial = 0;
    int c, idx;
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "", options, &idx)) != -1) {
        switch (c) {
        case OPT_KERNEL: cfg.kernel = optarg; break;
        case OPT_INITRD: cfg.initrd = optarg; break;
        case OPT_APPEND: cfg.append = optarg; break;
        case OPT_FIRMWARE: cfg.firmware = optarg; break;
        case OPT_MEMORY:
            if (parse_memory(optarg, &cfg.memory) < 0 || cfg.memory < (2ULL << 20) ||
                cfg.memory > (1ULL << 40))
                return usage_error("--memory '%s': want a size from 2M to 1T (e.g. 512M, 2G)",
                                   optarg);
            cfg.memory = VK_ALIGN_UP(cfg.memory, 4096ULL);
            break;
        case OPT_SMP: {
            int n;
            /* QEMU's "-smp 2,cores=2" form: the leading number is the count. */
            char buf[16];
            snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(optarg, ","), optarg);
            if (vk_parse_int(buf, 1, MACHINE_MAX_VCPUS, &n) < 0)
                return usage_error("--smp '%s': want a CPU count from 1 to 64", optarg);
            cfg.smp = (unsigned)n;
            break;
        }
        case OPT_CPU: cfg.cpu_model = optarg; break;
        case OPT_ACCEL:
            cfg.accel = optarg;
            if (strcmp(optarg, "kvm") && strcmp(optarg, "tcg") && strcmp(optarg, "auto"))
                return usage_error("--accel '%s': want kvm, tcg or auto", optarg);
            break;
        case OPT_SERIAL:
            if (nserial >= VK_ARRAY_SIZE(cfg.serial))
                return usage_error("%s: at most 4 serial ports", "--serial");
            if (!strcmp(optarg, "stdio") || !strcmp(optarg, "mon:stdio"))
                for (unsigned i = 0; i < nserial; i++)
                    if (!strcmp(cfg.serial[i], "stdio") || !strcmp(cfg.serial[i], "mon:stdio"))
                        return usage_error("--serial %s: stdio can be used by one port only",
                                           optarg);
            cfg.serial[nserial++] = optarg;
            break;
        case OPT_DEVICE:
            if (!device_known(optarg)) {
                char devs[256];
                board_optional_names(devs, sizeof(devs));
                fprintf(stderr, "virtkit-vm: --device '%s': unknown device (available: %s)\n",
                        optarg, devs);
                return 2;
            }
            if (!push(&cfg.devices, &cfg.nr_devices, optarg))
                return 1;
            break;
        case OPT_DISK:
            if (!push(&cfg.disks, &cfg.nr_disks, optarg))
                return 1;
            break;
        case OPT_NET:
            if (!push(&cfg.nets, &cfg.nr_nets, optarg))
                return 1;
            break;
        case OPT_ENABLE_KVM: cfg.accel = "kvm"; break;
        case OPT_MACHINE: {
            /* "-machine [type,]accel=kvm|tcg[:...],...": only accel matters */
            struct vk_kvlist kv = { 0 };
            if (vk_kv_parse(optarg, "type", &kv, NULL) < 0)
                return usage_error("-machine '%s': bad option list", optarg);
            const char *a = vk_kv_get(&kv, "accel");
            if (a) {
                static char accel[16];
                snprintf(accel, sizeof(accel), "%.*s", (int)strcspn(a, ":"), a);
                cfg.accel = accel;
            }
            vk_kv_free(&kv);
            if (strcmp(cfg.accel, "kvm") && strcmp(cfg.accel, "tcg") && strcmp(cfg.accel, "auto"))
                return usage_error("-machine accel='%s': want kvm, tcg or auto", cfg.accel);
            break;
        }
        case OPT_IGNORED: case OPT_IGNORED_ARG: break;
        case OPT_CONTROL: cfg.control = optarg; break;
        case OPT_NO_REBOOT: cfg.no_reboot = true; break;
        case OPT_HUGEPAGES: cfg.hugepages = true; break;
        case OPT_QUIET: vk_log_set_level(VK_LOG_WARN); break;
        case OPT_DEBUG: vk_log_set_level(VK_LOG_DEBUG); cfg.debug = true; break;
        case OPT_HELP: usage(stdout); return 0;
        case OPT_VERSION: printf("virtkit-vm %s\n", VK_VERSION); return 0;
        default:
            if (optopt && optopt < 256)
                return usage_error("unknown option '%s'", argv[optind - 1]);
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!cfg.kernel && !cfg.firmware)
        return usage_error("%s", "no --kernel given");
    if (nserial == 0)
        cfg.serial[0] = "stdio";

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct vk_err err = { 0 };
    struct machine *m = NULL;
    int status;
    if (machine_create(&cfg, &m, &err) < 0) {
        fprintf(stderr, "virtkit-vm: %s\n", err.msg[0] ? err.msg : "cannot create the machine");
        status = 1;
    } else {
        status = machine_run(m, &err);
        if (status == 1 && err.code)
            fprintf(stderr, "virtkit-vm: %s\n", err.msg);
    }
    machine_destroy(m);
    free(cfg.devices);
    free(cfg.disks);
    free(cfg.nets);
    return status;
}

int main(int argc, char **argv)
{
    vk_log_set_prefix("virtkit-vm");
    return vm_main(argc, argv);
}
