"""The shape every stage has: a name, the image it runs in, the stages it needs, why it
cannot run (None when it can), and its work. The graph (bundle/pipeline/graph.py) runs them;
`plan` asks the same `why_not` without running anything."""
from __future__ import annotations

from typing import Any

from bundle.errors import StageUnavailable


class Stage:
    name: str = ""
    image: str | None = None           # the container image it runs in (None: this process)
    needs: tuple[str, ...] = ()        # earlier stages it cannot do without (NOT_RUN otherwise)
    # Cached stages: the entry points of the code its stage-cache key reads (its own module,
    # what it runs in a container, files it reads by path); the bundle modules and data files
    # they import come with them (bundle/codedeps.py), the modules they do not import stay out.
    code: tuple[str, ...] = ()
    hint: str | None = None            # said with the reason when it cannot run
    recorded: bool = True              # a stage record in stages.jsonl (the report is not)

    def why_not(self, req, s) -> str | None:
        """Why this stage cannot run for this request and what ran before it; None when it can."""
        return None

    def dry_run_reason(self, req, s, docker: bool) -> str | None:
        """What `plan` says; the same as why_not unless the stage says otherwise."""
        return self.why_not(req, s)

    def plan_note(self, req, s) -> str:
        """A line `plan` shows when the stage can run."""
        return ""

    def run(self, req, s) -> Any:
        raise NotImplementedError

    def not_run(self, req, s, reason: str) -> Any:
        """What a stage that cannot run still contributes (rows saying why); None for most."""
        return None

    def execute(self, req, s) -> Any:
        reason = self.why_not(req, s)
        if reason:
            raise StageUnavailable(reason, hint=self.hint)
        return self.run(req, s)

    def container(self, ctx) -> Any:
        """Its containerized form (bundle.engine.base.StageSpec) for compose/compose.yaml, if any."""
        return None
