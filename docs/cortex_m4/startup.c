/* Start-up for a Cortex-M4F (QEMU's mps2-an386 board, the docs' worked example):
 * the vector table, copying .data from flash to RAM, zeroing .bss, turning on the FPU,
 * then newlib's semihosting (rdimon: printf and exit go to the debugger or QEMU).
 *   arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -O2 \
 *       --specs=rdimon.specs -nostartfiles -T mps2_an386.ld startup.c main.c classic.c -lm
 * On a real board, drop initialise_monitor_handles() and retarget _write to a UART. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top__;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
void Reset_Handler(void);
void _init(void);
void _fini(void);

static void Default_Handler(void)
{
    for (;;) {}
}

/* The first 16 entries: initial stack pointer, reset, then the system exceptions. */
__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top__, Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, Default_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &__data_load__, *dst = &__data_start__;
    while (dst < &__data_end__) *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;  /* CPACR: CP10, CP11 full access (the FPU) */
    __asm volatile ("dsb\n\tisb");
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

/* -nostartfiles leaves out crti.o, which defines these; __libc_init_array calls them. */
void _init(void) {}
void _fini(void) {}
