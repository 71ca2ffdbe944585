"""`tinyrepro stimuli`: prepare the ic01/vww01/ad01 stimuli from their pinned source datasets.

Each set lands in `<out>/<set>/` (default `<cache>/stimuli/<set>/`): y_labels.csv, the .bin
files and SHA256SUMS, ready for `tinyrepro run --stimuli <out>/<set>` and picked up by
`tinyrepro reproduce`. A set whose archive cannot be had here is NOT_RUN with the reason.
"""
from __future__ import annotations

from pathlib import Path

from bundle.commands.fetch import add_fetch_options, fetcher_from_args
from bundle.stimuli import SETS, prepare_all
from bundle.stimuli.stage import FAILED, READY


def register(sub) -> None:
    p = sub.add_parser("stimuli", help=f"prepare {'/'.join(SETS)} stimuli from the pinned public datasets")
    p.add_argument("--set", dest="sets", default="all", choices=[*SETS, "all"],
                   help="which set to prepare (default: all)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the prepared sets (default: $TINYREPRO_STIMULI or <cache>/stimuli)")
    add_fetch_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    names = list(SETS) if args.sets == "all" else [args.sets]
    fetcher = fetcher_from_args(args)
    for name in names:
        spec = SETS[name]
        archive = fetcher.lock.archives.get(spec.archive)
        size = f"{archive.size / 1e6:.0f} MB archive" if archive and archive.pinned else "archive size unknown"
        print(f"{name}: needs {size} in the cache + the prepared files")
    results = prepare_all(names, fetcher, args.out)
    for r in results:
        line = f"{r.status:8} {r.set}"
        if r.status == READY:
            line += (f": {r.files} files, {r.bytes / 1e6:.1f} MB in {r.dir} ({r.kept} kept, {r.written} written, "
                     f"{r.seconds} s); manifest {r.manifest} sha256 {r.manifest_sha256[:16]}…")
            if r.archive_sha256:
                line += f"; archive sha256 {r.archive_sha256}"
        else:
            line += f": {r.reason}"
        print(line)
    return max((r.exit_code for r in results if r.status == FAILED), default=0)
