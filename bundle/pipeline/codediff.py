"""codediff: each build's regenerated model code against the published one, a row per build
appended to toolchain/codediff.jsonl as each is compared; then the published projects with the
regenerated model swapped in (<run_dir>/code), which the host DUT runs as "host-regenerated".

Cached: the result is a function of the compile stage's key (the MLF archives), the published
code tree's pins and the comparing code; a hit brings back the rows, diffs and the tree."""
from __future__ import annotations

import tempfile
from pathlib import Path

from bundle import jsonout
from bundle.pipeline.chain import ChainStage, toolchain_dir
from bundle.pipeline.outputs import PUBLISHED, CodeDiff

OUTPUTS = ("toolchain/codediff.jsonl", "toolchain/codediff", "code")   # under the run folder


class Codediff(ChainStage):
    name = "codediff"
    inputs_from = ("code", "compile")
    code = ("bundle/pipeline/codediff.py",)   # its imports follow (bundle/codedeps.py)

    def key(self, req, s) -> dict:
        from bundle.stagecache import code_digest
        from bundle.stagekeys import lock_entries

        return {"code": code_digest(*self.code), "compiled": s.outputs["compile"].key,
                "published_code": lock_entries(f"{PUBLISHED}code/")}

    def run(self, req, s) -> CodeDiff:
        cache, compiled = s.cache, s.outputs.get("compile")
        key = cache.key(self.name, self.key(req, s)) if cache and compiled and compiled.key else None
        hit = cache.get(self.name, key, files_to=req.run_dir) if key else None
        if hit is not None:
            rows = [_diff_paths(r, lambda d: str(req.run_dir / d)) for r in hit["rows"]]
            out = s.outputs[self.name] = CodeDiff(rows, req.run_dir / "code")
            return out
        out = s.outputs[self.name] = CodeDiff()   # the rows so far, should a later build fail
        _compare_all(req, s.outputs["code"].tree, out)
        if key:
            rel = [_diff_paths(r, lambda d: str(Path(d).relative_to(req.run_dir))) for r in out.compared]
            cache.put(self.name, key, {"rows": rel}, files_from=req.run_dir, only=OUTPUTS)
        return out


def _diff_paths(row: dict, move) -> dict:
    """The row with its diff paths (its cause test's too) passed through `move`: the cache keeps
    them relative to the run folder."""
    out = {**row, "diff": move(row["diff"]) if row["diff"] else None}
    if row.get("cause_test"):
        out["cause_test"] = _diff_paths(row["cause_test"], move)
    return out


def _compare(cfg, code: Path, archive: Path, diffs: Path) -> dict:
    from bundle.toolchain.codediff import compare_trees, extract_mlf

    with tempfile.TemporaryDirectory() as tmp:
        regenerated = extract_mlf(archive, Path(tmp) / "mlf")
        return compare_trees(cfg.name, code / cfg.code_path / "model", regenerated,
                             diffs / f"{cfg.name}.diff", cfg.workspace_size)


def _compare_all(req, code: Path, out: CodeDiff) -> None:
    from bundle.toolchain.codediff import with_cause_test
    from bundle.toolchain.compile import CAUSE_TEST_MLF
    from bundle.toolchain.compile_config import compile_configs
    from bundle.toolchain.regenerated import regenerated_tree

    folder = toolchain_dir(req)
    for cfg in compile_configs():
        row = _compare(cfg, code, req.run_dir / "builds" / cfg.name / "model.tar", folder / "codediff")
        if cfg.cause_test:
            row = with_cause_test(row, cfg, _compare(cfg, code, req.run_dir / "builds" / cfg.name / CAUSE_TEST_MLF,
                                                     folder / "codediff" / "cause-test"))
        with open(folder / "codediff.jsonl", "a") as fh:
            fh.write(jsonout.dumps(row) + "\n")
        out.compared.append(row)
    out.regenerated = regenerated_tree(
        code, [(c.code_path, req.run_dir / "builds" / c.name / "model.tar") for c in compile_configs()],
        req.run_dir / "code")
