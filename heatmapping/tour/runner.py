"""Running the tour: the shared context of the sections, progress, and the output folder."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import data, models, render
from ..decoder import load_vae
from ..files import staged_folder
from ..network import Sequential
from ..rbm import load_rbm
from .page import Section, write_page

__all__ = ["Tour", "run"]

TITLE = "A tour of Montavon, Samek & Mueller (2017), computed"
INTRO = ("Methods for Interpreting and Understanding Deep Neural Networks, Digital Signal "
         "Processing 73 (2018) 1-15, section by section: every figure below was drawn and "
         "every number computed by the heatmapping package in the run that wrote this page, "
         "on the shipped models (trained by the package on 5,000 embedded MNIST digits).\n\n"
         "Heatmaps are red for positive relevance, blue for negative and white for none; each "
         "colourbar gives the scale of its heatmap.")


@dataclass
class Tour:
    """What every section gets: where to save figures, how much to compute, the shared data.

    ``quick`` cuts steps and digits (for tests); ``data`` is an MNIST folder (None: found
    automatically, else the embedded digits).  Models and digits are loaded once per tour
    (``_loaded``), in float64.
    """
    folder: Path
    quick: bool = False
    data: str | None = None
    start: float = field(default_factory=time.perf_counter)
    _loaded: dict = field(default_factory=dict, repr=False)

    def progress(self, key: str, step: str) -> None:
        """One line on stderr: elapsed time, section and step."""
        print(f"[{time.perf_counter() - self.start:6.1f} s] Sec. {key}: {step}",
              file=sys.stderr, flush=True)

    def _once(self, key, load):
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    def model(self, name: str) -> Sequential:
        """A shipped classifier in float64: a reference model ("mlp", "cnn", ...) or another
        file of ``data/`` by its stem ("cnn_tagged")."""
        path = name if name in models.ARCHITECTURES else models.DATA_DIR / f"{name}.npz"
        return self._once(name, lambda: models.load_model(path).astype(np.float64))

    def rbm(self):
        return self._once("rbm", lambda: load_rbm(models.DATA_DIR / "rbm.npz"))

    def vae(self):
        return self._once("vae", lambda: load_vae(models.DATA_DIR / "vae.npz"))

    def digits(self) -> tuple[np.ndarray, np.ndarray, str]:
        """(images uint8 (N, 28, 28), labels (N,), source): the MNIST test set if found, else
        the embedded digits."""
        return self._once("digits", lambda: data.load_test_digits(self.data, verbose=False))

    def source(self) -> str:
        """Where the digits come from, in a few words for titles."""
        return "the MNIST test set" if "MNIST test set" in self.digits()[2] else "the embedded digits"

    def section(self, key: str, title: str, paper: str, intro: str = "") -> Section:
        """A new section; its header is printed at once."""
        self.progress(key, title)
        return Section(key, title, paper, intro)

    def save(self, s: Section, fig, name: str, caption: str) -> None:
        """Save ``fig`` as ``name`` in the tour's folder and record it in section ``s``."""
        render.save_figure(fig, self.folder / name)
        s.figure(name, caption)


def check_out(out, *, force: bool) -> Path:
    """The output folder, checked before any work: its parent exists, it is not a file, and
    it holds no tour yet unless ``force``."""
    out = Path(out)
    if not str(out).strip():
        raise ValueError("--out: expected a folder name, got ''")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a folder")
    if not out.resolve().parent.is_dir():
        raise FileNotFoundError(f"--out: the folder {out.resolve().parent} does not exist")
    if (out / "index.html").exists() and not force:
        raise FileExistsError(f"--out: {out / 'index.html'} exists; pass --force to replace "
                              f"that tour, or choose another folder")
    return out


def run(out, sections, *, quick: bool = False, data_folder: str | None = None,
        force: bool = False) -> Path:
    """Run the given sections ({key: function(Tour) -> Section}, in order) and write
    ``out/index.html`` with their figures beside it.  Nothing appears in ``out`` unless the
    whole tour succeeds.  Returns the page's path."""
    out = check_out(out, force=force)
    with staged_folder(out, last="index.html") as folder:
        tour = Tour(folder, quick=quick, data=data_folder)
        done = [fn(tour) for fn in sections.values()]
        write_page(folder / "index.html", TITLE, INTRO, done)
        tour.progress("-", f"done: {len(done)} sections")
    return out / "index.html"
