"""Local backend: the same stages as host subprocesses, for hosts without Docker.

Mount destinations in the command are rewritten to the host sources, and the container's
`python` becomes this interpreter. Nothing is isolated (see `caps`): no read-only mounts,
no network cut, no user switch; the run report says so.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque

from bundle.engine.base import Engine, EngineCaps, LineSink, StageResult, StageSpec, check_result
from bundle.errors import EngineError, StageTimeout

PYTHONS = {"python", "python3", "python3.11"}


class LocalEngine(Engine):
    caps = EngineCaps(name="local", isolates_filesystem=False, enforces_read_only=False,
                      enforces_no_network=False, runs_as_user=False, needs_images=False)

    def available(self) -> tuple[bool, str]:
        return True, f"host Python {sys.version.split()[0]}"

    def translate(self, spec: StageSpec) -> tuple[list[str], str, dict[str, str]]:
        """Command, working directory and environment with container paths mapped to the host."""
        # Longest destination first, so /artifacts/runs maps before /artifacts.
        table = sorted(((m.dst.rstrip("/"), os.path.abspath(m.src)) for m in spec.mounts),
                       key=lambda pair: -len(pair[0]))
        table += [(inside, host) for host, inside in spec.device_pairs()]

        def mapped(value: str) -> str:
            for dst, src in table:
                if value == dst or value.startswith(dst + "/"):
                    return src + value[len(dst):]
                if "=" in value:  # --flag=/container/path
                    key, _, rest = value.partition("=")
                    if rest == dst or rest.startswith(dst + "/"):
                        return f"{key}={src}{rest[len(dst):]}"
            return value

        command = [mapped(a) for a in spec.command]
        if command and command[0] in PYTHONS:
            command[0] = sys.executable
        env = {**os.environ, **{k: mapped(v) for k, v in spec.env.items()}}
        workdir = mapped(spec.workdir)
        if not os.path.isdir(workdir):
            workdir = os.getcwd()
        return command, workdir, env

    def run(self, spec: StageSpec, on_line: LineSink | None = None, check: bool = True) -> StageResult:
        command, workdir, env = self.translate(spec)
        sink = on_line or (lambda line: print(f"[{spec.name}] {line}", flush=True))
        tail: deque[str] = deque(maxlen=200)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as err:
            raise EngineError(f"stage {spec.name}: cannot start {command[0]}: {err}",
                              hint="the local engine needs the stage's tools on this host; try --engine docker") from err
        pump = threading.Thread(target=_pump, args=(proc.stdout, sink, tail), daemon=True)
        pump.start()
        try:
            exit_code = proc.wait(timeout=spec.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise StageTimeout(f"stage {spec.name} exceeded its {spec.timeout_s:g} s timeout and was killed",
                               hint="raise the stage timeout, or check the DUT is answering") from None
        finally:
            if proc.poll() is None:  # Ctrl-C or any error: leave no orphan behind
                _kill_group(proc)
            pump.join(timeout=5)
        result = StageResult(spec.name, exit_code, time.monotonic() - start, "local", None, list(tail))
        return check_result(result) if check else result


def _pump(stream, sink: LineSink, tail: deque) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        tail.append(line)
        sink(line)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
