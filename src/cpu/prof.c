/* Guest profiler (a debugging aid for speed work): with
 * VIRTKIT_CPU_PROF=PREFIX set, each vCPU gets a sampler thread that reads
 * the vCPU's current instruction address every 100 µs of host time, and
 * writes "count cpl:linear-rip" lines, most frequent first, to
 * PREFIX.<vcpu index> when the vCPU is destroyed. The read is racy by
 * design (relaxed loads of fields the vCPU thread owns): a sample may be
 * a few instructions off, which a profile does not mind. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cpu_int.h"

#define PROF_HASH (1u << 20)

struct cpu_prof {
    struct cpu_x86 *cpu;
    pthread_t thread;
    _Atomic bool stop;
    char path[256];
    struct { uint64_t key; uint64_t n; } *tab;   /* open addressing */
};

static void prof_add(struct cpu_prof *p, uint64_t key)
{
    unsigned h = (unsigned)((key * 0x9e3779b97f4a7c15ull) >> 44) & (PROF_HASH - 1);
    for (unsigned i = 0; i < PROF_HASH; i++, h = (h + 1) & (PROF_HASH - 1)) {
        if (p->tab[h].key == key || !p->tab[h].n) {
            p->tab[h].key = key;
            p->tab[h].n++;
            return;
        }
    }
}

static void *prof_main(void *arg)
{
    struct cpu_prof *p = arg;
    struct timespec ts = { 0, 100000 };
    while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
        nanosleep(&ts, NULL);
        uint64_t rip = __atomic_load_n(&p->cpu->insn_rip, __ATOMIC_RELAXED);
        uint64_t base = __atomic_load_n(&p->cpu->seg[S_CS].base, __ATOMIC_RELAXED);
        uint8_t cpl = __atomic_load_n(&p->cpu->cpl, __ATOMIC_RELAXED);
        uint8_t halted = __atomic_load_n(&p->cpu->halted, __ATOMIC_RELAXED);
        /* bit 63 of the key is lost to the cpl; linear addresses of
         * kernel code keep their meaning in the low 48 bits */
        uint64_t lin = (rip + base) & 0xffffffffffffull;
        prof_add(p, halted ? 1ull << 62 : ((uint64_t)cpl << 60) | lin);
    }
    return NULL;
}

static int cmp_n(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[1] < y[1] ? 1 : x[1] > y[1] ? -1 : 0;
}

struct cpu_prof *cpu_prof_start(struct cpu_x86 *cpu)
{
    const char *prefix = getenv("VIRTKIT_CPU_PROF");
    if (!prefix || !*prefix)
        return NULL;
    struct cpu_prof *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->tab = calloc(PROF_HASH, sizeof(*p->tab));
    if (!p->tab) {
        free(p);
        return NULL;
    }
    p->cpu = cpu;
    snprintf(p->path, sizeof(p->path), "%s.%u", prefix, cpu->index);
    if (pthread_create(&p->thread, NULL, prof_main, p)) {
        free(p->tab);
        free(p);
        return NULL;
    }
    return p;
}

void cpu_prof_stop(struct cpu_prof *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    size_t n = 0;
    for (unsigned i = 0; i < PROF_HASH; i++)
        if (p->tab[i].n)
            p->tab[n++] = p->tab[i];
    qsort(p->tab, n, sizeof(*p->tab), cmp_n);
    FILE *f = fopen(p->path, "w");
    if (f) {
        for (size_t i = 0; i < n; i++) {
            uint64_t k = p->tab[i].key;
            if (k == 1ull << 62)
                fprintf(f, "%llu halted\n", (unsigned long long)p->tab[i].n);
            else
                fprintf(f, "%llu %u:%llx\n", (unsigned long long)p->tab[i].n,
                        (unsigned)(k >> 60) & 3,
                        (unsigned long long)(k & 0xffffffffffffull));
        }
        fclose(f);
    }
    free(p->tab);
    free(p);
}
