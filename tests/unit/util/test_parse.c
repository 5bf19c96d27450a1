#include <errno.h>
#include "tap.h"
#include "util.h"

int main(void)
{
    uint64_t v = 0;
    tap_is_int(vk_parse_size("10G", &v), 0, "10G parses");
    tap_is_int(v, 10ULL << 30, "10G = 10 GiB");
    tap_is_int(vk_parse_size("512", &v), 0, "plain bytes parse");
    tap_is_int(v, 512, "512 = 512 bytes");
    tap_is_int(vk_parse_size("1.5M", &v), 0, "fractional with unit parses");
    tap_is_int(v, 1536 * 1024, "1.5M = 1.5 MiB");
    tap_is_int(vk_parse_size("64KiB", &v), 0, "KiB suffix parses");
    tap_is_int(v, 65536, "64KiB");
    tap_ok(vk_parse_size("-1", &v) < 0, "negative size refused");
    tap_ok(vk_parse_size("12X", &v) < 0, "unknown suffix refused");
    tap_ok(vk_parse_size("", &v) < 0, "empty refused");
    tap_ok(vk_parse_size("17E", &v) < 0, "overflow refused");

    char buf[32];
    vk_format_size(10ULL << 30, buf, sizeof(buf));
    tap_is_str(buf, "10 GiB", "format 10 GiB");
    vk_format_size(1536 * 1024, buf, sizeof(buf));
    tap_is_str(buf, "1.5 MiB", "format 1.5 MiB");
    vk_format_size(100, buf, sizeof(buf));
    tap_is_str(buf, "100 B", "format bytes");

    struct vk_kvlist kv;
    tap_is_int(vk_kv_parse("disk.img,format=qcow2,readonly=on,serial=a,,b", "path", &kv, NULL), 0,
               "kv list parses");
    tap_is_str(vk_kv_get(&kv, "path"), "disk.img", "implied key");
    tap_is_str(vk_kv_get(&kv, "format"), "qcow2", "format value");
    tap_is_str(vk_kv_get(&kv, "serial"), "a,b", "escaped comma");
    tap_ok(vk_kv_get(&kv, "nope") == NULL, "missing key is NULL");
    vk_kv_free(&kv);
    struct vk_err err = {0};
    tap_ok(vk_kv_parse("=x", NULL, &kv, &err) < 0, "empty key refused");
    tap_ok(strstr(err.msg, "empty option name") != NULL, "error names the problem");

    tap_is_int(vk_parse_bool("on"), 1, "on");
    tap_is_int(vk_parse_bool("no"), 0, "no");
    tap_ok(vk_parse_bool("maybe") < 0, "maybe refused");
    int i;
    tap_ok(vk_parse_int("99", 1, 64, &i) == -ERANGE, "range checked");
    tap_ok(vk_range_ok(10, 5, 15) && !vk_range_ok(10, 6, 15), "range_ok bounds");
    tap_ok(!vk_range_ok(UINT64_MAX, 2, UINT64_MAX), "range_ok overflow");
    return tap_done();
}
