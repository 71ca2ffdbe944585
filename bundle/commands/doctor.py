"""`tinyrepro doctor [--json]`: preflight of the host (Docker, images, serial, probes, disk, network)."""
from __future__ import annotations

import json

from bundle.errors import EXIT_ENGINE, EXIT_OK

MARK = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this host: Docker, images, serial devices, probes, disk, network")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--artifacts", default="artifacts", help="where outputs go (for the disk check)")
    p.set_defaults(func=run)


def run(args) -> int:
    from bundle import doctor

    checks = doctor.run_all(args.artifacts)
    overall = doctor.worst(checks)
    if args.json:
        print(json.dumps({"status": overall, "checks": doctor.as_json(checks)}, indent=2))
    else:
        _print_table(checks, overall)
    # Warnings (no board, no GitHub) still allow a partial reproduction; failures do not.
    return EXIT_ENGINE if overall == doctor.FAIL else EXIT_OK


def _print_table(checks, overall) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.name, MARK[c.status], c.detail, c.fix)
    console = Console()
    console.print(table)
    console.print(f"overall: {MARK[overall]}")
