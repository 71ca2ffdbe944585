/* tinyrepro Zephyr shim: sys_reboot restarts the DUT (the host program or the QEMU machine). */
#ifndef TINYREPRO_REBOOT_H_
#define TINYREPRO_REBOOT_H_
#ifdef __cplusplus
extern "C" {
#endif
#define SYS_REBOOT_WARM 0
#define SYS_REBOOT_COLD 1
void sys_reboot(int type) __attribute__((noreturn));
#ifdef __cplusplus
}
#endif
#endif
