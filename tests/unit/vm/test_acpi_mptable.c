/* MP tables: floating pointer and configuration table structure. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "tap.h"
#include "mptable.h"

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

int main(void)
{
    static uint8_t buf[MPTABLE_MAX];
    long n = mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 4, 9);

    tap_ok(n > 0, "built (%ld bytes)", n);
    const uint8_t *fp = NULL;
    for (long o = 0; o + 16 <= n; o += 16)
        if (!memcmp(buf + o, "_MP_", 4))
            fp = buf + o;
    tap_ok(fp != NULL, "floating pointer on a 16-byte boundary");
    if (!fp)
        return tap_done();
    tap_is_int(sum(fp, 16), 0, "floating pointer checksum");
    uint32_t table;
    memcpy(&table, fp + 4, 4);
    tap_is_int(le32toh(table), MPTABLE_ADDR, "points at the configuration table");
    tap_ok(!memcmp(buf, "PCMP", 4), "PCMP signature");
    uint16_t len, count;
    memcpy(&len, buf + 4, 2);
    memcpy(&count, buf + 34, 2);
    len = le16toh(len);
    count = le16toh(count);
    tap_is_int(sum(buf, len), 0, "configuration table checksum");
    unsigned cpus = 0, bsp = 0, ioapics = 0, ints = 0, entries = 0, sci_level = 0;
    for (unsigned o = 44; o < len; entries++) {
        switch (buf[o]) {
        case 0:
            cpus += (buf[o + 3] & 1) && buf[o + 1] == cpus;
            bsp += (buf[o + 3] & 2) != 0;
            o += 20;
            break;
        case 2:
            ioapics++;
            o += 8;
            break;
        case 3:
            ints++;
            if (buf[o + 4] == 0 && buf[o + 5] == 9 && buf[o + 2] == 0x0d)
                sci_level++;
            o += 8;
            break;
        case 1: case 4:
            o += 8;
            break;
        default:
            o = len + 1;
        }
    }
    tap_is_int(entries, count, "entry count matches");
    tap_is_int(cpus, 4, "4 enabled processors, APIC IDs 0..3");
    tap_is_int(bsp, 1, "exactly one BSP");
    tap_is_int(ioapics, 1, "one IOAPIC");
    tap_is_int(ints, 1 + 15 + 31 * 4, "ExtINT + 15 ISA + 124 PCI interrupt entries");
    tap_is_int(sci_level, 1, "SCI level-triggered active-high");
    tap_is_int(mptable_build(buf, 64, MPTABLE_ADDR, 4, 9), -E2BIG, "too small a buffer is refused");
    tap_is_int(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 0, 9), -EINVAL, "0 CPUs refused");
    tap_ok(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 64, 9) > 0, "64 CPUs fit");
    return tap_done();
}
