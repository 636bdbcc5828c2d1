"""Running a course script the same way as a script and as a notebook.

The course in ``tutorials/`` is plain Python in jupytext's percent format: ``python
tutorials/03_explaining_decisions.py`` runs it top to bottom, and Jupyter opens it as a
notebook (``jupytext --to notebook``, or the jupytext extension).  Nothing in it reads
``__file__`` or the command line, which a notebook kernel does not have; its few settings come
from the environment, read once in its settings cell:

* ``HEATMAPPING_QUICK=1``: fewer digits and steps (what the tests run);
* ``HEATMAPPING_OUT``: the folder for the figures (default ``figures`` in the working
  directory, created when the first figure is saved);
* ``HEATMAPPING_DATA``: the MNIST folder, read by ``heatmapping.data`` itself.

:func:`show` saves a figure and, inside a notebook, also displays it inline.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import render

__all__ = ["Settings", "settings", "show"]


@dataclass(frozen=True)
class Settings:
    """How a course script runs: ``quick`` mode, and where its figures go."""
    quick: bool = False
    out_dir: Path = Path("figures")

    def pick(self, full, quick):
        """``quick`` in quick mode, else ``full`` (a number of digits, of steps, ...)."""
        return quick if self.quick else full


def settings() -> Settings:
    """The settings of this run, from ``HEATMAPPING_QUICK`` and ``HEATMAPPING_OUT``."""
    quick = os.environ.get("HEATMAPPING_QUICK", "0")
    if quick not in ("0", "1"):
        raise ValueError(f"HEATMAPPING_QUICK: expected 0 or 1, got {quick!r}")
    return Settings(quick=quick == "1", out_dir=Path(os.environ.get("HEATMAPPING_OUT", "figures")))


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a figure can be displayed inline)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython
    shell = get_ipython()
    return shell is not None and "ZMQ" in type(shell).__name__


def show(fig, name: str, run: Settings) -> Path:
    """Save ``fig`` as ``run.out_dir / name`` (PNG) and, in a notebook, display it inline.
    Prints and returns the path."""
    run.out_dir.mkdir(parents=True, exist_ok=True)
    path = render.save_figure(fig, run.out_dir / name)
    if in_notebook():
        from IPython.display import Image, display
        display(Image(filename=str(path)))
    print(f"saved {path}")
    return path
