/* AML byte-code writer; encodings from the ACPI specification, chapter 20
 * ("ACPI Machine Language Specification") and §6.4 (resource data types). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aml.h"

enum {
    AML_ZERO = 0x00, AML_ONE = 0x01, AML_NAME_OP = 0x08, AML_BYTE_PREFIX = 0x0a,
    AML_WORD_PREFIX = 0x0b, AML_DWORD_PREFIX = 0x0c, AML_STRING_PREFIX = 0x0d,
    AML_QWORD_PREFIX = 0x0e, AML_SCOPE_OP = 0x10, AML_BUFFER_OP = 0x11,
    AML_PACKAGE_OP = 0x12, AML_METHOD_OP = 0x14, AML_DUAL_NAME = 0x2e,
    AML_MULTI_NAME = 0x2f, AML_EXT_OP = 0x5b, AML_DEVICE_OP = 0x82,
    AML_RETURN_OP = 0xa4, AML_ONES = 0xff,
};

void aml_init(struct aml *a)
{
    memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
    free(a->buf);
    memset(a, 0, sizeof(*a));
}

int aml_finish(struct aml *a)
{
    if (!a->error && a->depth)
        a->error = -EINVAL;
    return a->error;
}

static int reserve(struct aml *a, size_t more)
{
    size_t cap;
    uint8_t *n;

    if (a->error)
        return a->error;
    if (a->len + more <= a->cap)
        return 0;
    cap = a->cap ? a->cap : 256;
    while (cap < a->len + more)
        cap *= 2;
    n = realloc(a->buf, cap);
    if (!n)
        return a->error = -ENOMEM;
    a->buf = n;
    a->cap = cap;
    return 0;
}

void aml_bytes(struct aml *a, const void *data, size_t len)
{
    if (reserve(a, len))
        return;
    memcpy(a->buf + a->len, data, len);
    a->len += len;
}

void aml_byte(struct aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

static void put_le(struct aml *a, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        aml_byte(a, (uint8_t)(v >> (8 * i)));
}

static int valid_seg_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_namestring(struct aml *a, const char *path)
{
    char segs[16][4];
    unsigned n = 0;
    const char *p = path;

    if (*p == '\\') {
        aml_byte(a, '\\');
        p++;
    }
    while (*p == '^') {
        aml_byte(a, '^');
        p++;
    }
    while (*p) {
        size_t l = strcspn(p, ".");

        if (l == 0 || l > 4 || n == (sizeof(segs) / sizeof(segs[0]))) {
            a->error = a->error ? a->error : -EINVAL;
            return;
        }
        for (size_t i = 0; i < 4; i++) {
            char c = i < l ? p[i] : '_';
            if (!valid_seg_char(c, i == 0)) {
                a->error = a->error ? a->error : -EINVAL;
                return;
            }
            segs[n][i] = c;
        }
        n++;
        p += l;
        if (*p == '.')
            p++;
    }
    if (n == 0) {
        aml_byte(a, 0x00);          /* NullName */
        return;
    }
    if (n == 2)
        aml_byte(a, AML_DUAL_NAME);
    else if (n > 2) {
        aml_byte(a, AML_MULTI_NAME);
        aml_byte(a, (uint8_t)n);
    }
    for (unsigned i = 0; i < n; i++)
        aml_bytes(a, segs[i], 4);
}

void aml_integer(struct aml *a, uint64_t v)
{
    if (v == 0)
        aml_byte(a, AML_ZERO);
    else if (v == 1)
        aml_byte(a, AML_ONE);
    else if (v == UINT64_MAX)
        aml_byte(a, AML_ONES);
    else if (v <= 0xff) {
        aml_byte(a, AML_BYTE_PREFIX);
        put_le(a, v, 1);
    } else if (v <= 0xffff) {
        aml_byte(a, AML_WORD_PREFIX);
        put_le(a, v, 2);
    } else if (v <= 0xffffffff) {
        aml_byte(a, AML_DWORD_PREFIX);
        put_le(a, v, 4);
    } else {
        aml_byte(a, AML_QWORD_PREFIX);
        put_le(a, v, 8);
    }
}

void aml_string(struct aml *a, const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x01 || (unsigned char)*p > 0x7f)
            a->error = a->error ? a->error : -EINVAL;
    aml_byte(a, AML_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
    uint32_t v = 0;

    if (strlen(id) != 7) {
        a->error = a->error ? a->error : -EINVAL;
        return;
    }
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z') {
            a->error = a->error ? a->error : -EINVAL;
            return;
        }
        v = (v << 5) | (uint32_t)(id[i] - 0x40);
    }
    for (int i = 3; i < 7; i++) {
        int h = hexval(id[i]);
        if (h < 0) {
            a->error = a->error ? a->error : -EINVAL;
            return;
        }
        v = (v << 4) | (uint32_t)h;
    }
    /* Stored as the byte string [mfg hi, mfg lo, prod hi, prod lo]. */
    aml_byte(a, AML_DWORD_PREFIX);
    aml_byte(a, (uint8_t)(v >> 24));
    aml_byte(a, (uint8_t)(v >> 16));
    aml_byte(a, (uint8_t)(v >> 8));
    aml_byte(a, (uint8_t)v);
}

/* ---- PkgLength constructs ---------------------------------------------- */

static void open_pkg(struct aml *a)
{
    if (a->error)
        return;
    if (a->depth == AML_MAX_DEPTH) {
        a->error = -EINVAL;
        return;
    }
    a->open[a->depth++] = a->len;
}

void aml_close(struct aml *a)
{
    size_t start, body, total;
    unsigned nbytes;
    uint8_t enc[4];

    if (a->error)
        return;
    if (!a->depth) {
        a->error = -EINVAL;
        return;
    }
    start = a->open[--a->depth];
    body = a->len - start;
    /* The encoded length counts its own bytes. */
    if (body + 1 < 0x40)
        nbytes = 1;
    else if (body + 2 < 0x1000)
        nbytes = 2;
    else if (body + 3 < 0x100000)
        nbytes = 3;
    else if (body + 4 < 0x10000000)
        nbytes = 4;
    else {
        a->error = -E2BIG;
        return;
    }
    total = body + nbytes;
    if (nbytes == 1) {
        enc[0] = (uint8_t)total;
    } else {
        enc[0] = (uint8_t)(((nbytes - 1) << 6) | (total & 0x0f));
        for (unsigned i = 1; i < nbytes; i++)
            enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
    }
    if (reserve(a, nbytes))
        return;
    memmove(a->buf + start + nbytes, a->buf + start, body);
    memcpy(a->buf + start, enc, nbytes);
    a->len += nbytes;
}

void aml_buffer(struct aml *a, const void *data, size_t len)
{
    aml_byte(a, AML_BUFFER_OP);
    open_pkg(a);
    aml_integer(a, len);
    aml_bytes(a, data, len);
    aml_close(a);
}

void aml_name(struct aml *a, const char *name)
{
    aml_byte(a, AML_NAME_OP);
    aml_namestring(a, name);
}

void aml_scope_open(struct aml *a, const char *name)
{
    aml_byte(a, AML_SCOPE_OP);
    open_pkg(a);
    aml_namestring(a, name);
}

void aml_device_open(struct aml *a, const char *name)
{
    aml_byte(a, AML_EXT_OP);
    aml_byte(a, AML_DEVICE_OP);
    open_pkg(a);
    aml_namestring(a, name);
}

void aml_method_open(struct aml *a, const char *name, unsigned nargs)
{
    aml_byte(a, AML_METHOD_OP);
    open_pkg(a);
    aml_namestring(a, name);
    aml_byte(a, (uint8_t)(nargs & 7));
}

void aml_package_open(struct aml *a, unsigned nelems)
{
    if (nelems > 255)
        a->error = a->error ? a->error : -EINVAL;
    aml_byte(a, AML_PACKAGE_OP);
    open_pkg(a);
    aml_byte(a, (uint8_t)nelems);
}

void aml_return(struct aml *a)
{
    aml_byte(a, AML_RETURN_OP);
}

/* ---- resource descriptors ---------------------------------------------- */

void aml_res_io(struct aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    aml_byte(r, 0x47);                  /* small item: I/O port, 7 bytes */
    aml_byte(r, 0x01);                  /* 16-bit decode */
    put_le(r, min, 2);
    put_le(r, max, 2);
    aml_byte(r, align);
    aml_byte(r, len);
}

void aml_res_irq_noflags(struct aml *r, unsigned irq)
{
    aml_byte(r, 0x22);                  /* small item: IRQ, 2 bytes (edge, high) */
    put_le(r, irq < 16 ? 1u << irq : 0, 2);
}

/* Address space descriptor header: tag, length, type, flags. Producer
 * (bit 0 clear), positive decode, min and max fixed. */
static void addr_header(struct aml *r, uint8_t tag, uint16_t len, uint8_t type,
                        uint8_t type_flags)
{
    aml_byte(r, tag);
    put_le(r, len, 2);
    aml_byte(r, type);
    aml_byte(r, 0x0c);
    aml_byte(r, type_flags);
}

void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max)
{
    addr_header(r, 0x88, 13, 2, 0);
    put_le(r, 0, 2);                    /* granularity */
    put_le(r, min, 2);
    put_le(r, max, 2);
    put_le(r, 0, 2);                    /* translation */
    put_le(r, (uint16_t)(max - min + 1), 2);
}

void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max)
{
    addr_header(r, 0x88, 13, 1, 0x03);  /* ISA and non-ISA ranges */
    put_le(r, 0, 2);
    put_le(r, min, 2);
    put_le(r, max, 2);
    put_le(r, 0, 2);
    put_le(r, (uint16_t)(max - min + 1), 2);
}

void aml_res_dword_mem(struct aml *r, uint32_t min, uint32_t max, int cacheable)
{
    addr_header(r, 0x87, 23, 0, (uint8_t)(0x01 | (cacheable ? 0x02 : 0)));
    put_le(r, 0, 4);
    put_le(r, min, 4);
    put_le(r, max, 4);
    put_le(r, 0, 4);
    put_le(r, (uint32_t)(max - min + 1), 4);
}

void aml_res_qword_mem(struct aml *r, uint64_t min, uint64_t max)
{
    addr_header(r, 0x8a, 43, 0, 0x01);
    put_le(r, 0, 8);
    put_le(r, min, 8);
    put_le(r, max, 8);
    put_le(r, 0, 8);
    put_le(r, max - min + 1, 8);
}

void aml_res_fixed_mem32(struct aml *r, uint32_t base, uint32_t len)
{
    aml_byte(r, 0x86);
    put_le(r, 9, 2);
    aml_byte(r, 0x01);                  /* read-write */
    put_le(r, base, 4);
    put_le(r, len, 4);
}

void aml_res_end(struct aml *r)
{
    aml_byte(r, 0x79);
    aml_byte(r, 0x00);                  /* checksum 0: treated as valid */
}
