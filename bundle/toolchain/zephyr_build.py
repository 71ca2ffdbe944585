"""Build one OctoML Zephyr project twice and check the two ELF files are byte-identical
(runs in the zephyr image).

Standalone on purpose (Python 3.8, no bundle in the image): the Dockerfile copies this file
to /opt/tinyrepro/. The project is copied to a fixed path (<work>/src), optionally with the
regenerated model (a Model Library Format .tar) in place of its model/ folder, and built with
cmake + ninja at a fixed build path, with SOURCE_DATE_EPOCH and -ffile-prefix-map /
-fdebug-prefix-map so no path or time leaks into the binaries. Writes <work>/firmware.json
(hashes, tool versions), <work>/build.log (with the linker's memory report) and
<work>/spdx/*.spdx (`west spdx`). The host parses them (bundle/toolchain/firmware.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

OUTPUTS = ("zephyr/zephyr.elf", "zephyr/zephyr.hex")
VERSION_TOOLS = {"cmake": ["cmake", "--version"], "ninja": ["ninja", "--version"],
                 "west": ["west", "--version"], "gcc": ["arm-zephyr-eabi-gcc", "--version"]}


def prefix_flags(src: str, build: str, zephyr_base: str) -> str:
    """Compiler flags that rewrite every absolute path the build could embed."""
    maps = ((src, "."), (build, "build"), (zephyr_base, "zephyr"))
    return " ".join(f"-ffile-prefix-map={a}={b} -fdebug-prefix-map={a}={b}" for a, b in maps)


def build_commands(src: str, build: str, board: str, energy: bool, zephyr_base: str, spdx: str) -> list:
    flags = prefix_flags(src, build, zephyr_base)
    return [
        ["west", "spdx", "--init", "-d", build],
        ["cmake", "-G", "Ninja", "-S", src, "-B", build, f"-DBOARD={board}",
         f"-DENERGY_MODE={int(energy)}", f"-DEXTRA_CFLAGS={flags}", f"-DEXTRA_CXXFLAGS={flags}"],
        ["ninja", "-C", build],
        ["west", "spdx", "-d", build, "-s", spdx],
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Builder:
    def __init__(self, work: Path, board: str, energy: bool, epoch: str, run=subprocess.run,
                 zephyr_base: str | None = None):
        self.work, self.board, self.energy, self.run = Path(work), board, energy, run
        self.zephyr_base = zephyr_base or os.environ.get("ZEPHYR_BASE", "/opt/zephyrproject/zephyr")
        self.env = {**os.environ, "SOURCE_DATE_EPOCH": epoch, "ZEPHYR_BASE": self.zephyr_base}

    @property
    def src(self) -> Path:
        return self.work / "src"

    @property
    def build_dir(self) -> Path:
        return self.work / "build"

    def prepare(self, project: Path, mlf: Path | None) -> None:
        shutil.rmtree(self.src, ignore_errors=True)
        shutil.copytree(project, self.src)
        if mlf:  # the regenerated model code replaces the published one, nothing else changes
            shutil.rmtree(self.src / "model", ignore_errors=True)
            with tarfile.open(mlf) as tar:
                tar.extractall(self.src / "model")

    def _run(self, cmd: list, log) -> None:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        done = self.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=str(self.work))
        if done.returncode != 0:
            raise SystemExit(f"error: {cmd[0]} exited with {done.returncode}; see {self.work / 'build.log'}")

    def build_once(self, log, spdx: bool) -> dict:
        shutil.rmtree(self.build_dir, ignore_errors=True)
        cmds = build_commands(str(self.src), str(self.build_dir), self.board, self.energy,
                              self.zephyr_base, str(self.work / "spdx"))
        for cmd in cmds if spdx else cmds[1:3]:
            self._run(cmd, log)
        return {rel: sha256(self.build_dir / rel) for rel in OUTPUTS if (self.build_dir / rel).is_file()}

    def versions(self) -> dict:
        out = {}
        for name, cmd in VERSION_TOOLS.items():
            try:
                done = self.run(cmd, capture_output=True, text=True, env=self.env)
                out[name] = (done.stdout or "").strip().splitlines()[0] if done.stdout else "unknown"
            except FileNotFoundError:
                out[name] = "not installed"
        return out

    def build_twice(self) -> dict:
        with open(self.work / "build.log", "w") as log:
            first = self.build_once(log, spdx=True)
            shutil.rmtree(self.work / "build.first", ignore_errors=True)
            os.replace(self.build_dir, self.work / "build.first")
            second = self.build_once(log, spdx=False)
        same = bool(first) and first == second
        if same:  # keep the differing pair only, for diffoscope
            shutil.rmtree(self.work / "build.first", ignore_errors=True)
        record = {"board": self.board, "energy": self.energy, "sha256": second, "first_sha256": first,
                  "reproducible": same, "source_date_epoch": self.env["SOURCE_DATE_EPOCH"],
                  "versions": self.versions()}
        part = self.work / "firmware.json.part"   # standalone script: no bundle.fsutil here
        part.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(part, self.work / "firmware.json")
        return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--project", required=True, type=Path, help="a published project folder (read-only)")
    p.add_argument("--work", required=True, type=Path, help="fixed working folder for src/, build/, results")
    p.add_argument("--board", required=True)
    p.add_argument("--energy", action="store_true", help="energy-mode firmware (-DENERGY_MODE=1)")
    p.add_argument("--mlf", type=Path, default=None, help="regenerated model (.tar) to swap in")
    p.add_argument("--epoch", default=os.environ.get("SOURCE_DATE_EPOCH", "0"))
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    builder = Builder(args.work, args.board, args.energy, args.epoch)
    builder.prepare(args.project, args.mlf)
    record = builder.build_twice()
    print(json.dumps(record["sha256"]), "reproducible" if record["reproducible"] else "NOT reproducible")
    # Both builds completed: whether they agree is a result (firmware.json), not a stage failure.
    return 0


if __name__ == "__main__":
    sys.exit(main())
