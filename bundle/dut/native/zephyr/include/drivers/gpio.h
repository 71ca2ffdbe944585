/* tinyrepro Zephyr shim: GPIO pins are accepted and ignored (energy mode needs a board). */
#ifndef TINYREPRO_GPIO_H_
#define TINYREPRO_GPIO_H_
#include <stdint.h>
#include <device.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef uint8_t gpio_pin_t;
typedef uint32_t gpio_flags_t;
#define GPIO_INPUT (1u << 8)
#define GPIO_OUTPUT (1u << 9)
#define GPIO_OUTPUT_INIT_LOW (1u << 10)
#define GPIO_OUTPUT_INIT_HIGH (1u << 11)
#define GPIO_OUTPUT_LOW (GPIO_OUTPUT | GPIO_OUTPUT_INIT_LOW)
#define GPIO_OUTPUT_HIGH (GPIO_OUTPUT | GPIO_OUTPUT_INIT_HIGH)
int gpio_pin_configure(const struct device* port, gpio_pin_t pin, gpio_flags_t flags);
int gpio_pin_set(const struct device* port, gpio_pin_t pin, int value);
#ifdef __cplusplus
}
#endif
#endif
