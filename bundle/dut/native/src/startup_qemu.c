/* tinyrepro startup for the bare-metal Cortex-M4F image (QEMU mps2-an386): vector table,
 * FPU on, .data copied, .bss zeroed, C/C++ constructors, main(). */
#include <stdint.h>
#include <string.h>

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern int main(void);
extern void __libc_init_array(void);
void tinyrepro_timer_start(void);
void TIMER0_Handler(void);
void TIMER1_Handler(void);
void UART0RX_Handler(void);

void _init(void) {}
void _fini(void) {}

static void fault_print(const char* s) {
  volatile uint32_t* uart = (volatile uint32_t*)0x40004000u;
  uart[2] = 1u; /* TX on */
  while (*s) {
    while (uart[1] & 1u) {
    }
    uart[0] = (uint8_t)*s++;
  }
}

void Default_Handler(void) {
  fault_print("\r\ntinyrepro-qemu: unexpected exception\r\n");
  for (;;) {
  }
}

__attribute__((noreturn)) void Reset_Handler(void) {
  /* CP10/CP11 full access before any floating-point instruction */
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;
  __asm volatile("dsb\n isb" ::: "memory");
  uint32_t* src = &__data_load;
  for (uint32_t* dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  tinyrepro_timer_start();
  __libc_init_array();
  main();
  for (;;) {
  }
}

#define HANDLERS 16 + 32
__attribute__((section(".vectors"), used)) void (*const vector_table[HANDLERS])(void) = {
    (void (*)(void))(&__stack_top),
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVC */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
    [16 + 0] = UART0RX_Handler,
    [16 + 1] = Default_Handler,
    [16 + 8] = TIMER0_Handler,
    [16 + 9] = TIMER1_Handler,
};
