"""What the build-chain stages (code, compile, codediff, firmware, flash) share: the root
cause of a stage that cannot run comes first (the network, a missing board or probe runner),
then a missing image, then an earlier stage whose output it consumes."""
from __future__ import annotations

from pathlib import Path

from bundle.pipeline.base import Stage


class ChainStage(Stage):
    inputs_from: tuple[str, ...] = ()   # earlier stages whose output it consumes

    def blocked(self, req, s) -> str | None:
        """The root cause this stage has of its own (network, board); None when none."""
        return None

    def why_not(self, req, s) -> str | None:
        reason = self.blocked(req, s)
        if reason:
            return reason
        if self.image and self.image not in s.images.built:
            plan = s.images.plans.get(self.image)
            return f"the {self.image} image is not available: {plan.reason if plan else 'images stage did not run'}"
        missing = [d for d in self.inputs_from if d not in s.ran]
        if missing:
            return f"needs the output of stage(s) {', '.join(missing)}, which did not run"
        return None


def toolchain_dir(req) -> Path:
    out = req.run_dir / "toolchain"
    out.mkdir(parents=True, exist_ok=True)
    return out
