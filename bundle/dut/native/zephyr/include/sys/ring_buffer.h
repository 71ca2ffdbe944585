/* tinyrepro Zephyr shim: byte ring buffer with the Zephyr 2.7 calls the sources use. */
#ifndef TINYREPRO_RING_BUFFER_H_
#define TINYREPRO_RING_BUFFER_H_
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
struct ring_buf {
  volatile uint32_t head; /* next write, free-running */
  volatile uint32_t tail; /* next read, free-running */
  uint32_t size;
  uint8_t* buf;
};
#define RING_BUF_DECLARE(name, size8)                 \
  static uint8_t _ring_buffer_data_##name[size8];     \
  struct ring_buf name = {0, 0, (size8), _ring_buffer_data_##name}
void ring_buf_init(struct ring_buf* buf, uint32_t size, uint8_t* data);
uint32_t ring_buf_put(struct ring_buf* buf, const uint8_t* data, uint32_t size);
uint32_t ring_buf_get(struct ring_buf* buf, uint8_t* data, uint32_t size);
uint32_t ring_buf_space_get(struct ring_buf* buf);
uint32_t ring_buf_capacity_get(struct ring_buf* buf);
int ring_buf_is_empty(struct ring_buf* buf);
void ring_buf_reset(struct ring_buf* buf);
#ifdef __cplusplus
}
#endif
#endif
