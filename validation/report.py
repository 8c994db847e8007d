"""The validation report: results.json, report.md, report.html and one PNG per figure.

The same markdown, with figure paths made relative to notes/, becomes notes/validation.md when
a full run is asked to write it (``lazyrich validate --notes``).
"""
from __future__ import annotations

import json
from pathlib import Path
import shutil
import time

from .claim import ClaimResult, Trained, trained_total


def _number(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} = {_number(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_number(x) for x in v) + "]"
    return "n/a" if v is None else str(v)


def _count(trained: Trained | None) -> str:
    return "–" if trained is None else f"{trained.converged}/{trained.networks}"


def trained_line(results: list[ClaimResult]) -> str:
    """One sentence: how many of the trained networks reached the end of training."""
    total = trained_total(results)
    if total is None:
        return "No claim read its numbers off trained networks."
    return (f"Networks trained to the end of training (every margin >= 1 - 1e-9, or the loss stop): "
            f"{total.converged} of {total.networks} ({total.fraction:.0%}).")


def markdown(results: list[ClaimResult], meta: dict, figure_prefix: str = "") -> str:
    lines = ["# lazyrich validation report", "",
             f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(meta['started']))}, "
             f"{'quick' if meta['quick'] else 'full'} sizes, device {meta['device']}, "
             f"lazyrich {meta['version']}, {meta['seconds']:.0f} s. {trained_line(results)}", "",
             "| claim | kind | verdict | passed | converged | seconds |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| [{r.name}](#{r.name}) | {r.kind} | **{r.verdict}** | {'yes' if r.passed else 'NO'} | "
                     f"{_count(r.trained)} | {r.seconds:.1f} |")
    for r in results:
        lines += ["", f"## {r.name}", "", f"*{r.kind}*: {r.statement}", "",
                  f"**Verdict: {r.verdict}**" + ("" if r.passed else " (not passed)") + ".", ""]
        if r.summary:
            lines += [r.summary, ""]
        lines += [f"- measured: {_number(r.measured)}", f"- predicted: {_number(r.predicted)}",
                  f"- tolerance: {_number(r.tolerance)}"]
        if r.trained is not None:
            missed = r.trained.not_converged
            lines.append(f"- converged: {r.trained.converged} of {r.trained.networks} networks"
                         + (f"; not: {'; '.join(missed[:8])}" + (f" and {len(missed) - 8} more" if len(missed) > 8
                                                                  else "") if missed else ""))
        if r.figure:
            lines += ["", f"![{r.name}]({figure_prefix}{Path(r.figure).name})"]
        if r.error:
            lines += ["", "```", r.error.strip(), "```"]
    return "\n".join(lines) + "\n"


def write_report(results: list[ClaimResult], meta: dict, folder) -> dict:
    """Write results.json, report.md and report.html into ``folder``; return their paths."""
    import markdown as md

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    total = trained_total(results)
    payload = {**meta, "trained": None if total is None else total.to_json(), "claims": [r.to_json() for r in results]}
    (folder / "results.json").write_text(json.dumps(payload, indent=1))
    text = markdown(results, meta)
    (folder / "report.md").write_text(text)
    body = md.markdown(text, extensions=["tables", "fenced_code"])
    (folder / "report.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>lazyrich validation</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}</style></head><body>"
        + body + "</body></html>\n")
    return {k: str(folder / f) for k, f in (("json", "results.json"), ("markdown", "report.md"),
                                             ("html", "report.html"))}


def write_notes(results: list[ClaimResult], meta: dict, notes_dir) -> str:
    """notes/validation.md from this report, its figures copied to notes/figures/validation/."""
    notes_dir = Path(notes_dir)
    figures = notes_dir / "figures" / "validation"
    figures.mkdir(parents=True, exist_ok=True)
    for r in results:
        if r.figure and Path(r.figure).exists():
            shutil.copy(r.figure, figures / Path(r.figure).name)
    path = notes_dir / "validation.md"
    path.write_text(markdown(results, meta, figure_prefix="figures/validation/"))
    return str(path)
