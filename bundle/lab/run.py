"""The run stage on labgrid places: each acquired place runs the benchmarks it can, in parallel.

One worker thread per place takes the next (system, benchmark, mode) its tags allow from a
shared queue and runs the ordinary run stage through the engine, with the place's RFC 2217
URL as the port. A failing run is recorded and its place takes no more work (its board or
exporter is suspect); what no place ran becomes a NOT_RUN entry with the reason. The places
are released when the stage ends, fails or is interrupted; releasing one makes its exporter
stop ser2net, so a runner still attached to it ends with a port error.
"""
from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

from bundle.errors import ReproError, StageUnavailable
from bundle.lab.coordinator import Coordinator, acquired
from bundle.lab.places import Place, Work, WorkQueue, place_system, plan_work
from bundle.progress import console


def run_on_places(s, engine, benchmarks: list[str], coordinator: Coordinator | None = None) -> list[dict]:
    """Run `benchmarks` x the configured modes on the request's places, of its coordinator.
    `s`: the pipeline's session (bundle/pipeline/session.py)."""
    from bundle.submission_builds import load_builds

    req = s.request
    own = coordinator is None
    coordinator = coordinator or Coordinator(req.coordinator)
    try:
        with acquired(coordinator, list(req.places)) as held:
            places = list(held.values())
            systems = sorted({b.system for b in load_builds()})
            system_of = {p.name: place_system(p, systems, req.system) for p in places}
            work, notes = plan_work(places, system_of, benchmarks, list(req.cfg.modes),
                                    req.system if req.system_given else None)
            s.notes += notes
            urls = {p.name: coordinator.serial_url(p.name) for p in places}
            for p in places:
                s.notes.append(f"place {p.name}: {system_of[p.name]} ({p.board}), serial {urls[p.name]}, "
                                 f"resources {', '.join(p.resources) or 'none'}")
            return _spread(s, engine, places, system_of, urls, work)
    finally:
        if own:
            coordinator.close()


def _spread(s, engine, places: list[Place], system_of: dict, urls: dict, work: list[Work]) -> list[dict]:
    queue, done, lock = WorkQueue(work), [], threading.Lock()

    def worker(place: Place) -> None:
        while (item := queue.take(place, system_of[place.name])) is not None:
            entry = _run_item(s, engine, place, urls[place.name], item)
            with lock:
                done.append(entry)
            if entry["dir"] is None:
                return

    pool = concurrent.futures.ThreadPoolExecutor(len(places), thread_name_prefix="place")
    futures = [pool.submit(worker, p) for p in places]
    try:
        for f in futures:
            f.result()
    finally:
        # On Ctrl-C do not wait: releasing the places (by the caller) ends the runs.
        pool.shutdown(wait=False, cancel_futures=True)
    for item in queue.left():
        done.append(_entry(None, None, item, None, reason="not run: every place that could run it failed first"))
    if not any(d["dir"] for d in done):
        raise StageUnavailable("no place could run: " + "; ".join(d.get("reason", "") for d in done))
    return done


def _run_item(s, engine, place: Place, url: str, item: Work) -> dict:
    out = s.request.run_dir / "runs" / "places" / place.name / item.benchmark / item.mode
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]place {place.name}[/] {item.system} {item.benchmark} {item.mode} -> {out}")
    try:
        result = engine.run(run_spec(s, url, item, out, place.name))
    except ReproError as err:
        s.notes.append(f"run place {place.name} {item.benchmark} {item.mode}: FAILED: {err}")
        return _entry(place, None, item, None, reason=f"FAILED on place {place.name}: {err.message}", partial=out)
    return _entry(place, out, item, result)


def _entry(place: Place | None, out: Path | None, item: Work, result, reason: str | None = None,
           partial: Path | None = None) -> dict:
    entry = {"label": f"place {place.name} ({place.board})" if place else "places",
             "place": place.name if place else None, "board": place.board if place else None,
             "system": item.system, "benchmark": item.benchmark, "mode": item.mode, "dir": out,
             "dut_kind": "board", "backend": None}
    if result is not None:
        entry.update(engine=result.engine, image=vars(result.image) if result.image else None,
                     seconds=round(result.duration_s, 1))
    if reason:
        entry.update(reason=reason, partial_dir=partial)
    return entry


def run_spec(s, url: str, item: Work, out: Path, place: str):
    """The ordinary run stage (bundle.toolchain.containers.run_stage) against the place's URL."""
    from bundle.submission_builds import iterations, load_builds
    from bundle.toolchain.containers import StageContext, run_stage

    n, w = iterations(item.system, item.benchmark, item.mode)
    build = next(b for b in load_builds() if b.system == item.system and b.benchmark == item.benchmark
                 and not b.energy)
    req = s.request
    sctx = StageContext(inputs=str(req.sources.cache), artifacts=str(req.run_dir), dut_port=url,
                        probe_device="", build=build)
    prepared = s.stimuli.get(item.benchmark)
    return run_stage(sctx, item.benchmark, item.mode, n=n, w=w, out=f"/artifacts/{out.relative_to(req.run_dir)}",
                     limit=req.options.limit if item.mode == "accuracy" else None, baud=req.cfg.sim.baud,
                     name=f"run:{place}:{item.benchmark}:{item.mode}",
                     stimuli=str(prepared) if prepared else None)
