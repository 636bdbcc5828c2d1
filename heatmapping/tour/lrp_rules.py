"""Sec. 5 of the tour: the LRP rules side by side, the conservation ledger, max pooling."""

from __future__ import annotations

import numpy as np

from .. import explain, metrics, models, render
from ..layers import MaxPool2d
from ..rules import AlphaBeta, Epsilon, Flat, ZPlus
from ..tricks import translation_path
from .page import Section
from .runner import Tour


def rule_table(net) -> dict:
    """The rules of Sec. 5.1-5.2 and Table 2, as LRP rule assignments for the CNN: the
    first-layer rule for pixels, and z+ (= alpha1beta0) above unless the rule's name says."""
    first = next(i for i, layer in enumerate(net.layers) if layer.linear)
    upper = {i: ZPlus() for i, layer in enumerate(net.layers) if layer.linear and i > first}
    weighted = {i: AlphaBeta(alpha=1.0, beta=0.0) if layer.weighted else ZPlus()
                for i, layer in enumerate(net.layers) if layer.linear}
    return {
        "LRP-0": Epsilon(0.0),
        "LRP-epsilon (eps 1)": Epsilon(1.0),
        "LRP-alpha2beta1 (zB first)": "alpha2beta1",
        "LRP-alpha1beta0 = z+": weighted,
        "zB first, z+ above (deep Taylor)": "deep_taylor",
        "w^2 first, z+ above": "deep_taylor_real",
        "flat first, z+ above": {first: Flat()} | upper,
    }


def section(tour: Tour) -> Section:
    images, labels, _ = tour.digits()
    s = tour.section("5", "The LRP explanation framework",
                     "Sec. 5.1 alpha-beta rule, Eq. (1)-(2); Sec. 5.2 deep Taylor rules of "
                     "Table 2 (z+, zB, w^2); Sec. 5.3 pooling layers",
                     "Every LRP rule redistributes the relevance R_k of a neuron onto its "
                     "inputs in proportion to their contributions, and differs only in which "
                     "contributions count: all of them (LRP-0), with a stabiliser eps, the "
                     "positive ones minus a share of the negative ones (alpha-beta), or, on the "
                     "pixels, contributions measured from the box's corner (zB), by squared "
                     "weights (w^2) or uniformly (flat).")
    net = tour.model("cnn")
    digit = np.flatnonzero(labels == 3)[0]
    x = models.inputs_for(net, images[digit:digit + 1])
    f_c = net.forward(x).max()
    tour.progress("5", "7 rules on one digit")
    heatmaps = {name: explain.lrp(net, x, rules=rules)[0, 0]
                for name, rules in rule_table(net).items()}
    fig = render.new_figure(14, 6.4, layout="constrained")
    axes = fig.subplots(2, 4).ravel()
    render.show_image(axes[0], x[0, 0], f"input: a 3 (#{digit})\nf_c = {f_c:.2f}")
    for ax, (name, R) in zip(axes[1:], heatmaps.items()):
        render.show_heatmap(ax, R, f"{name}\nsum R = {R.sum():.2f}")
        s.number(f"sum of R, {name}", f"{R.sum():.4f} (f_c = {f_c:.4f})")
    fig.suptitle("One digit explained by each rule of Sec. 5 (LRP on the shipped CNN)",
                 fontsize=render.FONT + 1)
    exact = [n for n, R in heatmaps.items() if abs(R.sum() - f_c) < 1e-6 * abs(f_c)]
    negative = {name: abs(float(np.minimum(R, 0).sum() / np.abs(R).sum())) for name, R in heatmaps.items()}
    s.number("share of |R| that is negative", ", ".join(f"{n} {v:.3f}" for n, v in negative.items()))
    tour.save(s, fig, "sec5_rules.png",
              f"The rules of Sec. 5 on one '3'. {len(exact)} of the {len(heatmaps)} sum to "
              f"f_c = {f_c:.2f} exactly (they ignore the biases); LRP-0 and LRP-epsilon give "
              f"part of f_c to the biases and the stabiliser "
              f"(sums {heatmaps['LRP-0'].sum():.2f} and {heatmaps['LRP-epsilon (eps 1)'].sum():.2f}). "
              f"alpha2beta1 adds negative evidence "
              f"({negative['LRP-alpha2beta1 (zB first)']:.0%} of its |R|, blue), deep Taylor "
              f"{negative['zB first, z+ above (deep Taylor)']:.0%}; w^2 and flat ignore the pixel values "
              f"in the first layer and blur the heatmap over the receptive fields.")

    for name, rules in (("deep Taylor (zB, z+)", "deep_taylor"), ("LRP-epsilon, eps 1", Epsilon(1.0))):
        ledger = explain.lrp(net, x, rules=rules, return_layers=True)
        s.table(f"Conservation ledger of the same digit, {name}: the relevance entering each "
                f"layer from above (R out), leaving it downwards (R in), and what the bias and "
                f"the stabiliser absorbed", ledger.table(0))
    _max_pooling(tour, s, images, labels)
    return s


def _max_pooling(tour, s, images, labels):
    """Sec. 5.3: proportional vs winner-take-all relevance through max pooling."""
    tour.progress("5", "max pooling: proportional vs winner-take-all")
    net = tour.model("cnn_max")
    two = np.flatnonzero(labels == 2)[0]
    x = models.inputs_for(net, images[two:two + 1])
    path = translation_path(x, 4)
    rules = {"proportional": "proportional", "winner-take-all": "winner"}
    fig = render.new_figure(9, 3.2, layout="constrained")
    axes = fig.subplots(1, 3)
    render.show_image(axes[0], x[0, 0], f"input: a 2 (#{two})")
    constants = {}
    for ax, (name, mode) in zip(axes[1:], rules.items()):
        def explain_fn(v, mode=mode):
            return explain.lrp(net, v, target=2, max_pool=mode)
        R = explain_fn(x)
        constants[name] = metrics.continuity_along_path(explain_fn, path)
        render.show_heatmap(ax, R[0, 0], f"max pool: {name}\nsum R = {R.sum():.2f}")
        s.number(f"max-pool CNN, {name}", f"sum R = {R.sum():.4f} (f_2 = {net.forward(x)[0, 2]:.4f}), "
                 f"nonzero pixels {np.mean(R != 0):.0%}, continuity along a 9-pixel shift "
                 f"{constants[name]:.3f}")
    fig.suptitle(f"LRP (deep Taylor) through the {sum(isinstance(l, MaxPool2d) for l in net.layers)} "
                 "max pools of the shipped max-pool CNN", fontsize=render.FONT + 1)
    smoother = min(constants, key=constants.get)
    tour.save(s, fig, "sec5_max_pooling.png",
              f"Sec. 5.3: both redistributions conserve f_2; winner-take-all (Bach et al.) "
              f"sends each pool's relevance to its largest input, the proportional rule "
              f"(Montavon et al.) shares it as x_j / sum x_j. Shifting the digit 4 pixels each "
              f"way, the {smoother} rule's heatmaps change least: continuity constant "
              f"{constants['proportional']:.3f} (proportional) vs "
              f"{constants['winner-take-all']:.3f} (winner-take-all), lower is more continuous.")
