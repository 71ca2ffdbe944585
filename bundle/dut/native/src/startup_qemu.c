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

/* Arm semihosting (QEMU -semihosting-config enable=on): SYS_WRITE0 prints on QEMU's stdout,
 * SYS_EXIT ends QEMU with a non-zero status, so a crashed image is a process that exits and
 * says why, as a crashed host program is (bundle/dut/ptyproc.py reports both). */
static void semihost(uint32_t op, const void* arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static char* hex32(char* out, uint32_t v) {
  for (int i = 7; i >= 0; i--) *out++ = "0123456789abcdef"[(v >> (4 * i)) & 0xFu];
  return out;
}

static void fatal(const char* what, uint32_t pc, uint32_t cfsr) {
  char msg[96];
  char* p = msg;
  for (const char* s = "tinyrepro-qemu: "; *s;) *p++ = *s++;
  for (const char* s = what; *s && p < msg + 48;) *p++ = *s++;
  for (const char* s = " pc=0x"; *s;) *p++ = *s++;
  p = hex32(p, pc);
  for (const char* s = " cfsr=0x"; *s;) *p++ = *s++;
  p = hex32(p, cfsr);
  *p++ = '\n';
  *p = 0;
  fault_print("\r\n");
  fault_print(msg);
  semihost(0x04u, msg);                         /* SYS_WRITE0 */
  semihost(0x18u, (const void*)0x20024u);       /* SYS_EXIT, ADP_Stopped_RunTimeErrorUnknown */
  for (;;) {
  }
}

void Default_Handler(void) { fatal("unexpected exception", 0, *(volatile uint32_t*)0xE000ED28u); }

/* Board peripheral registers the published sources write by address, absent on mps2-an386:
 * closed/OctoML/code/microtvm_cmsis_nn/NRF5340DK/<benchmark>/src/main.cpp (tiny_results_v1.0
 * @ c7761cf8) sets the nRF5340 CLOCK peripheral's HFCLKCTRL (0x50005558) when NRF_BOARD == 1.
 * QEMU raises a precise bus fault for an access to unmapped memory; for the nRF5340's
 * peripheral space (0x50000000-0x5FFFFFFF, secure and non-secure APB) the handler skips the
 * instruction, so the write is dropped as on a board whose register ignores it. Anything else
 * is a real fault. */
#define CFSR (*(volatile uint32_t*)0xE000ED28u)
#define HFSR (*(volatile uint32_t*)0xE000ED2Cu)
#define BFAR (*(volatile uint32_t*)0xE000ED38u)
#define PRECISERR (1u << 9)
#define BFARVALID (1u << 15)
volatile uint32_t tinyrepro_board_accesses_dropped;

void tinyrepro_fault(uint32_t* frame) {
  uint32_t cfsr = CFSR;
  uint32_t addr = BFAR;
  if ((cfsr & (PRECISERR | BFARVALID)) == (PRECISERR | BFARVALID) && addr >= 0x50000000u && addr < 0x60000000u) {
    uint16_t first = *(const uint16_t*)frame[6];               /* stacked PC: the faulting instruction */
    frame[6] += ((first >> 11) >= 0x1Du) ? 4u : 2u;              /* 32-bit Thumb-2 encodings: 0b11101.. 0b11111.. */
    CFSR = cfsr;                                                /* write-one-to-clear */
    HFSR = HFSR;
    tinyrepro_board_accesses_dropped++;
    return;
  }
  fatal("hard fault", frame[6], cfsr);
}

__attribute__((naked)) void HardFault_Handler(void) {
  __asm volatile(
      "tst lr, #4\n"
      "ite eq\n"
      "mrseq r0, msp\n"
      "mrsne r0, psp\n"
      "b tinyrepro_fault\n");
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
    HardFault_Handler,
    Default_Handler, /* MemManage */
    HardFault_Handler, /* BusFault (escalates to HardFault while disabled in SHCSR) */
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
