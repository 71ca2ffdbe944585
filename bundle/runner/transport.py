"""Byte transport under `Link`: write a command, wait for reply bytes, woken by their arrival.

Two implementations behind one interface, chosen by what the pyserial port offers:
* `FdTransport` for a port with a POSIX file descriptor (a tty, a pty): poll() on the fd
  and one os.read of whatever is there. One wake-up and two system calls per reply line,
  instead of pyserial's read(1) + in_waiting + read(n) (three calls and a select each);
  on a busy 2-core host every extra system call is another chance to be preempted.
* `SerialTransport` for everything else pyserial opens (rfc2217://, socket://, loop://):
  its read() with the port's fixed timeout, which also returns as soon as data is there.

Neither sleeps: a read blocks until a byte arrives or the deadline passes, so the next
chunk of a download goes out the moment its acknowledgement is in.
"""
from __future__ import annotations

import os
import select
import time

import serial

POLL_S = 0.02               # pyserial ports: longest one read() blocks; deadlines are checked between reads
READ_SIZE = 4096            # more than any reply line; the rest stays in the kernel for the next read


class TransportGone(Exception):
    """The port went away (EOF, EIO, a closed socket); `Link` turns it into PortGone."""


class SerialTransport:
    """Any pyserial port, through pyserial's own read/write."""

    def __init__(self, port):
        self.port = port

    def write(self, data: bytes) -> None:
        try:
            # no flush(): on POSIX it is tcdrain, a needless wait for the reader
            self.port.write(data)
        except (serial.SerialException, OSError) as err:
            raise TransportGone(str(err)) from None

    def read_some(self, deadline: float) -> bytes:
        """At least one byte, or b"" at the deadline."""
        while time.monotonic() < deadline:
            try:
                # the port timeout stays fixed (POLL_S): setting it reconfigures the tty each time
                chunk = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError) as err:
                raise TransportGone(str(err)) from None
            if chunk:
                return chunk
        return b""

    def waiting(self) -> int:
        try:
            return self.port.in_waiting
        except (serial.SerialException, OSError) as err:
            raise TransportGone(str(err)) from None

    def discard(self) -> bytes:
        try:
            pending = self.port.read(self.port.in_waiting)
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError) as err:
            raise TransportGone(str(err)) from None
        return pending


class FdTransport(SerialTransport):
    """A pyserial port with a file descriptor: poll() and os.read/os.write on it directly.

    pyserial opens the fd non-blocking, so a write can be partial or refused while the
    kernel's buffer is full; the rest waits for POLLOUT rather than spinning.
    """

    def __init__(self, port):
        super().__init__(port)
        self.fd = port.fileno()
        self._rx = select.poll()
        self._rx.register(self.fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        self._tx = select.poll()
        self._tx.register(self.fd, select.POLLOUT | select.POLLERR | select.POLLHUP)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    self._tx.poll(int(POLL_S * 1000))
        except OSError as err:
            raise TransportGone(str(err)) from None

    def read_some(self, deadline: float) -> bytes:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                # ceil to whole ms: poll() rounds down, and 0 would return at once
                if not self._rx.poll(int(remaining * 1000) + 1):
                    continue
                chunk = os.read(self.fd, READ_SIZE)
            except BlockingIOError:      # woken, but another reader took the bytes: wait on
                continue
            except OSError as err:       # EIO: the other end of a pty closed
                raise TransportGone(str(err)) from None
            if not chunk:
                raise TransportGone("end of file")
            return chunk
        return b""


def transport_for(port) -> SerialTransport:
    """The fd fast path when the port has a usable descriptor, pyserial's API otherwise."""
    try:
        fd = port.fileno()
    except (AttributeError, OSError, ValueError, serial.SerialException):
        return SerialTransport(port)
    return FdTransport(port) if isinstance(fd, int) and fd >= 0 else SerialTransport(port)
