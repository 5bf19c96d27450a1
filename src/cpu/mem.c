/* Memory: segmentation checks, page walks, the soft TLB, RAM/MMIO access.
 *
 * TLB: direct mapped, one set per privilege class. An entry caches one
 * linear page: its physical page, the host pointer when it is RAM, and the
 * accesses allowed without a walk (`perm`). The fast tags tag_r/tag_w/tag_x
 * are set only for RAM; tag_w additionally requires the dirty bit already
 * set and the page not holding decoded code, so every write that must set D
 * or invalidate blocks takes the slow path. */
#include <errno.h>
#include "cpu_int.h"

#define PTE_P   0x1ull
#define PTE_W   0x2ull
#define PTE_U   0x4ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_A   0x20ull
#define PTE_D   0x40ull
#define PTE_PS  0x80ull
#define PTE_G   0x100ull
#define PTE_NX  (1ull << 63)
#define PHYS_MASK 0x000ffffffffff000ull

#define PERM_R 1u
#define PERM_W 2u
#define PERM_X 4u
#define PERM_WD 8u   /* writable and dirty already set */

/* ---- physical access ------------------------------------------------------ */

uint64_t cpu_phys_read(struct cpu_x86 *cpu, uint64_t pa, unsigned size)
{
    uint8_t *p;
    uint64_t v = 0;

    if ((pa & 0xfff) + size > 4096) {
        for (unsigned i = 0; i < size; i++)
            v |= cpu_phys_read(cpu, pa + i, 1) << (8 * i);
        return v;
    }
    p = cpu->env.ram_ptr(cpu->env.opaque, pa & ~0xfffull, 4096);
    if (p) {
        memcpy(&v, p + (pa & 0xfff), size);
        return v;
    }
    if (cpu->env.mmio_read)
        return cpu->env.mmio_read(cpu->env.opaque, pa, size) & size_mask(size);
    return size_mask(size);
}

static void code_write(struct cpu_x86 *cpu, uint64_t pa, unsigned size);

void cpu_phys_write(struct cpu_x86 *cpu, uint64_t pa, unsigned size, uint64_t v)
{
    uint8_t *p;

    if ((pa & 0xfff) + size > 4096) {
        for (unsigned i = 0; i < size; i++)
            cpu_phys_write(cpu, pa + i, 1, v >> (8 * i));
        return;
    }
    p = cpu->env.ram_ptr(cpu->env.opaque, pa & ~0xfffull, 4096);
    if (p) {
        memcpy(p + (pa & 0xfff), &v, size);
        code_write(cpu, pa, size);
        return;
    }
    if (cpu->env.mmio_write)
        cpu->env.mmio_write(cpu->env.opaque, pa, size, v & size_mask(size));
}

static void code_write(struct cpu_x86 *cpu, uint64_t pa, unsigned size)
{
    struct cpu_code_page *cp = cpu_code_page_get(cpu->shared, pa >> 12, false);
    if (cp && atomic_load_explicit(&cp->active, memory_order_acquire)) {
        /* Its blocks are stale now; the page stops being a code page until
         * code is decoded from it again, so later writes (a page freed and
         * reused for data) take the fast path. */
        atomic_store_explicit(&cp->active, false, memory_order_release);
        cpu_code_page_written(cpu->shared, cp);
        cpu->stop = cpu->stop < 0 ? -2 : cpu->stop;   /* end the block */
    }
}

/* ---- TLB ------------------------------------------------------------------ */

void cpu_tlb_flush(struct cpu_x86 *cpu, bool include_global)
{
    /* Global entries stay valid across a non-global flush: tlb_fill re-tags
     * them without a walk while their gepoch matches. */
    cpu->st.tlb_flush++;
    if (include_global)
        cpu->tlb_gepoch++;
    if (cpu->tlb_epoch >= 1 && cpu->tlb_epoch < 0xfff) {
        cpu->tlb_epoch++;
    } else {
        for (unsigned c = 0; c < 2; c++)
            for (unsigned i = 0; i < TLB_SIZE; i++) {
                struct cpu_tlb_entry *e = &cpu->tlb[c][i];
                e->tag_r = e->tag_w = e->tag_x = 0;
                cpu_tlb_info_of(cpu, e)->lin = 1;   /* never matches a page address */
                cpu_tlb_info_of(cpu, e)->epoch = 0;
                cpu_tlb_info_of(cpu, e)->global = false;
            }
        cpu->tlb_epoch = 1;
    }
    cpu->tlb_has_large = false;
}

void cpu_tlb_flush_page(struct cpu_x86 *cpu, uint64_t lin)
{
    uint64_t page = lin & ~0xfffull;
    /* A large page covers many slots: flush everything then. */
    if (cpu->tlb_has_large) {
        cpu_tlb_flush(cpu, true);
        return;
    }
    for (unsigned c = 0; c < 2; c++) {
        struct cpu_tlb_entry *e = &cpu->tlb[c][(page >> 12) & (TLB_SIZE - 1)];
        if (cpu_tlb_info_of(cpu, e)->lin == page) {
            e->tag_r = e->tag_w = e->tag_x = 0;
            cpu_tlb_info_of(cpu, e)->lin = 1;
            cpu_tlb_info_of(cpu, e)->global = false;
        }
    }
}

_Noreturn static void page_fault(struct cpu_x86 *cpu, uint64_t lin, uint32_t err)
{
    cpu->cr2 = lin;
    cpu_raise(cpu, EXC_PF, err);
}

/* Set A (and D) bits in a paging entry with an atomic OR when it is RAM. */
static void pte_set(struct cpu_x86 *cpu, uint64_t pa, uint64_t bits, bool is64)
{
    uint8_t *p = cpu->env.ram_ptr(cpu->env.opaque, pa & ~0xfffull, 4096);
    if (!p)
        return;
    if (is64)
        __atomic_fetch_or((uint64_t *)(p + (pa & 0xfff)), bits, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_or((uint32_t *)(p + (pa & 0xfff)), (uint32_t)bits, __ATOMIC_SEQ_CST);
}

/* Walk the page tables for `lin`. Returns the physical address; sets *perm
 * (PERM_* allowed for this privilege class), *global and *large. Raises #PF
 * if the access `acc` is not allowed. */
static uint64_t walk(struct cpu_x86 *cpu, uint64_t lin, unsigned acc, bool user,
                     unsigned *perm, bool *global, bool *large)
{
    bool wr = (acc & 3) == ACC_W, ex = (acc & 3) == ACC_X;
    bool nxe = cpu->efer & EFER_NXE;
    uint32_t err_base = (wr ? 2 : 0) | (user ? 4 : 0) | (ex && nxe ? 0x10 : 0);
    uint64_t pa_ent[5];
    bool ent64 = true;
    int nent = 0;
    uint64_t ent, phys, pagemask;
    bool u = true, w = true, nx = false;

    *large = false;
    *global = false;
    if (!(cpu->cr0 & CR0_PG)) {
        *perm = PERM_R | PERM_W | PERM_X | PERM_WD;
        return cpu_lma(cpu) ? lin : (uint32_t)lin;
    }
    if (cpu->cr4 & CR4_PAE) {
        int levels;
        uint64_t table;
        if (cpu_lma(cpu)) {
            levels = 4;
            table = cpu->cr3 & PHYS_MASK;
        } else {
            uint64_t pdpte_pa = (cpu->cr3 & 0xffffffe0u) + ((lin >> 30) & 3) * 8;
            uint64_t pdpte = cpu_phys_read(cpu, pdpte_pa, 8);
            if (!(pdpte & PTE_P))
                page_fault(cpu, lin, err_base);
            if (pdpte & 0x1e6)
                page_fault(cpu, lin, err_base | 1 | 8);
            levels = 2;
            table = pdpte & PHYS_MASK;
        }
        for (int l = levels; l >= 1; l--) {
            unsigned shift = 12 + 9 * (l - 1);
            uint64_t pa = table + ((lin >> shift) & 511) * 8;
            ent = cpu_phys_read(cpu, pa, 8);
            pa_ent[nent++] = pa;
            if (!(ent & PTE_P))
                page_fault(cpu, lin, err_base);
            if ((ent & PTE_NX) && !nxe)
                page_fault(cpu, lin, err_base | 1 | 8);
            if (l == 4 && (ent & PTE_PS))
                page_fault(cpu, lin, err_base | 1 | 8);
            u = u && (ent & PTE_U);
            w = w && (ent & PTE_W);
            nx = nx || (nxe && (ent & PTE_NX));
            if (l == 1 || ((ent & PTE_PS) && l <= 3)) {
                if (l == 3 && !(cpu_lma(cpu)))
                    page_fault(cpu, lin, err_base | 1 | 8);
                pagemask = (1ull << shift) - 1;
                if (l > 1 && (ent & (pagemask & ~0xfffull) & ~0x1000ull))
                    page_fault(cpu, lin, err_base | 1 | 8);
                phys = (ent & PHYS_MASK & ~pagemask) | (lin & pagemask);
                *large = l > 1;
                break;
            }
            table = ent & PHYS_MASK;
        }
    } else {
        uint64_t pa = (cpu->cr3 & 0xfffff000u) + ((lin >> 22) & 1023) * 4;
        ent64 = false;
        ent = cpu_phys_read(cpu, pa, 4);
        pa_ent[nent++] = pa;
        if (!(ent & PTE_P))
            page_fault(cpu, lin, err_base);
        u = ent & PTE_U;
        w = ent & PTE_W;
        if ((ent & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
            phys = (ent & 0xffc00000u) | ((ent >> 13) & 0xffull) << 32 | (lin & 0x3fffff);
            *large = true;
        } else {
            pa = (ent & 0xfffff000u) + ((lin >> 12) & 1023) * 4;
            ent = cpu_phys_read(cpu, pa, 4);
            pa_ent[nent++] = pa;
            if (!(ent & PTE_P))
                page_fault(cpu, lin, err_base);
            u = u && (ent & PTE_U);
            w = w && (ent & PTE_W);
            phys = (ent & 0xfffff000u) | (lin & 0xfff);
        }
    }
    /* permissions for this privilege class */
    unsigned p = 0;
    bool wp = cpu->cr0 & CR0_WP;
    if (user) {
        if (u) {
            p |= PERM_R;
            if (w) p |= PERM_W;
            if (!nx) p |= PERM_X;
        }
    } else {
        p |= PERM_R;
        if (w || !wp) p |= PERM_W;
        if (!nx) p |= PERM_X;
    }
    unsigned need = wr ? PERM_W : ex ? PERM_X : PERM_R;
    if (!(p & need))
        page_fault(cpu, lin, err_base | 1);
    /* accessed / dirty */
    for (int i = 0; i < nent; i++) {
        bool leaf = i == nent - 1;
        uint64_t bits = PTE_A | (leaf && wr ? PTE_D : 0);
        uint64_t cur = cpu_phys_read(cpu, pa_ent[i], ent64 ? 8 : 4);
        if ((cur & bits) != bits)
            pte_set(cpu, pa_ent[i], bits, ent64);
    }
    if ((p & PERM_W) && ((ent & PTE_D) || wr))
        p |= PERM_WD;
    *global = (ent & PTE_G) && (cpu->cr4 & CR4_PGE);
    *perm = p;
    return phys;
}

uint64_t cpu_translate(struct cpu_x86 *cpu, uint64_t lin, unsigned acc)
{
    unsigned perm;
    bool g, large;
    bool user = cpu->cpl == 3 && !(acc & ACC_SUPER);
    return walk(cpu, lin, acc, user, &perm, &g, &large);
}

static bool is_code_page(struct cpu_x86 *cpu, uint64_t pa)
{
    struct cpu_code_page *cp = cpu_code_page_get(cpu->shared, pa >> 12, false);
    return cp && atomic_load_explicit(&cp->active, memory_order_acquire);
}

/* Look up or fill the TLB entry for an access; raises #PF. */
static struct cpu_tlb_entry *tlb_fill(struct cpu_x86 *cpu, uint64_t lin, unsigned acc)
{
    bool user = cpu->cpl == 3 && !(acc & ACC_SUPER);
    uint64_t page = lin & ~0xfffull;
    struct cpu_tlb_entry *e = &cpu->tlb[user][(lin >> 12) & (TLB_SIZE - 1)];
    unsigned need = (acc & 3) == ACC_W ? PERM_WD : (acc & 3) == ACC_X ? PERM_X : PERM_R;
    unsigned perm;
    bool g, large;
    uint64_t pa;

    if (cpu->code_epoch != cpu_shared_code_epoch(cpu->shared)) {
        cpu->code_epoch = cpu_shared_code_epoch(cpu->shared);
        cpu_tlb_flush(cpu, true);
    }
    if (cpu_tlb_info_of(cpu, e)->lin == page && (cpu_tlb_info_of(cpu, e)->perm & need)) {
        if (cpu_tlb_info_of(cpu, e)->epoch == cpu->tlb_epoch)
            return e;
        if (cpu_tlb_info_of(cpu, e)->global && cpu_tlb_info_of(cpu, e)->gepoch == cpu->tlb_gepoch) {
            /* global page survived a CR3 reload: re-tag, no walk */
            uint64_t t = page | cpu->tlb_epoch;
            cpu_tlb_info_of(cpu, e)->epoch = (uint16_t)cpu->tlb_epoch;
            if (e->host) {
                e->tag_r = (cpu_tlb_info_of(cpu, e)->perm & PERM_R) ? t : 0;
                e->tag_x = (cpu_tlb_info_of(cpu, e)->perm & PERM_X) ? t : 0;
                e->tag_w = (cpu_tlb_info_of(cpu, e)->perm & PERM_WD) && !cpu_tlb_info_of(cpu, e)->code ? t : 0;
            }
            return e;
        }
    }
    pa = walk(cpu, lin, acc, user, &perm, &g, &large) & ~0xfffull;
    cpu_tlb_info_of(cpu, e)->lin = page;
    cpu_tlb_info_of(cpu, e)->phys = pa;
    cpu_tlb_info_of(cpu, e)->perm = perm;
    cpu_tlb_info_of(cpu, e)->global = g;
    cpu_tlb_info_of(cpu, e)->large = large;
    cpu_tlb_info_of(cpu, e)->epoch = (uint16_t)cpu->tlb_epoch;
    cpu_tlb_info_of(cpu, e)->gepoch = cpu->tlb_gepoch;
    if (large)
        cpu->tlb_has_large = true;
    e->host = cpu->env.ram_ptr(cpu->env.opaque, pa, 4096);
    cpu_tlb_info_of(cpu, e)->code = e->host && is_code_page(cpu, pa);
    if (e->host) {
        e->tag_r = (perm & PERM_R) ? page | cpu->tlb_epoch : 0;
        e->tag_x = (perm & PERM_X) ? page | cpu->tlb_epoch : 0;
        e->tag_w = (perm & PERM_WD) && !cpu_tlb_info_of(cpu, e)->code ? page | cpu->tlb_epoch : 0;
    } else {
        e->tag_r = e->tag_w = e->tag_x = 0;
    }
    return e;
}

uint64_t cpu_lin_read_slow(struct cpu_x86 *cpu, uint64_t lin, unsigned size, unsigned acc)
{
    uint64_t v = 0;
    struct cpu_tlb_entry *e;

    if ((lin & 0xfff) + size > 4096) {
        unsigned first = 4096 - (lin & 0xfff);
        /* translate both pages before reading anything */
        tlb_fill(cpu, lin, acc);
        tlb_fill(cpu, lin + first, acc);
        for (unsigned i = 0; i < size; i++)
            v |= cpu_lin_read(cpu, lin + i, 1, acc) << (8 * i);
        return v;
    }
    e = tlb_fill(cpu, lin, acc);
    if (e->host) {
        memcpy(&v, e->host + (lin & 0xfff), size);
        return v;
    }
    if (cpu->env.mmio_read)
        return cpu->env.mmio_read(cpu->env.opaque, cpu_tlb_info_of(cpu, e)->phys | (lin & 0xfff), size) & size_mask(size);
    return size_mask(size);
}

void cpu_lin_write_slow(struct cpu_x86 *cpu, uint64_t lin, unsigned size, uint64_t v,
                        unsigned acc)
{
    struct cpu_tlb_entry *e;

    if ((lin & 0xfff) + size > 4096) {
        unsigned first = 4096 - (lin & 0xfff);
        tlb_fill(cpu, lin, acc);
        tlb_fill(cpu, lin + first, acc);
        for (unsigned i = 0; i < size; i++)
            cpu_lin_write(cpu, lin + i, 1, v >> (8 * i), acc);
        return;
    }
    e = tlb_fill(cpu, lin, acc);
    if (e->host) {
        struct cpu_tlb_info *ti = cpu_tlb_info_of(cpu, e);
        memcpy(e->host + (lin & 0xfff), &v, size);
        if (ti->code) {
            code_write(cpu, ti->phys, size);
            ti->code = false;
            if (ti->perm & PERM_WD)
                e->tag_w = ti->lin | cpu->tlb_epoch;
        }
        return;
    }
    if (cpu->env.mmio_write)
        cpu->env.mmio_write(cpu->env.opaque, cpu_tlb_info_of(cpu, e)->phys | (lin & 0xfff), size, v & size_mask(size));
    /* a device write may raise an interrupt (self-IPI, ...): end the block
     * so it is seen before the next instruction boundary check */
    if (cpu->stop == -1)
        cpu->stop = -2;
}

uint8_t *cpu_lin_host_rw_slow(struct cpu_x86 *cpu, uint64_t lin, unsigned size, unsigned acc)
{
    struct cpu_tlb_entry *e;

    if ((lin & 0xfff) + size > 4096)
        return NULL;
    e = tlb_fill(cpu, lin, acc | ACC_W);
    if (!e->host || cpu_tlb_info_of(cpu, e)->code)
        return NULL;
    return e->host + (lin & 0xfff);
}

/* ---- segmentation --------------------------------------------------------- */

_Noreturn static void seg_fault(struct cpu_x86 *cpu, unsigned seg)
{
    cpu_raise(cpu, seg == S_SS ? EXC_SS : EXC_GP, 0);
}

uint64_t cpu_lin_slow(struct cpu_x86 *cpu, unsigned seg, uint64_t off, unsigned size, int acc)
{
    const struct cpu_seg *s = &cpu->seg[seg];
    uint64_t lin;

    if (cpu->code64) {
        lin = off + ((seg == S_FS || seg == S_GS) ? s->base : 0);
        if (!cpu_canonical(lin))
            seg_fault(cpu, seg);
        return lin;
    }
    if (cpu->seg_flat & (1u << seg))
        return (uint32_t)off;
    if (cpu_pe(cpu) && !cpu_vm86(cpu)) {
        unsigned type = SEGF_TYPE(s->flags);
        if (!(s->flags & SEGF_P))
            seg_fault(cpu, seg);
        if (acc == ACC_W && ((type & 8) || !(type & 2)))
            seg_fault(cpu, seg);
        if (acc == ACC_R && (type & 8) && !(type & 2))
            seg_fault(cpu, seg);
        if (!(type & 8) && (type & 4)) {
            uint64_t top = (s->flags & SEGF_DB) ? 0xffffffffull : 0xffff;
            if (off <= s->limit || off + size - 1 > top)
                seg_fault(cpu, seg);
        } else if (off + size - 1 > s->limit) {
            seg_fault(cpu, seg);
        }
    } else if (off + size - 1 > s->limit) {
        seg_fault(cpu, seg);
    }
    return (uint32_t)(s->base + off);
}

/* ---- stack ----------------------------------------------------------------- */

void cpu_push(struct cpu_x86 *cpu, unsigned size, uint64_t v)
{
    unsigned ss = cpu_stack_size(cpu);
    uint64_t sp = (cpu->r[R_SP] - size) & size_mask(ss);
    cpu_write_mem(cpu, S_SS, sp, size, v);
    cpu_set_reg(cpu, R_SP, ss, sp);
}

uint64_t cpu_pop(struct cpu_x86 *cpu, unsigned size)
{
    unsigned ss = cpu_stack_size(cpu);
    uint64_t sp = cpu->r[R_SP] & size_mask(ss);
    uint64_t v = cpu_read_mem(cpu, S_SS, sp, size);
    cpu_set_reg(cpu, R_SP, ss, sp + size);
    return v;
}

uint64_t cpu_stack_peek(struct cpu_x86 *cpu, unsigned size, uint64_t off)
{
    unsigned ss = cpu_stack_size(cpu);
    uint64_t sp = (cpu->r[R_SP] + off) & size_mask(ss);
    return cpu_read_mem(cpu, S_SS, sp, size);
}

uint64_t cpu_translate_exec(struct cpu_x86 *cpu, uint64_t lin)
{
    struct cpu_tlb_entry *e = tlb_fill(cpu, lin, ACC_X);
    return cpu_tlb_info_of(cpu, e)->phys | (lin & 0xfff);
}

uint8_t *cpu_lin_host_r(struct cpu_x86 *cpu, uint64_t lin, unsigned acc)
{
    struct cpu_tlb_entry *e = tlb_fill(cpu, lin, acc & ~3u);
    return e->host ? e->host + (lin & 0xfff) : NULL;
}
