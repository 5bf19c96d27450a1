/* A small AML (ACPI Machine Language) byte-code writer.
 *
 * Terms are appended to a growable buffer. Constructs with a PkgLength
 * (Scope, Device, Method, Package, Buffer) are opened and closed; the length
 * is filled in on close. Allocation failures and misuse are sticky: every
 * call becomes a no-op and aml_finish() reports -ENOMEM/-EINVAL, so builders
 * check once at the end.
 *
 * Names are ACPI name paths: "\\_SB_.PCI0", "_HID", "PCI0" (segments shorter
 * than four characters are padded with '_').
 */
#ifndef VK_VM_AML_H
#define VK_VM_AML_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

struct aml {
    uint8_t *buf;
    size_t len, cap;
    int error;                      /* 0 or -errno */
    size_t open[AML_MAX_DEPTH];     /* offsets where PkgLength goes */
    unsigned depth;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* 0 when every construct was closed and no error happened. */
int aml_finish(struct aml *a);

void aml_bytes(struct aml *a, const void *data, size_t len);
void aml_byte(struct aml *a, uint8_t b);
void aml_namestring(struct aml *a, const char *path);
/* Smallest encoding: Zero, One, Ones (only for UINT64_MAX), Byte/Word/DWord/QWord. */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* "PNP0A08" -> compressed EISA ID as a DWord constant. */
void aml_eisaid(struct aml *a, const char *id);
/* Buffer(len) { data } */
void aml_buffer(struct aml *a, const void *data, size_t len);

/* Name(NAME, <the next term>) */
void aml_name(struct aml *a, const char *name);
void aml_scope_open(struct aml *a, const char *name);
void aml_device_open(struct aml *a, const char *name);
/* Method(NAME, nargs, NotSerialized) */
void aml_method_open(struct aml *a, const char *name, unsigned nargs);
/* Package(n) { ...n terms... } */
void aml_package_open(struct aml *a, unsigned nelems);
void aml_close(struct aml *a);
/* Return(<the next term>) */
void aml_return(struct aml *a);

/* ---- resource templates (ACPI 6.4 §6.4) ------------------------------- */
/* Append descriptors to a byte buffer (itself an aml for convenience);
 * aml_res_end adds the end tag. Wrap the result with aml_buffer(). */
void aml_res_io(struct aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags {irq}: ISA edge, active high (irq < 16). */
void aml_res_irq_noflags(struct aml *r, unsigned irq);
void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml *r, uint32_t min, uint32_t max, int cacheable);
void aml_res_qword_mem(struct aml *r, uint64_t min, uint64_t max);
void aml_res_fixed_mem32(struct aml *r, uint32_t base, uint32_t len);
void aml_res_end(struct aml *r);

#endif
