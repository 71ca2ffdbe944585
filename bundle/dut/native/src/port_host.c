/* tinyrepro host port: the UART is a pseudo-terminal, time is the host's monotonic clock.
 * The program prints "PTY <path>" as its first stdout line. A reboot re-executes the program
 * on the same pty (its file descriptors are handed over in TINYREPRO_PTY_FDS). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "port.h"

const uint32_t tinyrepro_cycles_per_sec = 1000000u; /* cycles are microseconds on the host */

static int master_fd = -1;
static int slave_fd = -1;
static uint64_t boot_ns;
static char out_buf[512];
static size_t out_len;
static pthread_mutex_t irq_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static volatile int irq_enabled;
static volatile int irq_waiting; /* the "interrupt" thread wants the lock */
static pthread_t irq_thread;
static int irq_thread_started;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char* what) {
  fprintf(stderr, "tinyrepro host DUT: %s: %s\n", what, strerror(errno));
  exit(70);
}

static void make_raw(int fd) {
  struct termios t;
  if (tcgetattr(fd, &t) != 0) die("tcgetattr");
  cfmakeraw(&t);
  if (tcsetattr(fd, TCSANOW, &t) != 0) die("tcsetattr");
}

__attribute__((constructor)) static void host_boot(void) {
  boot_ns = now_ns();
  const char* fds = getenv("TINYREPRO_PTY_FDS");
  if (fds && sscanf(fds, "%d,%d", &master_fd, &slave_fd) == 2) return; /* rebooted */
  master_fd = posix_openpt(O_RDWR | O_NOCTTY);
  if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) die("posix_openpt");
  const char* name = ptsname(master_fd);
  if (name == NULL) die("ptsname");
  /* Keeping a slave open means the master never reads EIO while the runner reconnects. */
  slave_fd = open(name, O_RDWR | O_NOCTTY);
  if (slave_fd < 0) die("open slave");
  make_raw(slave_fd);
  make_raw(master_fd);
  fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK);
  printf("PTY %s\n", name);
  fflush(stdout);
  dup2(2, 1); /* nothing else may block on a stdout pipe nobody reads */
}

static pthread_mutex_t out_mutex = PTHREAD_MUTEX_INITIALIZER;

static void flush_out_locked(void) {
  size_t done = 0;
  while (done < out_len) {
    ssize_t n = write(master_fd, out_buf + done, out_len - done);
    if (n > 0) {
      done += (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      die("write");
    } else {
      struct pollfd p = {master_fd, POLLOUT, 0};
      poll(&p, 1, 10);
    }
  }
  out_len = 0;
}

static void flush_out(void) {
  pthread_mutex_lock(&out_mutex);
  flush_out_locked();
  pthread_mutex_unlock(&out_mutex);
}

void port_uart_init(void) {}

/* May run on the "interrupt" thread: reads only, output is flushed by the writer. */
int port_uart_read(uint8_t* c) {
  ssize_t n = read(master_fd, c, 1);
  return n == 1;
}

void port_uart_wait(void) {
  flush_out();
  struct pollfd p = {master_fd, POLLIN, 0};
  poll(&p, 1, 5);
}

void port_uart_write(uint8_t c) {
  pthread_mutex_lock(&out_mutex);
  out_buf[out_len++] = (char)c;
  if (c == '\n' || out_len == sizeof(out_buf)) flush_out_locked();
  pthread_mutex_unlock(&out_mutex);
}

static void* irq_loop(void* arg) {
  (void)arg;
  for (;;) {
    struct pollfd p = {master_fd, POLLIN, 0};
    if (!irq_enabled || poll(&p, 1, 5) <= 0 || !(p.revents & POLLIN)) {
      if (!irq_enabled) usleep(1000);
      continue;
    }
    irq_waiting = 1;
    pthread_mutex_lock(&irq_mutex);
    irq_waiting = 0;
    tinyrepro_uart_isr();
    pthread_mutex_unlock(&irq_mutex);
  }
  return NULL;
}

void port_uart_irq(int enable) {
  irq_enabled = enable;
  if (enable && !irq_thread_started) {
    pthread_create(&irq_thread, NULL, irq_loop, NULL);
    irq_thread_started = 1;
  }
}

static int lock_depth; /* changed only by the mutex's holder */

unsigned int port_irq_lock(void) {
  pthread_mutex_lock(&irq_mutex);
  lock_depth++;
  return 0;
}

void port_irq_unlock(unsigned int key) {
  (void)key;
  int outermost = --lock_depth == 0;
  pthread_mutex_unlock(&irq_mutex);
  /* Firmware that polls its ring buffer in a tight irq_lock/irq_unlock loop must not starve
   * the "interrupt": on a board it would preempt the loop. Let it take the lock first. */
  while (outermost && irq_waiting) sched_yield();
}

uint64_t port_uptime_us(void) { return (now_ns() - boot_ns) / 1000u; }
uint32_t port_cycles(void) { return (uint32_t)port_uptime_us(); }
void port_sleep_us(uint32_t us) {
  flush_out();
  usleep(us);
}

void port_reboot(void) {
  flush_out();
  tcflush(master_fd, TCIFLUSH); /* a rebooting board loses what its UART had not read */
  char fds[32];
  snprintf(fds, sizeof(fds), "%d,%d", master_fd, slave_fd);
  setenv("TINYREPRO_PTY_FDS", fds, 1);
  execl("/proc/self/exe", "tinyrepro-host-dut", (char*)NULL);
  die("reboot (exec)");
}
