/* edgeml's start-up code for the QEMU Cortex-M images: vector table, reset handler (.data copy, .bss
   zeroing, FPU enable, stack painting), fault handler, semihosting, SysTick and stack measurement.
   Register addresses: Armv7-M / Armv6-M Architecture Reference Manuals (SysTick at 0xE000E010, CPACR at
   0xE000ED88); semihosting operation numbers: Arm's "Semihosting for AArch32 and AArch64" 2.0. */
#include "edgeml_mcu.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _stack_bottom[], _stack_top[];
int main(void);

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
/* Words left unpainted below the current stack pointer (the painting loop's own frame). */
#define PAINT_MARGIN_WORDS 16

static int semihost(int operation, const void *argument)
{
    register int r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void edgeml_write(const char *text)
{
    (void)semihost(SYS_WRITE0, text);
}

void edgeml_exit(int status)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    (void)semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

void edgeml_systick_start(void)
{
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 0x5u; /* ENABLE | CLKSOURCE (processor clock), no TICKINT */
}

uint32_t edgeml_systick_now(void)
{
    return SYST_CVR;
}

uintptr_t edgeml_stack_pointer(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void edgeml_stack_paint_below(uintptr_t sp)
{
    volatile uint32_t *word = (volatile uint32_t *)_stack_bottom;
    volatile uint32_t *end = (volatile uint32_t *)(sp & ~(uintptr_t)3u) - PAINT_MARGIN_WORDS;
    while (word < end) {
        *word++ = EDGEML_STACK_PAINT;
    }
}

static uintptr_t lowest_used_address(void)
{
    const volatile uint32_t *word = (const volatile uint32_t *)_stack_bottom;
    while (word < (const volatile uint32_t *)_stack_top && *word == EDGEML_STACK_PAINT) {
        ++word;
    }
    return (uintptr_t)word;
}

uint32_t edgeml_stack_used_below(uintptr_t sp)
{
    const uintptr_t lowest = lowest_used_address();
    return lowest < sp ? (uint32_t)(sp - lowest) : 0u;
}

uint32_t edgeml_stack_peak(void)
{
    return (uint32_t)((uintptr_t)_stack_top - lowest_used_address());
}

void edgeml_fault(void)
{
    edgeml_write("edgeml: fault\n");
    edgeml_exit(EDGEML_FAULT_STATUS);
}

void edgeml_reset(void)
{
    volatile uint32_t *source = _sidata;
    volatile uint32_t *target = _sdata;
    while (target < _edata) {
        *target++ = *source++;
    }
    for (target = _sbss; target < _ebss;) {
        *target++ = 0u;
    }
#if defined(__ARM_FP)
    CPACR |= 0xFu << 20; /* CP10 and CP11: full access, before any floating-point instruction */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    edgeml_stack_paint_below(edgeml_stack_pointer());
    edgeml_exit(main());
}

typedef void (*vector_t)(void);

/* Initial stack pointer, reset, then NMI..SysTick: every fault and unexpected interrupt exits. */
__attribute__((section(".isr_vector"), used)) static const vector_t vector_table[16] = {
    (vector_t)_stack_top, edgeml_reset, edgeml_fault, edgeml_fault, edgeml_fault, edgeml_fault, edgeml_fault,
    0, 0, 0, 0, edgeml_fault, edgeml_fault, 0, edgeml_fault, edgeml_fault,
};
