"""The build-chain stages of `reproduce` (bundle/pipeline/code.py ... flash.py): root-cause reasons when they cannot
run, and, with an engine injected in place of Docker, what they write as results arrive."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from dataclasses import replace

from bundle.reproduce_config import load_reproduce_config
from bundle.pipeline import graph
from bundle.pipeline.firmware import firmware_section
from bundle.pipeline.outputs import CodeTree, Fetched, Firmware, Images
from bundle.pipeline.report import code_diff_section
from bundle.pipeline.session import Session, session_for
from bundle.engine.base import StageResult, StageSpec
from bundle.errors import StageUnavailable
from bundle.toolchain.compile_config import compile_configs
from bundle.toolchain.containers import code_rel

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "firmware"
HEADER = "#define TVMGEN_DEFAULT_WORKSPACE_SIZE {}\n"


def _ctx(tmp_path: Path, engine=None, outputs=None, **kw) -> Session:
    base = dict(port=None, engine="docker", base_image=None, limit=None, backends=[],
                system="microtvm_native/NUCLEO_L4R5ZI", cache=tmp_path / "cache", mirror=None, engine_obj=engine)
    base.update(kw)
    (tmp_path / "run").mkdir(exist_ok=True)
    outputs = {"images": Images({"tvm": 1, "zephyr": 1, "runner": 1}, {}), **(outputs or {})}
    return session_for(load_reproduce_config(None), tmp_path / "run", outputs=outputs, **base)


def _stage(ctx: Session, name: str, ran: set[str]):
    """Run one stage of the graph, with `ran` the stages done before it."""
    ctx.ran = set(ran)
    stage = next(s for s in graph.stages(ctx.request.cfg) if s.name == name)
    out = ctx.outputs[name] = stage.execute(ctx.request, ctx)
    return out


class FakeEngine:
    """Runs a StageSpec by producing what the real image would leave in /artifacts."""

    def __init__(self, artifacts: Path, differ: str = ""):
        self.artifacts, self.differ, self.specs = artifacts, differ, []

    def _host(self, path: str) -> Path:
        return self.artifacts / Path(path).relative_to("/artifacts")

    def run(self, spec: StageSpec, on_line=None, check=True) -> StageResult:
        self.specs.append(spec)
        cmd = spec.command
        if spec.name == "compile":
            out = self._host(cmd[cmd.index("--out") + 1])
            name = out.parent.name
            size = next(c.workspace_size for c in compile_configs() if c.name == name)
            size += 512 if name == self.differ and out.name == "model.tar" else 0   # a cause test "fixes" it
            out.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(out, "w") as tar:
                data = HEADER.format(size).encode()
                info = tarfile.TarInfo("codegen/host/include/tvmgen_default.h")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        elif spec.name == "firmware":
            work = self._host(cmd[cmd.index("--work") + 1])
            work.mkdir(parents=True, exist_ok=True)
            (work / "firmware.json").write_text(json.dumps({
                "sha256": {"zephyr/zephyr.elf": "e" * 64, "zephyr/zephyr.hex": "h" * 64}, "reproducible": True,
                "versions": {"gcc": "arm-zephyr-eabi-gcc (Zephyr SDK 0.13.2) 10.3.0"}}))
            shutil.copy(CORPUS / "nucleo_l4r5zi-build.log", work / "build.log")
        return StageResult(spec.name, 0, 0.1, "fake")


def _code_tree(tmp_path: Path) -> Path:
    root = tmp_path / "cache" / code_rel()
    for cfg in compile_configs():
        header = root / cfg.code_path / "model" / "codegen" / "host" / "include" / "tvmgen_default.h"
        header.parent.mkdir(parents=True, exist_ok=True)
        header.write_text(HEADER.format(cfg.workspace_size))
    return root


def test_offline_without_a_code_source_names_the_root_cause(tmp_path):
    ctx = _ctx(tmp_path, block="offline run (--offline): GitHub sources are not fetched", offline=True)
    with pytest.raises(StageUnavailable) as err:
        _stage(ctx, "code", set())
    assert "fetch" in err.value.message     # the code tree is pinned with the published tree
    with pytest.raises(StageUnavailable) as err:
        _stage(ctx, "firmware", set())
    assert "zephyr image" in err.value.message and "GitHub" in err.value.message
    # TVM's sources come from the cache or a mirror clone: offline, only the image decides.
    ctx.outputs["images"] = Images()
    with pytest.raises(StageUnavailable) as err:
        _stage(ctx, "compile", set())
    assert "tvm image is not available" in err.value.message


def test_compile_codediff_firmware_write_results_as_they_arrive(tmp_path):
    engine = FakeEngine(tmp_path / "run", differ="microtvm_native-nucleo_l4r5zi-ic")
    ctx = _ctx(tmp_path, engine=engine)
    ctx.outputs["code"] = CodeTree(_code_tree(tmp_path), 0)
    _stage(ctx, "compile", {"code"})
    compiles = [s for s in engine.specs if s.name == "compile"]
    # the 12 builds, then native ic and vww again with their cause test's option
    assert len(compiles) == 14 and all("--qnn-conv2d-legalize" in s.command for s in compiles[12:])
    details = _stage(ctx, "codediff", {"code", "compile"}).details()
    assert details["microtvm_native-nucleo_l4r5zi-ic"] == "different"
    assert sum(v == "byte-identical" for v in details.values()) == 11
    rows = [json.loads(line) for line in (tmp_path / "run" / "toolchain" / "codediff.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and Path(rows[1]["diff"]).is_file()
    assert rows[1]["cause_test"]["confirmed"] and rows[1]["causes"][0].startswith("cause confirmed")
    assert rows[2]["cause_test"]["verdict"] == "byte-identical" and "cause_test" not in rows[0]
    _stage(ctx, "firmware", {"code", "compile"})
    fw = [s for s in engine.specs if s.name == "firmware"]
    assert len(fw) == 12 and all("--mlf" in s.command for s in fw)  # compile ran: regenerated model swapped in
    record = json.loads((tmp_path / "run" / "toolchain" / "firmware" / "microtvm_native-nucleo_l4r5zi-kws.json").read_text())
    assert record["model"] == "regenerated" and record["memory"]["flash_used"] == 195088 and record["reproducible"]


def test_firmware_builds_the_published_model_when_compile_did_not_run(tmp_path):
    engine = FakeEngine(tmp_path / "run")
    ctx = _ctx(tmp_path, engine=engine)
    _stage(ctx, "firmware", {"code"})
    assert not any("--mlf" in s.command for s in engine.specs)


def test_flash_needs_a_board_and_the_firmware(tmp_path):
    ctx = _ctx(tmp_path)
    with pytest.raises(StageUnavailable, match="no board attached"):
        _stage(ctx, "flash", {"firmware"})
    ctx.request = replace(ctx.request, port="/dev/ttyACM0")
    with pytest.raises(StageUnavailable, match="firmware"):
        _stage(ctx, "flash", set())


def test_energy_firmware_on_request(tmp_path):
    engine = FakeEngine(tmp_path / "run")
    ctx = _ctx(tmp_path, engine=engine, energy_firmware=True)
    details = _stage(ctx, "firmware", {"code"}).details()
    assert len(details) == 24 and "microtvm_cmsis_nn-nrf5340dk-ad-energy" in details
    energy = [s for s in engine.specs if "--energy" in s.command]
    assert len(energy) == 12 and all(s.command[s.command.index("--work") + 1].endswith("-energy") for s in energy)
    record = json.loads((tmp_path / "run" / "toolchain" / "firmware" / "microtvm_native-nucleo_l4r5zi-kws-energy.json").read_text())
    assert record["energy"] is True


def test_report_has_a_code_diff_and_a_firmware_row_per_build(tmp_path):
    engine = FakeEngine(tmp_path / "run", differ="microtvm_native-nucleo_l4r5zi-vww")
    ctx = _ctx(tmp_path, engine=engine)
    ctx.outputs["code"] = CodeTree(_code_tree(tmp_path), 0)
    for name in ("compile", "codediff", "firmware"):
        ctx.recorder.run(name, lambda name=name: _stage(ctx, name, {"code", "compile"}))
    diff_rows = {r["build"]: r for r in code_diff_section(ctx)}
    assert len(diff_rows) == 12 and diff_rows["microtvm_native-nucleo_l4r5zi-vww"]["verdict"] == "different"
    assert Path(diff_rows["microtvm_native-nucleo_l4r5zi-vww"]["detail"]).is_file()
    fw = firmware_section(ctx)
    assert len(fw) == 12 and all(r["status"] == "BUILT" and r["reproducible"] for r in fw)

    (tmp_path / "idle").mkdir()
    idle = _ctx(tmp_path / "idle")
    idle.recorder.skip("codediff", "needs the output of stage(s) code, compile, which did not run")
    rows = code_diff_section(idle)
    assert {r["verdict"] for r in rows} == {"NOT_RUN"} and "code, compile" in rows[0]["detail"]
    assert {r["reason"] for r in firmware_section(idle)} == {"stage firmware was not reached"}


def test_the_code_stage_takes_the_tree_the_fetch_stage_verified(tmp_path):
    """The code tree is pinned file by file with the published tree: no second source."""
    published = tmp_path / "cache" / "tree" / "published" / "octoml-v1.0"
    (published / "code" / "microtvm_native").mkdir(parents=True)
    (published / "code" / "microtvm_native" / "LICENSE.md").write_text("x\n")
    fetched = Fetched(published, tmp_path / "datasets", tmp_path / "models", {}, {}, None)
    ctx = _ctx(tmp_path, offline=True, block="offline", outputs={"fetch": fetched})
    details = _stage(ctx, "code", {"fetch"}).details()
    assert details["files"] == 1 and ctx.outputs["code"].tree == published / "code"


def test_firmware_rows_name_every_build_when_the_stage_stopped_midway(tmp_path):
    ctx = _ctx(tmp_path, energy_firmware=True)
    ctx.outputs["firmware"] = Firmware([{"build": "microtvm_native-nucleo_l4r5zi-kws", "elf_sha256": "e" * 64,
                                 "reproducible": False, "memory": {"flash_pct": 9.3, "ram_pct": 40.0},
                                 "model": "published"}])
    rows = {r["build"]: r for r in firmware_section(ctx)}
    assert len(rows) == 24 and rows["microtvm_native-nucleo_l4r5zi-kws"]["reproducible"] is False
    assert rows["microtvm_cmsis_nn-nrf5340dk-ad-energy"]["status"] == "NOT_RUN"


def test_codediff_is_reused_from_the_stage_cache_with_its_files_in_the_new_run_folder(tmp_path):
    """Nothing changed (same compile key, same published code): the rows, the diffs and the
    regenerated tree come back under the new run folder; no MLF is extracted again."""
    from types import SimpleNamespace

    from bundle.stagecache import StageCache

    tvm = SimpleNamespace(image_id="sha256:" + "1" * 64)
    images = Images({"tvm": tvm, "zephyr": 1, "runner": 1}, {})
    code = _code_tree(tmp_path)
    runs = []
    for n in (1, 2):
        (tmp_path / f"r{n}").mkdir()
        engine = FakeEngine(tmp_path / f"r{n}" / "run", differ="microtvm_native-nucleo_l4r5zi-vww")
        ctx = _ctx(tmp_path / f"r{n}", engine=engine, cache=tmp_path / "cache",
                   outputs={"images": images, "code": CodeTree(code, 0)})
        ctx.cache = StageCache(tmp_path / "stages")
        for name in ("compile", "codediff"):
            _stage(ctx, name, {"code", "compile"})
        runs.append((ctx, engine))
    (first, _), (second, engine) = runs
    assert second.cache.hits == {"compile": 1, "codediff": 1} and engine.specs == []
    rows = {r["build"]: r for r in second.outputs["codediff"].compared}
    vww = rows["microtvm_native-nucleo_l4r5zi-vww"]
    assert vww["verdict"] == "different" and Path(vww["diff"]).is_file()
    assert Path(vww["diff"]).is_relative_to(second.request.run_dir)
    assert second.outputs["codediff"].details() == first.outputs["codediff"].details()
    assert (second.request.run_dir / "toolchain" / "codediff.jsonl").is_file()
    assert second.outputs["codediff"].regenerated == second.request.run_dir / "code"
    assert any(second.outputs["codediff"].regenerated.rglob("*.h"))
