/* i8042 keyboard controller, only as much as guests need to probe it and
 * to reset the machine (command 0xFE, or clearing bit 0 of the output port
 * with 0xD1), as in Firecracker. No keyboard or mouse is attached: the data
 * port returns the last controller reply. Registers two ports: base (data,
 * 0x60) and base + 4 (status/command, 0x64); 0x61 between them belongs to
 * the PIT speaker gate. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "../machine.h"

#define ST_OBF    0x01  /* output buffer full */
#define ST_SYS    0x04  /* system flag: self test passed */
#define ST_CMD    0x08  /* last write was a command */

struct i8042 {
    struct machine *m;
    pthread_mutex_t lock;
    uint8_t status, out, cmd_byte, pending_cmd, outport;
    bool has_out;
};

static void reply(struct i8042 *k, uint8_t v)
{
    k->out = v;
    k->has_out = true;
    k->status |= ST_OBF;
}

static uint64_t kbd_read(void *opaque, uint64_t off, unsigned size)
{
    struct i8042 *k = opaque;
    uint8_t v;
    pthread_mutex_lock(&k->lock);
    if (off == 0) {
        v = k->out;
        k->has_out = false;
        k->status &= (uint8_t)~ST_OBF;
    } else {
        v = k->status;
    }
    pthread_mutex_unlock(&k->lock);
    return v;
}

static void kbd_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct i8042 *k = opaque;
    uint8_t v = (uint8_t)value;
    bool reset = false;
    pthread_mutex_lock(&k->lock);
    if (off == 4) {                     /* command port */
        k->status |= ST_CMD;
        k->pending_cmd = 0;
        switch (v) {
        case 0x20: reply(k, k->cmd_byte); break;        /* read command byte */
        case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
            k->pending_cmd = v;                          /* next data byte is an argument */
            break;
        case 0xa7: k->cmd_byte |= 0x20; break;           /* disable aux */
        case 0xa8: k->cmd_byte &= (uint8_t)~0x20; break; /* enable aux */
        case 0xa9: reply(k, 0x00); break;                /* aux interface test: ok */
        case 0xaa: reply(k, 0x55); k->status |= ST_SYS; break; /* self test */
        case 0xab: reply(k, 0x00); break;                /* keyboard interface test */
        case 0xad: k->cmd_byte |= 0x10; break;
        case 0xae: k->cmd_byte &= (uint8_t)~0x10; break;
        case 0xd0: reply(k, k->outport); break;          /* read output port */
        case 0xfe: reset = true; break;                  /* pulse reset line */
        default:
            if (v >= 0xf0 && !(v & 1))
                reset = true;                            /* pulse output bits incl. reset */
            break;
        }
    } else {                            /* data port */
        k->status &= (uint8_t)~ST_CMD;
        switch (k->pending_cmd) {
        case 0x60: k->cmd_byte = v; break;
        case 0xd1:
            k->outport = v;
            if (!(v & 1))
                reset = true;
            break;
        case 0xd2: case 0xd3: reply(k, v); break;        /* echo as if from kbd/aux */
        case 0xd4: break;                                /* to aux: no mouse */
        default:
            /* A command to the keyboard: nothing is attached, so answer
             * with a timeout-less "resend"-free ack for reset/identify. */
            reply(k, v == 0xff ? 0xfa : 0xfe);
            break;
        }
        k->pending_cmd = 0;
    }
    pthread_mutex_unlock(&k->lock);
    if (reset)
        machine_request(k->m, MACHINE_RESET, 0);
}

/* Two one-port ranges: the offset is always 0, so each gets its own ops
 * that tell the common handlers which port it was. */
static uint64_t data_read(void *o, uint64_t off, unsigned size) { return kbd_read(o, 0, size); }
static void data_write(void *o, uint64_t off, uint64_t v, unsigned size) { kbd_write(o, 0, v, size); }
static uint64_t cmd_read(void *o, uint64_t off, unsigned size) { return kbd_read(o, 4, size); }
static void cmd_write(void *o, uint64_t off, uint64_t v, unsigned size) { kbd_write(o, 4, v, size); }
static const struct bus_ops data_ops = { .read = data_read, .write = data_write };
static const struct bus_ops cmd_ops = { .read = cmd_read, .write = cmd_write };

static void kbd_reset(void *opaque)
{
    struct i8042 *k = opaque;
    pthread_mutex_lock(&k->lock);
    k->status = ST_SYS;
    k->cmd_byte = 0x61;   /* kbd interrupt on, translate, aux disabled... as after POST */
    k->outport = 0x03;    /* reset line high, A20 on */
    k->has_out = false;
    k->out = 0;
    k->pending_cmd = 0;
    pthread_mutex_unlock(&k->lock);
}

static void kbd_destroy(void *opaque)
{
    struct i8042 *k = opaque;
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static int kbd_init(struct machine *m, const struct device_config *cfg, void **state,
                    struct vk_err *err)
{
    struct i8042 *k = calloc(1, sizeof(*k));
    if (!k)
        return vk_err_set(err, -ENOMEM, "out of memory");
    k->m = m;
    pthread_mutex_init(&k->lock, NULL);
    kbd_reset(k);
    int rc = bus_register(&m->pio, cfg->base, 1, &data_ops, k, "i8042-data", err);
    if (rc == 0) {
        rc = bus_register(&m->pio, cfg->base + 4, 1, &cmd_ops, k, "i8042-cmd", err);
        if (rc < 0)
            bus_unregister(&m->pio, cfg->base, k);
    }
    if (rc < 0) {
        kbd_destroy(k);
        return rc;
    }
    *state = k;
    return 0;
}

const struct device_ops i8042_ops = {
    .name = "i8042", .init = kbd_init, .reset = kbd_reset, .destroy = kbd_destroy,
};
