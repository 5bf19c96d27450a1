/* Serial console, formatted output, small string helpers, exit. */
#include "guest.h"

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

void serial_init(void)
{
    outb(COM1 + 1, 0x00);               /* no interrupts */
    outb(COM1 + 3, 0x80);               /* DLAB */
    outb(COM1 + 0, 0x01);               /* 115200 */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);               /* 8N1 */
    /* FCR untouched: clearing the FIFOs would drop input typed early. */
    outb(COM1 + 4, 0x03);               /* DTR, RTS */
}

void serial_putc(char c)
{
    for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        cpu_relax();
    outb(COM1, (uint8_t)c);
}

int serial_getc(void)
{
    while (!(inb(COM1 + 5) & 0x01))
        cpu_relax();
    return inb(COM1);
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

const char *strstr_g(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncmp(hay, needle, n))
            return hay;
    return NULL;
}

bool cmdline_get(const char *cmdline, const char *key, char *buf, size_t len)
{
    size_t kl = strlen(key);
    const char *p = cmdline;

    while (p && *p) {
        while (*p == ' ')
            p++;
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            size_t i = 0;
            p += kl + 1;
            while (*p && *p != ' ' && i + 1 < len)
                buf[i++] = *p++;
            buf[i] = 0;
            return true;
        }
        while (*p && *p != ' ')
            p++;
    }
    return false;
}

unsigned long parse_ulong(const char *s)
{
    unsigned long v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (unsigned long)(*s++ - '0');
    return v;
}

static void put_uint(unsigned long v, unsigned base, int width, char pad)
{
    char tmp[24];
    int n = 0;

    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v && n < 23);
    while (width-- > n)
        serial_putc(pad);
    while (n)
        serial_putc(tmp[--n]);
}

void gvprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            if (*fmt == '\n')
                serial_putc('\r');
            serial_putc(*fmt);
            continue;
        }
        char pad = ' ';
        int width = 0;
        fmt++;
        if (*fmt == '0')
            pad = '0';
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        bool lng = false;
        while (*fmt == 'l') {
            lng = true;
            fmt++;
        }
        switch (*fmt) {
        case 'd': {
            long v = lng ? va_arg(ap, long) : va_arg(ap, int);
            if (v < 0) {
                serial_putc('-');
                v = -v;
            }
            put_uint((unsigned long)v, 10, width, pad);
            break;
        }
        case 'u':
            put_uint(lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, width, pad);
            break;
        case 'x':
            put_uint(lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, width, pad);
            break;
        case 'p':
            put_uint((unsigned long)va_arg(ap, void *), 16, width, pad);
            break;
        case 'c':
            serial_putc((char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s ? s : "(null)"; *s; s++)
                serial_putc(*s);
            break;
        }
        case '%':
            serial_putc('%');
            break;
        default:
            serial_putc('?');
            break;
        }
    }
}

void gprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gvprintf(fmt, ap);
    va_end(ap);
}

void guest_exit(int code)
{
    outl(DEBUG_EXIT_PORT, (uint32_t)code);
    /* Without isa-debug-exit: stop here. */
    for (;;)
        __asm__ volatile("cli; hlt");
}

void guest_pass(void)
{
    gprintf("RESULT: PASS\n");
    guest_exit(0);
}

void guest_fail(const char *fmt, ...)
{
    va_list ap;
    gprintf("RESULT: FAIL ");
    va_start(ap, fmt);
    gvprintf(fmt, ap);
    va_end(ap);
    gprintf("\n");
    guest_exit(1);
}

void spin_lock(struct spinlock *l)
{
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        cpu_relax();
}

void spin_unlock(struct spinlock *l)
{
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/* Called by the entry code once the stack is set up. */
void guest_start(const char *cmdline)
{
    serial_init();
    int code = guest_main(cmdline ? cmdline : "");
    if (code == 0)
        guest_pass();
    guest_fail("guest_main returned %d", code);
}

/* Application processors land here (entry32.S); guests that start APs
 * override it. */
__attribute__((weak)) void ap_main(void);
__attribute__((weak)) void ap_main(void)
{
}
