/* ns16550.c: registers, divisor latch, THRE and RX interrupts, loopback
 * (as Linux's 8250 probe uses it), output to a file backend and input from
 * a unix-socket backend. */
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_machine.h"
#include "tap.h"

extern const struct device_ops ns16550_ops;

static struct bus *pio;
static uint8_t rd(unsigned off) { uint64_t v; bus_read(pio, 0x3f8 + off, 1, &v); return (uint8_t)v; }
static void wr(unsigned off, uint8_t v) { bus_write(pio, 0x3f8 + off, 1, v); }

int main(void)
{
    char dir[] = "/tmp/vk-uart-XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    char out[128], sock[128];
    snprintf(out, sizeof(out), "file:%s/out", dir);
    snprintf(sock, sizeof(sock), "unix:%s/sock", dir);

    struct fake_machine *f = fake_machine_new(1 << 20, 1);
    pio = &f->m.pio;
    tap_ok(fake_machine_add(f, &ns16550_ops, 0x3f8, 4, out) != NULL, "COM1 with a file backend");

    tap_is_int(rd(5), 0x60, "LSR after reset: THR and transmitter empty");
    tap_is_int(rd(2) & 0x0f, 0x01, "IIR: no interrupt pending");
    tap_is_int(f->irq_level[4], 0, "IRQ 4 low");
    wr(7, 0xa5);
    tap_is_int(rd(7), 0xa5, "scratch register");

    wr(3, 0x80);                 /* DLAB */
    wr(0, 0x01);
    wr(1, 0x00);
    tap_is_int(rd(0), 0x01, "divisor latch low");
    wr(3, 0x03);                 /* 8N1, DLAB off */
    tap_is_int(rd(3), 0x03, "LCR");
    tap_is_int(rd(1), 0x00, "IER (not the divisor) with DLAB off");

    wr(1, 0x02);                 /* ETBEI */
    tap_is_int(f->irq_level[4], 1, "enabling ETBEI with THR empty raises IRQ 4");
    tap_is_int(rd(2) & 0x0f, 0x02, "IIR: THR empty");
    tap_is_int(rd(2) & 0x0f, 0x01, "reading IIR cleared the THRE interrupt");
    tap_is_int(f->irq_level[4], 0, "IRQ 4 low again");
    wr(0, 'h');
    wr(0, 'i');
    tap_is_int(rd(2) & 0x0f, 0x02, "THRE again after a write");
    wr(1, 0x00);
    tap_is_int(f->irq_level[4], 0, "disabling ETBEI drops the line");

    /* loopback, as Linux's autoconfig: MCR = LOOP|RTS|OUT2 -> MSR = CTS|DCD */
    wr(4, 0x10 | 0x0a);
    tap_is_int(rd(6) & 0xf0, 0x90, "loopback MSR reflects MCR");
    wr(1, 0x01);                 /* ERBFI */
    wr(0, 'x');
    tap_is_int(rd(5) & 0x01, 1, "loopback byte received (LSR.DR)");
    tap_is_int(rd(2) & 0x0f, 0x04, "IIR: received data available");
    tap_is_int(f->irq_level[4], 1, "RX interrupt raised");
    tap_is_int(rd(0), 'x', "RBR returns the byte");
    tap_is_int(rd(5) & 0x01, 0, "LSR.DR clear after reading");
    tap_is_int(f->irq_level[4], 0, "RX interrupt cleared");
    wr(4, 0x0b);                 /* loopback off, DTR|RTS|OUT2 */
    tap_is_int(rd(6) & 0xb0, 0xb0, "MSR outside loopback: CTS, DSR, DCD");

    wr(2, 0x07);                 /* enable and clear FIFOs */
    tap_is_int(rd(2) & 0xc0, 0xc0, "IIR reports FIFOs enabled");

    /* output reached the file backend ('x' stayed in loopback) */
    char path[160], buf[16] = { 0 };
    snprintf(path, sizeof(path), "%s/out", dir);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
    if (fp)
        fclose(fp);
    tap_is_int(n, 2, "two bytes sent to the backend");
    tap_is_str(buf, "hi", "file backend holds the output");
    fake_machine_free(f);

    /* input from a unix socket client */
    f = fake_machine_new(1 << 20, 1);
    pio = &f->m.pio;
    tap_ok(fake_machine_add(f, &ns16550_ops, 0x3f8, 4, sock) != NULL, "COM1 with a unix backend");
    wr(1, 0x01);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
    tap_ok(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "client connects");
    tap_ok(write(fd, "ok", 2) == 2, "client sends two bytes");
    /* wait (bounded by count, not time) until the input thread delivered them */
    for (int i = 0; i < 2000 && !(rd(5) & 1); i++)
        poll(NULL, 0, 5);
    tap_is_int(f->irq_level[4], 1, "RX interrupt from backend input");
    char got[3] = { 0 };
    got[0] = (char)rd(0);
    for (int i = 0; i < 2000 && !(rd(5) & 1); i++)
        poll(NULL, 0, 5);
    got[1] = (char)rd(0);
    tap_is_str(got, "ok", "guest reads the bytes in order");
    wr(0, '!');
    char back = 0;
    struct pollfd p = { fd, POLLIN, 0 };
    tap_ok(poll(&p, 1, 10000) == 1 && read(fd, &back, 1) == 1 && back == '!',
           "guest output reaches the client");
    close(fd);
    fake_machine_free(f);
    unlink(path);
    snprintf(path, sizeof(path), "%s/sock", dir);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
