/* tinyrepro Zephyr shim: <zephyr.h> is <kernel.h>. */
#include <kernel.h>
