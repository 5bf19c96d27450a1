/* Decoded-block cache and code-page tracking.
 *
 * Blocks are keyed by (physical address, decode mode) in a per-vCPU hash
 * table and allocated from a per-vCPU arena; when the arena fills, the
 * whole cache is dropped (cheap, and rare). A block never spans a page
 * except through its first instruction, and those are not cached.
 *
 * Code pages are shared by the vCPUs of a machine: a record per physical
 * page that holds decoded code, with a generation counter bumped by every
 * write to the page (soft-TLB slow path, DMA via cpu_x86_invalidate_code).
 * A block remembers the generation it was decoded at and is re-decoded when
 * it changed. A new code page bumps the shared epoch, which makes every vCPU
 * drop its TLB so no fast write tag to that page survives.
 *
 * A translator to host code can hang its output off struct cpu_block and
 * use the same keys and invalidation. */
#include <pthread.h>
#include <stdlib.h>
#include "cpu_int.h"

#define CP_HASH 4096
#define BC_HASH 65536
#define BC_ARENA (64u << 20)

struct cpu_x86_shared {
    pthread_mutex_t lock;
    struct cpu_code_page *hash[CP_HASH];
    _Atomic uint64_t code_epoch;
    _Atomic uint64_t write_epoch;   /* bumped after any code page write */
};

struct cpu_x86_shared *cpu_x86_shared_create(void)
{
    struct cpu_x86_shared *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return NULL;
    pthread_mutex_init(&sh->lock, NULL);
    return sh;
}

void cpu_x86_shared_destroy(struct cpu_x86_shared *sh)
{
    if (!sh)
        return;
    for (unsigned i = 0; i < CP_HASH; i++) {
        struct cpu_code_page *p = sh->hash[i], *n;
        for (; p; p = n) {
            n = p->next;
            free(p);
        }
    }
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

uint64_t cpu_shared_code_epoch(struct cpu_x86_shared *sh)
{
    return atomic_load_explicit(&sh->code_epoch, memory_order_acquire);
}

_Atomic uint64_t *cpu_shared_code_epoch_ptr(struct cpu_x86_shared *sh)
{
    return &sh->code_epoch;
}

_Atomic uint64_t *cpu_shared_write_epoch_ptr(struct cpu_x86_shared *sh)
{
    return &sh->write_epoch;
}

void cpu_code_page_written(struct cpu_x86_shared *sh, struct cpu_code_page *p)
{
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    atomic_fetch_add_explicit(&sh->write_epoch, 1, memory_order_release);
}

struct cpu_code_page *cpu_code_page_get(struct cpu_x86_shared *sh, uint64_t pfn, bool create)
{
    unsigned h = (unsigned)(pfn * 0x9e3779b1u) % CP_HASH;
    struct cpu_code_page *p;

    /* Lock-free read: records are only ever prepended and never freed
     * while vCPUs run. */
    for (p = __atomic_load_n(&sh->hash[h], __ATOMIC_ACQUIRE); p; p = p->next)
        if (p->pfn == pfn)
            break;
    if (p || !create) {
        if (p && create && !atomic_load_explicit(&p->active, memory_order_acquire)) {
            /* code again: every vCPU must drop fast write tags to it */
            atomic_store_explicit(&p->active, true, memory_order_release);
            atomic_fetch_add(&sh->code_epoch, 1);
        }
        return p;
    }
    pthread_mutex_lock(&sh->lock);
    for (p = sh->hash[h]; p; p = p->next)
        if (p->pfn == pfn)
            break;
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (p) {
            p->pfn = pfn;
            atomic_store(&p->active, true);
            p->next = sh->hash[h];
            __atomic_store_n(&sh->hash[h], p, __ATOMIC_RELEASE);
            atomic_fetch_add(&sh->code_epoch, 1);
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return p;
}

void cpu_x86_invalidate_code(struct cpu_x86_shared *sh, uint64_t gpa, uint64_t len)
{
    if (!sh || !len)
        return;
    for (uint64_t pfn = gpa >> 12; pfn <= (gpa + len - 1) >> 12; pfn++) {
        struct cpu_code_page *p = cpu_code_page_get(sh, pfn, false);
        if (p)
            cpu_code_page_written(sh, p);
    }
}

int cpu_block_cache_init(struct cpu_x86 *cpu)
{
    cpu->bc_hash = calloc(BC_HASH, sizeof(*cpu->bc_hash));
    cpu->bc_arena = malloc(BC_ARENA);
    if (!cpu->bc_hash || !cpu->bc_arena)
        return -1;
    cpu->bc_arena_size = BC_ARENA;
    cpu->bc_arena_used = 0;
    return cpu_jit_init(cpu);
}

void cpu_block_cache_free(struct cpu_x86 *cpu)
{
    free(cpu->bc_hash);
    free(cpu->bc_arena);
    cpu_jit_free(cpu);
    cpu->bc_hash = NULL;
    cpu->bc_arena = NULL;
}

void cpu_block_cache_flush(struct cpu_x86 *cpu)
{
    memset(cpu->bc_hash, 0, BC_HASH * sizeof(*cpu->bc_hash));
    cpu->bc_arena_used = 0;
    memset(cpu->jc, 0, sizeof(cpu->jc));   /* it points into the arena */
    cpu->chain_from = NULL;
    cpu->bc_flushes++;
    cpu->st.flushes++;
    cpu->jit_used = 0;
    cpu->jit_full = false;
}

static unsigned bc_hash(uint64_t phys, uint32_t mode)
{
    return (unsigned)(((phys + mode) * 0x9e3779b97f4a7c15ull) >> 48) & (BC_HASH - 1);
}

/* Scratch block for instructions that are not cached (page-crossing). */
static _Thread_local struct {
    struct cpu_block b;
    struct cpu_insn in[1];
} scratch;

struct cpu_block *cpu_block_get(struct cpu_x86 *cpu, uint64_t lin)
{
    uint32_t mode = cpu_decode_mode(cpu);
    uint64_t phys = cpu_translate_exec(cpu, lin);
    unsigned h = bc_hash(phys, mode);
    struct cpu_block *b, **pp;

    for (pp = &cpu->bc_hash[h]; (b = *pp); pp = &b->next) {
        if (b->phys == phys && b->mode == mode) {
            if (atomic_load_explicit(&b->page->gen, memory_order_acquire) == b->gen)
                return b;
            *pp = b->next;   /* stale: unlink and decode again */
            break;
        }
    }

    /* first instruction; a page-crossing one is decoded fresh every time */
    struct cpu_insn first;
    cpu_decode(cpu, lin, &first);
    if ((lin & 0xfff) + first.len > 4096) {
        scratch.b.ninsns = 1;
        scratch.b.phys = phys;
        scratch.b.page = NULL;
        scratch.b.mode = mode;
        scratch.b.jit = NULL;
        scratch.in[0] = first;
        return &scratch.b;
    }

    size_t need = sizeof(struct cpu_block) + BLOCK_MAX_INSNS * sizeof(struct cpu_insn);
    if (cpu->bc_arena_used + need > cpu->bc_arena_size)
        cpu_block_cache_flush(cpu);
    b = (struct cpu_block *)((uint8_t *)cpu->bc_arena + cpu->bc_arena_used);
    b->phys = phys;
    b->lin = lin;
    b->mode = mode;
    b->host_page = cpu_lin_host_r(cpu, lin & ~0xfffull, ACC_X);
    b->succ[0] = b->succ[1] = NULL;
    b->succ_lin[0] = b->succ_lin[1] = 1;   /* never a valid target */
    b->execs = 0;
    b->jit = NULL;
    b->link[0].code = b->link[1].code = NULL;
    b->page = cpu_code_page_get(cpu->shared, phys >> 12, true);
    if (!b->page)
        cpu_fail(cpu, "out of memory for code page tracking");
    b->gen = atomic_load_explicit(&b->page->gen, memory_order_acquire);
    b->insns[0] = first;
    b->ninsns = 1;
    cpu->st.decoded++;
    uint64_t a = lin + first.len;
    while (b->ninsns < BLOCK_MAX_INSNS && !cpu_decode_ends_block(&b->insns[b->ninsns - 1])) {
        /* stay inside the page: only the first instruction may fault */
        if ((a & 0xfff) > 4096 - 15)
            break;
        cpu_decode(cpu, a, &b->insns[b->ninsns]);
        a += b->insns[b->ninsns].len;
        b->ninsns++;
    }
    cpu->bc_arena_used += (sizeof(struct cpu_block) + b->ninsns * sizeof(struct cpu_insn) + 15) & ~(size_t)15;
    b->next = cpu->bc_hash[h];
    cpu->bc_hash[h] = b;
    /* our own TLB may hold a fast write tag for this page */
    if (cpu->code_epoch != cpu_shared_code_epoch(cpu->shared)) {
        cpu->code_epoch = cpu_shared_code_epoch(cpu->shared);
        cpu_tlb_flush(cpu, true);
    }
    return b;
}
