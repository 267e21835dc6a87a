"""Render executed run notebooks to HTML (code hidden) and rebuild ``reports/index.html``.

Reports are for reviewers: the code cells are hidden, and any output table that shows a raw id
column (user_id, src, dst) is replaced by a note, so no user id leaves the run folder.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import yaml
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


def render_run(folder: Path, reports_dir: Path = REPORTS_DIR) -> Path | None:
    """Render ``folder/notebook.ipynb`` to ``reports/<run>.html`` with code hidden; None if absent."""
    source = folder / "notebook.ipynb"
    if not source.exists():
        return None
    notebook = nbformat.read(source, as_version=4)
    drop_stderr(notebook)
    redact_ids(notebook)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": folder.name}})
    reports_dir.mkdir(parents=True, exist_ok=True)
    target = reports_dir / f"{folder.name}.html"
    target.write_text(body)
    return target


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def run_summary(folder: Path) -> dict:
    """One row of the index: study, parameters, status, headline metrics, report link."""
    params = yaml.safe_load((folder / "params.yaml").read_text()) if (folder / "params.yaml").exists() else {}
    status = _read_json(folder / "status.json")
    metrics = _read_json(folder / "metrics.json")
    parameters = {k: v for k, v in (params or {}).get("parameters", {}).items() if k != "output_dir"}
    return {"run": folder.name, "study": (params or {}).get("name", "?"), "parameters": parameters,
            "status": status.get("status", "running"), "error": redact_text(status.get("error", "")),
            "runtime_seconds": status.get("runtime_seconds"), "headline": metrics.get("headline", {})}


def build_index(runs_dir: Path = RUNS_DIR, reports_dir: Path = REPORTS_DIR) -> Path:
    """Write ``reports/index.html``: one row per run folder, newest first."""
    rows = [run_summary(f) for f in sorted(runs_dir.glob("*"), reverse=True) if f.is_dir()] \
        if runs_dir.exists() else []
    body = []
    for row in rows:
        report = reports_dir / f"{row['run']}.html"
        link = f'<a href="{html.escape(report.name)}">report</a>' if report.exists() else "no report"
        params = "<br>".join(f"{html.escape(str(k))}={_format(v)}" for k, v in row["parameters"].items())
        headline = "<br>".join(f"{html.escape(str(k))}: {_format(v)}" for k, v in row["headline"].items())
        status = row["status"] + (f"<br><small>{html.escape(row['error'][:300])}</small>" if row["error"] else "")
        seconds = "" if row["runtime_seconds"] is None else f"{row['runtime_seconds']:.0f} s"
        body.append(f"<tr class='{html.escape(row['status'])}'><td>{html.escape(row['study'])}</td>"
                    f"<td><small>{html.escape(row['run'])}</small></td><td><small>{params}</small></td>"
                    f"<td>{status}</td><td>{seconds}</td><td><small>{headline}</small></td><td>{link}</td></tr>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>lab reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 6px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }}
tr.failed td {{ background: #fdecea; }}
</style></head><body>
<h1>lab: study reports</h1>
<p>{len(rows)} run(s); {sum(r['status'] == 'ok' for r in rows)} ok,
{sum(r['status'] == 'failed' for r in rows)} failed. Each run folder lives in <code>experiments/runs/</code>.</p>
<table><thead><tr><th>study</th><th>run</th><th>parameters</th><th>status</th><th>time</th>
<th>key metrics</th><th>report</th></tr></thead><tbody>
{''.join(body)}
</tbody></table></body></html>
"""
    reports_dir.mkdir(parents=True, exist_ok=True)
    index = reports_dir / "index.html"
    index.write_text(page)
    return index


def render_all(runs_dir: Path = RUNS_DIR, reports_dir: Path = REPORTS_DIR, only_missing: bool = True) -> Path:
    """Render every run that has no report yet (or all of them), then rebuild the index."""
    if runs_dir.exists():
        for folder in sorted(runs_dir.glob("*")):
            if folder.is_dir() and not (only_missing and (reports_dir / f"{folder.name}.html").exists()):
                render_run(folder, reports_dir)
    return build_index(runs_dir, reports_dir)
