/* MC146818 RTC register access, exposed for unit tests and firmware code
 * that fills in CMOS fields. */
#ifndef VK_VM_MC146818_H
#define VK_VM_MC146818_H

#include <stdint.h>

struct mc146818;
struct mc146818 *mc146818_new(void);
void mc146818_free(void *r);
uint8_t mc146818_read_reg(struct mc146818 *r, uint8_t idx);
void mc146818_write_reg(struct mc146818 *r, uint8_t idx, uint8_t v);
/* Fill the memory-size fields: RAM below 4 GiB (incl. the first MiB) and
 * above 4 GiB, bytes; ncpus goes to 0x5f. */
void mc146818_set_memory(struct mc146818 *r, uint64_t below_4g, uint64_t above_4g,
                         unsigned ncpus);

#endif
