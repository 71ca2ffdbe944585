/* tinyrepro Zephyr shim: devices are looked up by name; UART and GPIO kinds only. */
#ifndef TINYREPRO_DEVICE_H_
#define TINYREPRO_DEVICE_H_
#include <stdbool.h>
#include <stddef.h>
#include <devicetree.h>
#ifdef __cplusplus
extern "C" {
#endif
struct device {
  const char* name;
  int kind; /* TINYREPRO_DEV_UART or TINYREPRO_DEV_GPIO */
};
enum { TINYREPRO_DEV_UART = 1, TINYREPRO_DEV_GPIO = 2 };
const struct device* device_get_binding(const char* name);
bool device_is_ready(const struct device* dev);
extern const struct device tinyrepro_console_uart;
#define DEVICE_DT_GET(node) (&tinyrepro_console_uart)
#ifdef __cplusplus
}
#endif
#endif
