# %% [markdown]
# # 3. Explaining individual decisions (Sec. 4: 4.1-4.4 and Table 1)
#
# Section 3 asked what a class *looks like* in general. Section 4 of Montavon, Samek & Müller
# (2017) asks something else: for **one** digit x, which pixels made the network output
# f_c(x) for class c? An explanation gives every input variable x_i a score R_i, and a heatmap
# draws the scores: red for positive, blue for negative, white for none.
#
# We explain the same few test digits with every method of the section:
#
# * **sensitivity analysis** (Sec. 4.1): R_i = (df/dx_i)^2;
# * **simple Taylor decomposition** (Sec. 4.2): R_i = df/dx_i * x_i (gradient x input);
# * **relevance propagation** (Sec. 4.3): LRP with the deep Taylor rules, which conserve f(x);
# * **deconvolution** and **guided backprop**: backward passes that give patterns, not scores
#   that add up to anything.
#
# Then Sec. 4.4: what a decomposition lets us do (pool relevance over regions, filter it
# through single feature maps) and the paper's Table 1. Two questions come up in every class,
# and the last two parts answer them: why is the heatmap of a class the network did *not*
# predict blue, and why is the heatmap of the fully connected network so diffuse?

# %% [markdown]
# ## Settings and digits
#
# `notebook.settings()` reads the environment: `HEATMAPPING_QUICK=1` runs fewer digits (what
# the tests do), `HEATMAPPING_OUT` chooses the figure folder. The digits come from the MNIST
# test set when `HEATMAPPING_DATA` (or the project's `../shared/data/mnist`) holds it, else
# from the 5,000 digits embedded in the package. We take the first test digit of a few classes
# and explain them with the shipped CNN (conv-ReLU-sum-pool, biases <= 0, as Sec. 6.1
# recommends). Pixels are in [-1, 1] with a black background at -1; the CNN reads the 28x28
# digits padded to 32x32.

# %%
import numpy as np

from heatmapping import data, explain, models, notebook, relevance, render
from heatmapping.layers import Linear, ReLU
from heatmapping.network import Sequential

run = notebook.settings()
images, labels, source = data.load_test_digits()
cnn = models.load_model("cnn").astype(np.float64)
mlp = models.load_model("mlp").astype(np.float64)

classes = run.pick(list(range(6)), [0, 1, 2])        # the first test digit of each class
idx = np.array([np.flatnonzero(labels == k)[0] for k in classes])
x = models.inputs_for(cnn, images[idx])              # (N, 1, 32, 32), pixels in [-1, 1]
f = cnn.forward(x)                                   # (N, 10) logits
c = f.argmax(axis=1)                                 # predicted classes
f_c = f[np.arange(len(x)), c]                        # the explained outputs f_c(x)
TWO = classes.index(2)                               # the "2" we look at in detail


def total(R):
    """The sum of each heatmap of a batch (N, ...) -> (N,)."""
    return R.reshape(len(R), -1).sum(axis=1)


def ink_share(R, on_ink):
    """The share of each heatmap's |R| that lies on ink pixels (mask ``on_ink``): (N,)."""
    return total(np.abs(R) * on_ink) / total(np.abs(R))


print(f"{len(x)} digits from {source}, indices {idx.tolist()}")
print(f"true classes {labels[idx].tolist()}, predicted {c.tolist()}, "
      f"f_c(x) = {np.round(f_c, 2).tolist()}")

# %% [markdown]
# ## The idea of Figure 3: input -> network -> heatmap
#
# The paper's Figure 3 shows the whole pipeline on a photo of a boat: the image goes into the
# network, the output neuron for "boat" holds the evidence f(x), and the explanation maps that
# number back onto the pixels. Here is the same for our "2". The middle panel is the output
# layer: ten logits, the largest for class 2. The heatmap on the right is LRP's explanation
# of that one number, and its pixel scores add up to it (printed below the figure).

# %%
# deep Taylor (zB on pixels, z+ above), with the relevance of every layer kept for later
layers = explain.lrp(cnn, x, return_layers=True)
R_lrp = layers.R[0]
fig = render.new_figure(12.5, 3.6, layout="constrained")
ax_in, arrow_1, ax_net, arrow_2, ax_out = fig.subplots(1, 5, width_ratios=[1, 0.3, 1.3, 0.3, 1.2])
render.show_image(ax_in, x[TWO, 0], "input x (a test digit)")
bars = ax_net.bar(range(10), f[TWO], color="lightgray", edgecolor="k")
bars[c[TWO]].set_color("tab:red")
ax_net.axhline(0, color="k", lw=0.8)
ax_net.set_xticks(range(10))
ax_net.set_xlabel("class", fontsize=render.FONT)
ax_net.set_ylabel("logit f_k(x)", fontsize=render.FONT)
ax_net.tick_params(labelsize=render.FONT)
ax_net.set_title(f"CNN output: f_{c[TWO]}(x) = {f_c[TWO]:.1f}\n(evidence for \"{c[TWO]}\")",
                 fontsize=render.FONT)
render.show_heatmap(ax_out, R_lrp[TWO, 0],
                    f"explanation R(x): LRP, deep Taylor\n(zB, z+), sum R = {R_lrp[TWO].sum():.1f}")
for ax, label in ((arrow_1, "network"), (arrow_2, "explain")):
    ax.annotate("", (1, 0.5), (0, 0.5), arrowprops=dict(arrowstyle="-|>", lw=2, color="tab:gray"))
    ax.text(0.5, 0.56, label, ha="center", fontsize=render.FONT)
    ax.set_axis_off()
notebook.show(fig, "03_figure3_idea.png", run)

# %%
print(f"Figure 3 idea: the CNN says \"{c[TWO]}\" with f_{c[TWO]}(x) = {f_c[TWO]:.4f}; "
      f"the heatmap's pixels sum to {R_lrp[TWO].sum():.4f}")

# %% [markdown]
# ## 4.1 Sensitivity analysis
#
# R_i = (df/dx_i)^2, the squared partial derivative at x, computed by one backward pass. The
# scores add up to the squared norm of the gradient, sum_i R_i = ||grad f(x)||^2: they
# decompose how *steep* f is at x, not the value f(x). The paper's phrase: sensitivity answers
# "what makes this image more or less a 2?", not "what makes it a 2?". Check the sum against
# the gradient, and compare it with f_c(x): they are different numbers with different units.

# %%
R_sens = explain.sensitivity(cnn, x)
grad_sq = total(explain.gradient(cnn, x) ** 2)
print("sensitivity: sum_i R_i        ", np.round(total(R_sens), 3).tolist())
print("||grad f_c(x)||^2             ", np.round(grad_sq, 3).tolist())
print("f_c(x)                        ", np.round(f_c, 3).tolist())
print(f"sensitivity: max |sum R - ||grad f||^2| = {np.abs(total(R_sens) - grad_sq).max():.2e}")

# %% [markdown]
# ## 4.2 Simple Taylor decomposition
#
# Expand f at a root point x~ (f(x~) = 0) to first order: R_i = df/dx_i|_x~ * (x_i - x~_i),
# and f(x) = sum_i R_i + (higher-order terms). For a ReLU network **without biases**, f is
# piecewise linear and positively homogeneous, f(t x) = t f(x) for t >= 0. The root
# x~ = lim eps x (eps -> 0) then lies on the same linear piece as x, the higher-order terms
# vanish, and R_i = df/dx_i * x_i (gradient x input) sums to f(x) **exactly**.
#
# First a toy: a random ReLU network 3-8-4-1, once with all biases 0 and once with all
# biases -0.2 (`with_biases` sets them). For five random inputs we print f(x) and the sum of
# the three scores R_i = df/dx_i * x_i, the largest gap between the two, and the homogeneity
# test f(x/2) = f(x)/2 that only the bias-free network passes.

# %%
def with_biases(net, value):
    """A copy of ``net`` whose every bias is the constant ``value``."""
    return Sequential([layer.replace(b=np.full_like(layer.b, value)) if "b" in layer.param_names
                       else layer for layer in net.layers], input_shape=net.input_shape)


rng = np.random.default_rng(0)
toy = Sequential([Linear(rng.standard_normal((3, 8)), np.zeros(8)), ReLU(),
                  Linear(rng.standard_normal((8, 4)), np.zeros(4)), ReLU(),
                  Linear(rng.standard_normal((4, 1)), np.zeros(1))])
points = rng.uniform(-1, 1, (5, 3))                  # five inputs x (5, 3)
for bias in (0.0, -0.2):
    net = with_biases(toy, bias)
    f_toy = net.forward(points)[:, 0]
    sums = explain.simple_taylor(net, points, target=0).sum(axis=1)
    homogeneous = np.abs(net.forward(points / 2) - net.forward(points) / 2).max()
    print(f"toy network, biases {bias:g}:\n  f(x)  = {np.round(f_toy, 4).tolist()}\n"
          f"  sum R = {np.round(sums, 4).tolist()}\n  max |sum R - f(x)| = "
          f"{np.abs(sums - f_toy).max():.2e}, max |f(x/2) - f(x)/2| = {homogeneous:.2e}")

# %% [markdown]
# The shipped CNN has biases (all <= 0, Sec. 6.1). Each one shifts its neuron's linear piece,
# so the piece that holds x no longer passes through 0 and gradient x input misses f(x) by that
# piece's offset. To see that the biases are the whole story, we also set every bias of the
# CNN to 0: a different network (it still classifies these digits the same way), for which the
# sums are exact again.

# %%
R_taylor = explain.simple_taylor(cnn, x)
taylor_gap = np.abs(total(R_taylor) - f_c)
no_bias = with_biases(cnn, 0.0)
f0 = no_bias.forward(x)
R_taylor0 = explain.simple_taylor(no_bias, x, target=c)
taylor0_gap = np.abs(total(R_taylor0) - f0[np.arange(len(x)), c]).max()
print("simple Taylor on the CNN: sum R ", np.round(total(R_taylor), 3).tolist())
print("                         f_c(x) ", np.round(f_c, 3).tolist())
print(f"shipped CNN (with biases): max |sum R - f_c(x)| = {taylor_gap.max():.4f} "
      f"({taylor_gap.max() / f_c[taylor_gap.argmax()]:.1%} of f_c)")
print(f"the CNN with its biases set to 0 predicts the same classes for "
      f"{np.sum(f0.argmax(axis=1) == c)} of {len(x)} digits; "
      f"max |sum R - f_c(x)| = {taylor0_gap:.2e}")

# %% [markdown]
# ## 4.3 Relevance propagation
#
# LRP starts with R = f_c(x) at the output neuron and walks the network backwards,
# redistributing each neuron's relevance R_k onto its inputs, R_j = sum_k R_{j<-k}, such that
# sum_j R_{j<-k} = R_k. Like Kirchhoff's law for currents, what enters a layer from above
# leaves it downwards, and so the total is the same at every layer:
# sum_i R_i = ... = sum_j R_j = sum_k R_k = ... = f(x). We use the deep Taylor rules of
# Sec. 5 (zB on the pixels, z+ above; the next notebook derives them) and print the total
# relevance at each layer for the "2".

# %%
per_layer = [float(R[TWO].sum()) for R in layers.R]
print("sum of R at layers L..0 for the '2':", " ".join(f"{v:.4f}" for v in reversed(per_layer)))
lrp_gap = max(np.abs(total(R) - f_c).max() for R in layers.R)
print(f"LRP (deep Taylor): max |sum_l R - f_c(x)| over all layers and digits = {lrp_gap:.2e}")

# %% [markdown]
# ### Deconvolution and guided backprop
#
# Zeiler and Fergus's deconvolution and Springenberg et al.'s guided backprop also walk the
# graph backwards, but they change the gradient's passage through each ReLU (deconvolution
# passes max(0, g) whatever the forward activation, guided backprop max(0, g) * 1[a > 0]).
# The result is a pattern in pixel space that shows what the network "reacts to"; it has no
# conservation law, so its sum is not related to f_c(x), as the numbers show.

# %%
R_deconv = explain.deconvolution(cnn, x)
R_guided = explain.guided_backprop(cnn, x)
print("f_c(x)                  ", np.round(f_c, 3).tolist())
print("sum of deconvolution    ", np.round(total(R_deconv), 3).tolist())
print("sum of guided backprop  ", np.round(total(R_guided), 3).tolist())

# %% [markdown]
# ## All five methods on the same digits
#
# Rows are digits, columns are methods (the column title names the method and its formula or
# rule). Each heatmap is divided by its own largest magnitude, so one colour bar serves all.
# What to look for: sensitivity is positive everywhere and lights up wherever a change of the
# pixel would change f, including the background; simple Taylor has both signs and gives the
# black background relevance, because a background pixel is x_i = -1, not 0, so
# df/dx_i * x_i is not zero there; LRP puts its positive relevance on the strokes and in a
# halo around them (a black pixel where a filter has a negative weight is evidence too: the
# zB rule gives a pixel at x_i = l = -1 the share -2 w_ij^- >= 0);
# guided backprop draws a sharpened digit, and deconvolution, which ignores the forward
# pass's ReLU masks, is much noisier. The printed shares below measure "on the strokes": the
# fraction of each heatmap's |R| that lies on ink pixels (x > -1).

# %%
METHODS = {"sensitivity": R_sens, "simple Taylor": R_taylor, "LRP": R_lrp,
           "deconvolution": R_deconv, "guided backprop": R_guided}    # heatmaps (N, 1, 32, 32)
TITLES = {"sensitivity": "sensitivity\n(df/dx_i)^2",
          "simple Taylor": "simple Taylor\ndf/dx_i * x_i",
          "LRP": "LRP, deep Taylor\n(zB pixels, z+ above)",
          "deconvolution": "deconvolution\n(ReLU: max(0, g))",
          "guided backprop": "guided backprop\n(max(0, g) 1[a > 0])"}
decomposes = {"sensitivity": grad_sq, "simple Taylor": f_c, "LRP": f_c}   # sum R is meant to be

fig = render.new_figure(13.5, 2.25 * len(x) + 0.6, layout="constrained")
axes = fig.subplots(len(x), 1 + len(METHODS), squeeze=False)
for row, (axs, i) in enumerate(zip(axes, idx)):
    render.show_image(axs[0], x[row, 0], f"#{i}: class {c[row]}\nf_c(x) = {f_c[row]:.2f}")
    for ax, (name, R) in zip(axs[1:], METHODS.items()):
        note = f"sum R = {R[row].sum():.3g}" if name in decomposes else "(a pattern)"
        title = f"{TITLES[name]}\n{note}" if row == 0 else note
        image = render.show_heatmap(ax, R[row, 0] / np.abs(R[row]).max(), title, scale=1.0,
                                    colorbar=False)
bar = fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01, ticks=[-1, 0, 1])
bar.ax.tick_params(labelsize=render.FONT)
bar.set_label("R / max |R| (red positive, blue negative)", fontsize=render.FONT)
fig.suptitle("Five explanations of the CNN's f_c(x) for the same digits (Sec. 4.1-4.3)",
             fontsize=render.FONT + 1)
notebook.show(fig, "03_methods_grid.png", run)

# %%
ink = x > -1                                        # (N, 1, 32, 32): pixels with some ink
print(f"ink covers {ink.mean():.1%} of the pixels; share of |R| on ink pixels (mean over the "
      f"digits):")
on_ink = {name: float(ink_share(R, ink).mean()) for name, R in METHODS.items()}
for name, share in on_ink.items():
    print(f"  {name:<17} {share:.3f}")
print(f"simple Taylor puts {1 - on_ink['simple Taylor']:.0%} of its |R| on the background "
      f"(x_i = -1 there, not 0); LRP {1 - on_ink['LRP']:.0%}")

# %% [markdown]
# ## 4.4 Pooling: relevance of regions
#
# A decomposition can be coarsened by summing it over groups of pixels, and the sums still
# add up to the decomposed quantity. Lapuschkin et al. pooled relevance over an object's
# bounding box and the rest of the image; we pool over the digit's **ink** (x > -1) and the
# **background**, and, for LRP, over the four **quadrants** (as in Figure 7).
# `relevance.pool_masks` sums R over 0/1 masks, `relevance.pool_grid` over grid cells.
#
# Pooling never loses anything: the regions add up to the whole heatmap's sum. For a
# decomposition that sum is a known quantity (f_c(x) for LRP, ||grad f||^2 for sensitivity;
# f_c(x) up to the bias gap of Sec. 4.2 for simple Taylor), so "the ink holds this share of
# f_c" is a statement about the decision. A pattern's pooled values (deconvolution, guided
# backprop) add up to an arbitrary number, so their shares mean nothing. In the figure: the
# mask, the LRP heatmap with its four quadrant sums, and each decomposition's ink / background
# split.

# %%
def ink_and_background(R):
    """Relevance on the ink and on the background of each digit: (N, ...) -> (N, 2)."""
    return np.concatenate([relevance.pool_masks(R[i:i + 1], np.stack([ink[i], ~ink[i]]))
                           for i in range(len(R))])


pooled = {name: ink_and_background(METHODS[name]) for name in decomposes}   # (N, 2) each
quadrants = relevance.pool_grid(R_lrp, (2, 2))       # (N, 2, 2)

fig = render.new_figure(13, 3.8, layout="constrained")
ax_mask, ax_quad, ax_bar = fig.subplots(1, 3, width_ratios=[1, 1.2, 1.6])
render.show_image(ax_mask, np.where(ink[TWO, 0], 1.0, -1.0),
                  f"ink region of the '2' (x > -1)\n{ink[TWO].mean():.0%} of the pixels")
render.show_heatmap(ax_quad, R_lrp[TWO, 0], f"LRP, deep Taylor (zB, z+)\nquadrant sums, total "
                    f"{quadrants[TWO].sum():.2f} = f_2")
ax_quad.axhline(15.5, color="k", lw=0.8)
ax_quad.axvline(15.5, color="k", lw=0.8)
for (qy, qx), value in np.ndenumerate(quadrants[TWO]):
    ax_quad.text(8 + 16 * qx, 8 + 16 * qy, f"{value:.2f}", ha="center", va="center",
                 fontsize=render.FONT, bbox=dict(facecolor="white", alpha=0.8, lw=0))
shares = np.array([p[TWO] / p[TWO].sum() for p in pooled.values()])   # (methods, 2)
names = list(pooled)
ax_bar.barh(names, shares[:, 0], color="tab:red", label="ink")
ax_bar.barh(names, shares[:, 1], left=shares[:, 0], color="tab:blue", label="background")
ax_bar.axvline(0, color="k", lw=0.8)
ax_bar.set_xlabel("share of the heatmap's sum", fontsize=render.FONT)
ax_bar.tick_params(labelsize=render.FONT)
ax_bar.legend(fontsize=render.FONT, loc="lower right")
ax_bar.set_title("pooling: ink vs background of the '2'\n(each bar adds up to 1)",
                 fontsize=render.FONT)
notebook.show(fig, "03_pooling.png", run)

# %%
print(f"{'method':<17} {'R(ink)':>9} {'R(backgr.)':>11} {'R(ink)+R(backgr.)':>18} "
      f"{'sum of heatmap':>15}   {'decomposes':<13} {'value':>9}")
for (name, p), target in zip(pooled.items(), decomposes.values()):
    what = "||grad f||^2" if name == "sensitivity" else "f_c(x)"
    print(f"{name:<17} {p[TWO, 0]:9.4f} {p[TWO, 1]:11.4f} {p[TWO].sum():18.4f} "
          f"{METHODS[name][TWO].sum():15.4f}   {what:<13} {target[TWO]:9.4f}")
print(f"LRP quadrants of the '2' (top left, top right, bottom left, bottom right): "
      f"{', '.join(f'{q:.3f}' for q in quadrants[TWO].ravel())}; "
      f"max |sum - f_c| over the digits {np.abs(quadrants.sum(axis=(1, 2)) - f_c).max():.2e}")
lrp_ink = pooled["LRP"][TWO]
print(f"LRP: the ink ({ink[TWO].mean():.0%} of the pixels) holds "
      f"{lrp_ink[0] / lrp_ink.sum():.0%} of f_2(x) for the '2'")

# %% [markdown]
# ## 4.4 Filtering: the relevance that flows through one feature map
#
# A method that propagates through the network's graph can propagate only what passes
# through chosen neurons. `explain.lrp(..., filters={l: mask})` keeps, at layer l, the
# relevance of the neurons where the mask is 1 and propagates only that further down;
# `relevance.feature_map_filter(shape, m)` builds the mask of feature map m. We filter at the
# output of the first convolution block (10 feature maps of 14x14, after its sum pool, which is
# activation A[3]) and get 10 component heatmaps of the "2". Each shows the strokes one
# first-layer filter responds to (an orientation, an edge), and, because LRP's redistribution
# is linear in the relevance it receives, **the ten components add up to the whole heatmap**
# pixel by pixel. The ten components share one colour scale; the whole heatmap has its own.

# %%
A = cnn.activations(x[TWO:TWO + 1])
FILTER_AT = 3                                        # A[3]: the first block's pooled maps
maps = A[FILTER_AT].shape[1]
components = np.concatenate([
    explain.lrp(cnn, x[TWO:TWO + 1],
                filters={FILTER_AT: relevance.feature_map_filter(A[FILTER_AT].shape, m)})
    for m in range(maps)])                           # (10, 1, 32, 32)
whole = R_lrp[TWO:TWO + 1]
scale = np.abs(components).max()                     # one scale for the ten components

fig = render.new_figure(15, 6.4, layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1, 3.6])
ax_in, ax_whole = left.subplots(2, 1)
render.show_image(ax_in, x[TWO, 0], f"input: a '2', f_2 = {f_c[TWO]:.2f}")
render.show_heatmap(ax_whole, whole[0, 0], f"whole heatmap (own scale)\nsum R = {whole.sum():.2f}")
axes = right.subplots(2, maps // 2).ravel()
for m, (ax, R) in enumerate(zip(axes, components)):
    image = render.show_heatmap(ax, R[0], f"through feature map {m}\nsum R = {R.sum():.2f}",
                                scale=scale, colorbar=False)
bar = right.colorbar(image, ax=axes, fraction=0.02, pad=0.01)
bar.ax.tick_params(labelsize=render.FONT)
bar.set_label("relevance (one scale for the 10 components)", fontsize=render.FONT)
fig.suptitle(f"Filtering (Sec. 4.4): LRP (zB, z+) of f_2 through each of the {maps} feature "
             f"maps of A[{FILTER_AT}] (first convolution block)", fontsize=render.FONT + 1)
notebook.show(fig, "03_filtering.png", run)

# %%
print(f"filtering: the {maps} feature-map components sum to "
      f"{components.sum():.4f} (f_2 = {f_c[TWO]:.4f}); largest component "
      f"{components.reshape(maps, -1).sum(axis=1).max():.4f} (map "
      f"{components.reshape(maps, -1).sum(axis=1).argmax()})")
print(f"filtering: max |sum of the components - whole heatmap| = "
      f"{np.abs(components.sum(axis=0) - whole[0]).max():.2e}")

# %% [markdown]
# Guided backprop and deconvolution are propagations too, so they can be filtered in the same
# way: run the network's top part backwards to A[l], keep one feature map's signal, and run the
# bottom part backwards from there. The package has no `filters` argument for them, but a
# float `target` is the vector u of the explained function u . f(x), which is all we need.
# Do their parts add up to the whole pattern, as LRP's do? LRP's redistribution is linear in
# the relevance, so always. Their backward ReLU step, max(0, g), is not linear: the parts
# add up only where no ReLU below the filter sees the signals of two maps mixed. Below A[3]
# the only ReLU acts unit by unit, each unit belonging to one map; below A[6] the second
# convolution mixes the maps before a ReLU. We filter at both and print the largest
# difference between the sum of the parts and the whole. Sensitivity *squares* the gradient,
# and (g_1 + g_2)^2 is not g_1^2 + g_2^2, so its parts do not add up anywhere; the paper's
# Table 1 gives it no filtering.

# %%
def parts_minus_whole(method, at):
    """max |sum over the feature maps m of A[at] of ``method`` filtered through m - whole|,
    for the '2'.  ``method`` is "lrp" or a gradient-type backward pass of ``explain``."""
    x1, shape = x[TWO:TWO + 1], A[at].shape
    masks = [relevance.feature_map_filter(shape, m) for m in range(shape[1])]
    if method == "lrp":
        parts = (list(components[:, None]) if at == FILTER_AT else   # computed for the figure
                 [explain.lrp(cnn, x1, filters={at: mask}) for mask in masks])
        return np.abs(sum(parts) - R_lrp[TWO:TWO + 1]).max()
    top = Sequential(cnn.layers[at:])
    bottom = Sequential(cnn.layers[:at], input_shape=cnn.input_shape)
    signal = method(top, A[at], target=c[TWO:TWO + 1])          # the signal at A[at]
    parts = [method(bottom, x1, target=signal * mask) for mask in masks]
    if method is explain.gradient:                   # sensitivity: the squared parts
        return abs(sum((g ** 2).sum() for g in parts) - R_sens[TWO].sum())
    return np.abs(sum(parts) - method(cnn, x1)).max()


FILTERABLE = {"LRP": "lrp", "guided backprop": explain.guided_backprop,
              "deconvolution": explain.deconvolution, "sensitivity (sums)": explain.gradient}
for at in (3, 6):
    print(f"filtered at A[{at}] ({A[at].shape[1]} maps): max |sum of the parts - whole|: "
          + ", ".join(f"{name} {parts_minus_whole(method, at):.1e}"
                      for name, method in FILTERABLE.items()))

# %% [markdown]
# ## Table 1: which method supports pooling and filtering
#
# Pooling needs a **decomposition** (scores that add up to a meaningful quantity); filtering
# needs a **propagation through the graph** (a quantity that flows through neurons). The table
# is the paper's; the last column names the measurement above that shows each "yes".

# %%
TABLE1 = [  # method, pooling, filtering, shown above by
    ("sensitivity analysis", "yes", "no", "ink + background = ||grad f||^2"),
    ("simple Taylor", "yes", "no", "ink + background = sum R (~ f_c(x))"),
    ("relevance propagation", "yes", "yes", "quadrants = f_c(x); feature maps add up"),
    ("deconvolution [55]", "no", "yes", "sum is not f_c(x); maps of A[3] add up, of A[6] not"),
    ("guided backprop [47]", "no", "yes", "sum is not f_c(x); maps of A[3] add up, of A[6] not"),
]
print(f"{'Table 1':<23}{'pooling':<9}{'filtering':<11}shown above by")
for method, pooling, filtering, shown in TABLE1:
    print(f"{method:<23}{pooling:<9}{filtering:<11}{shown}")

# %% [markdown]
# ## Question (a): explaining a class the network did not predict
#
# A lecturer asked: "I explained class 3 for this '2' and the heatmap is almost all blue; is
# something broken?" No. LRP explains the number it is given, here the logit f_3(x) itself,
# and for a clear '2' that logit is **negative**: the network has evidence *against* 3.
# Conservation makes the heatmap sum to that negative number. With the deep Taylor rules
# every step redistributes in proportion to positive contributions (z+: a_j w_jk^+ >= 0; zB:
# x_i w_ij - l_i w_ij^+ - h_i w_ij^- >= 0), so the sign of the top relevance is kept all the
# way down: a negative logit gives a heatmap that is negative wherever it is not zero. Such a
# heatmap shows where the network "looked" for f_3, with the sign of the answer. To ask "why
# a 2 and not a 3" one has to explain a different function, for example the difference
# f_2 - f_3, not the logit of the losing class.

# %%
R_target = {k: explain.lrp(cnn, x[TWO:TWO + 1], target=k)[0, 0] for k in (2, 3)}
fig = render.new_figure(13, 3.6, layout="constrained")
ax_in, ax_logits, ax_2, ax_3 = fig.subplots(1, 4, width_ratios=[1, 1.3, 1.2, 1.2])
render.show_image(ax_in, x[TWO, 0], "input: a '2'")
colors = ["tab:red" if k == 2 else "tab:blue" if k == 3 else "lightgray" for k in range(10)]
ax_logits.bar(range(10), f[TWO], color=colors, edgecolor="k")
ax_logits.axhline(0, color="k", lw=0.8)
ax_logits.set_xticks(range(10))
ax_logits.tick_params(labelsize=render.FONT)
ax_logits.set_title(f"logits: f_2 = {f[TWO, 2]:.1f}, f_3 = {f[TWO, 3]:.1f}", fontsize=render.FONT)
for ax, k in ((ax_2, 2), (ax_3, 3)):
    render.show_heatmap(ax, R_target[k], f"LRP deep Taylor (zB, z+), target={k}\n"
                        f"explains f_{k}; sum R = {R_target[k].sum():.2f}")
notebook.show(fig, "03_other_class.png", run)

# %%
R3 = R_target[3]
print(f"target=3 on the '2': f_3(x) = {f[TWO, 3]:.4f}, sum R = {R3.sum():.4f}; "
      f"negative share of |R| = {np.abs(np.minimum(R3, 0)).sum() / np.abs(R3).sum():.3f}, "
      f"largest R = {R3.max():.2e}")
print(f"target=2 on the '2': f_2(x) = {f[TWO, 2]:.4f}, sum R = {R_target[2].sum():.4f}; "
      f"negative share of |R| = "
      f"{np.abs(np.minimum(R_target[2], 0)).sum() / np.abs(R_target[2]).sum():.3f}")

# %% [markdown]
# ## Question (b): why is the MLP's heatmap so diffuse?
#
# The same deep Taylor rules on the shipped fully connected network (784-300-100-10) give
# heatmaps spread over the whole image, while the CNN's follow the strokes. The reason is
# the first layer: each of the MLP's 300 first-layer neurons sees all 784 pixels, so the zB
# rule hands every neuron's relevance to pixels anywhere in the image (a background pixel at
# x = l = -1 receives the share -2 w^-, from every negative weight). A convolution neuron sees
# a 5x5 patch, so its relevance stays near the evidence. This is Sec. 6.1's advice: "the number
# of fully connected layers should be kept low, as LRP tends for these layers to redistribute
# relevance to too many lower-layer neurons, and thus, loose selectivity". Middle row MLP,
# bottom row CNN (shown on the central 28x28 pixels; its 2-pixel padding counts in the
# numbers). Sec. 6.2 has a second remedy for diffuse heatmaps, LRP-alpha2beta1 in the hidden
# layers; we measure it on the MLP too. It cannot reach the cause, which is the first layer's
# zB rule, so look at whether it closes the gap to the CNN.

# %%
x_mlp = models.inputs_for(mlp, images[idx])           # (N, 1, 28, 28)
R_mlp = explain.lrp(mlp, x_mlp, target=c)
ink_mlp = x_mlp > -1
fig = render.new_figure(max(2.3 * len(x) + 1.2, 8), 7.4, layout="constrained")
axes = fig.subplots(3, len(x), squeeze=False)
for col in range(len(x)):
    render.show_image(axes[0, col], x_mlp[col, 0], f"class {c[col]}")
    for ax, name, R in ((axes[1, col], "MLP", R_mlp[col]), (axes[2, col], "CNN", R_lrp[col])):
        shown = R[0] if name == "MLP" else R[0, 2:30, 2:30]       # the CNN's central 28x28
        image = render.show_heatmap(ax, shown / np.abs(R).max(), f"{name}: LRP (zB, z+)\n"
                                    f"sum R = {R.sum():.1f}", scale=1.0, colorbar=False)
bar = fig.colorbar(image, ax=axes[1:], fraction=0.03, pad=0.02, ticks=[-1, 0, 1])
bar.ax.tick_params(labelsize=render.FONT)
bar.set_label("R / max |R|", fontsize=render.FONT)
fig.suptitle("Deep Taylor LRP of the fully connected MLP (middle)\nand of the CNN (bottom)",
             fontsize=render.FONT + 1)
notebook.show(fig, "03_mlp_vs_cnn.png", run)

# %%
share_mlp, share_cnn = ink_share(R_mlp, ink_mlp), ink_share(R_lrp, ink)
share_a2b1 = ink_share(explain.lrp(mlp, x_mlp, target=c, rules="alpha2beta1"), ink_mlp)
print(f"share of |R| on ink pixels, deep Taylor LRP: MLP {share_mlp.mean():.3f}, "
      f"CNN {share_cnn.mean():.3f} (mean over {len(x)} digits; ink covers "
      f"{ink_mlp.mean():.0%} of the MLP's 28x28 input)")
print(f"MLP with LRP-alpha2beta1 in the hidden layers (preset 'alpha2beta1'): share of |R| on "
      f"ink {share_a2b1.mean():.3f}, vs {share_mlp.mean():.3f} with z+ and {share_cnn.mean():.3f} "
      f"for the CNN")
f_mlp = mlp.forward(x_mlp)
print(f"the CNN is more concentrated on the strokes for {np.sum(share_cnn > share_mlp)} of "
      f"{len(x)} digits; the MLP predicts the CNN's class for {np.sum(f_mlp.argmax(axis=1) == c)} "
      f"of them; MLP conservation: max |sum R - f_c(x)| = "
      f"{np.abs(total(R_mlp) - f_mlp[np.arange(len(x)), c]).max():.2e}")

# %% [markdown]
# ## What to take away
#
# * Sensitivity decomposes ||grad f||^2, the local *variation* of f; simple Taylor and LRP
#   decompose f(x) itself, simple Taylor exactly only for bias-free ReLU networks.
# * LRP conserves f(x) layer by layer; deconvolution and guided backprop are patterns.
# * Decompositions can be pooled over regions; propagation methods can be filtered through
#   neurons or feature maps, and LRP can do both (Table 1).
# * An explanation is always of one number: explaining a losing class explains a negative
#   logit. And how selective LRP is depends on the model: convolutions, few dense layers.
#
# The next notebook opens LRP up: its rules (Sec. 5.1), why they are deep Taylor
# decompositions (Sec. 5.2), and pooling and normalization layers (Sec. 5.3).
