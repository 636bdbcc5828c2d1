"""The tour's report: sections of figures, numbers and tables, written as one offline HTML page.

The page is plain HTML written with the standard library: every string goes through
``html.escape``, images are linked by their file name (relative to the page, so the folder
can be moved or zipped), and the file is written atomically.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_write

__all__ = ["Section", "write_page"]


@dataclass
class Section:
    """One section of the tour: what the paper says, what was computed, and how to read it.

    ``key`` is the paper's section number ("3" .. "8"); ``paper`` names the subsections,
    figures and equations shown.  ``numbers`` are (label, value) pairs, ``figures``
    (file name, caption) pairs, ``tables`` (caption, preformatted text) pairs.  Recording a
    number or a table also prints it (one line per number), so that stdout and the page say
    the same.
    """
    key: str
    title: str
    paper: str
    intro: str = ""
    numbers: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, str]] = field(default_factory=list)
    stream: object = field(default=None, repr=False)

    def __post_init__(self):
        print(f"\nSec. {self.key}  {self.title}  ({self.paper})", file=self._out, flush=True)

    @property
    def _out(self):
        return self.stream or sys.stdout

    def number(self, label: str, value: str) -> None:
        """Record a computed number (already formatted) and print it on one line."""
        self.numbers.append((label, value))
        print(f"  {label}: {value}", file=self._out, flush=True)

    def table(self, caption: str, text: str) -> None:
        """Record a preformatted table and print it under its caption."""
        self.tables.append((caption, text))
        print(f"  {caption}\n" + "\n".join(f"    {line}" for line in text.splitlines()),
              file=self._out, flush=True)

    def figure(self, name: str, caption: str) -> None:
        """Record a figure already saved as ``name`` beside the page, with its caption."""
        self.figures.append((name, caption))
        print(f"  figure {name}: {caption}", file=self._out, flush=True)


_STYLE = """
body { font-family: sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
h1 { font-size: 1.7em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.2em; }
.paper { color: #555; font-style: italic; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.95em; color: #333; margin-top: 0.4em; }
table.numbers { border-collapse: collapse; margin: 1em 0; }
table.numbers td { border-bottom: 1px solid #eee; padding: 0.2em 0.8em 0.2em 0; vertical-align: top; }
table.numbers td.value { font-family: monospace; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.9em; }
nav li { margin: 0.15em 0; }
"""


def _section_html(s: Section) -> list[str]:
    e = html.escape
    out = [f'<section id="sec{e(s.key)}">',
           f"<h2>Sec. {e(s.key)}: {e(s.title)}</h2>",
           f'<p class="paper">{e(s.paper)}</p>']
    if s.intro:
        out += [f"<p>{e(paragraph)}</p>" for paragraph in s.intro.split("\n\n")]
    for name, caption in s.figures:
        out += ["<figure>", f'<img src="{e(name)}" alt="{e(caption)}">',
                f"<figcaption>{e(caption)}</figcaption>", "</figure>"]
    if s.numbers:
        out.append('<table class="numbers">')
        out += [f'<tr><td>{e(label)}</td><td class="value">{e(value)}</td></tr>'
                for label, value in s.numbers]
        out.append("</table>")
    for caption, text in s.tables:
        out += [f"<p>{e(caption)}</p>", f"<pre>{e(text)}</pre>"]
    out.append("</section>")
    return out


def write_page(path, title: str, intro: str, sections: list[Section]) -> Path:
    """Write the sections as one HTML page at ``path`` (atomically); returns the path."""
    e = html.escape
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{e(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
             f"<h1>{e(title)}</h1>"]
    lines += [f"<p>{e(paragraph)}</p>" for paragraph in intro.split("\n\n")]
    lines.append("<nav><ul>")
    lines += [f'<li><a href="#sec{e(s.key)}">Sec. {e(s.key)}: {e(s.title)}</a></li>'
              for s in sections]
    lines.append("</ul></nav>")
    for s in sections:
        lines += _section_html(s)
    lines += ["</body>", "</html>"]
    path = Path(path)
    with atomic_write(path) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    return path
