"""The quality gate's results as one self-contained page (`data_docs/index.html`).

Great Expectations' own Data Docs load their styles and scripts from CDNs and render empty
offline; this page has no script and no outside resource, so it reads from a USB stick too.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CheckResult:
    table: str
    expectation: str
    column: str
    success: bool
    observed: str


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; max-width: 70rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .6rem; }
th { border-bottom: 2px solid #444; } td { border-bottom: 1px solid #ddd; vertical-align: top; }
.ok { color: #1a7f37; font-weight: 600; } .failed { color: #b3261e; font-weight: 700; }
code { font-size: .9em; }
"""


def render(title: str, checks: list[CheckResult]) -> str:
    failed = [c for c in checks if not c.success]
    verdict = (f'<p class="failed">{len(failed)} of {len(checks)} expectations failed: nothing was published.</p>'
               if failed else f'<p class="ok">All {len(checks)} expectations passed.</p>')
    sections = []
    for table in dict.fromkeys(c.table for c in checks):
        rows = "".join(
            f'<tr><td class="{"ok" if c.success else "failed"}">{"passed" if c.success else "FAILED"}</td>'
            f"<td><code>{html.escape(c.expectation)}</code></td><td>{html.escape(c.column)}</td>"
            f"<td>{html.escape(c.observed)}</td></tr>"
            for c in checks if c.table == table)
        sections.append(f"<h2>observatory.{html.escape(table)}</h2><table><thead><tr><th>result</th>"
                        f"<th>expectation</th><th>column</th><th>observed</th></tr></thead><tbody>{rows}</tbody></table>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{verdict}{''.join(sections)}"
            "</body></html>\n")


def write(docs_dir: Path, title: str, checks: list[CheckResult]) -> Path:
    docs_dir.mkdir(parents=True, exist_ok=True)
    index = docs_dir / "index.html"
    index.write_text(render(title, checks), encoding="utf-8")
    return index
