/* tinyrepro Zephyr shim: the kernel calls the published firmware sources make. */
#ifndef TINYREPRO_KERNEL_H_
#define TINYREPRO_KERNEL_H_
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <device.h>
#include <sys/printk.h>
#ifdef __cplusplus
extern "C" {
#endif
#ifndef __aligned
#define __aligned(x) __attribute__((__aligned__(x)))
#endif
#ifndef __packed
#define __packed __attribute__((__packed__))
#endif
#ifndef __unused
#define __unused __attribute__((__unused__))
#endif
#ifndef ARG_UNUSED
#define ARG_UNUSED(x) (void)(x)
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
/* Cycles of the emulated/real core clock per second (k_cycle_get_32). */
extern const uint32_t tinyrepro_cycles_per_sec;
#define CONFIG_SYS_CLOCK_HW_CYCLES_PER_SEC tinyrepro_cycles_per_sec

typedef struct { int64_t ticks; } k_timeout_t;
#define K_NO_WAIT ((k_timeout_t){0})
#define K_FOREVER ((k_timeout_t){-1})
#define K_MSEC(ms) ((k_timeout_t){(int64_t)(ms) * 1000})
#define K_USEC(us) ((k_timeout_t){(int64_t)(us)})
#define K_SECONDS(s) K_MSEC((s) * 1000)

int64_t k_uptime_get(void);
uint32_t k_uptime_get_32(void);
uint32_t k_cycle_get_32(void);
uint64_t tinyrepro_uptime_us(void);
void k_busy_wait(uint32_t usec_to_wait);
int32_t k_msleep(int32_t ms);
int32_t k_usleep(int32_t us);
int32_t k_sleep(k_timeout_t timeout);
void k_yield(void);
unsigned int irq_lock(void);
void irq_unlock(unsigned int key);
uint32_t sys_clock_hw_cycles_per_sec(void);

/* Timers only record their settings: the published sources declare an expiry function. */
struct k_timer;
typedef void (*k_timer_expiry_t)(struct k_timer* timer);
typedef void (*k_timer_stop_t)(struct k_timer* timer);
struct k_timer {
  k_timer_expiry_t expiry_fn;
  k_timer_stop_t stop_fn;
  uint64_t started_us;
  int running;
};
void k_timer_init(struct k_timer* timer, k_timer_expiry_t expiry_fn, k_timer_stop_t stop_fn);
void k_timer_start(struct k_timer* timer, k_timeout_t duration, k_timeout_t period);
void k_timer_stop(struct k_timer* timer);
uint32_t k_timer_status_get(struct k_timer* timer);
#ifdef __cplusplus
}
#endif
#endif
