/* tinyrepro: the board-independent part of the Zephyr shim (devices, ring buffer, printk).
 * Written for tinyrepro from the Zephyr 2.7 API documentation; behaviour that shows in the
 * EEMBC output (printk's %f rounding) follows the published OctoML logs. */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <device.h>
#include <drivers/gpio.h>
#include <drivers/uart.h>
#include <kernel.h>
#include <power/reboot.h>
#include <sys/printk.h>
#include <sys/ring_buffer.h>

#include "port.h"

/* -- devices ------------------------------------------------------------------------------ */
const struct device tinyrepro_console_uart = {"zephyr_console", TINYREPRO_DEV_UART};
static const struct device gpio_devices[] = {{"GPIOA", TINYREPRO_DEV_GPIO}, {"GPIOB", TINYREPRO_DEV_GPIO},
                                             {"GPIOC", TINYREPRO_DEV_GPIO}, {"GPIO_0", TINYREPRO_DEV_GPIO},
                                             {"GPIO_1", TINYREPRO_DEV_GPIO}};
static int uart_ready;

const struct device* device_get_binding(const char* name) {
  if (name == NULL) return NULL;
  for (size_t i = 0; i < sizeof(gpio_devices) / sizeof(gpio_devices[0]); i++) {
    if (strcmp(name, gpio_devices[i].name) == 0) return &gpio_devices[i];
  }
  /* One UART: whatever label the sources ask for (zephyr_console, UART_1, ...) is the console. */
  if (!uart_ready) {
    port_uart_init();
    uart_ready = 1;
  }
  return &tinyrepro_console_uart;
}

bool device_is_ready(const struct device* dev) { return dev != NULL; }

/* -- gpio: accepted, no pin to drive ------------------------------------------------------- */
int gpio_pin_configure(const struct device* port, gpio_pin_t pin, gpio_flags_t flags) {
  (void)port; (void)pin; (void)flags;
  return 0;
}
int gpio_pin_set(const struct device* port, gpio_pin_t pin, int value) {
  (void)port; (void)pin; (void)value;
  return 0;
}

/* -- uart ------------------------------------------------------------------------------------ */
static uart_irq_callback_user_data_t irq_cb;
static void* irq_user_data;
static int rx_irq_enabled;

static void uart_touch(void) {
  if (!uart_ready) {
    port_uart_init();
    uart_ready = 1;
  }
}

int uart_configure(const struct device* dev, const struct uart_config* cfg) {
  (void)dev; (void)cfg; /* a pty or an emulated UART has no line rate */
  uart_touch();
  return 0;
}

int uart_poll_in(const struct device* dev, unsigned char* p_char) {
  (void)dev;
  uart_touch();
  uint8_t c;
  if (port_uart_read(&c)) {
    *p_char = c;
    return 0;
  }
  port_uart_wait();
  return -1;
}

void uart_poll_out(const struct device* dev, unsigned char out_char) {
  (void)dev;
  uart_touch();
  port_uart_write(out_char);
}

int uart_fifo_read(const struct device* dev, uint8_t* rx_data, const int size) {
  (void)dev;
  int n = 0;
  while (n < size && port_uart_read(&rx_data[n])) n++;
  return n;
}

int uart_fifo_fill(const struct device* dev, const uint8_t* tx_data, int size) {
  for (int i = 0; i < size; i++) uart_poll_out(dev, tx_data[i]);
  return size;
}

void uart_irq_rx_enable(const struct device* dev) {
  (void)dev;
  uart_touch();
  rx_irq_enabled = 1;
  port_uart_irq(1);
}
void uart_irq_rx_disable(const struct device* dev) {
  (void)dev;
  rx_irq_enabled = 0;
  port_uart_irq(0);
}
void uart_irq_tx_enable(const struct device* dev) { (void)dev; }
void uart_irq_tx_disable(const struct device* dev) { (void)dev; }
int uart_irq_update(const struct device* dev) { (void)dev; return 1; }
/* The port only calls the ISR when a byte is waiting: pending and rx-ready are the same. */
int uart_irq_rx_ready(const struct device* dev) { (void)dev; return 1; }
int uart_irq_tx_ready(const struct device* dev) { (void)dev; return 1; }
static int isr_pending;
int uart_irq_is_pending(const struct device* dev) {
  (void)dev;
  int p = isr_pending;
  isr_pending = 0; /* one pass of the callback's loop per interrupt */
  return p;
}

void uart_irq_callback_user_data_set(const struct device* dev, uart_irq_callback_user_data_t cb,
                                     void* user_data) {
  (void)dev;
  irq_cb = cb;
  irq_user_data = user_data;
}

static uart_irq_callback_t irq_cb_plain;
static void plain_adapter(const struct device* dev, void* user_data) {
  (void)user_data;
  irq_cb_plain(dev);
}
void uart_irq_callback_set(const struct device* dev, uart_irq_callback_t cb) {
  irq_cb_plain = cb;
  uart_irq_callback_user_data_set(dev, plain_adapter, NULL);
}

void tinyrepro_uart_isr(void) {
  if (!rx_irq_enabled || irq_cb == NULL) return;
  isr_pending = 1;
  irq_cb(&tinyrepro_console_uart, irq_user_data);
}

/* -- kernel ------------------------------------------------------------------------------- */
uint64_t tinyrepro_uptime_us(void) { return port_uptime_us(); }
/* Zephyr's uptime is whole milliseconds, rounded down. */
int64_t k_uptime_get(void) { return (int64_t)(port_uptime_us() / 1000u); }
uint32_t k_uptime_get_32(void) { return (uint32_t)k_uptime_get(); }
uint32_t k_cycle_get_32(void) { return port_cycles(); }
uint32_t sys_clock_hw_cycles_per_sec(void) { return tinyrepro_cycles_per_sec; }

void k_busy_wait(uint32_t usec) {
  uint64_t end = port_uptime_us() + usec;
  while (port_uptime_us() < end) {
  }
}
int32_t k_usleep(int32_t us) {
  if (us > 0) port_sleep_us((uint32_t)us);
  return 0;
}
int32_t k_msleep(int32_t ms) { return k_usleep(ms * 1000); }
int32_t k_sleep(k_timeout_t t) {
  if (t.ticks > 0) port_sleep_us((uint32_t)t.ticks);
  return 0;
}
void k_yield(void) {}
unsigned int irq_lock(void) { return port_irq_lock(); }
void irq_unlock(unsigned int key) { port_irq_unlock(key); }

void k_timer_init(struct k_timer* t, k_timer_expiry_t expiry_fn, k_timer_stop_t stop_fn) {
  t->expiry_fn = expiry_fn;
  t->stop_fn = stop_fn;
  t->running = 0;
  t->started_us = 0;
}
void k_timer_start(struct k_timer* t, k_timeout_t duration, k_timeout_t period) {
  (void)duration; (void)period;
  t->started_us = port_uptime_us();
  t->running = 1;
}
void k_timer_stop(struct k_timer* t) {
  if (t->running && t->stop_fn) t->stop_fn(t);
  t->running = 0;
}
uint32_t k_timer_status_get(struct k_timer* t) { (void)t; return 0; }

void sys_reboot(int type) {
  (void)type;
  port_reboot();
}

/* -- ring buffer --------------------------------------------------------------------------- */
void ring_buf_init(struct ring_buf* b, uint32_t size, uint8_t* data) {
  b->head = b->tail = 0;
  b->size = size;
  b->buf = data;
}
void ring_buf_reset(struct ring_buf* b) { b->head = b->tail = 0; }
uint32_t ring_buf_capacity_get(struct ring_buf* b) { return b->size; }
uint32_t ring_buf_space_get(struct ring_buf* b) { return b->size - (b->head - b->tail); }
int ring_buf_is_empty(struct ring_buf* b) { return b->head == b->tail; }

uint32_t ring_buf_put(struct ring_buf* b, const uint8_t* data, uint32_t size) {
  uint32_t n = 0;
  while (n < size && b->head - b->tail < b->size) {
    b->buf[b->head % b->size] = data[n++];
    __atomic_thread_fence(__ATOMIC_RELEASE);
    b->head++;
  }
  return n;
}

uint32_t ring_buf_get(struct ring_buf* b, uint8_t* data, uint32_t size) {
  uint32_t n = 0;
  while (n < size && b->tail != b->head) {
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (data) data[n] = b->buf[b->tail % b->size];
    n++;
    b->tail++;
  }
  return n;
}

/* -- printk --------------------------------------------------------------------------------
 * Our own small formatter for what the harness prints: flags - 0 + space, width, precision,
 * lengths hh h l ll z j, conversions d i u x X o c s p f F %. %f rounds an exact tie toward
 * zero (0.0625 -> "0.062", 0.1875 -> "0.187"), as the published logs show Zephyr's did. */
struct out {
  char* buf;
  size_t size;
  size_t n;
};

static void put(struct out* o, char c) {
  if (o->n + 1 < o->size) o->buf[o->n] = c;
  o->n++;
}

static void put_padded(struct out* o, const char* body, size_t len, const char* prefix, int width,
                       int left, int zero) {
  size_t plen = strlen(prefix);
  int pad = width - (int)(len + plen);
  if (!left && !zero)
    for (; pad > 0; pad--) put(o, ' ');
  for (size_t i = 0; i < plen; i++) put(o, prefix[i]);
  if (!left && zero)
    for (; pad > 0; pad--) put(o, '0');
  for (size_t i = 0; i < len; i++) put(o, body[i]);
  for (; pad > 0; pad--) put(o, ' ');
}

static size_t utoa_base(uint64_t v, unsigned base, int upper, char* tmp) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char rev[24];
  size_t n = 0;
  do {
    rev[n++] = digits[v % base];
    v /= base;
  } while (v);
  for (size_t i = 0; i < n; i++) tmp[i] = rev[n - 1 - i];
  return n;
}

static size_t format_fixed(double v, int prec, char* tmp, int* negative) {
  static const uint64_t pow10[] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u,
                                   100000000u, 1000000000u};
  if (prec > 9) prec = 9;
  *negative = v < 0 || (v == 0 && 1 / v < 0);
  double a = *negative ? -v : v;
  if (!(a < 1.8e18 / (double)pow10[prec])) { /* inf, nan or beyond our integer range */
    memcpy(tmp, a != a ? "nan" : "inf", 3);
    return 3;
  }
  double scaled = a * (double)pow10[prec]; /* exact for a float argument and prec <= 6 */
  uint64_t whole = (uint64_t)scaled;
  if (scaled - (double)whole > 0.5) whole++; /* a tie stays: toward zero */
  size_t n = utoa_base(whole / pow10[prec], 10, 0, tmp);
  if (prec > 0) {
    tmp[n++] = '.';
    char frac[24];
    size_t fn = utoa_base(whole % pow10[prec], 10, 0, frac);
    for (size_t i = fn; i < (size_t)prec; i++) tmp[n++] = '0';
    memcpy(tmp + n, frac, fn);
    n += fn;
  }
  return n;
}

int vsnprintk(char* str, size_t size, const char* fmt, va_list ap) {
  struct out o = {str, size, 0};
  for (const char* p = fmt; *p; p++) {
    if (*p != '%') {
      put(&o, *p);
      continue;
    }
    int left = 0, zero = 0, plus = 0, space = 0, width = 0, prec = -1, len = 0;
    for (;; p++) {
      if (p[1] == '-') left = 1;
      else if (p[1] == '0') zero = 1;
      else if (p[1] == '+') plus = 1;
      else if (p[1] == ' ') space = 1;
      else if (p[1] == '#') {}
      else break;
    }
    if (p[1] == '*') { width = va_arg(ap, int); p++; }
    while (p[1] >= '0' && p[1] <= '9') width = width * 10 + (*++p - '0');
    if (p[1] == '.') {
      p++;
      prec = 0;
      if (p[1] == '*') { prec = va_arg(ap, int); p++; }
      while (p[1] >= '0' && p[1] <= '9') prec = prec * 10 + (*++p - '0');
    }
    for (;;) { /* length: 'l' counts up, 'h' counts down, z/j are long-sized */
      char c = p[1];
      if (c == 'l') len++;
      else if (c == 'h') len--;
      else if (c == 'z' || c == 'j' || c == 't') len = (c == 'j') ? 2 : 1;
      else break;
      p++;
    }
    char conv = *++p;
    char tmp[40];
    size_t n = 0;
    const char* prefix = "";
    switch (conv) {
      case 'd': case 'i': {
        int64_t v = len >= 2 ? va_arg(ap, long long) : len == 1 ? va_arg(ap, long) : va_arg(ap, int);
        if (len == -1) v = (short)v;
        if (len <= -2) v = (signed char)v;
        uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
        prefix = v < 0 ? "-" : plus ? "+" : space ? " " : "";
        n = utoa_base(u, 10, 0, tmp);
        put_padded(&o, tmp, n, prefix, width, left, zero);
        break;
      }
      case 'u': case 'x': case 'X': case 'o': {
        uint64_t u = len >= 2 ? va_arg(ap, unsigned long long)
                     : len == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
        if (len == -1) u = (unsigned short)u;
        if (len <= -2) u = (unsigned char)u;
        n = utoa_base(u, conv == 'u' ? 10 : conv == 'o' ? 8 : 16, conv == 'X', tmp);
        put_padded(&o, tmp, n, "", width, left, zero);
        break;
      }
      case 'p': {
        uintptr_t u = (uintptr_t)va_arg(ap, void*);
        n = utoa_base(u, 16, 0, tmp);
        put_padded(&o, tmp, n, "0x", width, left, zero);
        break;
      }
      case 'c': {
        tmp[0] = (char)va_arg(ap, int);
        put_padded(&o, tmp, 1, "", width, left, 0);
        break;
      }
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (s == NULL) s = "(null)";
        size_t sl = strlen(s);
        if (prec >= 0 && (size_t)prec < sl) sl = (size_t)prec;
        put_padded(&o, s, sl, "", width, left, 0);
        break;
      }
      case 'f': case 'F': case 'e': case 'g': { /* e and g are printed as f */
        int neg;
        n = format_fixed(va_arg(ap, double), prec < 0 ? 6 : prec, tmp, &neg);
        prefix = neg ? "-" : plus ? "+" : space ? " " : "";
        put_padded(&o, tmp, n, prefix, width, left, zero);
        break;
      }
      case '%': put(&o, '%'); break;
      case '\0': p--; break;
      default: put(&o, '%'); put(&o, conv); break;
    }
  }
  if (o.size) o.buf[o.n < o.size ? o.n : o.size - 1] = '\0';
  return (int)o.n;
}

int snprintk(char* str, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintk(str, size, fmt, ap);
  va_end(ap);
  return n;
}

void vprintk(const char* fmt, va_list ap) {
  char buf[256];
  int n = vsnprintk(buf, sizeof(buf), fmt, ap);
  if (n > (int)sizeof(buf) - 1) n = sizeof(buf) - 1;
  for (int i = 0; i < n; i++) uart_poll_out(&tinyrepro_console_uart, (unsigned char)buf[i]);
}

void printk(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintk(fmt, ap);
  va_end(ap);
}
