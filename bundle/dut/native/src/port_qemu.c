/* tinyrepro qemu port: QEMU's mps2-an386 (Cortex-M4F) - CMSDK APB UART0 and TIMER0.
 *
 * Time is emulated: QEMU runs with -icount shift=S, so one instruction is 2^S ns of
 * virtual time, and TIMER0 counts virtual time at TINYREPRO_TIMER_HZ (the machine's
 * 25 MHz system clock). For a core that retires one instruction per cycle at
 * TINYREPRO_CPU_HZ:
 *   instructions = ticks * (1e9 / TIMER_HZ) / NS_PER_INSN
 *   microseconds = instructions / (CPU_HZ / 1e6)
 * The build passes the three numbers; bundle/dut/qemu.py (build_defines, timer_scaling) derives and checks them. */
#include <stdint.h>

#include "port.h"

#ifndef TINYREPRO_TIMER_HZ
#define TINYREPRO_TIMER_HZ 25000000u
#endif
#ifndef TINYREPRO_CPU_HZ
#define TINYREPRO_CPU_HZ 120000000u
#endif
#ifndef TINYREPRO_NS_PER_INSN
#define TINYREPRO_NS_PER_INSN 1u
#endif
#define INSN_PER_TICK ((1000000000u / TINYREPRO_TIMER_HZ) / TINYREPRO_NS_PER_INSN)
#define INSN_PER_US (TINYREPRO_CPU_HZ / 1000000u)

const uint32_t tinyrepro_cycles_per_sec = TINYREPRO_CPU_HZ;

#define REG(addr) (*(volatile uint32_t*)(addr))
#define UART0 0x40004000u
#define UART_DATA REG(UART0 + 0x00)
#define UART_STATE REG(UART0 + 0x04)
#define UART_CTRL REG(UART0 + 0x08)
#define UART_INT REG(UART0 + 0x0C)
#define UART_BAUDDIV REG(UART0 + 0x10)
#define TIMER0 0x40000000u
#define TIMER_CTRL REG(TIMER0 + 0x00)
#define TIMER_VALUE REG(TIMER0 + 0x04)
#define TIMER_RELOAD REG(TIMER0 + 0x08)
#define TIMER_INT REG(TIMER0 + 0x0C)
#define TIMER1 0x40001000u
#define TIMER1_CTRL REG(TIMER1 + 0x00)
#define TIMER1_VALUE REG(TIMER1 + 0x04)
#define TIMER1_RELOAD REG(TIMER1 + 0x08)
#define TIMER1_INT REG(TIMER1 + 0x0C)
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ICPR0 REG(0xE000E280u)
#define SCB_AIRCR REG(0xE000ED0Cu)
#define UART0_RX_IRQ 0
#define TIMER0_IRQ 8
#define TIMER1_IRQ 9

static volatile uint32_t timer_wraps;
static volatile int irq_mode;

void tinyrepro_timer_start(void) {
  TIMER_CTRL = 0;
  TIMER_RELOAD = 0xFFFFFFFFu;
  TIMER_VALUE = 0xFFFFFFFFu;
  TIMER_INT = 1;
  NVIC_ISER0 = 1u << TIMER0_IRQ;
  TIMER_CTRL = 1u | (1u << 3); /* enable, interrupt on wrap */
}

void TIMER0_Handler(void) {
  TIMER_INT = 1;
  timer_wraps++;
}

static uint64_t ticks(void) {
  unsigned int key = port_irq_lock();
  uint32_t wraps = timer_wraps;
  uint32_t value = TIMER_VALUE;
  if (TIMER_INT & 1u) { /* wrapped, not yet counted: read again after the wrap */
    value = TIMER_VALUE;
    wraps++;
  }
  port_irq_unlock(key);
  return ((uint64_t)wraps << 32) + (0xFFFFFFFFu - value);
}

uint64_t port_uptime_us(void) { return ticks() * INSN_PER_TICK / INSN_PER_US; }
uint32_t port_cycles(void) { return (uint32_t)(ticks() * INSN_PER_TICK); }
/* Sleep on TIMER1 as a one-shot alarm with WFI, so QEMU idles instead of spinning; UART
 * interrupts are served meanwhile. */
static volatile int alarm_fired;

void TIMER1_Handler(void) {
  TIMER1_INT = 1;
  TIMER1_CTRL = 0;
  alarm_fired = 1;
}

void port_sleep_us(uint32_t us) {
  uint64_t ticks = (uint64_t)us * INSN_PER_US / INSN_PER_TICK;
  if (ticks == 0) return;
  if (ticks > 0xFFFFFFFFu) ticks = 0xFFFFFFFFu;
  alarm_fired = 0;
  TIMER1_CTRL = 0;
  TIMER1_INT = 1;
  TIMER1_RELOAD = (uint32_t)ticks;
  TIMER1_VALUE = (uint32_t)ticks;
  NVIC_ISER0 = 1u << TIMER1_IRQ;
  TIMER1_CTRL = 1u | (1u << 3);
  while (!alarm_fired) {
    __asm volatile("cpsid i" ::: "memory");
    if (!alarm_fired) __asm volatile("wfi");
    __asm volatile("cpsie i" ::: "memory"); /* a pending interrupt is taken here */
  }
}

void port_uart_init(void) {
  UART_BAUDDIV = TINYREPRO_TIMER_HZ / 115200u;
  UART_CTRL = 1u | 2u | (1u << 3); /* TX, RX, RX interrupt (wakes WFI) */
  NVIC_ISER0 = 1u << UART0_RX_IRQ;
}

int port_uart_read(uint8_t* c) {
  if (!(UART_STATE & 2u)) return 0;
  *c = (uint8_t)UART_DATA;
  return 1;
}

void port_uart_wait(void) {
  __asm volatile("cpsid i" ::: "memory");
  if (!(UART_STATE & 2u)) __asm volatile("wfi");
  __asm volatile("cpsie i" ::: "memory");
}

void port_uart_write(uint8_t c) {
  while (UART_STATE & 1u) {
  }
  UART_DATA = c;
}

void UART0RX_Handler(void) {
  UART_INT = 2u;
  NVIC_ICPR0 = 1u << UART0_RX_IRQ;
  if (irq_mode && (UART_STATE & 2u)) tinyrepro_uart_isr();
}

void port_uart_irq(int enable) { irq_mode = enable; }

unsigned int port_irq_lock(void) {
  unsigned int primask;
  __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
  return primask;
}

void port_irq_unlock(unsigned int key) {
  if (!(key & 1u)) __asm volatile("cpsie i" ::: "memory");
}

void port_reboot(void) {
  while (UART_STATE & 1u) {
  }
  SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ */
  for (;;) {
  }
}
