/* Host capability probing (see host.h). */
#include "host.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *vk_host_path(const char *root, const char *path, char *buf, unsigned len)
{
    snprintf(buf, len, "%s%s", root ? root : "", path);
    return buf;
}

bool vk_host_file_has_word(const char *file, const char *word)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return false;
    char line[8192];
    size_t wl = strlen(word);
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        for (char *p = strstr(line, word); p; p = strstr(p + 1, word)) {
            bool left = p == line || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
            bool right = !(isalnum((unsigned char)p[wl]) || p[wl] == '_');
            if (left && right) {
                found = true;
                break;
            }
        }
    }
    fclose(f);
    return found;
}

static bool module_loaded(const char *root, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/sys/module/%s", root ? root : "", name);
    if (stat(path, &st) == 0)
        return true;
    /* /proc/modules lines start with the module name */
    vk_host_path(root, "/proc/modules", path, sizeof(path));
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[512];
    size_t n = strlen(name);
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = !strncmp(line, name, n) && line[n] == ' ';
    fclose(f);
    return found;
}

const char *vk_host_kvm_module(const char *root)
{
    static const char *const mods[] = { "kvm_pvm", "kvm_intel", "kvm_amd" };
    for (unsigned i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
        if (module_loaded(root, mods[i]))
            return mods[i];
    return NULL;
}

enum vk_kvm_flavour vk_host_kvm_flavour(const char *root)
{
    char path[4096];
    struct stat st;
    if (stat(vk_host_path(root, "/dev/kvm", path, sizeof(path)), &st) != 0)
        return VK_KVM_NONE;
    const char *mod = vk_host_kvm_module(root);
    if (mod && !strcmp(mod, "kvm_pvm"))
        return VK_KVM_PVM;
    return VK_KVM_HW;
}
