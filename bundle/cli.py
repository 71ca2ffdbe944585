"""Command line: argument parsing only.

Each sub-command lives in `bundle.commands.<name>` and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Errors are turned into exit codes here, from `bundle.errors`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bundle import __version__
from bundle.errors import EXIT_INTERNAL, EXIT_IO, EXIT_OK, EXIT_INTERRUPTED, ReproError

# Order is the order in `tinyrepro --help`.
COMMANDS = [
    "fetch", "published", "diff", "run", "estimate", "sim", "reproduce", "plan", "bench", "doctor", "images", "stimuli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyrepro",
        description="Reproduce the OctoML MLPerf Tiny v1.0 submission and diff it against the published results.",
    )
    parser.add_argument("--version", action="version", version=f"tinyrepro {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"bundle.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except ReproError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        # `tinyrepro published --format json | head`: the reader left, not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except OSError as err:
        # Readers and writers turn the OS errors they expect into ReproErrors; this names
        # the file of any other (a folder where a file was expected, no permission, disk full).
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}\n  hint: check the path, its permissions and free disk space",
              file=sys.stderr)
        return EXIT_IO
    except KeyboardInterrupt:
        print("interrupted: partial results are kept on disk", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - last-resort boundary
        logging.getLogger("tinyrepro").exception("internal error (a bug: please report it)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
