/* ACPI table files, their fix-ups, linking and the table-loader script.
 *
 * The loader script format is QEMU's (hw/acpi/bios-linker-loader, as read
 * by SeaBIOS's romfile_loader): 128-byte little-endian entries; ALLOCATE
 * places a file, ADD_POINTER adds a file's address to a field that holds an
 * offset into it, ADD_CHECKSUM subtracts the byte sum of a range from a
 * checksum byte. Checksum fields start at zero so that works.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi.h"

enum {
    LOADER_ALLOCATE = 1,
    LOADER_ADD_POINTER = 2,
    LOADER_ADD_CHECKSUM = 3,
    LOADER_ZONE_HIGH = 1,
    LOADER_ZONE_FSEG = 2,
    LOADER_ENTRY_SIZE = 128,
    LOADER_NAME_LEN = 56,
};

long acpi_file_alloc(struct acpi_tables *t, unsigned file, size_t len, uint32_t align)
{
    struct acpi_file *f;
    size_t off, cap;

    if (t->error)
        return t->error;
    if (file >= ACPI_NR_FILES || !VK_IS_POW2(align))
        return t->error = -EINVAL;
    f = &t->files[file];
    off = VK_ALIGN_UP(f->len, (size_t)align);
    if (off + len > UINT32_MAX)
        return t->error = -E2BIG;
    if (off + len > f->cap) {
        uint8_t *n;

        cap = f->cap ? f->cap : 4096;
        while (cap < off + len)
            cap *= 2;
        n = realloc(f->data, cap);
        if (!n)
            return t->error = -ENOMEM;
        memset(n + f->cap, 0, cap - f->cap);
        f->data = n;
        f->cap = cap;
    }
    f->len = off + len;
    return (long)off;
}

static struct acpi_fixup *new_fixup(struct acpi_tables *t)
{
    if (t->error)
        return NULL;
    if (t->nr_fixups == t->cap_fixups) {
        unsigned cap = t->cap_fixups ? t->cap_fixups * 2 : 32;
        struct acpi_fixup *n = realloc(t->fixups, cap * sizeof(*n));

        if (!n) {
            t->error = -ENOMEM;
            return NULL;
        }
        t->fixups = n;
        t->cap_fixups = cap;
    }
    return memset(&t->fixups[t->nr_fixups++], 0, sizeof(struct acpi_fixup));
}

void acpi_add_pointer(struct acpi_tables *t, unsigned file, uint32_t offset, uint8_t size,
                      unsigned target, uint64_t target_offset)
{
    struct acpi_fixup *x;

    if (file >= ACPI_NR_FILES || target >= ACPI_NR_FILES || (size != 4 && size != 8) ||
        !vk_range_ok(offset, size, t->files[file].len)) {
        t->error = t->error ? t->error : -EINVAL;
        return;
    }
    x = new_fixup(t);
    if (!x)
        return;
    x->kind = ACPI_FIX_POINTER;
    x->file = file;
    x->offset = offset;
    x->size = size;
    x->target = target;
    /* The field holds the offset until linked. */
    if (size == 4) {
        uint32_t v = htole32((uint32_t)target_offset);
        memcpy(t->files[file].data + offset, &v, 4);
    } else {
        uint64_t v = htole64(target_offset);
        memcpy(t->files[file].data + offset, &v, 8);
    }
}

void acpi_add_checksum(struct acpi_tables *t, unsigned file, uint32_t offset,
                       uint32_t start, uint32_t length)
{
    struct acpi_fixup *x;

    if (file >= ACPI_NR_FILES || !vk_range_ok(start, length, t->files[file].len) ||
        offset < start || offset >= start + length) {
        t->error = t->error ? t->error : -EINVAL;
        return;
    }
    x = new_fixup(t);
    if (!x)
        return;
    x->kind = ACPI_FIX_CHECKSUM;
    x->file = file;
    x->offset = offset;
    x->start = start;
    x->length = length;
    t->files[file].data[offset] = 0;
}

void acpi_tables_free(struct acpi_tables *t)
{
    for (unsigned i = 0; i < ACPI_NR_FILES; i++)
        free(t->files[i].data);
    free(t->fixups);
    memset(t, 0, sizeof(*t));
}

void acpi_tables_link(const struct acpi_tables *t, const uint64_t addr[ACPI_NR_FILES],
                      uint8_t *const dst[ACPI_NR_FILES])
{
    for (unsigned i = 0; i < ACPI_NR_FILES; i++)
        memcpy(dst[i], t->files[i].data, t->files[i].len);
    /* Pointers first, then checksums over the final contents. */
    for (unsigned i = 0; i < t->nr_fixups; i++) {
        const struct acpi_fixup *x = &t->fixups[i];
        uint8_t *p = dst[x->file] + x->offset;

        if (x->kind != ACPI_FIX_POINTER)
            continue;
        if (x->size == 4) {
            uint32_t v;
            memcpy(&v, p, 4);
            v = htole32(le32toh(v) + (uint32_t)addr[x->target]);
            memcpy(p, &v, 4);
        } else {
            uint64_t v;
            memcpy(&v, p, 8);
            v = htole64(le64toh(v) + addr[x->target]);
            memcpy(p, &v, 8);
        }
    }
    for (unsigned i = 0; i < t->nr_fixups; i++) {
        const struct acpi_fixup *x = &t->fixups[i];
        uint8_t sum = 0;

        if (x->kind != ACPI_FIX_CHECKSUM)
            continue;
        for (uint32_t k = 0; k < x->length; k++)
            sum = (uint8_t)(sum + dst[x->file][x->start + k]);
        dst[x->file][x->offset] = (uint8_t)(dst[x->file][x->offset] - sum);
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

int acpi_table_loader(const struct acpi_tables *t, uint8_t **script, size_t *len,
                      struct vk_err *err)
{
    size_t n = ACPI_NR_FILES + t->nr_fixups, k = 0;
    uint8_t *s = calloc(n, LOADER_ENTRY_SIZE);

    if (!s)
        return vk_err_errno(err, -ENOMEM, "table-loader");
    /* The RSDP first (it must land in the F-segment), then the tables. */
    for (int i = ACPI_NR_FILES - 1; i >= 0; i--) {
        uint8_t *e = s + k++ * LOADER_ENTRY_SIZE;

        put32(e, LOADER_ALLOCATE);
        snprintf((char *)e + 4, LOADER_NAME_LEN, "%s", t->files[i].name);
        put32(e + 4 + LOADER_NAME_LEN, t->files[i].align);
        e[8 + LOADER_NAME_LEN] = t->files[i].fseg ? LOADER_ZONE_FSEG : LOADER_ZONE_HIGH;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < t->nr_fixups; i++) {
            const struct acpi_fixup *x = &t->fixups[i];
            uint8_t *e;

            if ((pass == 0) != (x->kind == ACPI_FIX_POINTER))
                continue;
            e = s + k++ * LOADER_ENTRY_SIZE;
            if (x->kind == ACPI_FIX_POINTER) {
                put32(e, LOADER_ADD_POINTER);
                snprintf((char *)e + 4, LOADER_NAME_LEN, "%s", t->files[x->file].name);
                snprintf((char *)e + 4 + LOADER_NAME_LEN, LOADER_NAME_LEN, "%s",
                         t->files[x->target].name);
                put32(e + 4 + 2 * LOADER_NAME_LEN, x->offset);
                e[8 + 2 * LOADER_NAME_LEN] = x->size;
            } else {
                put32(e, LOADER_ADD_CHECKSUM);
                snprintf((char *)e + 4, LOADER_NAME_LEN, "%s", t->files[x->file].name);
                put32(e + 4 + LOADER_NAME_LEN, x->offset);
                put32(e + 8 + LOADER_NAME_LEN, x->start);
                put32(e + 12 + LOADER_NAME_LEN, x->length);
            }
        }
    }
    *script = s;
    *len = n * LOADER_ENTRY_SIZE;
    return 0;
}
