/* tinyrepro qemu-target compat: Debian's arm-none-eabi GCC finds its own freestanding
 * <stdint.h> before newlib's, so newlib's <inttypes.h> never sees __int64_t_defined and leaves
 * PRIu64/PRId64 undefined (crt/src/runtime/crt/common/crt_backend_api.c uses PRIu64). Zephyr's
 * SDK toolchain uses newlib's <stdint.h>; its <sys/_stdint.h> sets the flag the same way here. */
#include <sys/_stdint.h>
#include_next <inttypes.h>
