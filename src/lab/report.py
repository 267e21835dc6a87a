"""Render executed run notebooks to HTML (code hidden) and rebuild ``reports/index.html``.

Reports are for reviewers: the code cells are hidden, and any output table that shows a raw id
column (user_id, src, dst) is replaced by a note, so no user id leaves the run folder.
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import yaml
from matplotlib.figure import Figure
from nbconvert import HTMLExporter

from lab.paths import REPORTS_DIR, RUNS_DIR

ID_COLUMNS = ("user_id", "src", "dst")
_ID_HEADER = re.compile(r"<th[^>]*>\s*(?:" + "|".join(ID_COLUMNS) + r")\s*</th>")
_ID_TEXT = re.compile(r"\buser_id\b")
REDACTED = "[a table with raw user ids was removed from this report]"
# Error messages name offending ids as "... id(s) ..., e.g. 17, 42": the examples go, the count stays.
_ID_EXAMPLES = re.compile(r"(id\(s\)[^\n]*?e\.g\. )[^;\n'\"]+")
IDS_REMOVED = "[ids removed]"


def redact_text(text: str) -> str:
    """``text`` with the example ids of an error message replaced (``e.g. 17, 42`` -> ``e.g. [ids removed]``)."""
    return _ID_EXAMPLES.sub(lambda m: m.group(1) + IDS_REMOVED, text)


def _shows_ids(output: dict) -> bool:
    """True if an output shows a table with an id column (HTML header, else plain text)."""
    data = output.get("data", {})
    if "text/html" in data:
        page = data["text/html"]
        return bool(_ID_HEADER.search(page if isinstance(page, str) else "".join(page)))
    text = data.get("text/plain", output.get("text", ""))
    return bool(_ID_TEXT.search(text if isinstance(text, str) else "".join(text)))


def redact_ids(notebook: nbformat.NotebookNode) -> int:
    """Replace outputs that print a raw id column with a note; return how many were replaced."""
    replaced = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for i, output in enumerate(cell.get("outputs", [])):
            if output.get("output_type") in ("execute_result", "display_data", "stream") and _shows_ids(output):
                cell.outputs[i] = nbformat.v4.new_output("stream", name="stdout", text=REDACTED + "\n")
                replaced += 1
            elif output.get("output_type") == "error":
                output["evalue"] = redact_text(output.get("evalue", ""))
                output["traceback"] = [redact_text(line) for line in output.get("traceback", [])]
    return replaced


def drop_stderr(notebook: nbformat.NotebookNode) -> int:
    """Remove stderr streams (progress bars, library warnings) from a report; return how many went.

    They help whoever runs the notebook, not whoever reads the report; the executed notebook in the
    run folder keeps them. Errors are ``error`` outputs, not streams, so a failed cell still shows.
    """
    dropped = 0
    for cell in notebook.cells:
        outputs = cell.get("outputs", [])
        kept = [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        dropped += len(outputs) - len(kept)
        if cell.cell_type == "code":
            cell.outputs = kept
    return dropped


def _write_atomic(path: Path, text: str) -> Path:
    """Write through a temporary file and rename, so two runners finishing at once never mix pages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)
    return path


def render_run(folder: Path, reports_dir: Path = REPORTS_DIR) -> Path | None:
    """Render ``folder/notebook.ipynb`` to ``reports/<run>.html`` with code hidden; None if absent or unreadable."""
    source = folder / "notebook.ipynb"
    if not source.exists():
        return None
    try:
        notebook = nbformat.read(source, as_version=4)
    except (OSError, ValueError) as err:
        warnings.warn(f"{folder.name}: notebook.ipynb is unreadable ({type(err).__name__}); no report", stacklevel=2)
        return None
    drop_stderr(notebook)
    redact_ids(notebook)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": folder.name}})
    return _write_atomic(reports_dir / f"{folder.name}.html", body)


def _read_json(path: Path) -> dict:
    try:
        found = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


FINAL = ("ok", "failed", "interrupted")


def run_summary(folder: Path) -> dict:
    """One row of the index: study, spec, parameters off their defaults, status, headline, report link.

    A folder whose params.yaml cannot be read is a ``corrupt`` row, not an error."""
    status = _read_json(folder / "status.json")
    try:
        params = yaml.safe_load((folder / "params.yaml").read_text())
        if not isinstance(params, dict):
            raise ValueError("not a mapping")
    except (OSError, ValueError, yaml.YAMLError):
        return {"run": folder.name, "study": "?", "spec": "?", "parameters": {}, "status": "corrupt",
                "error": "params.yaml is missing or unreadable: this folder was skipped", "runtime_seconds": None,
                "headline": {}}
    shown = params.get("overrides", params.get("parameters", {}))
    parameters = {k: v for k, v in (shown or {}).items() if k != "output_dir"}
    return {"run": folder.name, "study": params.get("name", "?"), "spec": params.get("spec") or params.get("name", "?"),
            "parameters": parameters, "status": status.get("status", "unknown"),
            "error": redact_text(str(status.get("error", ""))), "runtime_seconds": status.get("runtime_seconds"),
            "headline": _read_json(folder / "metrics.json").get("headline", {})}


def _run_folders(runs_dir: Path) -> list[Path]:
    return sorted((f for f in runs_dir.glob("*") if f.is_dir()), reverse=True) if runs_dir.exists() else []


PAGE_STYLE = """body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
tr.failed td, tr.corrupt td, tr.interrupted td { background: #fdecea; }
img { max-width: 100%; }"""


def build_index(runs_dir: Path = RUNS_DIR, reports_dir: Path = REPORTS_DIR) -> Path:
    """Write ``reports/index.html``: the sweep pages, then one table per spec with a row per run, newest
    first; parameters are shown only where they differ from the notebook's defaults."""
    rows = [run_summary(f) for f in _run_folders(runs_dir)]
    sections = []
    sweeps = sorted(reports_dir.glob("sweep-*.html"), reverse=True) if reports_dir.exists() else []
    if sweeps:
        links = "".join(f'<li><a href="{html.escape(p.name)}">{html.escape(p.stem)}</a></li>' for p in sweeps)
        sections.append(f"<h2>Sweeps</h2><ul>{links}</ul>")
    for spec in dict.fromkeys(r["spec"] for r in rows):
        body = []
        for row in (r for r in rows if r["spec"] == spec):
            report = reports_dir / f"{row['run']}.html"
            link = f'<a href="{html.escape(report.name)}">report</a>' if report.exists() else "no report"
            params = "<br>".join(f"{html.escape(str(k))}={_format(v)}" for k, v in row["parameters"].items())
            headline = "<br>".join(f"{html.escape(str(k))}: {_format(v)}" for k, v in row["headline"].items())
            status = row["status"] + (f"<br><small>{html.escape(row['error'][:300])}</small>" if row["error"] else "")
            seconds = "" if row["runtime_seconds"] is None else f"{row['runtime_seconds']:.0f} s"
            body.append(f"<tr class='{html.escape(row['status'])}'><td>{html.escape(row['study'])}</td>"
                        f"<td><small>{html.escape(row['run'])}</small></td><td><small>{params or 'defaults'}"
                        f"</small></td><td>{status}</td><td>{seconds}</td><td><small>{headline}</small></td>"
                        f"<td>{link}</td></tr>")
        sections.append(f"<h2>{html.escape(spec)}</h2><table><thead><tr><th>study</th><th>run</th>"
                        "<th>parameters (off their defaults)</th><th>status</th><th>time</th><th>key metrics</th>"
                        f"<th>report</th></tr></thead><tbody>{''.join(body)}</tbody></table>")
    counts = {k: sum(r["status"] == k for r in rows) for k in ("ok", "failed", "interrupted", "corrupt")}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    page = (f'<!doctype html>\n<html><head><meta charset="utf-8"><title>lab reports</title><style>{PAGE_STYLE}'
            f"</style></head><body>\n<h1>lab: study reports</h1>\n<p>{len(rows)} run(s)"
            f"{'; ' + summary if summary else ''}"
            f". Each run folder lives in <code>{html.escape(str(runs_dir))}</code>.</p>\n{''.join(sections)}"
            "\n</body></html>\n")
    return _write_atomic(reports_dir / "index.html", page)


def _figure_html(fig: Figure) -> str:
    """The figure as an inline PNG (a sweep page is one self-contained file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def sweep_table(folders: list[Path]) -> tuple[pd.DataFrame, list[str]]:
    """One row per finished run of a sweep: its swept parameters and numeric headline figures."""
    rows, swept = [], []
    for folder in folders:
        params = yaml.safe_load((folder / "params.yaml").read_text())
        swept = [k for k in params.get("swept", []) if k != "seed"]
        headline = _read_json(folder / "metrics.json").get("headline", {})
        numbers = {k: v for k, v in headline.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numbers:
            rows.append({**{k: params["parameters"].get(k) for k in [*swept, "seed"]}, **numbers})
    return pd.DataFrame(rows), swept


def render_sweep(name: str, folders: list[Path], reports_dir: Path = REPORTS_DIR) -> Path | None:
    """``reports/sweep-<name>.html``: each headline figure against each swept parameter (mean with a 95%
    interval over seeds), and a heatmap of the means for two swept parameters. None if nothing is swept."""
    table, swept = sweep_table(folders)
    if table.empty or not swept:
        return None
    metrics = [c for c in table.columns if c not in (*swept, "seed")]
    parts = [f"<h1>Sweep: {html.escape(name)}</h1><p>{len(table)} finished run(s) over "
             f"{', '.join(html.escape(s) for s in swept)}; intervals are 95% over seeds.</p>"]
    for metric in metrics:
        fig = Figure(figsize=(4.5 * len(swept), 3.2))
        axes = fig.subplots(1, len(swept), squeeze=False)
        for ax, parameter in zip(axes[0], swept):
            stats = table.groupby(parameter)[metric].agg(["mean", "sem", "count"]).reset_index()
            half = 1.96 * stats["sem"].fillna(0.0)
            labels = stats[parameter].astype(str)
            ax.errorbar(range(len(stats)), stats["mean"], yerr=half, marker="o", capsize=3)
            ax.set_xticks(range(len(stats)), labels)
            ax.set(xlabel=parameter, ylabel=metric)
        fig.suptitle(metric)
        parts.append(_figure_html(fig))
        if len(swept) == 2:
            grid = table.pivot_table(index=swept[0], columns=swept[1], values=metric, aggfunc="mean")
            fig = Figure(figsize=(1.2 * grid.shape[1] + 2.5, 0.6 * grid.shape[0] + 1.8))
            ax = fig.subplots()
            image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
            ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
            ax.set(xlabel=swept[1], ylabel=swept[0], title=f"{metric} (mean over seeds)")
            fig.colorbar(image, ax=ax)
            parts.append(_figure_html(fig))
    page = (f'<!doctype html>\n<html><head><meta charset="utf-8"><title>sweep {html.escape(name)}</title>'
            f"<style>{PAGE_STYLE}</style></head><body>{''.join(parts)}<p><a href='index.html'>all reports</a></p>"
            "</body></html>\n")
    return _write_atomic(reports_dir / f"sweep-{name}.html", page)


def render_all(runs_dir: Path = RUNS_DIR, reports_dir: Path = REPORTS_DIR, only_missing: bool = True,
               runs: list[Path] | None = None) -> Path:
    """Render reports, then rebuild the index once.

    With ``runs`` (the folders one ``lab run`` just finished) exactly those are rendered, and each
    swept study among them gets its sweep page. Without, every finished run that has no report yet (or
    every finished run) is rendered; runs still queued or running are left for their own runner."""
    if runs is not None:
        for folder in runs:
            render_run(folder, reports_dir)
        # One page per study of this invocation, named by its first run's time (a large grid's folders
        # are created over several seconds, so their own stamps differ).
        by_study: dict[tuple[str, str], list[Path]] = {}
        for folder in runs:
            summary = run_summary(folder)
            if summary["status"] == "ok":
                by_study.setdefault((summary["spec"], summary["study"]), []).append(folder)
        for (spec, study), folders in by_study.items():
            render_sweep(f"{spec}-{study}-{min(f.name for f in folders)[:15]}", folders, reports_dir)
    else:
        for folder in _run_folders(runs_dir):
            if run_summary(folder)["status"] not in FINAL:
                continue
            if not (only_missing and (reports_dir / f"{folder.name}.html").exists()):
                render_run(folder, reports_dir)
    return build_index(runs_dir, reports_dir)
