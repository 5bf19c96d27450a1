/* The DSDT part of PCI hot-plug (registers in pci_hotplug.h). In ASL:
 *
 *   Scope (\_SB.PCI0) {
 *       OperationRegion (PCHP, SystemIO, 0xAE00, 0x10)
 *       Field (PCHP, DWordAcc, NoLock, Preserve) { PCIU, 32, PCID, 32, PCEJ, 32, PCPR, 32 }
 *       Device (SL01) { Name (_ADR, 0x00010000)  Name (_SUN, 1)
 *                       Method (_EJ0, 1) { Store (0x2, \_SB.PCI0.PCEJ) } }
 *       ... SL02 .. SL31 ...
 *       Method (PCNT, 0, Serialized) {
 *           Store (PCIU, Local0)  Store (PCID, Local1)
 *           If (And (Local0, 0x2)) { Notify (SL01, 1) }     // device check
 *           If (And (Local1, 0x2)) { Notify (SL01, 3) }     // eject request
 *           ...
 *       }
 *   }
 *   Scope (\_GPE) { Method (_E01, 0) { \_SB.PCI0.PCNT () } }
 *
 * Encodings: ACPI 6.4 chapter 20. aml.c has no If/Field/Notify helpers, so
 * the terms are written here from bytes; PkgLength constructs are built in
 * a scratch buffer and wrapped.
 */
#include <stdio.h>

#include "pci_hotplug.h"
#include "pci.h"
#include "../acpi/aml.h"

enum {
    OP_STORE = 0x70, OP_AND = 0x7b, OP_NOTIFY = 0x86, OP_IF = 0xa0, OP_METHOD = 0x14,
    OP_EXT = 0x5b, OP_OPREGION = 0x80, OP_FIELD = 0x81, OP_LOCAL0 = 0x60, OP_LOCAL1 = 0x61,
    OP_NULLNAME = 0x00, REGION_SYSTEM_IO = 0x01, FIELD_DWORD_ACC = 0x03,
};

/* opcode bytes, PkgLength, body */
static void wrap(struct aml *a, const uint8_t *op, unsigned oplen, struct aml *body)
{
    size_t total;
    unsigned nbytes;

    if (body->error) {
        a->error = a->error ? a->error : body->error;
        return;
    }
    aml_bytes(a, op, oplen);
    if (body->len + 1 < 0x40)
        nbytes = 1;
    else if (body->len + 2 < 0x1000)
        nbytes = 2;
    else if (body->len + 3 < 0x100000)
        nbytes = 3;
    else
        nbytes = 4;
    total = body->len + nbytes;
    if (nbytes == 1) {
        aml_byte(a, (uint8_t)total);
    } else {
        aml_byte(a, (uint8_t)(((nbytes - 1) << 6) | (total & 0x0f)));
        for (unsigned i = 1; i < nbytes; i++)
            aml_byte(a, (uint8_t)(total >> (4 + 8 * (i - 1))));
    }
    aml_bytes(a, body->buf, body->len);
}

static void slot_name(char *buf, size_t len, unsigned slot)
{
    snprintf(buf, len, "SL%02u", slot);
}

static void region_and_field(struct aml *a, uint16_t port)
{
    static const uint8_t opregion[] = { OP_EXT, OP_OPREGION }, field[] = { OP_EXT, OP_FIELD };
    static const char *const names[] = { "PCIU", "PCID", "PCEJ", "PCPR" };
    struct aml f;

    aml_bytes(a, opregion, sizeof(opregion));
    aml_namestring(a, "PCHP");
    aml_byte(a, REGION_SYSTEM_IO);
    aml_integer(a, port);
    aml_integer(a, PCIHP_LEN);

    aml_init(&f);
    aml_namestring(&f, "PCHP");
    aml_byte(&f, FIELD_DWORD_ACC);      /* DWordAcc, NoLock, Preserve */
    for (unsigned i = 0; i < 4; i++) {
        aml_bytes(&f, names[i], 4);
        aml_byte(&f, 32);               /* PkgLength of the field: 32 bits */
    }
    wrap(a, field, sizeof(field), &f);
    aml_free(&f);
}

static void slot_device(struct aml *a, unsigned slot)
{
    static const uint8_t method[] = { OP_METHOD };
    char name[8];
    struct aml m;

    slot_name(name, sizeof(name), slot);
    aml_device_open(a, name);
    aml_name(a, "_ADR");
    aml_integer(a, (uint64_t)slot << 16);
    aml_name(a, "_SUN");
    aml_integer(a, slot);
    aml_init(&m);
    aml_namestring(&m, "_EJ0");
    aml_byte(&m, 1);                    /* one argument, NotSerialized */
    aml_byte(&m, OP_STORE);
    aml_integer(&m, 1u << slot);
    aml_namestring(&m, "\\_SB_.PCI0.PCEJ");
    wrap(a, method, sizeof(method), &m);
    aml_free(&m);
    aml_close(a);
}

/* If (And (LocalN, bit)) { Notify (SLxx, value) } */
static void notify_if(struct aml *a, uint8_t local, unsigned slot, unsigned value)
{
    static const uint8_t op_if[] = { OP_IF };
    char name[8];
    struct aml t;

    slot_name(name, sizeof(name), slot);
    aml_init(&t);
    aml_byte(&t, OP_AND);
    aml_byte(&t, local);
    aml_integer(&t, 1u << slot);
    aml_byte(&t, OP_NULLNAME);
    aml_byte(&t, OP_NOTIFY);
    aml_namestring(&t, name);
    aml_integer(&t, value);
    wrap(a, op_if, sizeof(op_if), &t);
    aml_free(&t);
}

static void notify_method(struct aml *a)
{
    static const uint8_t method[] = { OP_METHOD };
    struct aml m;

    aml_init(&m);
    aml_namestring(&m, "PCNT");
    aml_byte(&m, 0x08);                 /* no arguments, Serialized */
    aml_byte(&m, OP_STORE);
    aml_namestring(&m, "PCIU");
    aml_byte(&m, OP_LOCAL0);
    aml_byte(&m, OP_STORE);
    aml_namestring(&m, "PCID");
    aml_byte(&m, OP_LOCAL1);
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        notify_if(&m, OP_LOCAL0, s, 1);     /* device check */
        notify_if(&m, OP_LOCAL1, s, 3);     /* eject request */
    }
    wrap(a, method, sizeof(method), &m);
    aml_free(&m);
}

void pci_hotplug_build_aml(struct aml *a, uint16_t port)
{
    aml_scope_open(a, "\\_SB_.PCI0");
    region_and_field(a, port);
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++)
        slot_device(a, s);
    notify_method(a);
    aml_close(a);

    aml_scope_open(a, "\\_GPE");
    aml_method_open(a, "_E01", 0);
    aml_namestring(a, "\\_SB_.PCI0.PCNT");
    aml_close(a);
    aml_close(a);
}
