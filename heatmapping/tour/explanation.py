"""Sec. 4 of the tour: explaining individual decisions with five methods (Sec. 4.1-4.3), and
three baselines users compare them against (integrated gradients, SmoothGrad, occlusion)."""

from __future__ import annotations

import functools

import numpy as np

from .. import explain, metrics, models, render
from .page import Section
from .runner import Tour

#: the digits' background, and the reference of the baselines: the all-black image
BLACK = -1.0
#: integrated gradients' midpoint steps and SmoothGrad's noisy copies (the defaults)
STEPS, SAMPLES = 32, 32

#: name -> (method, what its heatmap's sum is); the sums of patterns and gradients mean nothing
METHODS = {
    "sensitivity (Sec. 4.1)": (explain.sensitivity, "sum = ||grad f||^2"),
    "simple Taylor (Sec. 4.2)": (explain.simple_taylor, "sum ~ f_c"),
    "LRP, deep Taylor (Sec. 4.3, 5)": (explain.lrp, "sum = f_c"),
    "deconvolution (Table 1)": (explain.deconvolution, "a pattern"),
    "guided backprop (Table 1)": (explain.guided_backprop, "a pattern"),
    "integrated gradients (baseline)": (
        functools.partial(explain.integrated_gradients, baseline=BLACK, steps=STEPS),
        "sum ~ f_c - f_c(black)"),
    "SmoothGrad (baseline)": (functools.partial(explain.smoothgrad, samples=SAMPLES),
                              "a mean gradient"),
    "occlusion (baseline)": (functools.partial(explain.occlusion, patch=(4, 4), fill=BLACK),
                             "sum of patch drops"),
}
MEANINGLESS_SUMS = ("a pattern", "a mean gradient")


def first_of_each_class(labels: np.ndarray, classes) -> np.ndarray:
    """The index of the first digit of each class, in the order of ``classes``."""
    return np.array([np.flatnonzero(labels == c)[0] for c in classes])


def normalized(R: np.ndarray) -> np.ndarray:
    """Each heatmap (N, ...) divided by its largest magnitude (an all-zero one stays 0)."""
    peak = np.abs(R).reshape(len(R), -1).max(axis=1).reshape((-1,) + (1,) * (R.ndim - 1))
    return R / np.where(peak > 0, peak, 1.0)


def section(tour: Tour) -> Section:
    images, labels, _ = tour.digits()
    s = tour.section("4", "Explaining individual decisions",
                     "Sec. 4.1 sensitivity analysis, Sec. 4.2 simple Taylor decomposition, "
                     "Sec. 4.3 relevance propagation; deconvolution and guided backprop as in "
                     "Table 1 (the paper's Figure 3 idea, on digits)",
                     f"The shipped CNN classifies 8 digits from {tour.source()}; each method explains "
                     "the logit f_c(x) of the predicted class. Sensitivity (df/dx_i)^2 says "
                     "what would change f, not what f is made of; simple Taylor "
                     "df/dx_i * x_i and LRP decompose f_c(x) itself; deconvolution and guided "
                     "backprop are backward patterns, not decompositions, so their sums mean "
                     "nothing.")
    net = tour.model("cnn")
    idx = first_of_each_class(labels, range(8))
    x = models.inputs_for(net, images[idx])
    f = net.forward(x)
    c = f.argmax(axis=1)
    f_c = f[np.arange(len(x)), c]
    tour.progress("4", f"8 digits, {len(METHODS)} methods")
    R = {name: method(net, x) for name, (method, _) in METHODS.items()}
    sums = {name: r.reshape(len(r), -1).sum(axis=1) for name, r in R.items()}

    fig = render.new_figure(14, 15.5, layout="constrained")
    axes = fig.subplots(1 + len(METHODS), len(x))
    for ax, xi, i, ci, fi in zip(axes[0], x, idx, c, f_c):
        render.show_image(ax, xi[0], f"#{i}: class {ci}\nf_c = {fi:.2f}")
    axes[0, 0].set_ylabel("input", fontsize=render.FONT)
    for row, (name, (_, meaning)) in zip(axes[1:], METHODS.items()):
        for ax, r, total in zip(row, normalized(R[name]), sums[name]):
            # a pattern's or a gradient's sum means nothing: only the other sums are shown
            title = None if meaning in MEANINGLESS_SUMS else f"sum {total:.3g}"
            image = render.show_heatmap(ax, r[0], title, scale=1.0, colorbar=False)
        row[0].set_ylabel(f"{name.split(' (')[0]}\n({meaning})", fontsize=render.FONT)
        bar = fig.colorbar(image, ax=list(row), fraction=0.02, pad=0.01, ticks=[-1, 0, 1])
        bar.ax.tick_params(labelsize=render.FONT - 1)
        bar.set_label("R / max|R|", fontsize=render.FONT - 1)
    fig.suptitle("Five explanations of the CNN's decision f_c(x) for 8 digits, and three "
                 "baselines (rows: methods; each heatmap scaled to its own max |R|)",
                 fontsize=render.FONT + 1)

    for k, (i, ci, fi) in enumerate(zip(idx, c, f_c)):
        s.number(f"digit #{i} (class {ci}): f_c(x) = {fi:.4f}; sums of the heatmaps",
                 ", ".join(f"{name.split(' (')[0]} {sums[name][k]:.4f}" for name in METHODS))
    lrp_gap = np.abs(sums["LRP, deep Taylor (Sec. 4.3, 5)"] - f_c).max()
    taylor_gap = np.abs(sums["simple Taylor (Sec. 4.2)"] - f_c).max()
    sensitivity_name = "sensitivity (Sec. 4.1)"
    g = explain.gradient(net, x)                     # df_c/dx, what SmoothGrad averages
    grad_sq = (g ** 2).reshape(len(x), -1).sum(axis=1)
    sens_gap = np.abs(sums["sensitivity (Sec. 4.1)"] - grad_sq).max()
    s.number("LRP: max |sum R - f_c(x)| over the 8 digits (conservation, Sec. 4.3)", f"{lrp_gap:.2e}")
    s.number("simple Taylor: max |sum R - f_c(x)| (the biases' share, Sec. 4.2)", f"{taylor_gap:.4f}")
    s.number("sensitivity: max |sum R - ||grad f||^2| (Sec. 4.1)", f"{sens_gap:.2e}")
    ink = x > -1                                     # pixels with any ink (background = -1)
    on_ink = {name: float((np.abs(r) * ink).sum() / np.abs(r).sum()) for name, r in R.items()}
    s.number(f"share of |R| on the digits' ink pixels ({ink.mean():.0%} of the image)",
             ", ".join(f"{name.split(' (')[0]} {v:.3f}" for name, v in on_ink.items()))
    lrp_name, taylor_name = "LRP, deep Taylor (Sec. 4.3, 5)", "simple Taylor (Sec. 4.2)"
    ig, sg, occ = "integrated gradients (baseline)", "SmoothGrad (baseline)", "occlusion (baseline)"
    # the baselines' references: f_c of the all-black image, and the drop to it
    rows = np.arange(len(x))
    f_black = net.forward(np.full_like(x, BLACK))[rows, c]
    drop = f_c - f_black
    ig_gap = np.abs(sums[ig] - drop).max()
    background = np.abs(R[ig][~ink]).max()                 # x = x' there: R = 0 exactly
    # the pixels of the 4x4 patches (of the occlusion grid) that are black already
    black_patches = metrics.patch_relevance(x != BLACK, (4, 4)) == 0            # (8, 64)
    occ_background = np.abs(R[occ][metrics.patch_mask(black_patches, x.shape[1:], (4, 4))]).max()
    sg_rough, grad_rough = roughness(R[sg]), roughness(g)
    s.number(f"integrated gradients from the black image, {STEPS} steps: max |sum R - "
             f"(f_c(x) - f_c(black))| over the 8 digits (the midpoint rule's error), and "
             f"max |R| on the black background", f"{ig_gap:.4f}, {background:.1e}")
    s.number("occlusion (4x4 black patches): sum of the single-patch drops against the drop "
             "with every patch removed at once, f_c(x) - f_c(black), per digit; max |R| on "
             "the patches that are black already",
             ", ".join(f"{a:.1f} vs {b:.1f}" for a, b in zip(sums[occ], drop))
             + f"; {occ_background:.1e}")
    s.number(f"roughness (mean |difference of neighbouring pixels| / mean |R|): the gradient "
             f"df_c/dx, SmoothGrad's mean over {SAMPLES} noisy copies", f"{grad_rough:.3f}, {sg_rough:.3f}")
    tour.save(s, fig, "sec4_methods.png",
              f"Five explanations of the same 8 decisions, and three baselines. LRP's heatmaps "
              f"sum to f_c(x) to "
              f"within {lrp_gap:.0e} and put {on_ink[lrp_name]:.0%} of their mass on the "
              f"digit's ink, which covers {ink.mean():.0%} of the pixels; simple Taylor's sums miss f_c(x) by up to {taylor_gap:.2f} (the "
              f"network has biases, so the root 0 is not on x's linear piece) and put only "
              f"{on_ink[taylor_name]:.0%} on the ink; sensitivity ({on_ink[sensitivity_name]:.0%} "
              f"on the ink) shows where a change would matter, not what f_c is made of. "
              f"The baselines: integrated gradients from the black image sums to "
              f"f_c(x) - f_c(black), not f_c(x) (within {ig_gap:.2f} at {STEPS} steps), and is "
              f"exactly 0 on the black background, where x equals the baseline; SmoothGrad, the "
              f"gradient averaged over {SAMPLES} noisy copies, is "
              f"{smoother(sg_rough, grad_rough)} than the gradient "
              f"itself (roughness {sg_rough:.2f} against {grad_rough:.2f}) but still a "
              f"gradient, signed, whose sum means nothing; occlusion's 4x4 blocks are "
              f"the drops of f_c when each patch is blacked out, 0 where a patch is black "
              f"already, and they do not add up: their sums "
              f"{'exceed' if np.all(sums[occ] > drop) else 'differ from'} the drop with all "
              f"patches removed at once (e.g. {sums[occ][0]:.1f} against {drop[0]:.1f}).")
    return s


def smoother(rough: float, reference: float) -> str:
    """How a roughness compares with a reference's, in words."""
    return ("smoother" if rough < 0.8 * reference else "only slightly smoother"
            if rough < reference else "no smoother")


def roughness(R: np.ndarray) -> float:
    """How much a heatmap (N, C, H, W) jumps between neighbouring pixels, relative to its size:
    the mean |difference| of horizontally and vertically adjacent values over the mean |R|."""
    jumps = np.concatenate([np.abs(np.diff(R, axis=a)).ravel() for a in (2, 3)])
    return float(jumps.mean() / np.abs(R).mean())
