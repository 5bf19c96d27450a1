/* CPUID: the one table of what this CPU advertises.
 *
 * Model "virtkit-tcg": GenuineIntel, family 6. Feature bits of the x87 and
 * SSE families are gated on what their files provide (cpu_x87_present,
 * cpu_sse_level, set by x87.c/sse*.c; weak defaults in weak.c say "none"),
 * so CPUID never advertises an instruction that would #UD. */
#include <string.h>
#include "simd.h"

const char cpu_x86_model_name[] = "virtkit-tcg";

/* cpu_sse_level: 0 none, 1 SSE, 2 SSE2, 3 SSE3, 4 SSSE3, 5 SSE4.1, 6 SSE4.2 */
extern const bool cpu_x87_present;
extern const int cpu_sse_level;

#define B(n) (1u << (n))

void cpu_cpuid_fill(const struct cpu_x86 *cpu, uint32_t leaf, uint32_t sub, uint32_t o[4])
{
    int sse = cpu_sse_level;
    memset(o, 0, 4 * sizeof(uint32_t));
    switch (leaf) {
    case 0:
        o[0] = 0x16;
        memcpy(&o[1], "Genu", 4);
        memcpy(&o[3], "ineI", 4);
        memcpy(&o[2], "ntel", 4);
        break;
    case 1:
        o[0] = 0x000006f1;   /* family 6, model 15, stepping 1 */
        o[1] = (cpu->index << 24) | (1u << 16) | (8u << 8);
        o[2] = B(13) /* CX16 */ | B(22) /* MOVBE */ | B(23) /* POPCNT */ | B(31) /* hypervisor */;
        if (sse >= 3) o[2] |= B(0);
        if (sse >= 6) o[2] |= B(1);                    /* PCLMULQDQ (sse41.c) */
        if (sse >= 4) o[2] |= B(9);
        if (sse >= 5) o[2] |= B(19);
        if (sse >= 6) o[2] |= B(20);
        if (sse >= 2) o[2] |= B(26);                   /* XSAVE (xsave.c) */
        if (cpu->cr4 & CR4_OSXSAVE) o[2] |= B(27);     /* OSXSAVE */
        o[3] = B(2) /* DE */ | B(3) /* PSE */ | B(4) /* TSC */ | B(5) /* MSR */ |
               B(6) /* PAE */ | B(8) /* CX8 */ | B(9) /* APIC */ | B(11) /* SEP */ |
               B(12) /* MTRR */ | B(13) /* PGE */ | B(15) /* CMOV */ | B(16) /* PAT */ |
               B(17) /* PSE36 */ | B(19) /* CLFSH */;
        if (cpu_x87_present) o[3] |= B(0);
        if (sse >= 1) o[3] |= B(23) | B(24) | B(25);   /* MMX FXSR SSE */
        if (sse >= 2) o[3] |= B(26);
        break;
    case 7:
        if (sub == 0) {
            o[1] = B(0) /* FSGSBASE */ | B(1) /* TSC_ADJUST (msr.c) */;
            o[3] = B(29);   /* IA32_ARCH_CAPABILITIES (msr.c): nothing speculates */
        }
        break;
    case 0xd:
        /* XSAVE: components 0 (x87) and 1 (SSE), standard form only */
        if (sse < 2)
            break;
        if (sub == 0) {
            o[0] = (uint32_t)XCR0_SUPPORTED;
            o[1] = 576;     /* size for the components enabled in XCR0 */
            o[2] = 576;     /* size for all supported components */
        } else if (sub == 1) {
            o[0] = B(0);    /* XSAVEOPT */
        }
        break;
    case 0x15:
        /* TSC = crystal * ebx / eax. The crystal is 1 GHz: Linux takes it
         * as the LAPIC timer clock (tcg.c runs the timer at ECX), and a
         * fast one gives a fine timer resolution. */
        o[0] = 1000;
        o[1] = (uint32_t)(cpu->env.tsc_hz / 1000000u);
        o[2] = 1000000000;
        break;
    case 0x16:
        o[0] = o[1] = (uint32_t)(cpu->env.tsc_hz / 1000000u);
        o[2] = 100;
        break;
    case 0x40000000:
        o[0] = 0x40000010;
        memcpy(&o[1], "virt", 4);
        memcpy(&o[2], "kitv", 4);
        memcpy(&o[3], "kitv", 4);
        break;
    case 0x40000010:
        o[0] = (uint32_t)(cpu->env.tsc_hz / 1000u);   /* TSC kHz */
        o[1] = 1000000;                                /* APIC bus kHz */
        break;
    case 0x80000000:
        o[0] = 0x80000008;
        memcpy(&o[1], "Genu", 4);
        memcpy(&o[3], "ineI", 4);
        memcpy(&o[2], "ntel", 4);
        break;
    case 0x80000001:
        o[2] = B(0) /* LAHF/SAHF in 64-bit */ | B(5) /* LZCNT */;
        o[3] = B(11) /* SYSCALL */ | B(20) /* NX */ | B(26) /* 1G pages */ |
               B(27) /* RDTSCP */ | B(29) /* LM */;
        break;
    case 0x80000002: case 0x80000003: case 0x80000004: {
        static const char brand[48] = "virtkit-tcg software CPU";
        memcpy(o, brand + 16 * (leaf - 0x80000002), 16);
        break;
    }
    case 0x80000007:
        o[3] = B(8);   /* invariant TSC */
        break;
    case 0x80000008:
        o[0] = 0x3027;   /* 39-bit physical, 48-bit linear */
        break;
    default:
        break;
    }
}
