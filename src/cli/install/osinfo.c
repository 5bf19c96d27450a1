/* The OS variants virtkit install knows: a small built-in table in the
 * spirit of libosinfo (short id, libosinfo URI, recommended resources).
 * The variant sets the defaults for --memory, --vcpus and a disk's size
 * and is recorded in the domain's <metadata> as virt-install does. */
#include <string.h>

#include "install/install.h"

#define DEB(v, n, r)  { "debian" v, "Debian " n, "linux", "http://debian.org/debian/" n, r, 1, 20 }
#define UBU(v)        { "ubuntu" v, "Ubuntu " v " LTS", "linux", "http://ubuntu.com/ubuntu/" v, 4096, 2, 25 }
#define FED(v)        { "fedora" v, "Fedora Linux " v, "linux", "http://fedoraproject.org/fedora/" v, 2048, 2, 20 }
#define ALP(v)        { "alpinelinux" v, "Alpine Linux " v, "linux", "http://alpinelinux.org/alpinelinux/" v, 512, 1, 8 }

const struct osinfo osinfo_table[] = {
    DEB("10", "10", 1024), DEB("11", "11", 1024), DEB("12", "12", 1024),
    UBU("20.04"), UBU("22.04"), UBU("24.04"),
    FED("37"), FED("38"), FED("39"), FED("40"),
    { "centos-stream9", "CentOS Stream 9", "linux", "http://centos.org/centos-stream/9", 2048, 2, 20 },
    ALP("3.18"), ALP("3.19"), ALP("3.20"),
    { "linux2022", "Generic Linux 2022", "linux", "http://libosinfo.org/linux/2022", 2048, 2, 20 },
    { "generic", "Generic OS", "other", "http://libosinfo.org/unknown", 1024, 1, 10 },
    { NULL, NULL, NULL, NULL, 0, 0, 0 },
};

/* Short aliases users type (virt-install accepts the libosinfo aliases). */
static const struct { const char *alias, *name; } aliases[] = {
    { "debian", "debian12" }, { "ubuntu", "ubuntu24.04" }, { "fedora", "fedora40" },
    { "alpine", "alpinelinux3.20" }, { "alpinelinux", "alpinelinux3.20" },
    { "centos-stream", "centos-stream9" }, { "linux", "linux2022" },
    { "unknown", "generic" }, { "detect", "generic" },
};

const struct osinfo *osinfo_generic(void)
{
    return osinfo_find("generic");
}

const struct osinfo *osinfo_find(const char *s)
{
    if (!strncmp(s, "name=", 5) || !strncmp(s, "short-id=", 9))
        s = strchr(s, '=') + 1;
    else if (!strncmp(s, "id=", 3))
        s += 3;
    for (size_t i = 0; i < VK_ARRAY_SIZE(aliases); i++)
        if (!strcmp(s, aliases[i].alias))
            s = aliases[i].name;
    for (const struct osinfo *o = osinfo_table; o->name; o++)
        if (!strcmp(s, o->name) || !strcmp(s, o->id))
            return o;
    return NULL;
}
