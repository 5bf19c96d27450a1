/* virtkit img snapshot [-U] [-q] [-l | -a snap | -c snap | -d snap] file */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

int img_snapshot(int argc, char **argv)
{
    enum { OPT_OBJECT = 256, OPT_IMAGE_OPTS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 },
    };
    char action = 0;
    const char *name = NULL, *fmt = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":la:c:d:f:hqU", lopts, NULL)) != -1) {
        switch (c) {
        case 'l': case 'a': case 'c': case 'd':
            if (action)
                return img_usage("snapshot", "Cannot mix '-l', '-a', '-c', '-d'");
            action = (char)c;
            name = c == 'l' ? NULL : optarg;
            break;
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'U': case OPT_OBJECT: break;
        case OPT_IMAGE_OPTS: return img_usage("snapshot", "--image-opts is not supported");
        case ':': return img_usage("snapshot", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("snapshot", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("snapshot", "Expecting one image file name");
    if (!action)
        action = 'l';
    (void)quiet;
    const char *path = argv[optind];
    struct blk *b = img_open(path, fmt, action == 'l' ? BLK_O_NO_BACKING : BLK_O_RDWR | BLK_O_NO_BACKING,
                             NULL);
    if (!b)
        return CLI_FAIL;
    struct vk_err e = { 0 };
    int r = 0, ret = CLI_OK;
    switch (action) {
    case 'l': {
        struct blk_snapshot_info *s = NULL;
        size_t n = 0;
        r = blk_snapshot_list(b, &s, &n, &e);
        if (r < 0) {
            ret = img_error("Could not list snapshots: %s", img_errstr(&e, r));
            break;
        }
        if (n) {
            printf("Snapshot list:\n");
            img_snapshot_header(stdout);
            for (size_t i = 0; i < n; i++)
                img_snapshot_row(stdout, &s[i]);
        }
        free(s);
        break;
    }
    case 'c':
        if ((r = blk_snapshot_create(b, name, NULL, &e)) < 0)
            ret = img_error("Could not create snapshot '%s': %s", name, img_errstr(&e, r));
        break;
    case 'a':
        if ((r = blk_snapshot_apply(b, name, &e)) < 0)
            ret = img_error("Could not apply snapshot '%s': %s", name, img_errstr(&e, r));
        break;
    case 'd':
        if ((r = blk_snapshot_delete(b, name, &e)) < 0)
            ret = img_error("Could not delete snapshot '%s': %s", name, img_errstr(&e, r));
        break;
    }
    if (blk_close(b) < 0 && ret == CLI_OK)
        ret = img_error("Could not write '%s'", path);
    return ret;
}
