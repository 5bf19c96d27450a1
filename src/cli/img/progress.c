/* `-p` progress bar, printed like qemu-img: "    (12.34/100%)\r". */
#include "img.h"

void img_progress_init(struct img_progress *p, bool on)
{
    p->on = on;
    p->last = -100.0;
    img_progress_update(p, 0, 1);
}

void img_progress_update(struct img_progress *p, uint64_t done, uint64_t total)
{
    if (!p->on)
        return;
    double pct = total ? (double)done * 100.0 / (double)total : 100.0;
    if (pct > 100.0)
        pct = 100.0;
    if (pct - p->last < 1.0 && pct < 100.0)
        return;
    p->last = pct;
    printf("    (%3.2f/100%%)\r", pct);
    fflush(stdout);
}

void img_progress_done(struct img_progress *p)
{
    if (!p->on)
        return;
    printf("    (100.00/100%%)\r\n");
    fflush(stdout);
    p->on = false;
}
