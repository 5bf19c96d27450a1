/* MC146818 RTC register access, exposed for unit tests and firmware code
 * that fills in CMOS fields. Register accessors expect the caller to own
 * the device (the port handlers take its lock). */
#ifndef VK_VM_MC146818_H
#define VK_VM_MC146818_H

#include <stdint.h>

struct mc146818;
struct mc146818 *mc146818_new(void);
void mc146818_free(void *r);
uint8_t mc146818_read_reg(struct mc146818 *r, uint8_t idx);
void mc146818_write_reg(struct mc146818 *r, uint8_t idx, uint8_t v);
/* Bring the interrupt flags up to date and drive the IRQ line, as the
 * device's timer thread does at each event (for tests). */
void mc146818_poll(struct mc146818 *r);
/* Replace the host clock (ns, CLOCK_REALTIME by default; NULL restores it):
 * unit tests step time by hand. Restarts the periodic phase. */
void mc146818_set_clock(struct mc146818 *r, int64_t (*now_ns)(void *), void *opaque);
/* Fill the memory-size fields: RAM below 4 GiB (incl. the first MiB) and
 * above 4 GiB, bytes; ncpus goes to 0x5f. */
void mc146818_set_memory(struct mc146818 *r, uint64_t below_4g, uint64_t above_4g,
                         unsigned ncpus);

#endif
