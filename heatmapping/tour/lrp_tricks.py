"""Sec. 6 of the tour: the recommendations and tricks for LRP (Sec. 6.2, 6.4-6.6)."""

from __future__ import annotations

import functools

import numpy as np

from .. import data, explain, metrics, models, render
from ..tricks import (canvas_digits, digit_canvas, positive_evidence, relevant_pattern,
                      select_rules, sliding_window, translation_explainer, translation_path)
from .page import Section
from .runner import Tour


def section(tour: Tour) -> Section:
    s = tour.section("6", "Recommendations and tricks for LRP",
                     "Sec. 6.1 the model (sum pooling, biases <= 0), Sec. 6.2 choosing rules by "
                     "pixel-flipping, Sec. 6.4 translation trick, Sec. 6.5 sliding window "
                     "(Figure 5), Sec. 6.6 relevant pattern",
                     "The shipped CNN follows Sec. 6.1: convolutions with ReLU, sum pooling, one "
                     "1x1 output layer, dropout, and every bias projected to b <= 0 during "
                     "training. The tricks below are applied to its deep Taylor LRP (zB on the "
                     "pixels, z+ above).")
    net = tour.model("cnn")
    biases = [float(layer.b.max()) for layer in net.layers if layer.weighted]
    s.number("largest bias of each layer of the shipped CNN (Sec. 6.1: b <= 0)",
             ", ".join(f"{b:.3g}" for b in biases))
    _translation_trick(tour, s, net)
    _sliding_window(tour, s, net)
    _relevant_pattern(tour, s, net)
    _rule_choice(tour, s, net)
    return s


def _translation_trick(tour, s, net):
    """On the CNN with a stride-4 first layer, whose heatmaps carry the 4-pixel block grid
    that Sec. 6.4 names as the trick's use; the shipped CNN (stride 1) for comparison."""
    tour.progress("6", "translation trick")
    images, labels, _ = tour.digits()
    strided = tour.model("cnn_strided")
    plain = functools.partial(explain.lrp, strided, rules="deep_taylor")
    tricked = translation_explainer(strided, plain, max_shift=2)
    x = models.inputs_for(strided, images[:4])
    before, after = plain(x), tricked(x)
    fig = render.comparison_grid(
        x[:, 0], [f"digit {label}" for label in labels[:4]],
        [("deep Taylor LRP", before[:, 0], "heatmap"), ("with translation trick", after[:, 0], "heatmap"),
         ("difference", after[:, 0] - before[:, 0], "heatmap")],
        "Translation trick (Sec. 6.4) on the CNN whose first layer has stride 4: deep Taylor LRP, "
        "plain and averaged over 25 shifts of up to 2 pixels", scale="column")
    n = 20 if tour.quick else 200
    xs = models.inputs_for(strided, images[:n])
    two = models.inputs_for(strided, images[np.flatnonzero(labels == 2)[:1]])
    path = translation_path(two, 6)
    (a0, c0, u0), (a1, c1, u1) = (metrics.heatmap_quality(strided, fn, xs, path, target=2).values()
                                  for fn in (plain, tricked))
    s.number("translation trick on the stride-4 CNN: block artefact at the 4-pixel grid "
             "(1 = none), plain -> trick", f"{a0:.3f} -> {a1:.3f}")
    s.number("translation trick: continuity along a moving '2' (12 one-pixel shifts)",
             f"{c0:.3f} -> {c1:.3f}")
    s.number(f"translation trick: pixel-flipping AUC over {n} digits (black, order of the "
             f"first heatmap; lower = more selective)", f"{u0:.3f} -> {u1:.3f}")
    shipped = functools.partial(explain.lrp, net, rules="deep_taylor")
    xc = models.inputs_for(net, images[:n])
    R0, R1 = shipped(xc), translation_explainer(net, shipped, max_shift=1)(xc)
    s.number("the shipped CNN (stride 1): block artefact, plain -> trick (9 shifts)",
             f"{metrics.stride_artifact(R0, 4):.3f} -> {metrics.stride_artifact(R1, 4):.3f}")
    tour.save(s, fig, "sec6_translation_trick.png",
              f"Sec. 6.4: a first layer of stride 4 leaves a 4-pixel block grid in the heatmaps "
              f"(second row); averaging the explanations of 25 shifted copies removes it (third "
              f"row): the block artefact falls from {a0:.2f} to {a1:.2f} (1 = no grid), the "
              f"heatmaps follow a moving digit more continuously ({c0:.3f} -> {c1:.3f}), and "
              f"the pixel-flipping AUC moves from {u0:.3f} to {u1:.3f}.")


def _sliding_window(tour, s, net, c=3):
    """Figure 5: two '3's and six digits without evidence of a 3 of their own, in cells wide
    enough that no window sees two digits; a window's evidence is f_c above the empty window's."""
    tour.progress("6", "sliding window over a canvas of 8 digits")
    images, labels, _ = tour.digits()
    picks, blank, alone = canvas_digits(net, images, labels, c, rng=np.random.default_rng(0))
    canvas, cells = digit_canvas(data.to_input(images[picks]), rows=2, cols=4, cell=60)
    explain_windows, evidence = positive_evidence(net, c, baseline=blank)
    R, g = sliding_window(explain_windows, evidence, canvas, window=(32, 32), stride=(4, 4))
    windows = ((canvas.shape[2] - 32) // 4 + 1) * ((canvas.shape[3] - 32) // 4 + 1)
    shares = np.array([R[0, 0][cell].sum() for cell in cells]) / R.sum()
    is_c = labels[picks] == c
    fig = render.new_figure(14, 4.2, layout="constrained")
    axes = fig.subplots(1, 2)
    render.show_image(axes[0], canvas[0, 0], f"input X: digits {' '.join(str(labels[i]) for i in picks)}")
    render.show_heatmap(axes[1], R[0, 0], f"aggregated heatmap R(X), class {c}")
    fig.suptitle("Sliding-window explanation of an image larger than the CNN (Sec. 6.5, Figure 5)",
                 fontsize=render.FONT + 1)
    s.number(f"sliding window: g(X) = sum of max(0, f_{c} - {blank:.2f}) over {windows} windows "
             f"(f_{c} of an empty window: {blank:.2f}), and the heatmap's sum",
             f"g = {g[0]:.3f}, sum R = {R.sum():.3f}")
    s.number(f"sliding window: share of the relevance in each digit's cell (f_{c} of the digit "
             f"alone)", ", ".join(f"'{labels[i]}' {v:.1%} ({alone[i]:.1f})"
                                  for i, v in zip(picks, shares)))
    tour.save(s, fig, "sec6_sliding_window.png",
              f"Figure 5 with digits from {tour.source()}: 32x32 windows every 4 pixels over a "
              f"120x240 canvas whose digits are 32 pixels apart, so that no window sees two; "
              f"each window's evidence for a {c} above an empty window's is explained by LRP "
              f"and the heatmaps are added up. The two '{c}'s hold {shares[is_c].sum():.0%} of "
              f"the relevance on 25% of the area (the weaker one {shares[is_c].min():.0%}, no "
              f"other digit more than {shares[~is_c].max():.0%}), and the heatmap sums to "
              f"g(X) = {g[0]:.2f}.")


def _relevant_pattern(tour, s, net):
    tour.progress("6", "relevant pattern")
    images, labels, _ = tour.digits()
    x = models.inputs_for(net, images[4:8])
    R = explain.lrp(net, x, rules="deep_taylor")
    P = relevant_pattern(x, R)
    fig = render.comparison_grid(
        x[:, 0], [f"x: digit {label}" for label in labels[4:8]],
        [("R(x), deep Taylor", R[:, 0], "heatmap"), ("P(x) = x R(x)", P[:, 0], "pattern")],
        "Relevant pattern (Sec. 6.6): the image masked by its heatmap rescaled to [0, 1]")
    ink = (x + 1) / 2
    kept = P.sum() / ink.sum()
    s.number("relevant pattern: share of the digits' ink that P(x) keeps", f"{kept:.3f}")
    tour.save(s, fig, "sec6_relevant_pattern.png",
              f"Sec. 6.6: P(x) keeps the pixels that are both present and relevant; here "
              f"{kept:.0%} of the ink survives the mask, and the strokes that carry the most "
              f"relevance stay brightest.")


def _rule_choice(tour, s, net):
    n = 6 if tour.quick else 40
    tour.progress("6", f"choosing rules by pixel-flipping on {n} digits")
    images, _, _ = tour.digits()
    x = models.inputs_for(net, images[:n])
    candidates = ("deep_taylor", "alpha2beta1", "epsilon", "deep_taylor_real")
    for recompute, how in ((True, "heatmap recomputed after every removal (the paper's "
                                   "procedure)"), (False, "removal order of the first heatmap")):
        best, scores = select_rules(net, x, {name: name for name in candidates},
                                    recompute=recompute)
        s.number(f"rule choice (Sec. 6.2): pixel-flipping AUC over {n} digits, {how}; lower = "
                 f"more selective", ", ".join(f"{name} {auc:.3f}" for name, auc in scores.items()))
        s.number(f"rule choice, {how.split(' (')[0]}: select_rules picks", best)
