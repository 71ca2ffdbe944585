/* What a port (host or qemu) gives the board-independent shim. */
#ifndef TINYREPRO_PORT_H_
#define TINYREPRO_PORT_H_
#include <stdint.h>
void port_uart_init(void);
/* 1 and the byte if one is waiting, else 0; never blocks. */
int port_uart_read(uint8_t* c);
/* Blocks until a byte may be waiting (or a short while): polling without burning a core. */
void port_uart_wait(void);
void port_uart_write(uint8_t c);
/* Receive interrupts on/off: when on, the port calls tinyrepro_uart_isr() as bytes arrive. */
void port_uart_irq(int enable);
unsigned int port_irq_lock(void);
void port_irq_unlock(unsigned int key);
uint64_t port_uptime_us(void);
/* k_sleep and friends: let the host (or the emulated core) idle. */
void port_sleep_us(uint32_t us);
uint32_t port_cycles(void);
void port_reboot(void) __attribute__((noreturn));
/* Called by the port, in its "interrupt" context. */
void tinyrepro_uart_isr(void);
#endif
