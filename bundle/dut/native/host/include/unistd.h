/* tinyrepro host-target compat: newlib's <unistd.h> (Zephyr's libc for these boards) pulls in
 * <sys/types.h> and with it the <stdint.h> types; the published tvmruntime.h relies on that
 * (int8_t after only <unistd.h>). glibc's does not, so add them on the host. */
#include_next <unistd.h>
#include <stdint.h>
