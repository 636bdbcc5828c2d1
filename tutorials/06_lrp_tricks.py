# %% [markdown]
# # 6. Tricks for LRP: translation, sliding windows, relevant patterns (Sec. 6.4-6.6)
#
# Three practical tricks from Sec. 6 of Montavon, Samek & Müller (2017):
#
# * **6.4 translation trick**: average the explanations of slightly shifted copies of the
#   input, each shifted back, to remove artefacts of a coarse first layer;
# * **6.5 sliding window**: explain an image larger than the network's input by the sum of
#   the network over all windows, g(X) = sum_s f(X[s]) (Figure 5);
# * **6.6 relevant pattern**: mask the image with its heatmap, P(x) = x R(x).
#
# It runs as a script (`python tutorials/06_lrp_tricks.py`) and as a notebook; with
# `HEATMAPPING_QUICK=1` it uses fewer digits.

# %%
import functools

import numpy as np

from heatmapping import data, explain, metrics, models, notebook, render
from heatmapping.tricks import (canvas_digits, digit_canvas, direct_explanation,
                                fully_convolutional, positive_evidence, relevant_pattern,
                                sliding_window, translation_explainer, translation_path)

run = notebook.settings()
images, labels, source = data.load_test_digits(verbose=False)
cnn = models.load_model("cnn").astype(np.float64)
strided = models.load_model("cnn_strided").astype(np.float64)
print(f"digits from {source}")
print(f"the strided CNN's first layer: {strided.layers[0]}")

# %% [markdown]
# ## 6.4 The translation trick
#
# "LRP heatmaps have unaesthetic features [...] caused, for example, by the presence of noisy
# first-layer filters, or a large stride parameter in the first convolution layer." The
# remedy is to explain translated copies and average them, each shifted back:
#
#     R*(x) = 1/|T| sum_{tau in T} tau^-1( R( tau(x) ) ),
#
# with T all shifts of a few pixels (`heatmapping.tricks.translation_trick`;
# `translation_explainer` makes it an explanation function that explains the original
# image's class in every copy). We use a network made for the case: `cnn_strided` reads the
# 32x32 image through 4x4 filters at stride 4, so every 4x4 block of pixels is seen by one
# set of neurons. Its deep Taylor heatmaps show that block grid; averaging over the 25 shifts
# of up to 2 pixels each way should remove it. What to look for: the grid in the second row,
# gone in the third; the difference (fourth row) is the grid itself.

# %%
plain = functools.partial(explain.lrp, strided, rules="deep_taylor")
tricked = translation_explainer(strided, plain, max_shift=2)
x = models.inputs_for(strided, images[:4])
before, after = plain(x), tricked(x)
fig = render.comparison_grid(
    x[:, 0], [f"digit {label}" for label in labels[:4]],
    [("deep Taylor LRP", before[:, 0], "heatmap"),
     ("with translation trick", after[:, 0], "heatmap"),
     ("difference", after[:, 0] - before[:, 0], "heatmap")],
    "Translation trick (Sec. 6.4) on a CNN whose first layer has stride 4: deep Taylor LRP "
    "(zB, z+), plain and averaged over 25 shifts", scale="column")     # one scale per digit
notebook.show(fig, "06_translation_trick.png", run)

# %% [markdown]
# Three numbers say what the figure shows. The *block artefact*
# (`metrics.stride_artifact`) compares how much the heatmap jumps between neighbouring pixels
# across the 4-pixel grid with how much it changes elsewhere: 1 means no grid. Continuity
# (Sec. 7.1) along a '2' moving one pixel at a time: a heatmap tied to a fixed grid jumps
# whenever the digit crosses a block border. And pixel-flipping (Sec. 7.2, order of the first
# heatmap, black removal) asks whether the trick costs selectivity.

# %%


def compare(net, explain_fn, trick_fn, n):
    """Block artefact, continuity along a moving '2' and pixel-flipping AUC, plain vs trick."""
    xs = models.inputs_for(net, images[:n])
    two = models.inputs_for(net, images[np.flatnonzero(labels == 2)[:1]])
    path = translation_path(two, 6)                    # the '2' moved -6..6 pixels
    return {name: tuple(metrics.heatmap_quality(net, fn, xs, path, target=2).values())
            for name, fn in (("plain", explain_fn), ("trick", trick_fn))}


n = run.pick(200, 20)
rows = {"strided CNN, 25 shifts": compare(strided, plain, tricked, n)}
shipped = functools.partial(explain.lrp, cnn, rules="deep_taylor")
rows["shipped CNN, 9 shifts"] = compare(cnn, shipped, translation_explainer(cnn, shipped, max_shift=1), n)
print(f"{'network':24s} {'':6s} {'block artefact':>14s} {'continuity':>10s} {'AUC (' + str(n) + ')':>10s}")
for network, result in rows.items():
    for name, (artefact, continuity, auc) in result.items():
        print(f"{network:24s} {name:6s} {artefact:14.3f} {continuity:10.3f} {auc:10.3f}")
s = rows["strided CNN, 25 shifts"]
print(f"on the strided CNN the trick takes the block artefact from {s['plain'][0]:.2f} to "
      f"{s['trick'][0]:.2f} and the continuity constant from {s['plain'][1]:.3f} to "
      f"{s['trick'][1]:.3f}; the AUC moves from {s['plain'][2]:.3f} to {s['trick'][2]:.3f}")
c = rows["shipped CNN, 9 shifts"]
print(f"on the shipped CNN (stride 1) there is no grid to remove (artefact {c['plain'][0]:.2f}); "
      f"the trick still smooths (continuity {c['plain'][1]:.3f} -> {c['trick'][1]:.3f})")

# %% [markdown]
# The trick does what Sec. 6.4 promises where the artefact exists, at the price of |T|
# explanations per image. On the shipped CNN, built as Sec. 6.1 recommends (stride 1, small
# filters), it has little to remove.
#
# ## 6.5 Explaining an image larger than the network (Figure 5)
#
# The CNN reads 32x32 images. To explain a larger image X, Sec. 6.5 explains
#
#     g(X) = sum_{s in S} f(X[s]),
#
# the network's output summed over all windows X[s]: each window is explained by LRP and each
# pixel collects the relevance of every window it belongs to; a conservative rule gives
# sum_i R_i(X) = g(X). A window's evidence for the class c is the part of f_c above what an
# empty (all-black) window gets, max(0, f_c(X[s]) - f_c(blank)) (`tricks.positive_evidence`):
# windows without a c add nothing, and neither do the many windows of plain background, on
# which this CNN's f_3 is slightly positive.
#
# Where the digits are packed in 32-pixel cells, a window at stride 4 can see parts of two
# digits, and its relevance, earned by the combination, lands on both. Spacing the digits in
# 60-pixel cells leaves 32 background pixels between neighbours, so that no 32x32 window sees
# ink of two digits. The canvas holds two '3's and six other digits that the CNN, shown each
# alone, finds no evidence of a 3 in (f_3 below the empty window's): the figure is about how
# the windows' explanations add up, not about the network's confusions. What to look for: in
# the spaced canvas only the two '3's light up.

# %%
c = 3
# two '3's and six digits with less evidence of a 3, alone, than an empty window (f_3 = blank)
picks, blank, alone = canvas_digits(cnn, images, labels, c, rng=np.random.default_rng(0))
explain_windows, evidence = positive_evidence(cnn, c, baseline=blank)
digits = data.to_input(images[picks])
print(f"f_{c} of an empty window: {blank:.2f}; of each digit alone: "
      + ", ".join(f"'{labels[i]}' {alone[i]:.1f}" for i in picks))
layouts = {}
for name, cell in (("packed (32-pixel cells)", 32), ("spaced (60-pixel cells)", 60)):
    canvas, cells = digit_canvas(digits, rows=2, cols=4, cell=cell)
    R, g = sliding_window(explain_windows, evidence, canvas, window=(32, 32), stride=(4, 4))
    shares = np.array([R[0, 0][cell_].sum() for cell_ in cells]) / R.sum()
    layouts[name] = canvas, R, g[0], shares

fig = render.new_figure(15, 7, layout="constrained")
axes = fig.subplots(2, 2)
for row, (name, (canvas, R, g, shares)) in zip(axes, layouts.items()):
    render.show_image(row[0], canvas[0, 0], f"{name}: digits {' '.join(str(labels[i]) for i in picks)}")
    render.show_heatmap(row[1], R[0, 0], f"sliding-window LRP of class {c}, g(X) = {g:.1f}")
fig.suptitle(f"Figure 5: 32x32 windows every 4 pixels, each window's evidence max(0, f_{c} - "
             f"{blank:.2f}) explained by deep Taylor LRP and summed", fontsize=render.FONT + 1)
notebook.show(fig, "06_sliding_window.png", run)

# %%
is_c = labels[picks] == c
for name, (canvas, R, g, shares) in layouts.items():
    print(f"{name}: g(X) = {g:.3f}, sum of the heatmap = {R.sum():.3f} (conservation); share "
          "per digit: " + ", ".join(f"'{labels[i]}' {v:.1%}" for i, v in zip(picks, shares)))
# which digits' ink does each window of the spaced canvas see?
canvas = layouts["spaced (60-pixel cells)"][0]
ink = canvas[0, 0] > -1
seen = 0                                          # per window: how many digits' ink it sees
for rows_, cols_ in digit_canvas(digits, rows=2, cols=4, cell=60)[1]:
    own = np.zeros_like(ink)
    own[rows_, cols_] = ink[rows_, cols_]             # this digit's ink only
    seen = seen + np.lib.stride_tricks.sliding_window_view(own, (32, 32))[::4, ::4].any(axis=(-2, -1))
print(f"spaced canvas: {seen.size} windows, the most digits one window sees: {seen.max()}")
spaced, packed = layouts["spaced (60-pixel cells)"][3], layouts["packed (32-pixel cells)"][3]
print(f"the two '{c}'s hold {spaced[is_c].sum():.0%} of the relevance on the spaced canvas "
      f"({packed[is_c].sum():.0%} on the packed one), on {is_c.mean():.0%} of the area; the "
      f"weaker '{c}' gets {spaced[is_c].min():.0%}, the most of any other digit "
      f"{spaced[~is_c].max():.0%}")

# %% [markdown]
# ### The direct approach
#
# A convolutional network can also run on the whole canvas at once: without its final
# `Flatten` it returns a map of class scores (`tricks.fully_convolutional`), and LRP of the
# map's sum explains the canvas in one pass. Sec. 6.5 warns that this "is not strictly
# equivalent" to the sliding window, e.g. with border-padded convolutions. The shipped CNN has
# no padding, so the direct approach equals the sliding window at the network's total stride
# (8 pixels) with raw logits: the two heatmaps agree to rounding. (tests/test_tricks.py shows
# the difference with padding.)

# %%
canvas = layouts["packed (32-pixel cells)"][0]
R_direct, g_direct = direct_explanation(explain.lrp, fully_convolutional(cnn), canvas, target=c)
R_window, g_window = sliding_window(lambda w: explain.lrp(cnn, w, target=c),
                                    lambda w: cnn.forward(w)[:, c], canvas,
                                    window=(32, 32), stride=(8, 8))
print(f"direct approach vs sliding window at stride 8 (raw logits): g {g_direct[0]:.4f} vs "
      f"{g_window[0]:.4f}, max heatmap difference {np.abs(R_direct - R_window).max():.1e}")

# %% [markdown]
# ## 6.6 The relevant pattern
#
# In a cluttered image a heatmap is easier to read as a mask: P(x) = x R(x), with R rescaled
# to [0, 1] (divided by its maximum, negative values clipped) and the image mapped to
# [0, 1], so that irrelevant pixels turn black (`tricks.relevant_pattern`). What to look for:
# the strokes that carry the decision stay bright, the rest of the digit fades.

# %%
x = models.inputs_for(cnn, images[4:8])
R = explain.lrp(cnn, x, rules="deep_taylor")
P = relevant_pattern(x, R)
fig = render.comparison_grid(
    x[:, 0], [f"x: digit {label}" for label in labels[4:8]],
    [("R(x), deep Taylor LRP", R[:, 0], "heatmap"), ("P(x) = x R(x)", P[:, 0], "pattern")],
    "Relevant pattern (Sec. 6.6): the digit masked by its heatmap")
notebook.show(fig, "06_relevant_pattern.png", run)
ink = (x + 1) / 2
print(f"P(x) keeps {P.sum() / ink.sum():.0%} of the digits' ink: the rest lies on pixels of "
      f"little relevance")
