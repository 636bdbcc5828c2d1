"""Sec. 7 of the tour: continuity (Figures 6, 7) and selectivity (Figure 8) of explanations."""

from __future__ import annotations

import functools

import numpy as np

from .. import explain, metrics, models, render
from ..relevance import pool_grid
from ..rules import ZPlus
from ..tricks import translation_path
from .page import Section
from .runner import Tour

SPACINGS = (0.1, 0.05, 0.025, 0.0125, 0.00625)


def section(tour: Tour) -> Section:
    s = tour.section("7", "Quantifying explanation quality",
                     "Sec. 7.1 continuity (Figures 6, 7), Sec. 7.2 selectivity by pixel-flipping "
                     "(Figure 8)",
                     "A good explanation is continuous: similar inputs with similar predictions "
                     "get similar explanations, max ||R(x) - R(x')||_1 / ||x - x'||_2 stays "
                     "bounded. It is selective: removing the features it marks as most relevant "
                     "makes f drop fastest.")
    _figure6(tour, s)
    _figure7(tour, s)
    _figure8(tour, s)
    return s


def _figure6(tour, s):
    tour.progress("7", "Figure 6: max(x1, x2)")
    net = models.max_network()
    methods = {"sensitivity": functools.partial(explain.sensitivity, net),
               "simple Taylor": functools.partial(explain.simple_taylor, net),
               # z+ on both layers: the inputs are non-negative, as z+ requires
               "deep Taylor LRP": functools.partial(explain.lrp, net, rules=ZPlus())}
    g = np.linspace(0.05, 0.95, 11)
    grid = np.stack([a.ravel() for a in np.meshgrid(g, g)], axis=1)
    fig = render.new_figure(13, 4.6, layout="constrained")
    for ax, (name, fn) in zip(fig.subplots(1, 3), methods.items()):
        render.vector_field(ax, net.forward, grid, fn(grid), name)
    fig.suptitle("Figure 6: explanations of f(x) = max(x1, x2) as arrows (R_1, R_2) over the "
                 "contours of f", fontsize=render.FONT + 1)
    constants = {name: [metrics.continuity(fn, *metrics.grid_pairs(h)) for h in SPACINGS]
                 for name, fn in methods.items()}
    for name, values in constants.items():
        s.number(f"Figure 6, continuity constant of {name} at grid spacings "
                 f"{', '.join(f'{h:g}' for h in SPACINGS)}", ", ".join(f"{v:.4f}" for v in values))
    growth = {name: values[-1] / values[0] for name, values in constants.items()}
    tour.save(s, fig, "sec7_figure6.png",
              f"Figure 6: the gradient methods' arrows flip across the diagonal x1 = x2, where "
              f"the max changes hands, so their continuity constant grows as the grid is refined "
              f"(sensitivity {growth['sensitivity']:.0f}-fold, simple Taylor "
              f"{growth['simple Taylor']:.0f}-fold over a {SPACINGS[0] / SPACINGS[-1]:.0f}-fold "
              f"finer grid); deep Taylor LRP's stays at "
              f"{constants['deep Taylor LRP'][-1]:.4f} = sqrt(2): it is continuous.")


def _figure7(tour, s):
    tour.progress("7", "Figure 7: a moving digit")
    images, labels, _ = tour.digits()
    net = tour.model("cnn")
    # the paper's argument needs f "relatively low-varying" along the path: of the first 100
    # '2's, the one whose f_2 varies least (relative to its mean) over shifts of -4..4 pixels
    twos = np.flatnonzero(labels == 2)[:100]
    f_all = net.forward(translation_path(models.inputs_for(net, images[twos]), 4))[:, 2].reshape(len(twos), -1)
    variation = (f_all.max(axis=1) - f_all.min(axis=1)) / f_all.mean(axis=1)
    path = translation_path(models.inputs_for(net, images[twos[np.argmin(variation)]][None]), 4)
    shifts = np.arange(-4, 5)
    f = net.forward(path)[:, 2]
    methods = {"sensitivity": functools.partial(explain.sensitivity, net, target=2),
               "simple Taylor": functools.partial(explain.simple_taylor, net, target=2),
               "deep Taylor LRP": functools.partial(explain.lrp, net, target=2)}
    fig = render.new_figure(11, 8, layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    axes[0].plot(shifts, f, "k")
    axes[0].set_title("f_2(x) along the path", fontsize=render.FONT)
    relative = {}
    for ax, (name, fn) in zip(axes[1:], methods.items()):
        R = fn(path)
        for q, label in zip(pool_grid(R, (2, 2)).reshape(len(path), 4).T,
                            ("R1 top left", "R2 top right", "R3 bottom left", "R4 bottom right")):
            ax.plot(shifts, q, label=label)
        # relevances of different methods have different units: relative to the mean ||R||_1
        relative[name] = (metrics.continuity_along_path(fn, path)
                          / np.abs(R).reshape(len(R), -1).sum(axis=1).mean())
        ax.set_title(f"{name}: quadrant relevance", fontsize=render.FONT)
    for ax in axes:
        ax.set_xlabel("horizontal shift of the digit (pixels)", fontsize=render.FONT)
    axes[-1].legend(fontsize=render.FONT - 1)
    fig.suptitle(f"Figure 7: a '2' from {tour.source()} moving through the CNN's input",
                 fontsize=render.FONT + 1)
    s.number("Figure 7, f_2(x) along the path (min, max; relative variation, and the median "
             "of the first 100 '2's)", f"{f.min():.2f}, {f.max():.2f}; {variation.min():.2f}, "
             f"{np.median(variation):.2f}")
    s.number("Figure 7, continuity along the path relative to the mean ||R||_1",
             ", ".join(f"{name} {v:.4f}" for name, v in relative.items()))
    best = min(relative, key=relative.get)
    tour.save(s, fig, "sec7_figure7.png",
              f"Figure 7: the relevance of each quadrant as a '2' moves 4 pixels each way, along "
              f"which f_2 stays between {f.min():.1f} and {f.max():.1f}. "
              f"{best} varies least relative to its size ({relative[best]:.4f} per unit of "
              f"input change, against "
              + ", ".join(f"{v:.4f} for {n}" for n, v in relative.items() if n != best)
              + "): its relevance moves with the digit.")


#: the baselines users compare the paper's methods of Figure 8 against
BASELINES = ("integrated gradients", "SmoothGrad", "occlusion")
#: the baselines' cost.  With the heatmap recomputed after every removal each digit costs 64
#: explanations, and each step of integrated gradients or copy of SmoothGrad is one more
#: gradient per explanation: about 3.4 s of the tour per step at 100 digits (float64).  So
#: the baselines run on the first 50 of Figure 8's digits, beside the paper's methods on the
#: same 50, with few steps and copies: the AUCs barely move with more (measured on the 100
#: digits, AUC over the first 16 patches: integrated gradients 0.86, 0.79, 0.75, 0.74 at 2,
#: 4, 8, 32 steps; SmoothGrad 3.12, 3.11, 2.97, 3.10 at 2, 4, 8, 32 copies; LRP-alpha2beta1
#: 4.05).  That keeps the tour within about 15 s of its time without them.
IG_STEPS, SG_SAMPLES = 4, 2
BLACK = -1.0                       # the removal value, the digits' background
#: processes that share Figure 8's digits (``heatmapping.parallel``): about 2x on two cores
WORKERS = 2


def _figure8(tour, s):
    n, n_base = (12, 6) if tour.quick else (100, 50)
    tour.progress("7", f"Figure 8: pixel-flipping of {n} digits, heatmaps recomputed")
    images, _, _ = tour.digits()
    net = tour.model("cnn")
    x = models.inputs_for(net, images[:n])
    P = functools.partial
    methods = {"sensitivity": P(explain.sensitivity, net),
               "simple Taylor": P(explain.simple_taylor, net),
               "deep Taylor LRP": P(explain.lrp, net, rules="deep_taylor"),
               "LRP-alpha2beta1": P(explain.lrp, net, rules="alpha2beta1"),
               "random": metrics.random_relevance(rng=np.random.default_rng(0))}
    shared = dict(recompute=True, progress=False, workers=WORKERS, batch_size=None)
    results = metrics.evaluate_selectivity(net, x, methods, **shared)
    head = {name: metrics.auc(r.curve[:17]) for name, r in results.items()}
    tour.progress("7", f"Figure 8: the baselines on the first {n_base} digits")
    # the baselines with the all-black image (the removal) as reference, and the paper's
    # methods restricted to the same digits
    baselines = {"integrated gradients": P(explain.integrated_gradients, net, baseline=BLACK,
                                           steps=IG_STEPS),
                 "SmoothGrad": P(explain.smoothgrad, net, samples=SG_SAMPLES),
                 "occlusion": P(explain.occlusion, net, patch=(4, 4), fill=BLACK)}
    compared = {name: r.subset(slice(n_base)) for name, r in results.items() if name != "random"}
    compared.update(metrics.evaluate_selectivity(net, x[:n_base], baselines, **shared))
    compared["random"] = results["random"].subset(slice(n_base))
    head_base = {name: metrics.auc(r.curve[:17]) for name, r in compared.items()}

    fig = render.new_figure(14, 6, layout="constrained")
    panels = fig.subplots(1, 2, sharey=True)
    colour = {name: f"C{i}" for i, name in enumerate(compared)}      # the same in both panels
    for ax, shown, count, title in ((panels[0], results, n, "(a) the paper's methods"),
                                    (panels[1], compared, n_base, "(b) the baselines beside them")):
        for name, r in shown.items():
            style = ":" if name == "random" else "--" if name in BASELINES else "-"
            ax.plot(r.curve, label=f"{name} (AUC {r.auc:.2f})", linestyle=style, color=colour[name])
        ax.axvline(16, color="gray", lw=0.8)
        ax.set_xlabel("4x4 patches removed (set to black), most relevant first", fontsize=render.FONT)
        ax.set_ylabel(f"mean f_c(x) over {count} digits", fontsize=render.FONT)
        ax.legend(fontsize=render.FONT - 1)
        ax.set_title(f"{title}, {count} digits", fontsize=render.FONT)
    fig.suptitle(f"Figure 8: pixel-flipping on {tour.source()}, heatmap recomputed after every "
                 f"removal (dashed: baselines)", fontsize=render.FONT + 1)
    table = [f"{'method':<16} {'AUC, 64 patches':>16} {'AUC, first 16':>14}"]
    table += [f"{name:<16} {r.auc:>16.3f} {head[name]:>14.3f}" for name, r in results.items()]
    s.table(f"Figure 8: area under the mean curve of f_c over {n} digits (lower = more "
            f"selective); the first 16 patches are where the digit is still mostly there",
            "\n".join(table))
    table = [f"{'method':<22} {'AUC, 64 patches':>16} {'AUC, first 16':>14}"]
    table += [f"{name:<22} {r.auc:>16.3f} {head_base[name]:>14.3f}" for name, r in compared.items()]
    s.table(f"Figure 8 with the baselines: the same AUCs over the first {n_base} of those "
            f"digits, the baselines beside the paper's methods", "\n".join(table))
    s.number("Figure 8, the baselines' settings",
             f"integrated gradients from the black image, {IG_STEPS} steps; SmoothGrad, sigma "
             f"0.15 of each digit's range, {SG_SAMPLES} noisy copies; occlusion, 4x4 black "
             f"patches on the removal's grid")
    xb = x[:n_base]
    errors = [explain.integrated_gradients(net, xb, baseline=BLACK, steps=m, return_error=True)[1]
              for m in (IG_STEPS, 32)]
    f = net.forward(xb)
    rows, c = np.arange(n_base), f.argmax(axis=1)
    gain = np.abs(f[rows, c] - net.forward(np.full_like(xb, BLACK))[rows, c])
    s.number(f"Figure 8, integrated gradients' completeness error |sum R - (f_c(x) - "
             f"f_c(black))| relative to |f_c(x) - f_c(black)|, median over the {n_base} digits "
             f"at {IG_STEPS} and at 32 steps",
             ", ".join(f"{np.median(e / gain):.3f}" for e in errors))

    first = min(head, key=head.get)
    whole = min(results, key=lambda k: results[k].auc)
    lowest = {name: float(r.curve.min()) for name, r in results.items()}
    s.number("Figure 8, most selective over the first 16 patches", f"{first} ({head[first]:.3f})")
    s.number("Figure 8, most selective over all 64 patches", f"{whole} ({results[whole].auc:.3f})")
    s.number("Figure 8, lowest point of each mean curve",
             ", ".join(f"{name} {v:.2f}" for name, v in lowest.items()))
    if whole == first:
        reading = f"{first} is the most selective by both readings."
    else:
        reading = (f"Over all 64 patches {whole} has the lowest AUC ({results[whole].auc:.2f}): "
                   f"its mean f_c falls to {lowest[whole]:.2f}, while {first}'s stops at "
                   f"{lowest[first]:.2f}. Once the digit is mostly erased, a recomputed heatmap "
                   f"that keeps finding patches whose removal lowers f_c further measures an "
                   f"image off the data manifold (Sec. 7.2's caveat), so the paper's reading is "
                   f"the head of the curve.")

    best_lrp = min(("deep Taylor LRP", "LRP-alpha2beta1"), key=head_base.get)
    ahead = [b for b in BASELINES if head_base[b] < head_base[best_lrp]]
    ahead_whole = [b for b in BASELINES if compared[b].auc < compared[best_lrp].auc]
    top = min((k for k in compared if k != "random"), key=head_base.get)
    s.number(f"Figure 8 with the baselines ({n_base} digits), most selective over the first 16 "
             f"patches", f"{top} ({head_base[top]:.3f})")
    s.number(f"Figure 8 with the baselines ({n_base} digits), baselines more selective than the "
             f"better LRP ({best_lrp}) over the first 16 patches, and over all 64",
             "; ".join(", ".join(f"{b} ({v[b]:.3f})" for b in names) or "none" for names, v in
                       ((ahead, head_base), (ahead_whole, {k: r.auc for k, r in compared.items()}))))
    beaten = [m for m in ("sensitivity", "simple Taylor") if head_base[m] > head_base[best_lrp]]
    if ahead:
        referenced = [b for b in ("occlusion", "integrated gradients") if b in ahead]
        why = {"occlusion": "occlusion with black patches on the removal's grid ranks the "
                            "patches by exactly the drop the next removal causes (the metric's "
                            "own greedy step)",
               "integrated gradients": "integrated gradients from the black image ranks them "
                                       "by their share of the whole drop to black, "
                                       "f_c(x) - f_c(black), which its relevance sums to"}
        plural = len(ahead) > 1
        baselines = (f" On the first {n_base} digits (right) the baseline{'s' if plural else ''} "
                     + ", ".join(f"{b} (AUC {head_base[b]:.2f})" for b in ahead)
                     + f" beat{'' if plural else 's'} {best_lrp} ({head_base[best_lrp]:.2f}) "
                     f"over the first 16 patches"
                     + (", and over all 64 too." if set(ahead) <= set(ahead_whole) else "."))
        if referenced:
            baselines += (f" {' and '.join(referenced).capitalize()} take"
                          f"{'' if len(referenced) > 1 else 's'} the removal as reference: "
                          + "; ".join(why[b] for b in referenced)
                          + " (course part 8 runs them with a grey reference as well).")
        if "SmoothGrad" in ahead:
            baselines += (f" SmoothGrad has no reference point; its mean gradient over "
                          f"{SG_SAMPLES} noisy copies is ahead as well.")
        claim = (" So the paper's claim that LRP is the most selective holds against "
                 + (" and ".join(beaten) if beaten else "none of the paper's other methods")
                 + f" here, not against {'these baselines' if plural else ahead[0]}.")
    else:
        baselines = (f" On the first {n_base} digits (right) none of the baselines beats "
                     f"{best_lrp} ({head_base[best_lrp]:.2f}) there (integrated gradients "
                     f"{head_base['integrated gradients']:.2f}, SmoothGrad "
                     f"{head_base['SmoothGrad']:.2f}, occlusion {head_base['occlusion']:.2f}).")
        claim = ""
    tour.save(s, fig, "sec7_figure8.png",
              f"Figure 8: remove the most relevant 4x4 patch, recompute the heatmap, repeat. Over "
              f"the first 16 patches (left of the gray line) {first} makes f_c drop fastest (AUC "
              f"{head[first]:.2f}, against {head['random']:.2f} for a random order). " + reading
              + baselines + claim)
