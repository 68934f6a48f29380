"""Charts of a suppressed statistics table (``vault stats --chart FILE``), as SVG or PNG bytes.

Drawn with matplotlib's Agg backend, off screen, from the table's published cells only: a
hidden cell is drawn as a hatched mark labelled ``<5``, never as its count. The
charts name categories and counts, never a case or anything a report says. matplotlib's
settings and font cache go to a private temporary folder, removed afterwards, never $HOME.
"""

from __future__ import annotations

import io
import os
import shutil
import textwrap
from typing import TYPE_CHECKING, Any

from vault import suppression
from vault.errors import UsageError
from vault.files import make_private_temp_dir
from vault.stats import footnote

if TYPE_CHECKING:
    from vault.stats import StatsTable

FORMATS = ("svg", "png")
FOOTNOTE_WIDTH = 150  # characters a line of the 7-point footnote holds across the chart
NAMES = {
    "sector": "sector",
    "harm": "harm",
    "quarter": "quarter received",
    "status": "status",
    "outcome": "outcome",
    "wants": "what the reporter wants",
}


def chart_format(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in FORMATS:
        raise UsageError("A chart is written as .svg or .png: name the file with one of those.")
    return suffix


def _pyplot(config: str) -> Any:
    os.environ["MPLCONFIGDIR"] = config
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw(table: StatsTable, fmt: str) -> bytes:
    """The chart of ``table`` as ``fmt`` (svg or png) bytes: trends by quarter as lines when
    the table counts by quarter, else bars by category."""
    config = make_private_temp_dir(None, "redress-charts-")
    try:
        plt = _pyplot(str(config))
        plt.rcParams["svg.hashsalt"] = "redress"  # the same table draws the same SVG
        fig, ax = plt.subplots(figsize=(9, 5), dpi=150)
        try:
            if "quarter" in table.by:
                _trend(ax, table)
            else:
                _bars(ax, table)
            ax.set_title(_title(table), fontsize=12)
            lines = footnote_lines(table)
            fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="#444444", va="bottom")
            fig.tight_layout(rect=(0, 0.015 + 0.025 * len(lines), 1, 1))
            out = io.BytesIO()
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(out, format=fmt, metadata=metadata)
            return out.getvalue()
        finally:
            plt.close(fig)
    finally:
        shutil.rmtree(config, ignore_errors=True)


def _title(table: StatsTable) -> str:
    what = " and ".join(NAMES[f] for f in table.by)
    who = "Reports with consent to research" if table.research_only else "Reports"
    return f"{who} by {what}"


def _footnote(table: StatsTable) -> str:
    span = ""
    if table.since or table.until:
        span = f"Received {table.since or 'from the start'} to {table.until or 'today'}. "
    total = table.total_label
    total = total[:1].upper() + total[1:]  # it starts a sentence: "Fewer than 5 reports."
    multi = any(f in ("harm", "wants") for f in table.by)
    several = " A report can name several, so bars add up to more." if multi else ""
    return f"{span}{total} reports.{several}\n{footnote(table)}"


def footnote_lines(table: StatsTable) -> list[str]:
    """The footnote as the chart prints it: each line short enough to stay inside it."""
    return [
        line
        for paragraph in _footnote(table).split("\n")
        for line in textwrap.wrap(paragraph, FOOTNOTE_WIDTH)
    ]


def _label(value: str | None) -> str:
    return "(none)" if value is None else value


def _series(table: StatsTable) -> tuple[list[str], list[tuple[str, list[Any]]]]:
    """Categories along the x axis, and one series per value of the other field."""
    if len(table.by) == 1:
        xs = [_label(v) for v in table.axes[0]]
        return xs, [("reports", list(table.cells))]
    x_field = table.by.index("quarter") if "quarter" in table.by else 0
    other = 1 - x_field
    xs = [_label(v) for v in table.axes[x_field]]
    width = len(table.axes[1])
    series = []
    for k, value in enumerate(table.axes[other]):
        cells = [
            table.cells[(i * width + k) if x_field == 0 else (k * width + i)]
            for i in range(len(xs))
        ]
        series.append((_label(value), cells))
    return xs, series


def _trend(ax: Any, table: StatsTable) -> None:
    xs, series = _series(table)
    positions = list(range(len(xs)))
    for name, cells in series:
        ys = [c.count if not c.suppressed else float("nan") for c in cells]
        (line,) = ax.plot(positions, ys, marker="o", label=name)
        for x, c in zip(positions, cells, strict=True):
            if c.suppressed:
                top = suppression.SMALL
                ax.bar(x, top, bottom=0, width=0.3, fill=False, hatch="///",
                       edgecolor=line.get_color(), linewidth=0.6)  # fmt: skip
                ax.annotate(c.label, (x, top), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(positions, xs, rotation=45, ha="right")
    ax.set_xlabel(NAMES["quarter"])
    ax.set_ylabel("reports")
    if len(series) > 1:
        ax.legend(fontsize=7, ncols=2)


def _bars(ax: Any, table: StatsTable) -> None:
    xs, series = _series(table)
    width = 0.8 / len(series)
    for k, (name, cells) in enumerate(series):
        positions = [i + (k - (len(series) - 1) / 2) * width for i in range(len(xs))]
        heights = [c.count if not c.suppressed else 0 for c in cells]
        # Each series its own colour, named: every ax.bar call (the hatched marks too) would
        # otherwise take the next colour, and two series could share one in the legend.
        colour = f"C{k % 10}"
        ax.bar(positions, heights, width=width, label=name, color=colour)
        for x, c in zip(positions, cells, strict=True):
            if c.suppressed:
                top = suppression.SMALL
                ax.bar(x, top, width=width, fill=False, hatch="///", edgecolor=colour,
                       linewidth=0.6)  # fmt: skip
                ax.annotate(c.label, (x, top), ha="center", va="bottom", fontsize=6)
    ax.set_xticks(list(range(len(xs))), xs, rotation=30, ha="right")
    ax.set_xlabel(NAMES[table.by[0]])
    ax.set_ylabel("reports")
    if len(series) > 1:
        ax.legend(fontsize=7, ncols=2, title=NAMES[table.by[1]], title_fontsize=7)
