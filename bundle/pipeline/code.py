"""code: OctoML's code tree, which came with the published tree (fetch stage), each file
SHA-256 verified against the lock, which is its manifest."""
from __future__ import annotations

from bundle.pipeline.chain import ChainStage
from bundle.pipeline.outputs import CodeTree


class Code(ChainStage):
    name = "code"
    inputs_from = ("fetch",)

    def run(self, req, s) -> CodeTree:
        tree = s.fetched.code
        return CodeTree(tree, sum(1 for p in tree.rglob("*") if p.is_file()))
