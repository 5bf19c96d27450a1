/* Serial output and input: greet, then echo one line typed on COM1. */
#include "lib/guest.h"

int guest_main(const char *cmdline)
{
    char line[80];
    unsigned n = 0;

    gprintf("hello: virtkit test guest, cmdline '%s'\n", cmdline);
    gprintf("hello: type a line\n");
    for (;;) {
        int c = serial_getc();
        if (c == '\r' || c == '\n')
            break;
        if (n + 1 < sizeof(line))
            line[n++] = (char)c;
    }
    line[n] = 0;
    gprintf("hello: echo '%s'\n", line);
    return 0;
}
