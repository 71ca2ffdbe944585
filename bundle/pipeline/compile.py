"""compile: the 12 published builds' models compiled by TVM (the tvm image), one MLF archive
each under <run_dir>/builds/<build>/model.tar."""
from __future__ import annotations

from bundle.pipeline.chain import ChainStage
from bundle.pipeline.outputs import Compiled

NOT_SELECTED = "not selected (--no-compile)"


class Compile(ChainStage):
    name = "compile"
    image = "tvm"
    # This module, the script it runs in the tvm image and the engine that runs it; their
    # imports follow (bundle/codedeps.py). How the image is built is in its id (`key`).
    code = ("bundle/pipeline/compile.py", "bundle/toolchain/tvm_compile.py", "bundle/engine")

    def blocked(self, req, s) -> str | None:
        return None if req.options.compile else NOT_SELECTED

    def key(self, req, s, configs: list, image_id: str) -> dict:
        """The tvm image (its id covers TVM and its build), the configurations, the models they
        compile and the in-image script."""
        from dataclasses import asdict

        from bundle.stagecache import code_digest
        from bundle.stagekeys import lock_entries

        return {"code": code_digest(*self.code), "image": image_id,
                "configs": [asdict(c) if hasattr(c, "__dataclass_fields__") else repr(c) for c in configs],
                "models": lock_entries("models/")}

    def run(self, req, s) -> Compiled:
        from bundle.toolchain.compile import compile_stage
        from bundle.toolchain.compile_config import compile_configs

        engine, configs, builds, cache = s.engine(), compile_configs(), req.run_dir / "builds", s.cache
        image = getattr(s.images.built.get("tvm"), "image_id", None)
        key = cache.key(self.name, self.key(req, s, configs, image)) if cache and image else None
        hit = cache.get(self.name, key, files_to=builds) if key else None
        if hit is not None:   # the same image compiling the same models: the MLF archives come back
            return Compiled(hit["seconds"], builds, reused=True, key=key)
        done = {}
        # one progress item per model (the display), its seconds recorded; a build with a cause
        # test is compiled a second time with that test's options (codediff compares both)
        runs = [(cfg, False) for cfg in configs] + [(cfg, True) for cfg in configs if cfg.cause_test]
        for cfg, test in runs:
            label = f"{cfg.name} (cause test)" if test else cfg.name
            result = engine.run(compile_stage(cfg, str(req.sources.cache), str(req.run_dir), cause_test=test),
                                on_line=s.stage_sink(self.name, label))
            done[label] = round(result.duration_s, 1)
        if key:
            cache.put(self.name, key, {"seconds": done}, files_from=builds)
        return Compiled(done, builds, key=key)

    def container(self, ctx):
        from bundle.toolchain.compile import compile_stage

        return compile_stage(ctx.compile, ctx.inputs, ctx.artifacts)
