/* tinyrepro host port, board side: what the published sources touch of their board, made
 * harmless on the host.
 *
 * 1. Peripheral registers written by address. closed/OctoML/code/microtvm_cmsis_nn/NRF5340DK/
 *    <benchmark>/src/main.cpp (tiny_results_v1.0 @ c7761cf8) sets the nRF5340 application core's
 *    clock divider (CLOCK peripheral at 0x50005000, HFCLKCTRL at +0x558) to 0 for 128 MHz when
 *    NRF_BOARD == 1. The page is mapped here, before main(), so that write lands in memory.
 *
 * 2. Arm DSP instructions the generated model code calls without a declaration on a non-Arm
 *    compiler: TVM's Cortex-M micro-kernels (default_lib1.c of the native ic/vww/ad builds)
 *    call __SMLAD, read_and_pad (CMSIS arm_nnsupportfunctions.h, only with ARM_MATH_DSP) and
 *    GCC's ACLE builtins __builtin_arm_smlabb/__builtin_arm_smlatt. Defined here with the
 *    instructions' semantics from the Armv7-M Architecture Reference Manual (SMLAD, SMLABB,
 *    SMLATT: signed 16x16 products added to a 32-bit accumulator, wrapping; Q flag not kept). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static const uintptr_t board_pages[] = {0x50005000u}; /* nRF5340 CLOCK */

__attribute__((constructor(101))) static void map_board_pages(void) {
  for (size_t i = 0; i < sizeof(board_pages) / sizeof(board_pages[0]); i++) {
    void* want = (void*)board_pages[i];
    void* got = mmap(want, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (got != want)
      fprintf(stderr, "tinyrepro host DUT: cannot map board page %p: %s\n", want,
              got == MAP_FAILED ? strerror(errno) : "placed elsewhere");
  }
}

static int32_t lo16(uint32_t x) { return (int16_t)(x & 0xFFFFu); }
static int32_t hi16(uint32_t x) { return (int16_t)(x >> 16); }

uint32_t __SMLAD(uint32_t x, uint32_t y, uint32_t acc) {
  return acc + (uint32_t)(lo16(x) * lo16(y)) + (uint32_t)(hi16(x) * hi16(y));
}

int32_t __builtin_arm_smlabb(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(lo16((uint32_t)x) * lo16((uint32_t)y)));
}

int32_t __builtin_arm_smlatt(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(hi16((uint32_t)x) * hi16((uint32_t)y)));
}

/* CMSIS-NN arm_nnsupportfunctions.h: four int8 values to two pairs of int16, in order
 * (out1 = {s[0], s[1]}, out2 = {s[2], s[3]} as little-endian halfwords); returns source + 4. */
const int8_t* read_and_pad(const int8_t* source, int32_t* out1, int32_t* out2) {
  int16_t v[4];
  for (int i = 0; i < 4; i++) v[i] = source[i];
  memcpy(out1, v, 4);
  memcpy(out2, v + 2, 4);
  return source + 4;
}
