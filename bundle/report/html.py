"""report.html: one self-contained page (inline CSS, figures as SVG data URIs, no script,
nothing fetched), written beside report.md/csv/json from report.json.

`write_html(run_dir, published_root=None) -> Path` reads `<run_dir>/report.json`, draws the
figures (bundle.report.figures, data from bundle.report.figdata) and writes
`<run_dir>/report.html` atomically. Reading the JSON back keeps one source for every format.
With a stage cache (bundle.stagecache) the figures are reused when their inputs are unchanged.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from bundle.errors import ParseError
from bundle.fsutil import atomic_output
from bundle.report.row import as_rows
from bundle.report.summary import Reasons, columns, fmt, headline, short_reason, side_by_side

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1.5em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.headline{font-size:1.15em;background:#f3f6fa;border-left:4px solid #1565c0;padding:.7em 1em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.v{font-size:11px;padding:0 4px;border-radius:3px;white-space:nowrap}
.MATCH{background:#c8e6c9}.WITHIN_TOLERANCE{background:#f0f4c3}.DIFFERENT{background:#ffcdd2}
.NOT_COMPARABLE{background:#eceff1}.NOT_RUN{background:#ffe0b2}.RAN{background:#c8e6c9}.FAILED{background:#ffcdd2}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:12px}
ol.reasons li{margin-bottom:.3em;font-size:12px}sup a{text-decoration:none}
details pre{white-space:pre-wrap;font-size:11px;background:#fafafa;padding:.6em}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _img(svg: str, kind: str, alt: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="figure" data-kind="{_e(kind)}" alt="{_e(alt)}" src="data:image/svg+xml;base64,{data}">'


def _figure(svg: str, kind: str, caption: str) -> str:
    return f"<figure>{_img(svg, kind, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def _ref(ref: int | None) -> str:
    return f'<sup><a href="#reason-{ref}">[{ref}]</a></sup>' if ref else ""


def _verdict(verdict: str) -> str:
    return f'<span class="v {_e(verdict)}">{_e(verdict.replace("_", " ").lower())}</span>'


def _system_table(system: str, lines, cols: list[str]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in ["benchmark", "mode", "metric", "published"] + cols)
    body = []
    for ln in lines:
        cells = [f"<td>{_e(ln.benchmark)}</td><td>{_e(ln.mode)}</td><td>{_e(ln.metric)}</td>",
                 f'<td class="num">{_e(fmt(ln.published))}</td>']
        for col in cols:
            c = ln.cells.get(col)
            cells.append("<td></td>" if c is None else
                         f'<td class="num">{_e(fmt(c.value))} {_verdict(c.verdict)}{_ref(c.ref)}'
                         + (f'<br><small>{_e(c.outputs)}</small>' if c.outputs else "") + "</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<h3>{_e(system)}</h3><table class="results" data-system="{_e(system)}">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _stages_table(stages: list[dict], reasons: Reasons) -> str:
    rows = []
    for s in stages:
        reason = s.get("reason") or ""
        ref = reasons.ref(reason) if reason else None
        rows.append(f"<tr><td>{_e(s.get('stage'))}</td><td><span class='v {_e(s.get('status'))}'>"
                    f"{_e(s.get('status'))}</span></td><td class='num'>{float(s.get('seconds') or 0):.1f}</td>"
                    f"<td>{_e(short_reason(reason) if reason else '')}{_ref(ref)}</td></tr>")
    return ('<table class="stages"><thead><tr><th>stage</th><th>status</th><th>s</th><th>reason</th></tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _figures(doc: dict, published_root: Path | None, notes: list[str], cache=None) -> list[tuple[str, str, str]]:
    """The figures, reused from the stage cache when the rows, runs and published tree are
    the ones they were drawn from (drawing them is most of the report's time)."""
    rows, runs = doc.get("rows", []), (doc.get("environment") or {}).get("runs") or []
    if cache is None:
        return _draw(rows, runs, published_root, notes)
    from bundle import stagekeys

    published = stagekeys.lock_entries("published/") if published_root else None
    key = cache.key("figures", stagekeys.figures(rows, runs, published))
    hit = cache.get("figures", key)
    if hit is not None:
        notes += hit["notes"]
        return [tuple(f) for f in hit["figures"]]
    fresh: list[str] = []
    drawn = _draw(rows, runs, published_root, fresh)
    cache.put("figures", key, {"figures": drawn, "notes": fresh})
    notes += fresh
    return drawn


def _draw(rows: list[dict], runs: list[dict], published_root: Path | None,
          notes: list[str]) -> list[tuple[str, str, str]]:
    from bundle.report import figdata, figures   # matplotlib: imported only to draw

    def safe(kind: str, title: str, draw) -> str:
        # A figure that cannot be drawn is a note in its place: it never costs the report.
        try:
            return draw()
        except Exception as err:  # noqa: BLE001 - matplotlib and numpy raise many kinds
            notes.append(f"figure {kind}: not drawn: {type(err).__name__}: {err}")
            return figures.note_figure(title, f"not drawn: {type(err).__name__}: {err}")

    out = [(safe("verdicts", "Verdicts", lambda: figures.verdict_overview(figdata.verdict_groups(rows))),
            "verdicts", "Verdicts per section and benchmark (published-recompute: the published tree against "
                        "itself; reproduce: this run against the published one)")]
    out.append((safe("agreement", "Per-input output agreement", lambda: figures.output_agreement(
        figdata.agreement(rows, runs, published_root, notes))), "agreement",
        "Per-input output agreement: for each input of the published accuracy log, the largest "
        "difference between the reproduced and the published output vector (0: equal)"))
    out.append((safe("windows", "Throughput per performance window", lambda: figures.throughput_windows(
        figdata.window_series(rows, runs, published_root, notes))), "windows",
        "Throughput of each performance window, published and reproduced "
        "(log scale: a software DUT's throughput is this CPU's, not comparable)"))
    out.append((safe("latency", "Latency estimates", lambda: figures.latency_estimates(figdata.latency_points(rows))),
                "latency", "Latency estimates (emulated core or board) against the published latencies"))
    traces = safe("energy", "Energy traces", lambda: figdata.energy_traces(published_root, notes))
    for trace in traces if isinstance(traces, list) else []:
        out.append((safe("energy", trace.label, lambda t=trace: figures.energy_trace(t)), "energy",
                    f"Published EMON trace {trace.label}: power over time, the five timed inference "
                    "windows shaded"))
    return out


def render(doc: dict, published_root: Path | None = None, cache=None) -> str:
    rows = as_rows(doc.get("rows", []))
    reasons = Reasons()
    head = headline(rows)
    notes = list(doc.get("notes") or [])
    figs = _figures(doc, published_root, notes, cache)
    parts = [f"<h1>{_e(doc.get('title', 'report'))}</h1>",
             f'<p class="headline" id="headline">{_e(head.sentence())}</p>',
             f"<p>{_e(head.recompute_sentence())}</p>", _figure(*figs[0])]
    parts.append("<h2>Published and reproduced, per system</h2>")
    cols = columns(rows)
    for system, lines in side_by_side(rows, reasons).items():
        parts.append(_system_table(system, lines, cols))
    parts.append("<h2>Figures</h2>")
    parts += [_figure(svg, kind, caption) for svg, kind, caption in figs[1:]]
    if doc.get("stages"):
        parts += ["<h2>Stages</h2>", _stages_table(doc["stages"], reasons)]
    if notes:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li>{_e(n)}</li>" for n in notes] + ["</ul>"]
    parts.append("<h2>Reasons</h2><ol class='reasons'>" + "".join(
        f'<li id="reason-{i}">{_e(t)}</li>' for i, t in enumerate(reasons.texts, 1)) + "</ol>")
    extra = {k: v for k, v in doc.items() if k not in ("title", "notes", "rows", "stages")}
    parts.append("<h2>Details</h2><details><summary>environment, code diff, firmware, summary (JSON)"
                 f"</summary><pre>{_e(json.dumps(extra, indent=2, default=str))}</pre></details>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(doc.get('title', 'report'))}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_html(run_dir: Path, published_root: Path | None = None, cache=None) -> Path:
    run_dir = Path(run_dir)
    source = run_dir / "report.json"
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParseError(f"{source}: cannot read the report ({err})",
                         hint="report.html is drawn from report.json; rerun tinyrepro reproduce") from None
    path = run_dir / "report.html"
    with atomic_output(path) as tmp:
        tmp.write_text(render(doc, published_root, cache), encoding="utf-8")
    return path
