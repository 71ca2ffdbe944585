/* tinyrepro: checks the qemu DUT's clock. Spins loops of exactly 2n instructions
 * (subs + bne) and prints what k_cycle_get_32() and the microsecond uptime saw, so a test
 * can compare them with n: with one instruction per cycle, cycles = 2n and us = 2n / MHz. */
#include <drivers/uart.h>
#include <kernel.h>
#include <stdint.h>

static void spin(uint32_t n) {
#if defined(__arm__)
  __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n)::"cc");
#else
  for (volatile uint32_t i = 0; i < n; i++) {
  }
#endif
}

int main(void) {
  const struct device* uart = device_get_binding("zephyr_console");
  /* Start on the host's first byte: output written before the host opens the pty is lost. */
  unsigned char go;
  while (uart_poll_in(uart, &go) != 0) k_msleep(1);
  static const uint32_t counts[] = {1000u, 100000u, 1000000u, 5000000u};
  for (unsigned k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
    uint32_t c0 = k_cycle_get_32();
    uint64_t u0 = tinyrepro_uptime_us();
    spin(counts[k]);
    uint32_t c1 = k_cycle_get_32();
    uint64_t u1 = tinyrepro_uptime_us();
    printk("calib n=%u insn=%u cycles=%u us=%u\r\n", (unsigned)counts[k], (unsigned)(2u * counts[k]),
           (unsigned)(c1 - c0), (unsigned)(u1 - u0));
  }
  printk("calib-done\r\n");
  for (;;) k_msleep(1000);
  return 0;
}
