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
    code = ("bundle/toolchain/codediff.py", "bundle/toolchain/regenerated.py", "bundle/toolchain/compile_config.py",
            "bundle/catalogue.py", "bundle/data/compile.yaml")

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
            rows = [{**r, "diff": str(req.run_dir / r["diff"]) if r["diff"] else None} for r in hit["rows"]]
            out = s.outputs[self.name] = CodeDiff(rows, req.run_dir / "code")
            return out
        out = s.outputs[self.name] = CodeDiff()   # the rows so far, should a later build fail
        _compare_all(req, s.outputs["code"].tree, out)
        if key:
            rel = [{**r, "diff": str(Path(r["diff"]).relative_to(req.run_dir)) if r["diff"] else None}
                   for r in out.compared]
            cache.put(self.name, key, {"rows": rel}, files_from=req.run_dir, only=OUTPUTS)
        return out


def _compare_all(req, code: Path, out: CodeDiff) -> None:
    from bundle.toolchain.codediff import compare_trees, extract_mlf
    from bundle.toolchain.compile_config import compile_configs
    from bundle.toolchain.regenerated import regenerated_tree

    folder = toolchain_dir(req)
    for cfg in compile_configs():
        with tempfile.TemporaryDirectory() as tmp:
            regenerated = extract_mlf(req.run_dir / "builds" / cfg.name / "model.tar", Path(tmp) / "mlf")
            row = compare_trees(cfg.name, code / cfg.code_path / "model", regenerated,
                                folder / "codediff" / f"{cfg.name}.diff", cfg.workspace_size)
        with open(folder / "codediff.jsonl", "a") as fh:
            fh.write(jsonout.dumps(row) + "\n")
        out.compared.append(row)
    out.regenerated = regenerated_tree(
        code, [(c.code_path, req.run_dir / "builds" / c.name / "model.tar") for c in compile_configs()],
        req.run_dir / "code")
