"""The stage cache: keys follow the inputs, hits copy files into the new run folder, --force
recomputes, a damaged entry is a miss."""
from __future__ import annotations

import json

import pytest

from bundle.errors import EXIT_USAGE, UsageError
from bundle.stagecache import ALL, StageCache, code_digest, tree_digest


def test_key_changes_with_any_input_and_only_then(tmp_path):
    cache = StageCache(tmp_path)
    base = {"lock": {"a": "1"}, "code": "c", "options": {"limit": 40}}
    assert cache.key("run", base) == cache.key("run", json.loads(json.dumps(base)))
    assert cache.key("run", base) != cache.key("run", {**base, "options": {"limit": 39}})
    assert cache.key("run", base) != cache.key("diff", base)


def test_hit_returns_the_result_and_copies_the_files(tmp_path):
    cache = StageCache(tmp_path / "cache")
    made = tmp_path / "made"
    (made / "sub").mkdir(parents=True)
    (made / "sub" / "log.txt").write_text("lines\n")
    key = cache.key("run", {"x": 1})
    assert cache.get("run", key) is None
    cache.put("run", key, {"seconds": 1.5}, files_from=made)
    target = tmp_path / "new-run"
    assert cache.get("run", key, files_to=target) == {"seconds": 1.5}
    assert (target / "sub" / "log.txt").read_text() == "lines\n"
    assert cache.hits == {"run": 1}


def test_force_recomputes_one_stage_or_all(tmp_path):
    cache = StageCache(tmp_path)
    for stage in ("run", "diff"):
        cache.put(stage, "k", {"v": stage})
    forced = StageCache(tmp_path, {"run"})
    assert forced.get("run", "k") is None and forced.get("diff", "k") == {"v": "diff"}
    assert StageCache(tmp_path, {ALL}).get("diff", "k") is None


def test_unknown_force_stage_is_a_usage_error_with_the_choices(tmp_path):
    with pytest.raises(UsageError) as err:
        StageCache.from_option(tmp_path, ["runn"], ["run", "diff"])
    assert "runn" in err.value.message and "run, diff" in err.value.hint and err.value.exit_code == EXIT_USAGE
    assert StageCache.from_option(tmp_path, ["*"], ["run"]).forced("anything")


def test_damaged_entry_is_a_miss_and_is_replaced(tmp_path):
    cache = StageCache(tmp_path)
    cache.put("diff", "k", {"rows": [1]})
    (tmp_path / "diff" / "k" / "result.json").write_text("{not json")
    assert cache.get("diff", "k") is None
    cache.put("diff", "k", {"rows": [2]})
    assert cache.get("diff", "k") == {"rows": [2]}
    assert [p.name for p in (tmp_path / "diff").iterdir()] == ["k"]   # no temporary left behind


def test_digests_follow_content(tmp_path):
    (tmp_path / "a").write_text("1")
    before = tree_digest(tmp_path)
    (tmp_path / "a").write_text("2")
    assert tree_digest(tmp_path) != before
    assert code_digest("bundle/stagecache.py") == code_digest("bundle/stagecache.py")


def test_an_unwritable_cache_costs_only_the_reuse(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache root should be")
    cache = StageCache(blocker)
    cache.put("diff", "k", {"rows": []})          # logged, not raised
    assert cache.get("diff", "k") is None


def test_a_run_folder_from_the_stage_cache_is_named_by_its_key_not_hashed_again(tmp_path):
    from bundle import stagekeys

    folder = tmp_path / "runs" / "sim-litert" / "kws" / "accuracy"
    folder.mkdir(parents=True)
    (folder / "results.txt").write_text("m-results-[0.1]\n")
    hashed = stagekeys.run_identity({"dir": folder, "label": "sim-litert", "seconds": 1.0})
    assert hashed["dir"] == tree_digest(folder) and "seconds" not in hashed
    stagekeys.known_content(folder, "k" * 64)
    named = stagekeys.run_identity({"dir": str(folder), "label": "sim-litert", "seconds": 2.0})
    assert named == {"dir": {"cached": "k" * 64}, "label": "sim-litert"}


def test_host_runs_are_keyed_by_what_their_program_is_built_from(tmp_path):
    from bundle.reproduce_config import load_reproduce_config
    from bundle.pipeline.outputs import Compiled
    from bundle.pipeline.run import HOST_REGENERATED, host_build_inputs
    from bundle.pipeline.session import session_for

    s = session_for(load_reproduce_config(), tmp_path, outputs={"compile": Compiled({}, tmp_path, key="c" * 64)})
    native = host_build_inputs(s.request, s, "host", "microtvm_native/NUCLEO_L4R5ZI")
    cmsis = host_build_inputs(s.request, s, "host", "microtvm_cmsis_nn/NUCLEO_L4R5ZI")
    regenerated = host_build_inputs(s.request, s, HOST_REGENERATED, "microtvm_native/NUCLEO_L4R5ZI")
    assert native != cmsis and native["regenerated_from"] is None and regenerated["regenerated_from"] == "c" * 64
    assert native["cmsis"]["commit"] and any(p.startswith("published/octoml-v1.0/code/") for p in native["code"])
