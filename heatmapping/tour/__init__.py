"""The tour: the paper in its own order, computed in one run (``python -m heatmapping tour``).

Each section of the paper that the package implements is one function ``section(tour)`` in a
module of its own, which computes on the shipped models and the embedded (or MNIST test)
digits, prints its numbers, saves its figures and returns a :class:`page.Section`; the runner
writes them into one offline HTML page, ``index.html``, with the PNG figures beside it.

* ``interpretation``: Sec. 3, activation maximization (Figure 2, localized AM);
* ``explanation``: Sec. 4, five explanation methods on the same digits;
* ``lrp_rules``: Sec. 5, the LRP rules, the conservation ledger, max pooling;
* ``lrp_tricks``: Sec. 6, rule choice, translation trick, sliding window, relevant pattern;
* ``quality``: Sec. 7, continuity (Figures 6, 7) and selectivity (Figure 8);
* ``applications``: Sec. 8, model validation (a tagged CNN, SpRAy) and synthetic scientific
  data (EEG-like, DNA-like) with planted answers;
* ``page``: the HTML page; ``runner``: the shared context, progress and output folder.
"""

from . import applications, explanation, interpretation, lrp_rules, lrp_tricks, quality
from .runner import Tour, run

__all__ = ["SECTIONS", "Tour", "run"]

#: the paper's section number -> the function that computes it, in the paper's order
SECTIONS = {
    "3": interpretation.section,
    "4": explanation.section,
    "5": lrp_rules.section,
    "6": lrp_tricks.section,
    "7": quality.section,
    "8": applications.section,
}
