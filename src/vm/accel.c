/* Choosing an accelerator: --accel kvm | tcg | auto. */
#include <errno.h>
#include <string.h>

#include "accel.h"
#include "host.h"

/* The software CPU lives in accel/tcg.c, written separately; until it is
 * linked in, this weak declaration resolves to NULL. */
extern const struct accel_ops accel_tcg __attribute__((weak));

static const struct accel_ops *tcg(void) { return &accel_tcg; }

const struct accel_ops *accel_select(const char *name, struct vk_err *err)
{
    if (!name || !strcmp(name, "auto")) {
        struct vk_err probe_err = { 0 };
        int rc = accel_kvm.probe(&probe_err);
        if (rc == 0)
            return &accel_kvm;
        if (tcg())
            return tcg();
        if (rc > 0)
            vk_err_set(err, -ENOTSUP,
                       "--accel auto: this host's KVM cannot run stock guests (PVM-based) and "
                       "the software CPU is not built in; use --accel kvm for guests that run "
                       "under PVM");
        else
            vk_err_set(err, -ENOTSUP, "--accel auto: KVM is not usable (%s) and the software "
                       "CPU is not built in", probe_err.msg);
        return NULL;
    }
    if (!strcmp(name, "kvm")) {
        struct vk_err probe_err = { 0 };
        if (accel_kvm.probe(&probe_err) < 0) {
            vk_err_set(err, -ENODEV, "--accel kvm: %s", probe_err.msg);
            return NULL;
        }
        return &accel_kvm;
    }
    if (!strcmp(name, "tcg")) {
        if (!tcg()) {
            vk_err_set(err, -ENOTSUP, "--accel tcg: the software CPU is not built in");
            return NULL;
        }
        return tcg();
    }
    vk_err_set(err, -EINVAL, "unknown accelerator '%s' (want kvm, tcg or auto)", name);
    return NULL;
}
