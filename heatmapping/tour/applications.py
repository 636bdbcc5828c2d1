"""Sec. 8 of the tour: applications (model validation, analysis of scientific data)."""

from __future__ import annotations

from .page import Section
from .runner import Tour


def section(tour: Tour) -> Section:
    s = tour.section("8", "Applications", "Sec. 8.1 model validation, Sec. 8.2 analysis of "
                     "scientific data (Figures 9, 10)",
                     "Not computed yet: the package does not implement the applications of "
                     "Sec. 8 so far. They are planned with a planted ground truth each (a "
                     "classifier that learned a 'copyright tag' shortcut, caught by LRP and "
                     "SpRAy; synthetic EEG-like and DNA-like data with known relevant channels "
                     "and motifs) and will appear here when they exist.")
    s.number("Sec. 8 status", "not implemented yet (no figure, no numbers)")
    return s
