/* Tiny runtime for virtkit's freestanding test guests (no libc).
 *
 * Guests are Multiboot v1 ELF32 kernels (entry32.S) or one ELF64 kernel
 * entered through the Linux 64-bit boot protocol (entry64.S). They talk on
 * COM1 and report through isa-debug-exit: guest_exit(code) ends the VM with
 * status (code << 1) | 1, after a final "RESULT: PASS" or "RESULT: FAIL"
 * line on the serial port.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- port I/O and MMIO -------------------------------------------------- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* Wait for an interrupt with interrupts enabled, atomically. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

/* ---- runtime (runtime.c) ------------------------------------------------ */
void serial_init(void);
void serial_putc(char c);
int serial_getc(void);                  /* blocking */
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gvprintf(const char *fmt, va_list ap);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
const char *strstr_g(const char *hay, const char *needle);
/* "key=value" word from the command line, copied into buf; false if absent. */
bool cmdline_get(const char *cmdline, const char *key, char *buf, size_t len);
unsigned long parse_ulong(const char *s);
__attribute__((noreturn)) void guest_exit(int code);
/* Print "RESULT: PASS" / "RESULT: FAIL <why>" and exit 0 / 1. */
__attribute__((noreturn)) void guest_pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void guest_fail(const char *fmt, ...);

struct spinlock { volatile uint32_t v; };
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
static inline uint32_t atomic_inc(volatile uint32_t *p)
{
    uint32_t v = 1;
    __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) :: "memory");
    return v + 1;
}

/* The guest's entry point; returns the exit code. */
int guest_main(const char *cmdline);

/* ---- interrupts (idt32.c; 32-bit guests) -------------------------------- */
typedef void (*irq_handler)(unsigned vector);
void idt_init(void);
void idt_set_handler(unsigned vector, irq_handler h);

/* ---- platform helpers (hw.c) -------------------------------------------- */
#define LAPIC_BASE   0xFEE00000u
#define IOAPIC_BASE  0xFEC00000u
uint32_t lapic_read(unsigned reg);
void lapic_write(unsigned reg, uint32_t v);
void lapic_enable(void);
void lapic_eoi(void);
unsigned lapic_id(void);
void lapic_send_ipi(unsigned apic_id, uint32_t icr_low);
void ioapic_route(unsigned gsi, unsigned vector, bool level, bool active_low, unsigned dest);
void ioapic_mask(unsigned gsi);
void pic_disable(void);                 /* remap to 0x20/0x28 and mask all */
void pit_periodic(unsigned hz);
void pit_stop(void);

#define FWCFG_SIGNATURE 0x00
#define FWCFG_ID        0x01
#define FWCFG_RAM_SIZE  0x03
#define FWCFG_NB_CPUS   0x05
#define FWCFG_FILE_DIR  0x19
void fwcfg_read(uint16_t key, void *buf, size_t len);
/* Key of a file in the directory and its size, or -1. */
int fwcfg_find_file(const char *name, uint32_t *size);
/* DMA read of an item into buf; returns the control word left by the device. */
uint32_t fwcfg_dma_read(uint16_t key, void *buf, uint32_t len);

uint8_t cmos_read(uint8_t reg);
void cmos_write(uint8_t reg, uint8_t v);

/* ACPI: find a table by signature through the RSDP (0xE0000-0xFFFFF) and
 * the RSDT; checks checksums. NULL if absent or corrupt. */
const uint8_t *acpi_find(const char *sig);
bool acpi_checksum_ok(const void *p, size_t len);
struct acpi_pm_info {
    uint16_t pm1a_evt, pm1a_cnt, pm_tmr, gpe0;
    unsigned sci;
    uint8_t s5_typ;
    uint16_t reset_port;
    uint8_t reset_value;
    bool reset_supported;
};
bool acpi_pm_info(struct acpi_pm_info *pm);
/* Write SLP_TYP(S5) | SLP_EN; returns only if the machine did not stop. */
void acpi_poweroff(const struct acpi_pm_info *pm);
/* Number of enabled local APICs in the MADT and their IDs. */
unsigned acpi_madt_cpus(uint8_t *ids, unsigned max);

uint32_t pci_cfg_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off);
void pci_cfg_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v);

static inline uint32_t rd32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t rd16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint64_t rd64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint16_t bswap16(uint16_t v) { return __builtin_bswap16(v); }

#endif
