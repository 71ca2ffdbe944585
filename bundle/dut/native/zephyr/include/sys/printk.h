/* tinyrepro Zephyr shim: printk formatting (our own formatter, Zephyr's %f rounding). */
#ifndef TINYREPRO_PRINTK_H_
#define TINYREPRO_PRINTK_H_
#include <stdarg.h>
#include <stddef.h>
/* Zephyr's printk.h includes it, and sources rely on it (PRIu64 via kernel.h). */
#include <inttypes.h>
#ifdef __cplusplus
extern "C" {
#endif
int vsnprintk(char* str, size_t size, const char* fmt, va_list ap);
int snprintk(char* str, size_t size, const char* fmt, ...);
void vprintk(const char* fmt, va_list ap);
void printk(const char* fmt, ...);
#ifdef __cplusplus
}
#endif
#endif
