"""One exception hierarchy for the bundle.

Every error carries a hint (what the user can do about it) and maps to one exit
code. Exit codes are set here and only here; the CLI turns an error into its code.
"""
from __future__ import annotations

# Exit codes (documented in the README, "Exit codes").
EXIT_OK = 0
EXIT_DIFFERENT = 1      # the run worked, and at least one row is DIFFERENT
EXIT_USAGE = 2          # bad command line (argparse uses 2 too)
EXIT_CONFIG = 3         # invalid config / lock / policy file
EXIT_FETCH = 4          # an input could not be fetched or failed verification
EXIT_PARSE = 5          # a published or reproduced file could not be parsed
EXIT_DUT = 6            # the device under test or serial link failed
EXIT_ENGINE = 7         # container engine / stage execution failed
EXIT_IO = 8             # an output could not be written (disk full, no permission, read-only)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_INTERNAL = 70      # a bug: please report


class ReproError(Exception):
    """Base class. `hint` tells the user what to do next."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(ReproError):
    exit_code = EXIT_USAGE


class ConfigError(ReproError):
    exit_code = EXIT_CONFIG


class FetchError(ReproError):
    exit_code = EXIT_FETCH


class ChecksumMismatch(FetchError):
    pass


class NetworkUnavailable(FetchError):
    pass


class ParseError(ReproError):
    exit_code = EXIT_PARSE


class DutError(ReproError):
    exit_code = EXIT_DUT


class DutTimeout(DutError):
    pass


class DutProtocolError(DutError):
    """The DUT replied with e-[...] or garbled/dropped bytes."""


class PortGone(DutError):
    """The serial port disappeared (board unplugged)."""


class BoardNotReady(DutError):
    """A board does not run the build a run needs: it carries another and cannot be flashed
    from here, or flashing it failed (FlashError)."""


class FlashError(BoardNotReady):
    """`west flash` failed; the subclasses are the known causes, each with its fix."""


class ProbeAccessDenied(FlashError):
    """The probe is there but this user may not open it (no udev rule)."""


class ProbeBusy(FlashError):
    """Another process (an IDE, a second openocd, a serial monitor) holds the probe."""


class ProbeNotFound(FlashError):
    """No probe on USB, or not passed into the container."""


class WrongBoard(FlashError):
    """The probe answered, but the chip is not the one the firmware was built for."""


class WriteError(ReproError):
    """Writing an output failed at the OS level (ENOSPC, EACCES, EROFS, ...).

    Raised at the writing points with the file named; what was written before is kept
    and a run folder stays resumable."""

    exit_code = EXIT_IO


class EngineError(ReproError):
    exit_code = EXIT_ENGINE


class StageTimeout(EngineError):
    pass


class StageUnavailable(ReproError):
    """A stage cannot run on this host (no network, no board, no image).

    Not a failure of the run: the pipeline records the stage as NOT_RUN with this
    message as the reason.
    """

    exit_code = EXIT_ENGINE


class BuildError(EngineError):
    """A firmware project did not compile or link for a board-free DUT (host, qemu)."""
