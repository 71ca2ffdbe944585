"""`tinyrepro published` on any submitter's tree: the silicon_labs sample end to end, and
synthetic trees (tests/unit/synthetic_trees.py) for each layout variation seen in the v1.0
round: short and long benchmark folder names, mode folders with typos, mode-prefixed file
names, files known only by content, system descriptions named three ways (some free-form),
several systems per submitter, logs missing upstream, energy with and without traces, other
EnergyRunner builds and iteration counts, other model versions, OctoML's variant level, an
unknown layout refused, and a round checkout (closed/) as one table."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import synthetic_trees as syn
from bundle.errors import ParseError
from bundle.published.detect import detect_tree, known_layouts, mode_of_name
from bundle.diff_published import recompute_tree
from bundle.published.parse import system_notes

REPO = Path(__file__).resolve().parents[2]
LONG = {"kws": "keyword_spotting", "ic": "image_classification", "vww": "visual_wake_words", "ad": "anomaly_detection"}


@pytest.fixture(scope="module")
def labels(tmp_path_factory) -> Path:
    return syn.write_labels(tmp_path_factory.mktemp("labels"))


def _rows(root: Path, labels: Path, **kw) -> dict[tuple, dict]:
    return {(r["system"], r["benchmark"], r["mode"], r["metric"]): r for r in recompute_tree(root, labels, **kw)}


def _statuses(rows: dict) -> dict[tuple, str]:
    return {k: r["status"] for k, r in rows.items()}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bundle", "published", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


# -- the silicon_labs sample, end to end --------------------------------------------------------
@pytest.fixture(scope="module")
def sample(fetcher) -> Path:
    return fetcher.fetch_tree("samples/silicon_labs-v1.0/")


@pytest.fixture(scope="module")
def datasets(fetcher) -> Path:
    return fetcher.fetch_tree("datasets/")


def test_silicon_labs_sample_every_published_number_is_a_row(sample, datasets):
    rows = recompute_tree(sample, datasets, on_error="row")
    assert {r["submitter"] for r in rows} == {"Silicon Labs"}
    assert {r["system"] for r in rows} == {"silicon_labs_xG24_DK2601B"}
    assert {(r["board_name"], r["soc_name"], r["system_description"]) for r in rows} == \
        {("xG24-DK2601B", "EFR32MG24B310F1536IM48", "silicon_labs_xG24_DK2601B.json")}
    # 4 benchmarks x (performance: throughput, latency; accuracy: top-1, AUC; energy: energy)
    assert len(rows) == 20 and not any(r["parse_error"] for r in rows)
    status = {(r["benchmark"], r["mode"], r["metric"]): r for r in rows}
    for bench in ("kws", "ic", "vww", "ad"):
        assert status[(bench, "performance", "throughput_ips")]["status"] == "MATCH"
        assert status[(bench, "performance", "latency_ms")]["status"] == "MATCH"
        energy = status[(bench, "energy", "energy_uj")]
        assert energy["status"] == "NOT_RUN" and "without its EMON traces" in energy["reason"]
        assert energy["published"] is not None
    for bench in ("kws", "ic", "vww"):
        assert status[(bench, "accuracy", "top1_pct")]["status"] == "MATCH"
        assert status[(bench, "accuracy", "auc")]["status"] == "MATCH"
    ad = status[("ad", "accuracy", "top1_pct")]
    assert ad["status"] == "NOT_RUN" and ad["reason"].startswith("accuracy_log.txt missing") and "too large" in ad["reason"]
    # iteration counts of this build: 400 per performance window (kws), recomputed from its log
    assert status[("kws", "performance", "throughput_ips")]["published"] == 27.563
    assert status[("kws", "performance", "throughput_ips")]["detail"].startswith("5/5 window lines match")
    assert status[("kws", "accuracy", "top1_pct")]["published"] == 90.3


def test_diff_reads_a_mode_folder_of_the_official_layout(sample, datasets):
    from bundle.diff import diff_mode_dirs

    folder = sample / "results" / "silicon_labs_xG24_DK2601B" / "kws" / "performance"
    rows = diff_mode_dirs(folder, folder, datasets)
    assert {(r["system"], r["benchmark"], r["verdict"]) for r in rows} == {("silicon_labs_xG24_DK2601B", "kws", "MATCH")}


def test_silicon_labs_sample_cli_exit_code_and_formats(sample, datasets, tmp_path):
    out = _cli("--source", str(sample), "--labels", str(datasets))
    assert out.returncode == 0, out.stderr
    assert "verdicts: MATCH 14, NOT_RUN 6" in out.stdout and "Silicon Labs" in out.stdout
    csv = _cli("--source", str(sample), "--labels", str(datasets), "--format", "csv", "--out", str(tmp_path))
    assert csv.returncode == 0 and csv.stdout.splitlines()[0].startswith("submitter,system,system_description")
    assert len(csv.stdout.strip().splitlines()) == 21
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["summary"]["MATCH"] == 14 and (tmp_path / "report.md").is_file()


# -- synthetic trees, one variation at a time ---------------------------------------------------
def _official(root: Path, names: dict[str, str], system: str = "acme_board_a") -> Path:
    for bench in ("kws", "ic", "vww", "ad"):
        syn.write_session(root / "results" / system / names[bench] / "performance", syn.performance(bench))
    for bench in ("kws", "ic", "vww"):
        syn.write_session(root / "results" / system / names[bench] / "accuracy", syn.accuracy(bench))
    syn.write_session(root / "results" / system / names["kws"] / "energy", syn.energy("kws"))
    return root


@pytest.mark.parametrize("names", [{b: b for b in LONG}, LONG], ids=["short", "long"])
def test_official_layout_with_short_or_long_benchmark_names(tmp_path, labels, names):
    rows = _rows(_official(tmp_path, names), labels)
    assert len(rows) == 4 * 2 + 3 * 2 + 1
    assert set(_statuses(rows).values()) == {"MATCH"}, rows
    assert {k[1] for k in rows} == {"kws", "ic", "vww", "ad"} and {k[0] for k in rows} == {"acme_board_a"}
    assert detect_tree(tmp_path).submitters[0].layout.name == "official"


def test_mode_folders_with_typos(tmp_path, labels):
    base = tmp_path / "results" / "sys1" / "kws"
    syn.write_session(base / "performace", syn.performance("kws"))
    syn.write_session(base / "accurracy", syn.accuracy("kws"))
    syn.write_session(base / "enegy", syn.energy("kws"))
    (tmp_path / "results" / "sys1" / "ic" / "acuracy").mkdir(parents=True)   # empty: known by its name only
    rows = _rows(tmp_path, labels)
    assert _statuses(rows) == {
        ("sys1", "kws", "performance", "throughput_ips"): "MATCH", ("sys1", "kws", "performance", "latency_ms"): "MATCH",
        ("sys1", "kws", "accuracy", "top1_pct"): "MATCH", ("sys1", "kws", "accuracy", "auc"): "MATCH",
        ("sys1", "kws", "energy", "energy_uj"): "MATCH",
        ("sys1", "ic", "accuracy", "top1_pct"): "NOT_RUN", ("sys1", "ic", "accuracy", "auc"): "NOT_RUN"}
    notes = system_notes(tmp_path)
    assert any("'acuracy' read as accuracy" in n for n in notes), notes
    assert mode_of_name("Performance", known_layouts()) == ("performance", False)
    assert mode_of_name("performace", known_layouts()) == ("performance", True)
    assert mode_of_name("kws", known_layouts()) == (None, False)


def test_mode_prefixed_file_names(tmp_path, labels):
    base = tmp_path / "results" / "sys1" / "vww"
    syn.write_session(base / "performance", syn.performance("vww"), prefix="performance")
    syn.write_session(base / "accuracy", syn.accuracy("vww"), prefix="accuracy")
    syn.write_session(base / "energy", syn.energy("vww"), prefix="energy")
    syn.write_session(tmp_path / "results" / "sys1" / "ad" / "accuracy", syn.results_only(syn.accuracy("kws")),
                      prefix="accuracy")
    rows = _rows(tmp_path, labels)
    assert all(rows[("sys1", "vww", m, k)]["status"] == "MATCH" for m, k in
               [("performance", "throughput_ips"), ("accuracy", "top1_pct"), ("accuracy", "auc"), ("energy", "energy_uj")])
    ad = rows[("sys1", "ad", "accuracy", "top1_pct")]
    assert ad["status"] == "NOT_RUN" and ad["reason"].startswith("accuracy_log.txt missing")


def test_files_with_other_names_are_known_by_content(tmp_path, labels):
    syn.write_session(tmp_path / "results" / "sys1" / "ic" / "performance", syn.performance("ic"),
                      rename={"log": "runner_output.txt", "results": "summary.log", "script": "sequence.js"})
    rows = _rows(tmp_path, labels)
    assert rows[("sys1", "ic", "performance", "throughput_ips")]["status"] == "MATCH"
    assert any("runner_output.txt read as the log file (by its content)" in n for n in system_notes(tmp_path))


def test_system_descriptions_named_three_ways_and_several_systems(tmp_path, labels):
    for system in ("acme_a", "acme_b", "acme_c", "acme_d", "ACME-E"):
        syn.write_session(tmp_path / "results" / system / "kws" / "performance", syn.performance("kws"))
    syn.write_description(tmp_path / "systems" / "acme_a.json", **{
        "Submitter": "Acme", "Division": "Closed", "Board Name": "Board A", "SoC Name": "SoC-A"})
    syn.write_description(tmp_path / "systems" / "acme_b_system_description.json", **{
        "Submitter": "Acme", "Board Name": "Board B", "SoC Name": "SoC-B"})
    # free-form: other spellings, nested values, no SoC
    syn.write_description(tmp_path / "results" / "acme_c" / "system_description.json", **{
        "submitter": "Acme", "board_name": "Board C", "hardware": {"clock": "80 MHz"}, "notes": "hand-written"})
    # a folder per system in systems/, the file named with another spelling of the system
    syn.write_description(tmp_path / "systems" / "ACME-E" / "ACME_E_system_description.json", **{
        "Submitter": "Acme", "Board Name": "Board E", "SoC Name": "SoC-E"})
    rows = recompute_tree(tmp_path, labels)
    by = {r["system"]: (r["submitter"], r["system_description"], r["board_name"], r["soc_name"]) for r in rows}
    assert by == {"acme_a": ("Acme", "acme_a.json", "Board A", "SoC-A"),
                  "acme_b": ("Acme", "acme_b_system_description.json", "Board B", "SoC-B"),
                  "acme_c": ("Acme", "system_description.json", "Board C", ""),
                  "acme_d": ("Acme", None, None, None),
                  "ACME-E": ("Acme", "ACME_E_system_description.json", "Board E", "SoC-E")}
    assert any("no system description found for acme_d" in n for n in system_notes(tmp_path))


def test_logs_missing_upstream_are_not_run_with_the_reason(tmp_path, labels):
    base = tmp_path / "results" / "sys1"
    syn.write_session(base / "kws" / "performance", syn.results_only(syn.performance("kws")))
    syn.write_session(base / "ad" / "accuracy", syn.results_only(syn.accuracy("kws")))
    rows = _rows(tmp_path, labels)
    perf = rows[("sys1", "kws", "performance", "throughput_ips")]
    assert perf["status"] == "NOT_RUN" and perf["published"] is not None and "log.txt missing" in perf["reason"]
    assert "AD accuracy log" in rows[("sys1", "ad", "accuracy", "auc")]["reason"]


def test_energy_with_and_without_traces(tmp_path, labels):
    base = tmp_path / "results" / "sys1"
    syn.write_session(base / "kws" / "energy", syn.energy("kws", traces=True))
    syn.write_session(base / "ic" / "energy", syn.energy("ic", traces=False))
    rows = _rows(tmp_path, labels)
    assert rows[("sys1", "kws", "energy", "energy_uj")]["status"] == "MATCH"
    without = rows[("sys1", "ic", "energy", "energy_uj")]
    assert without["status"] == "NOT_RUN" and without["published"] == 120.0
    assert without["reason"] == ("trace1-energy.bin and trace1-timestamps.json missing: cannot recompute "
                                 "(this tree publishes energy without its EMON traces)")


@pytest.mark.parametrize("build", [
    {"version": "3.0.6", "run_name": "ML Performance 1.0.0", "n": 1000},
    {"version": "3.0.10", "run_name": "ML Performance 1.0.1", "n": 20},
    {"version": "3.1.0", "run_name": "MLPerf Tiny Performance", "n": 250},
])
def test_other_energyrunner_builds_and_iteration_counts(tmp_path, labels, build):
    base = tmp_path / "results" / "sys1" / "vww"
    syn.write_session(base / "performance", syn.performance("vww", **build))
    syn.write_session(base / "energy", syn.energy("vww", n=build["n"], relay=build["n"] != 20,
                                                  version=build["version"]))
    rows = _rows(tmp_path, labels)
    thr = rows[("sys1", "vww", "performance", "throughput_ips")]
    assert thr["status"] == "MATCH" and thr["published"] == round(build["n"] / 12.0, 3)
    assert rows[("sys1", "vww", "energy", "energy_uj")]["status"] == "MATCH"


def test_other_model_versions(tmp_path, labels):
    base = tmp_path / "results" / "sys1" / "kws"
    other_inputs = [(f"kws02_in{i}.bin", i % 3) for i in range(4)]
    syn.write_session(base / "accuracy", syn.accuracy("kws", model="kws02", files=other_inputs))
    syn.write_session(base / "performance", syn.performance("kws", model="kws02"))
    syn.write_session(tmp_path / "results" / "sys1" / "ic" / "accuracy", syn.accuracy("ic", model="ic01_v2"))
    rows = _rows(tmp_path, labels)
    acc = rows[("sys1", "kws", "accuracy", "top1_pct")]
    assert acc["status"] == "NOT_RUN" and acc["published"] == 75.0 and not acc["parse_error"]
    assert acc["reason"].startswith("other model version: the log ran 'kws02', not kws01, on 4 inputs")
    assert rows[("sys1", "kws", "performance", "throughput_ips")]["status"] == "MATCH"
    # another version's name on the pinned inputs: scored against their labels
    assert rows[("sys1", "ic", "accuracy", "top1_pct")]["status"] == "MATCH"


def test_variant_layout_as_octoml(tmp_path, labels):
    for variant in ("tvm_native", "tvm_cmsis"):
        syn.write_session(tmp_path / "results" / variant / "NUCLEO-L4R5ZI" / "kws" / "performance", syn.performance("kws"))
    syn.write_description(tmp_path / "systems" / "system_description_NUCLEO_L4R5ZI_tvm_cmsis.json",
                          **{"Submitter": "Oct", "Board Name": "NUCLEO-L4R5ZI", "SoC Name": "STM32L4R5"})
    rows = recompute_tree(tmp_path, labels)
    assert {r["system"] for r in rows} == {"tvm_native/NUCLEO-L4R5ZI", "tvm_cmsis/NUCLEO-L4R5ZI"}
    assert {r["status"] for r in rows} == {"MATCH"}
    assert {r["system"]: r["system_description"] for r in rows}["tvm_cmsis/NUCLEO-L4R5ZI"] == \
        "system_description_NUCLEO_L4R5ZI_tvm_cmsis.json"
    assert detect_tree(tmp_path).submitters[0].layout.name == "variant"
    assert len(recompute_tree(tmp_path / "results", labels)) == len(rows)   # its results/ folder: the same tree


@pytest.mark.parametrize("shape", ["no_system_level", "mixed_depths", "run_folders_below_modes"])
def test_unknown_layout_is_refused_listing_what_was_found(tmp_path, labels, shape):
    results = tmp_path / "results"
    if shape == "no_system_level":
        syn.write_session(results / "kws" / "performance", syn.performance("kws"))
    elif shape == "mixed_depths":
        syn.write_session(results / "sys1" / "kws" / "performance", syn.performance("kws"))
        syn.write_session(results / "v" / "sys2" / "kws" / "performance", syn.performance("kws"))
    else:
        syn.write_session(results / "sys1" / "kws" / "performance" / "run1", syn.performance("kws"))
    with pytest.raises(ParseError) as err:
        recompute_tree(tmp_path, labels, on_error="row")
    text = str(err.value)
    assert "layout not recognized" in text and "Known layouts: official" in text and "kws/performance" in text
    assert "benchmark kws, mode performance" in text and err.value.hint
    out = _cli("--source", str(tmp_path), "--labels", str(labels))
    assert out.returncode == 5 and "layout not recognized" in out.stderr and "Traceback" not in out.stderr


def test_round_checkout_gives_one_table_over_all_submitters(tmp_path, labels):
    closed = tmp_path / "closed"
    _official(closed / "Acme", LONG)
    syn.write_description(closed / "Acme" / "systems" / "acme_board_a.json",
                          **{"Submitter": "Acme Corp", "Board Name": "A", "SoC Name": "S"})
    syn.write_session(closed / "Beta" / "results" / "variant1" / "board_b" / "ic" / "performance",
                      syn.performance("ic"))
    rows = recompute_tree(closed, labels)
    assert {r["submitter"] for r in rows} == {"Acme Corp", "Beta"}
    assert {r["status"] for r in rows} == {"MATCH"} and len(rows) == 15 + 2
    out = _cli("--source", str(closed), "--labels", str(labels), "--format", "json")
    assert out.returncode == 0, out.stderr
    assert {r["submitter"] for r in json.loads(out.stdout)} == {"Acme Corp", "Beta"}
    # a submitter whose tree fits no known layout: one row says why, the others still count, exit 5
    syn.write_session(closed / "Gamma" / "results" / "kws" / "performance", syn.performance("kws"))
    rows = recompute_tree(closed, labels, on_error="row")
    gamma = [r for r in rows if r["submitter"] == "Gamma"]
    assert len(gamma) == 1 and gamma[0]["parse_error"] and "layout not recognized" in gamma[0]["reason"]
    assert sum(r["status"] == "MATCH" for r in rows) == 17
    out = _cli("--source", str(closed), "--labels", str(labels), "--format", "md")
    assert out.returncode == 5 and "| Gamma" in out.stdout and "Acme Corp" in out.stdout


def test_a_folder_that_is_neither_a_tree_nor_a_round_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ParseError, match="no results/ folder, and no <Submitter>/results/ under it; it holds: notes.txt"):
        recompute_tree(tmp_path, None)


def test_random_trees_give_rows_or_a_precise_error(tmp_path, labels):
    """Seeded random trees (names, depths, file contents cut or garbled): every one either
    gives rows or a ParseError with a hint, never another exception."""
    import random

    from bundle.errors import ReproError

    rng = random.Random(16)
    benches, modes = ["kws", "keyword_spotting", "ic", "ad", "xyz"], ["performance", "performace", "accuracy", "energy", "run1"]
    good = {**syn.performance("kws"), **{"trace": syn.energy("kws")["trace"]}}
    outcomes = set()
    for i in range(60):
        root = tmp_path / f"t{i}"
        depth = rng.choice([3, 3, 3, 4, 2, 5])
        for _ in range(rng.randint(1, 4)):
            system = [rng.choice(["sys1", "sys2", "v"]) for _ in range(max(depth - 2, 0))]
            folder = root / "results" / Path(*system, rng.choice(benches), rng.choice(modes))
            folder.mkdir(parents=True, exist_ok=True)
            for role, (base, data) in rng.sample(sorted(good.items()), rng.randint(0, 4)):
                cut = data[:rng.randint(0, len(data))] if rng.random() < 0.4 else data
                if rng.random() < 0.2:
                    cut = bytes(rng.getrandbits(8) for _ in range(64)) + cut
                name = rng.choice([base, f"{folder.name}_{base}", f"x{rng.randint(0, 9)}.txt"])
                (folder / name).write_bytes(cut)
        try:
            rows = recompute_tree(root, labels, on_error="row")
        except ReproError as err:
            assert isinstance(err, ParseError) and err.hint, (root, err)
            outcomes.add("refused")
            continue
        assert all(r["status"] in ("MATCH", "WITHIN_TOLERANCE", "DIFFERENT", "NOT_RUN") for r in rows)
        outcomes.update(r["status"] + ("/parse_error" if r["parse_error"] else "") for r in rows)
    assert {"refused", "MATCH", "NOT_RUN", "NOT_RUN/parse_error"} <= outcomes, outcomes   # each path taken
