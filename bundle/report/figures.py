"""The report's figures, drawn with matplotlib (Agg) as self-contained SVG text.

Each function takes plain data (see bundle.report.figdata for where it comes from) and
returns an SVG document; none reads files or knows the pipeline, so the HTML writer can
embed them as data URIs and tests can call them on small inputs.

- `verdict_overview(groups)`: stacked bars of verdict counts per group (section / benchmark)
- `output_agreement(series)`: per input, how far the reproduced output vector is from the
  published one (0 where equal)
- `throughput_windows(series)`: inferences per second of each performance window
- `energy_trace(trace)`: one EMON trace as power over time, inference windows shaded
- `latency_estimates(points)`: estimated against published latency; an empty-state note
  when there is none
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")   # no display, no GUI toolkit: the report is written headless
import matplotlib.pyplot as plt  # noqa: E402

# Text stays text (smaller, searchable); fixed ids and no date keep the SVG reproducible.
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "tinyrepro", "font.size": 9,
                            "axes.spines.top": False, "axes.spines.right": False})

VERDICT_COLOURS = {"MATCH": "#2e7d32", "WITHIN_TOLERANCE": "#9ccc65", "DIFFERENT": "#c62828",
                   "NOT_COMPARABLE": "#90a4ae", "NOT_RUN": "#ffb300"}
MAX_TRACE_POINTS = 4000   # an EMON trace has ~70k samples; the plot keeps each bucket's mean


@dataclass
class AgreementSeries:
    """One accuracy run against its published log: per input, max |reproduced - published|."""
    label: str                    # e.g. "sim-litert vs microtvm_native/NUCLEO_L4R5ZI kws"
    distances: list[float]        # per published input, in log order; nan where not reproduced
    equal: int
    total: int


@dataclass
class WindowSeries:
    label: str
    windows: list[int]            # window numbers (2, 4, ... 10)
    throughput: list[float]       # inferences per second
    valid: list[bool] = field(default_factory=list)
    group: str = ""               # one panel per group (the benchmark)


@dataclass
class TraceData:
    label: str
    fs: float                     # samples per second
    power_mw: list[float]         # decimated power, mW
    step_s: float                 # seconds per plotted point
    windows: list[tuple[int, float, float]]   # (window number, start s, end s)
    energy_uj: float | None = None             # median energy per inference


@dataclass
class LatencyPoint:
    label: str                    # system / benchmark and where the estimate came from
    published_ms: float
    estimate_ms: float


def to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def note_figure(title: str, note: str) -> str:
    """A small figure that says why there is nothing to draw (an empty state, not a blank)."""
    fig, ax = plt.subplots(figsize=(7, 1.6))
    ax.set_axis_off()
    ax.set_title(title, loc="left")
    ax.text(0.5, 0.45, note, ha="center", va="center", wrap=True, color="#555555",
            transform=ax.transAxes)
    return to_svg(fig)


def verdict_overview(groups: dict[str, dict[str, int]]) -> str:
    """groups: label -> verdict -> count; one horizontal stacked bar per label."""
    if not groups:
        return note_figure("Verdicts", "no rows in this report")
    labels = list(groups)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.4))
    left = [0] * len(labels)
    for verdict, colour in VERDICT_COLOURS.items():
        counts = [groups[lab].get(verdict, 0) for lab in labels]
        if not any(counts):
            continue
        bars = ax.barh(labels, counts, left=left, color=colour, label=verdict.replace("_", " ").lower())
        ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], label_type="center", fontsize=8)
        left = [a + b for a, b in zip(left, counts)]
    ax.invert_yaxis()
    ax.set_xlabel("numbers (rows of the report)")
    ax.set_title("Verdicts per section and benchmark", loc="left")
    ax.legend(ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.6 / max(len(labels), 1)),
              frameon=False, fontsize=8)
    return to_svg(fig)


def output_agreement(series: list[AgreementSeries]) -> str:
    if not series:
        return note_figure("Per-input output agreement", "no accuracy run in this report")
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 1.9 * len(series) + 0.4), squeeze=False)
    for ax, s in zip(axes[:, 0], series):
        xs = list(range(len(s.distances)))
        same = [x for x in xs if s.distances[x] == 0]
        diff = [x for x in xs if s.distances[x] not in (0,) and s.distances[x] == s.distances[x]]
        missing = [x for x in xs if s.distances[x] != s.distances[x]]
        ax.scatter(same, [0] * len(same), s=3, color=VERDICT_COLOURS["MATCH"], label="equal")
        ax.scatter(diff, [s.distances[x] for x in diff], s=14, color=VERDICT_COLOURS["DIFFERENT"],
                   label="differs (max |Δ| of the output vector)")
        if missing:
            ax.scatter(missing, [0] * len(missing), s=14, marker="x", color=VERDICT_COLOURS["NOT_RUN"],
                       label="not reproduced")
        ax.set_title(f"{s.label}: {s.equal}/{s.total} output vectors equal", loc="left", fontsize=9)
        ax.set_ylabel("max |Δ|")
        ax.set_xlim(-1, max(len(xs), 1))
        ax.legend(loc="upper right", fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel("input (order of the published log)")
    fig.tight_layout()
    return to_svg(fig)


def throughput_windows(series: list[WindowSeries]) -> str:
    if not series:
        return note_figure("Throughput per performance window", "no performance run with window data")
    groups = list(dict.fromkeys(s.group for s in series))
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.6 * len(groups) + 0.4), squeeze=False)
    for ax, group in zip(axes[:, 0], groups):
        members = [s for s in series if s.group == group]
        width = 1.6 / len(members)
        for i, s in enumerate(members):
            xs = [w + (i - (len(members) - 1) / 2) * width for w in s.windows]
            bars = ax.bar(xs, s.throughput, width=width, label=s.label)
            for bar, ok in zip(bars, s.valid or [True] * len(bars)):
                if not ok:
                    bar.set_hatch("//")
        ax.set_xticks(sorted({w for s in members for w in s.windows}))
        ax.set_ylabel("inferences / s")
        ax.set_yscale("log")
        ax.set_title(f"{group}: throughput per performance window", loc="left", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("performance window (EnergyRunner numbering; hatched: shorter than 10 s, invalid)")
    fig.tight_layout()
    return to_svg(fig)


def energy_trace(trace: TraceData) -> str:
    fig, ax = plt.subplots(figsize=(8, 2.3))
    ts = [i * trace.step_s for i in range(len(trace.power_mw))]
    ax.plot(ts, trace.power_mw, linewidth=0.6, color="#1565c0")
    for number, start, end in trace.windows:
        ax.axvspan(start, end, color="#ffb300", alpha=0.25, linewidth=0)
        ax.text((start + end) / 2, 1.0, f"w{number}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7)
    ax.set_xlabel("time since `emon trace on` (s); shaded: inference windows")
    ax.set_ylabel("power (mW)")
    title = trace.label + (f": median {trace.energy_uj:.1f} µJ/inference" if trace.energy_uj else "")
    ax.set_title(title, loc="left", fontsize=9, pad=12)
    return to_svg(fig)


def latency_estimates(points: list[LatencyPoint], why_empty: str = "") -> str:
    if not points:
        return note_figure("Latency estimates against the published latencies",
                           why_empty or "no latency estimate in this run (no emulated or board DUT "
                                        "produced a comparable latency)")
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(points) + 1.4))
    ys = list(range(len(points)))
    ax.scatter([p.published_ms for p in points], ys, marker="|", s=300, color="#000000", label="published")
    ax.scatter([p.estimate_ms for p in points], ys, marker="o", color="#1565c0", label="estimate")
    for y, p in zip(ys, points):
        ax.plot([p.published_ms, p.estimate_ms], [y, y], color="#90a4ae", linewidth=1)
        ax.annotate(f"×{p.estimate_ms / p.published_ms:.2f}", (max(p.published_ms, p.estimate_ms), y),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(ys, [p.label for p in points])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_title("Latency estimates against the published latencies", loc="left")
    ax.legend(fontsize=7, frameon=False)
    return to_svg(fig)
