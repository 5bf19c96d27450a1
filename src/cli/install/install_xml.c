/* The domain XML virtkit install defines, in libvirt's layout (the
 * subset docs/domain-xml.md lists). Two phases, as virt-install:
 *  - install: the installer kernel, initrd and command line from the ISO,
 *    booted directly; <on_reboot>destroy</on_reboot>, so the installer's
 *    final reboot ends the install phase instead of starting it again;
 *  - final: what stays defined: boot from the disk (or the --boot kernel). */
#include <stdlib.h>
#include <string.h>

#include "install/install.h"

/* Text and attribute escaping (both quote kinds: attributes use '). */
static void esc(struct vk_strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': vk_strbuf_printf(b, "&amp;"); break;
        case '<': vk_strbuf_printf(b, "&lt;"); break;
        case '>': vk_strbuf_printf(b, "&gt;"); break;
        case '\'': vk_strbuf_printf(b, "&apos;"); break;
        case '"': vk_strbuf_printf(b, "&quot;"); break;
        default: vk_strbuf_printf(b, "%c", *s);
        }
    }
}

static void elem(struct vk_strbuf *b, const char *indent, const char *tag, const char *text)
{
    vk_strbuf_printf(b, "%s<%s>", indent, tag);
    esc(b, text);
    vk_strbuf_printf(b, "</%s>\n", tag);
}

static void disk_xml(struct vk_strbuf *b, const struct inst_disk *d)
{
    vk_strbuf_printf(b, "    <disk type='file' device='%s'>\n", d->cdrom ? "cdrom" : "disk");
    vk_strbuf_printf(b, "      <driver name='qemu' type='%s'", d->format[0] ? d->format : "raw");
    if (d->cache[0] && strcmp(d->cache, "default"))
        vk_strbuf_printf(b, " cache='%s'", d->cache);
    vk_strbuf_printf(b, "/>\n      <source file='");
    esc(b, d->path);
    vk_strbuf_printf(b, "'/>\n      <target dev='%s' bus='virtio'/>\n", d->target);
    if (d->readonly)
        vk_strbuf_printf(b, "      <readonly/>\n");
    if (d->shareable)
        vk_strbuf_printf(b, "      <shareable/>\n");
    vk_strbuf_printf(b, "    </disk>\n");
}

char *inst_domain_xml(const struct inst *in, bool install_phase)
{
    struct vk_strbuf b = { 0 };
    vk_strbuf_printf(&b, "<domain type='%s'>\n", in->domain_type);
    elem(&b, "  ", "name", in->name);
    vk_strbuf_printf(&b, "  <uuid>%s</uuid>\n", in->uuid);
    if (in->description)
        elem(&b, "  ", "description", in->description);
    vk_strbuf_printf(&b, "  <metadata>\n"
                         "    <libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\">\n"
                         "      <libosinfo:os id=\"");
    esc(&b, in->os->id);
    vk_strbuf_printf(&b, "\"/>\n    </libosinfo:libosinfo>\n  </metadata>\n");
    vk_strbuf_printf(&b, "  <memory unit='MiB'>%llu</memory>\n", (unsigned long long)in->memory_mib);
    vk_strbuf_printf(&b, "  <currentMemory unit='MiB'>%llu</currentMemory>\n",
                     (unsigned long long)in->memory_mib);
    vk_strbuf_printf(&b, "  <vcpu>%u</vcpu>\n", in->vcpus);

    vk_strbuf_printf(&b, "  <os>\n    <type arch='x86_64'>hvm</type>\n");
    const char *kernel = install_phase && in->inst_kernel ? in->inst_kernel : in->boot.kernel;
    const char *initrd = install_phase && in->inst_kernel ? in->inst_initrd : in->boot.initrd;
    const char *cmdline = install_phase && in->inst_kernel ? in->extra_args : in->boot.cmdline;
    if (kernel) {
        elem(&b, "    ", "kernel", kernel);
        if (initrd)
            elem(&b, "    ", "initrd", initrd);
        if (cmdline && *cmdline)
            elem(&b, "    ", "cmdline", cmdline);
    }
    if (in->boot.n_devs && !(install_phase && in->inst_kernel)) {
        for (int i = 0; i < in->boot.n_devs; i++)
            vk_strbuf_printf(&b, "    <boot dev='%s'/>\n", in->boot.devs[i]);
    } else if (!kernel || (install_phase && in->inst_kernel)) {
        vk_strbuf_printf(&b, "    <boot dev='hd'/>\n");
    }
    vk_strbuf_printf(&b, "  </os>\n");
    vk_strbuf_printf(&b, "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n");
    if (!strcmp(in->domain_type, "kvm"))
        vk_strbuf_printf(&b, "  <cpu mode='host-passthrough'/>\n");
    vk_strbuf_printf(&b, "  <clock offset='utc'/>\n");
    vk_strbuf_printf(&b, "  <on_poweroff>destroy</on_poweroff>\n");
    vk_strbuf_printf(&b, "  <on_reboot>%s</on_reboot>\n",
                     install_phase && in->inst_kernel ? "destroy" : "restart");
    vk_strbuf_printf(&b, "  <on_crash>destroy</on_crash>\n");

    vk_strbuf_printf(&b, "  <devices>\n");
    for (int i = 0; i < in->n_disks; i++)
        if (install_phase || !in->disks[i].install_only)
            disk_xml(&b, &in->disks[i]);
    for (int i = 0; i < in->n_nics; i++) {
        const struct inst_nic *n = &in->nics[i];
        vk_strbuf_printf(&b, "    <interface type='%s'>\n      <source %s='", n->type, n->type);
        esc(&b, n->source);
        vk_strbuf_printf(&b, "'/>\n      <mac address='%s'/>\n      <model type='virtio'/>\n"
                             "    </interface>\n", n->mac);
    }
    vk_strbuf_printf(&b, "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
                         "    <console type='pty'>\n      <target type='serial' port='0'/>\n"
                         "    </console>\n");
    vk_strbuf_printf(&b, "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n"
                         "    </rng>\n");
    vk_strbuf_printf(&b, "    <memballoon model='virtio'/>\n");
    vk_strbuf_printf(&b, "  </devices>\n</domain>\n");
    if (b.oom) {
        vk_strbuf_free(&b);
        return NULL;
    }
    return b.s;
}
