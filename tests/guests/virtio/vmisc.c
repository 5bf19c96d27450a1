/* virtio-rng and virtio-console from the guest side: random bytes that
 * differ between two reads; a console line echoed back with a prefix.
 * The host speaks first: output written before the host side connects
 * would be dropped (as on a real console), input waits in the backend. */
#include "guest_io.h"

static long xfer(struct vdrv *d, unsigned q, uint64_t gpa, uint32_t len, bool in)
{
    struct vdrv_seg s = { gpa, len, in };
    return vdrv_transfer(d, q, &s, 1, SPINS);
}

int guest_main(const char *cmdline)
{
    struct vdrv rng, con;
    char arg[8];
    if (vdrv_find(&rng, &guest_vio, 4, 0) < 0)
        guest_fail("no virtio-rng device");
    vdrv_init(&rng, 0);
    vdrv_setup_queue(&rng, 0, 8);
    vdrv_driver_ok(&rng);
    uint64_t g1, g2;
    uint8_t *a = g_alloc(0, 32, &g1), *b = g_alloc(0, 32, &g2);
    if (xfer(&rng, 0, g1, 32, true) != 32 || xfer(&rng, 0, g2, 32, true) != 32)
        guest_fail("virtio-rng did not fill 32 bytes");
    if (!memcmp(a, b, 32))
        guest_fail("virtio-rng returned the same bytes twice");
    gprintf("vmisc: rng ok\n");

    if (!cmdline_get(cmdline, "console", arg, sizeof(arg)))
        return 0;
    if (vdrv_find(&con, &guest_vio, 3, 0) < 0)
        guest_fail("no virtio-console device");
    vdrv_init(&con, 0);
    vdrv_setup_queue(&con, 0, 8);
    vdrv_setup_queue(&con, 1, 8);
    vdrv_driver_ok(&con);
    uint64_t tg, rg;
    char *t = g_alloc(0, 128, &tg), *r = g_alloc(0, 128, &rg);
    /* read one line (it may arrive in pieces) */
    char line[96];
    unsigned n = 0;
    while (n < sizeof(line) - 1) {
        long got = xfer(&con, 0, rg, 64, true);
        if (got < 0)
            guest_fail("no console input");
        for (long i = 0; i < got && n < sizeof(line) - 1; i++)
            line[n++] = r[i];
        if (n && line[n - 1] == '\n')
            break;
    }
    line[n] = 0;
    unsigned len = 0;
    memcpy(t, "hvc echo: ", 10);
    len = 10;
    memcpy(t + len, line, n);
    len += n;
    xfer(&con, 1, tg, len, false);
    gprintf("vmisc: console echoed %u bytes\n", n);
    return 0;
}
