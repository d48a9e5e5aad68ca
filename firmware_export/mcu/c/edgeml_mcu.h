/* edgeml's bare-metal support for the QEMU Cortex-M images: semihosting output and exit, SysTick,
   stack painting. Part of edgeml (firmware_export/mcu/c), used only by the benchmark harness. */
#ifndef EDGEML_MCU_H
#define EDGEML_MCU_H

#include <stdint.h>

/* Exit status of the fault handler: a HardFault (or an escalated MemManage/Bus/Usage fault). */
#define EDGEML_FAULT_STATUS 250
/* Word written over the free stack at reset and before each measured call. */
#define EDGEML_STACK_PAINT 0xC5AC5AC5u

/* Semihosting (Arm "Semihosting for AArch32 and AArch64", BKPT 0xAB on M-profile). */
void edgeml_write(const char *text);                 /* SYS_WRITE0: a NUL-terminated string */
void edgeml_exit(int status) __attribute__((noreturn)); /* SYS_EXIT_EXTENDED: QEMU exits with status */

/* SysTick as a free-running 24-bit down-counter clocked by the core (CLKSOURCE=1, no interrupt). */
void edgeml_systick_start(void);
uint32_t edgeml_systick_now(void);
/* Ticks from start to end of a down-counter (modulo 2^24: one region must stay under 2^24 ticks). */
#define EDGEML_TICKS_BETWEEN(start, end) (((start) - (end)) & 0x00FFFFFFu)

/* Stack painting: paint the free stack below the caller's frame, then the bytes used below sp since. */
uintptr_t edgeml_stack_pointer(void);
void edgeml_stack_paint_below(uintptr_t sp);
uint32_t edgeml_stack_used_below(uintptr_t sp);
/* Bytes of stack used since reset, from the top of the stack (the whole program's peak). */
uint32_t edgeml_stack_peak(void);

#endif /* EDGEML_MCU_H */
