/* A tiny in-memory machine for CPU unit tests: RAM regions at fixed guest
 * physical addresses, a port log, and helpers to put the CPU in 64-bit
 * user/kernel mode with identity-mapped 2 MiB pages. */
#ifndef VK_CPU_TESTENV_H
#define VK_CPU_TESTENV_H

#include <stdlib.h>
#include <string.h>
#include "cpu_int.h"

struct tregion { uint64_t gpa, len; uint8_t *mem; };

struct tenv {
    struct tregion r[8];
    unsigned nr;
    uint32_t last_out_port, last_out_val;
    unsigned nouts;
    uint64_t mmio_last_addr, mmio_last_val;
    unsigned nmmio;
};

static uint8_t *tenv_ram(void *o, uint64_t gpa, uint64_t len)
{
    struct tenv *e = o;
    for (unsigned i = 0; i < e->nr; i++)
        if (gpa >= e->r[i].gpa && gpa + len <= e->r[i].gpa + e->r[i].len)
            return e->r[i].mem + (gpa - e->r[i].gpa);
    return NULL;
}

static uint64_t tenv_mmio_read(void *o, uint64_t gpa, unsigned size)
{
    struct tenv *e = o;
    e->nmmio++;
    e->mmio_last_addr = gpa;
    return 0x1122334455667788ull;
}

static void tenv_mmio_write(void *o, uint64_t gpa, unsigned size, uint64_t v)
{
    struct tenv *e = o;
    e->nmmio++;
    e->mmio_last_addr = gpa;
    e->mmio_last_val = v;
}

static uint32_t tenv_in(void *o, uint16_t port, unsigned size) { return 0x5a; }

static void tenv_out(void *o, uint16_t port, unsigned size, uint32_t v)
{
    struct tenv *e = o;
    e->last_out_port = port;
    e->last_out_val = v;
    e->nouts++;
}

static uint8_t *tenv_add(struct tenv *e, uint64_t gpa, uint64_t len)
{
    uint8_t *m = aligned_alloc(4096, len);
    memset(m, 0, len);
    e->r[e->nr++] = (struct tregion){ gpa, len, m };
    return m;
}

static void tenv_free(struct tenv *e)
{
    for (unsigned i = 0; i < e->nr; i++)
        free(e->r[i].mem);
    e->nr = 0;
}

static struct cpu_x86 *tenv_cpu(struct tenv *e)
{
    struct cpu_x86_env env = {
        .opaque = e, .ram_ptr = tenv_ram, .mmio_read = tenv_mmio_read,
        .mmio_write = tenv_mmio_write, .pio_in = tenv_in, .pio_out = tenv_out,
    };
    return cpu_x86_create(&env, 0);
}

/* Page tables at gpa 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD for 0-1 GiB):
 * identity 2 MiB pages for every 2 MiB slot that holds a region. */
#define TENV_PT 0x1000
static void tenv_paging64(struct cpu_x86 *cpu, struct tenv *e, bool user)
{
    uint8_t *pt = tenv_ram(e, TENV_PT, 0x3000);
    uint64_t u = user ? 4 : 0;
    uint64_t *pml4 = (uint64_t *)pt, *pdpt = (uint64_t *)(pt + 0x1000), *pd = (uint64_t *)(pt + 0x2000);
    memset(pt, 0, 0x3000);
    pml4[0] = (TENV_PT + 0x1000) | 7;
    pdpt[0] = (TENV_PT + 0x2000) | 7;
    for (unsigned i = 0; i < e->nr; i++)
        if (e->r[i].gpa >= 0x200000)   /* the low region holds the tables */
        for (uint64_t a = e->r[i].gpa & ~0x1fffffull; a < e->r[i].gpa + e->r[i].len; a += 0x200000)
            if (a < (1ull << 30))
                pd[a >> 21] = a | 0x83 | u;
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(cpu, &s);
    unsigned dpl = user ? 3 : 0;
    struct cpu_x86_segment cs = { 0, 0xffffffff, (uint16_t)(user ? 0x33 : 0x08), 0xb, 1, (uint8_t)dpl, 0, 1, 1, 1, 0, 0 };
    struct cpu_x86_segment ds = { 0, 0xffffffff, (uint16_t)(user ? 0x2b : 0x10), 0x3, 1, (uint8_t)dpl, 1, 1, 0, 1, 0, 0 };
    s.cs = cs;
    s.ss = s.ds = s.es = s.fs = s.gs = ds;
    s.cr0 = CR0_PE | CR0_PG | CR0_WP | CR0_ET | CR0_NE | CR0_MP;
    s.cr3 = TENV_PT;
    s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_PGE;
    s.efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
    cpu_x86_set_sregs(cpu, &s);
}

#endif
