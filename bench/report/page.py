"""index.html: a suite's report as one self-contained page (no network): title, description, a
table sortable by clicking its headers, footnotes, the figures embedded, and, when the suite has
a baseline (msbench baseline), each cell that regressed or improved against it highlighted.

Every piece of user text (labels, descriptions, reasons) is HTML-escaped; the only script is the
sorter below, which reads numbers from data attributes and never builds HTML from text."""

import base64
import hashlib
import html
import json
import math
import shlex
from pathlib import Path

import pandas as pd

from bench.report.cells import cell_text, headers, is_best, param_count, short_version
from bench.naming import format_cell, format_point

SORTER = """
document.querySelectorAll('table.board th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var up = th.getAttribute('aria-sort') !== 'ascending';
    th.closest('tr').querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
    var key = function (row) {
      var cell = row.cells[column], v = cell.getAttribute('data-value');
      return v === null ? cell.textContent : (v === '' ? NaN : parseFloat(v));
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x === 'number' || typeof y === 'number') {
        if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y);  /* missing scores last either way */
        return up ? x - y : y - x;
      }
      return up ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; color: #222; }
table.board { border-collapse: collapse; font-size: 0.9em; }
table.board th, table.board td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
table.board th { cursor: pointer; background: #f3f3f3; position: sticky; top: 0; }
table.board th[aria-sort=ascending]::after { content: " \\25B2"; }
table.board th[aria-sort=descending]::after { content: " \\25BC"; }
table.board td.text { text-align: left; }
.regressed { background: #f8d0d0; } .improved { background: #d3efd3; }
.legend span { padding: 0 0.5em; } figure { display: inline-block; margin: 1em; } img { max-width: 38em; }
.scroll { overflow-x: auto; } details { margin: 0.3em 0; } code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _number(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def _anchor(label: str, point: str) -> str:
    """A stable element id for a row's provenance, safe in a URL fragment whatever the label holds."""
    return "prov-" + hashlib.sha256(json.dumps([label, point]).encode()).hexdigest()[:12]


def write_page(path: Path, suite, table: pd.DataFrame, runs: list, plots: list, verdicts: dict | None,
               notes: list) -> Path:
    """`table`: bench.report.leaderboard.summarise's frame; `runs`: current_runs; `plots`: figure
    paths (PNG embedded, others linked); `verdicts`: {(label, point, metric id): Verdict} from
    bench.regress.compare against the baseline, or None without one; `notes`: extra footnotes."""
    direction = suite.directions
    columns = headers(direction, suite.metric_ids)
    metrics = list(columns)
    reasons = {}  # footnote number per distinct missing reason
    head = ["model", "sweep", "seeds", "params"] + list(columns.values())
    rows = []
    for row in table.to_dict("records"):
        point = row["sweep_point"]
        cells = [f'<td class="text"><a href="#{_e(_anchor(row["label"], point))}">{_e(row["label"])}</a></td>',
                 f'<td class="text">{_e(point or "—")}</td>',
                 f'<td data-value="{_number(row["seeds"])}">{int(row["seeds"])}</td>',
                 f'<td data-value="{_number(row["params"])}">{param_count(row["params"])}</td>']
        for m in metrics:
            mean, std, n = row[f"{m}_mean"], row[f"{m}_std"], row[f"{m}_n"]
            means = table[f"{m}_mean"]
            if pd.isna(mean):
                reason = row.get(f"{m}_missing")
                mark = f'<sup><a href="#note-{reasons.setdefault(reason, len(reasons) + 1)}">' \
                       f'[{reasons[reason]}]</a></sup>' if reason else ""
                cells.append(f'<td data-value="">—{mark}</td>')
                continue
            text = _e(cell_text(mean, std, n))
            if is_best(means, mean, direction[m]):
                text = f"<strong>{text}</strong>"
            verdict = (verdicts or {}).get((row["label"], point, m))
            css, title = "", ""
            if verdict is not None:
                css = f' class="{verdict.verdict}"' if verdict.verdict in ("regressed", "improved", "changed") else ""
                title = (f' title="baseline {verdict.baseline["mean"]:.4g} (n={verdict.baseline["n"]}), '
                         f'now {verdict.now["mean"]:.4g}, threshold {verdict.threshold:.3g}: {verdict.verdict}"')
            cells.append(f'<td data-value="{_number(mean)}"{css}{title}>{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    parts = [f"<h1>Leaderboard: {_e(suite.name)}</h1>", f"<p>{_e(' '.join(suite.description.split()))}</p>",
             "<p>Mean ± std over seeds; ↑ higher is better, ↓ lower is better; the best of each column in bold. "
             "Click a column header to sort by it.</p>"]
    if verdicts is not None:
        regressed = sum(v.verdict in ("regressed", "changed") for v in verdicts.values())
        improved = sum(v.verdict == "improved" for v in verdicts.values())
        parts.append(f'<p class="legend">Against baseline.json ({len(verdicts)} cells compared): '
                     f'<span class="regressed">{regressed} regressed</span> '
                     f'<span class="improved">{improved} improved</span> (msbench regress; hover a cell for '
                     f'its numbers).</p>')
    parts.append('<div class="scroll"><table class="board"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head)
                 + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
    parts += [f'<p id="note-{n}">[{n}] missing: {_e(reason)}</p>' for reason, n in reasons.items()]
    parts += [f"<p>{_e(note)}</p>" for note in notes]
    if plots:
        parts.append("<h2>Figures</h2>")
        for plot in plots:
            plot = Path(plot)
            if plot.suffix == ".png":
                data = base64.b64encode(plot.read_bytes()).decode("ascii")
                parts.append(f'<figure><img alt="{_e(plot.stem)}" src="data:image/png;base64,{data}">'
                             f"<figcaption>{_e(plot.stem)}</figcaption></figure>")
            else:
                parts.append(f'<p><a href="{_e(plot.relative_to(path.parent).as_posix())}">{_e(plot.name)}</a></p>')
    parts += ["<h2>Provenance</h2>", _provenance(suite, runs)]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Leaderboard: {_e(suite.name)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(parts) + f"\n<script>{SORTER}</script>\n</body></html>\n")
    path.write_text(page)
    return path


def _provenance(suite, runs: list) -> str:
    """Per row, the runs behind it: run id, code version, device, timings, and the command that
    prints the rest (`msbench show --cell`)."""
    groups = {}
    for run in runs:
        groups.setdefault((run["label"], format_point(json.loads(run["sweep"]))), []).append(run)
    out = []
    for (label, point), members in groups.items():
        cell = format_cell(label, point)
        items = []
        for r in members:
            sha = short_version(json.loads(r["code_version"]) if r.get("code_version") else {})
            timing = (f"trained {r['train_seconds']:.1f}s, scored {r['eval_seconds']:.1f}s"
                      if r.get("train_seconds") is not None and r.get("eval_seconds") is not None else "")
            items.append(f"<li>seed {_e(r['seed'])}: {_e(r['status'])}; run {_e(r.get('run_id') or '—')}; "
                         f"code {_e(sha)}; {_e(r.get('device') or '—')}; {_e(timing)}; "
                         f"job {_e(r['job_key'])}</li>")
        out.append(f'<details id="{_e(_anchor(label, point))}"><summary>{_e(cell)}</summary><ul>{"".join(items)}'
                   f"</ul><p>Everything else (spec, packages, loss summary, artifact, metric details): "
                   f"<code>{_e(shlex.join(['msbench', 'show', suite.path, '--cell', cell]))}</code></p></details>")
    return "\n".join(out)
