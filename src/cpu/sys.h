/* System-level helpers shared by seg.c, exc.c and task.c: TSS stacks,
 * hardware task switches and call gates (legacy protected mode; call gates
 * also in long mode). */
#ifndef VK_CPU_SYS_H
#define VK_CPU_SYS_H

#include "cpu_int.h"

/* Stack for privilege level `dpl` from the current TSS (16- or 32-bit;
 * 64-bit TSS: RSP0-2); #TS(TR) if the TSS is too short. */
void cpu_tss_stack(struct cpu_x86 *cpu, unsigned dpl, uint16_t *ss, uint64_t *sp);

/* What started a task switch (SDM vol. 3 7.3). */
enum cpu_task_reason { TASK_JMP, TASK_CALL, TASK_IRET, TASK_INT };

/* Switch to the task whose TSS selector is `sel` (descriptor `d`, read from
 * the GDT by the caller). Saves the current task (RIP as the return point)
 * in the current TSS, loads the new one, pushes `err` on the new task's
 * stack when `has_err`. Faults before the switch are the old task's;
 * faults loading the new task's segments are reported in the new task.
 * `ext` is the EXT bit for error codes (1 for external events). */
void cpu_task_switch(struct cpu_x86 *cpu, uint16_t sel, uint64_t d, enum cpu_task_reason why,
                     bool has_err, uint32_t err, unsigned ext);

/* Far JMP/CALL through a system descriptor (TSS, task gate, call gate):
 * `d` is the descriptor of `sel`. Raises #GP(sel) for other types. */
void cpu_far_system(struct cpu_x86 *cpu, uint16_t sel, uint64_t d, bool call, unsigned opsize);

/* IRET with EFLAGS.NT in protected mode: return to the previous task. */
void cpu_task_return(struct cpu_x86 *cpu);

#endif
