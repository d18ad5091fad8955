"""Writing tables and figures under ``results/<profile>/`` with their provenance.

A table is written three ways, each atomically (no half-written file survives a failure):
``tables/<name>.csv`` (machine-readable, one row per line of the table), ``tables/<name>.md``
(title, the table, notes, provenance) and ``tables/<name>.json`` (title, notes, provenance and
the parameters that made it). Figures go to ``figures/<name>.png``, without the matplotlib
version in their metadata. A file is rewritten only when its content changes, so a re-render
with nothing new leaves ``git status`` clean.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from ..provenance import atomic_write_bytes, atomic_write_text, write_json

__all__ = ["write_table", "save_figure", "figure_png", "fmt", "PNG_METADATA"]


def fmt(value: Any, digits: int = 2) -> str:
    """Format a number for Markdown: fixed digits, '—' for missing."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def write_table(df: pd.DataFrame, out_dir: str | Path, name: str, *, title: str,
                provenance: dict[str, Any], notes: list[str] | tuple[str, ...] = (),
                digits: int | dict[str, int] = 2, display: pd.DataFrame | None = None
                ) -> dict[str, Path]:
    """Write ``df`` as ``<out_dir>/tables/<name>.{csv,md,json}``; returns the three paths.

    ``digits`` sets the Markdown precision (one value, or per column); the CSV keeps full
    precision. ``display`` is an optional other view for the Markdown (e.g. a wide pivot of a
    long, numeric CSV).
    """
    tables = Path(out_dir) / "tables"
    csv_path, md_path, json_path = (tables / f"{name}.{ext}" for ext in ("csv", "md", "json"))
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    shown = (df if display is None else display).copy()
    for col in shown.columns:
        d = digits.get(col, 2) if isinstance(digits, dict) else digits
        shown[col] = [fmt(v, d) for v in shown[col]]
    md = [f"# {title}", "", shown.to_markdown(index=False, disable_numparse=True), ""]
    notes = list(notes) + _store_warnings(provenance)
    if notes:
        md += [f"- {n}" for n in notes] + [""]
    prov = ", ".join(f"{k}: {v}" for k, v in provenance.items() if not isinstance(v, dict))
    md += [f"<sub>Provenance — {prov}</sub>", ""]
    atomic_write_text(csv_path, buf.getvalue(), changed_only=True)
    atomic_write_text(md_path, "\n".join(md), changed_only=True)
    write_json(json_path, {"title": title, "notes": list(notes), "provenance": provenance,
                           "columns": list(df.columns), "rows": len(df)}, changed_only=True)
    return {"csv": csv_path, "md": md_path, "json": json_path}


def _store_warnings(provenance: dict[str, Any]) -> list[str]:
    """Notes a reader must see: runs trained with other code than this checkout's (a warning,
    not a silent retrain) and planned runs that were not in the store."""
    out = []
    stale = provenance.get("stale_runs") or {}
    if stale:
        reasons = sorted(set(stale.values()))
        out.append(f"**Warning: rendered from {len(stale)} run(s) trained with other code than "
                   f"this checkout's** ({'; '.join(reasons)}); `python -m sccnb runs --stale` "
                   "lists them, `make clean-runs` and a rerun retrains them.")
    missing = provenance.get("missing_runs") or []
    if missing:  # "label (seed s)" -> "label (seeds 0, 1)"
        by_label: dict[str, list[str]] = {}
        for item in missing:
            label, _, seed = item.rpartition(" (seed ")
            by_label.setdefault(label or item, []).append(seed.rstrip(")"))
        out.append(f"Not yet trained, left out: {len(missing)} run(s) — " + "; ".join(
            f"{k} (seed{'s' if len(v) > 1 else ''} {', '.join(v)})"
            for k, v in by_label.items()) + ".")
    return out


# PNG metadata matplotlib would add by default (its version): left out, so that the same figure
# is the same bytes whichever matplotlib drew it
PNG_METADATA = {"Software": None}


def figure_png(fig, dpi: int = 150) -> bytes:
    """A matplotlib figure as PNG bytes, as :func:`save_figure` writes them."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata=PNG_METADATA)
    return buf.getvalue()


def save_figure(fig, out_dir: str | Path, name: str, dpi: int = 150) -> Path:
    """Save a matplotlib figure to ``<out_dir>/figures/<name>.png`` atomically (only when its
    bytes change)."""
    return atomic_write_bytes(Path(out_dir) / "figures" / f"{name}.png", figure_png(fig, dpi),
                              changed_only=True)
