/* CMOS RTC: a consistent BCD date and time, and the memory size registers.
 * Prints "rtc: date YYYY-MM-DD time HH:MM:SS" and "rtc: mem-above-16M-64k N"
 * for the host side to compare. */
#include "lib/guest.h"

static unsigned bcd(uint8_t v) { return (v >> 4) * 10 + (v & 15); }

int guest_main(const char *cmdline)
{
    uint8_t b = cmos_read(0x0b), sec, min, hour, day, mon, year, cent;
    int tries = 0;

    if (!(b & 0x02))
        gprintf("rtc: 12-hour mode\n");
    do {
        while (cmos_read(0x0a) & 0x80)          /* update in progress */
            cpu_relax();
        sec = cmos_read(0x00);
        min = cmos_read(0x02);
        hour = cmos_read(0x04);
        day = cmos_read(0x07);
        mon = cmos_read(0x08);
        year = cmos_read(0x09);
        cent = cmos_read(0x32);
    } while (sec != cmos_read(0x00) && ++tries < 5);

    if (b & 0x04)
        return gprintf("rtc: binary mode, expected BCD\n"), 1;
    unsigned s = bcd(sec), mi = bcd(min), h = bcd(hour), d = bcd(day), mo = bcd(mon),
             y = bcd(cent) * 100 + bcd(year);
    gprintf("rtc: date %04u-%02u-%02u time %02u:%02u:%02u\n", y, mo, d, h, mi, s);
    if (s > 59 || mi > 59 || h > 23 || d < 1 || d > 31 || mo < 1 || mo > 12 || y < 2000)
        return gprintf("rtc: fields out of range\n"), 1;

    unsigned mid = cmos_read(0x34) | (unsigned)cmos_read(0x35) << 8;
    gprintf("rtc: mem-above-16M-64k %u\n", mid);

    /* NVRAM is plain memory. */
    cmos_write(0x40, 0x5a);
    if (cmos_read(0x40) != 0x5a)
        return gprintf("rtc: NVRAM does not hold a value\n"), 1;
    return 0;
}
