# %% [markdown]
# # 4. The LRP explanation framework (Sec. 5: 5.1 rules, 5.2 deep Taylor, 5.3 special layers)
#
# The previous notebook used LRP as a black box: relevance flows from the output to the
# pixels and is conserved on the way. Section 5 of Montavon, Samek & Müller (2017) says *how*
# each neuron's relevance R_k is shared among its inputs, and why:
#
# * **Sec. 5.1** the propagation rules: the alpha-beta rule, Eq. (1), and its special case
#   alpha1beta0 = z+, Eq. (2); next to them LRP-0 and LRP-epsilon (Bach et al.), and the
#   first-layer rules of Table 2 (zB for pixels in a box, w^2 for real values) and the flat
#   rule; each rule's sum, and the layer-by-layer conservation ledger. Then **exercise 2**:
#   write the alpha-beta rule yourself.
# * **Sec. 5.2** deep Taylor decomposition: one "relevance neuron" (Eq. 3), its root point on
#   the rule's search segment, the function's view of Figure 4(b), and the check that the
#   first-order Taylor terms at the root are exactly what the rule redistributes.
# * **Sec. 5.3** special layers: max pooling (proportional vs winner-take-all) and batch
#   normalization (ignored, as Bach et al. do, or merged into the layer before it).

# %% [markdown]
# ## Settings, network and digit
#
# As in every course notebook, `notebook.settings()` reads `HEATMAPPING_QUICK` (fewer digits
# for the tests) and `HEATMAPPING_OUT` (the figure folder); the digits are the MNIST test set
# when it can be found, else the embedded sample. We explain the first "3" of the test set
# with the shipped CNN; pixels are in [-1, 1] (black = -1), the bounds the zB rule needs.

# %%
import numpy as np
from matplotlib.patches import Rectangle

from heatmapping import canonize, data, exercises, explain, metrics, models, notebook, render
from heatmapping.deep_taylor import root_point, search_direction, taylor_terms
from heatmapping.layers import BatchNorm, Linear, MaxPool2d
from heatmapping.lrp import propagate, resolve_rules
from heatmapping.network import Sequential
from heatmapping.rules import PRESETS, AlphaBeta, Epsilon, Flat, WSquare, ZBox, ZPlus
from heatmapping.tricks import translation_path

run = notebook.settings()
images, labels, source = data.load_test_digits()
cnn = models.load_model("cnn").astype(np.float64)
three = int(np.flatnonzero(labels == 3)[0])
x = models.inputs_for(cnn, images[three:three + 1])     # (1, 1, 32, 32)
f_c = float(cnn.forward(x).max())
print(f"digit #{three} of {source}: predicted {cnn.forward(x).argmax()}, f_c(x) = {f_c:.4f}")
print(cnn)

# %% [markdown]
# ## 5.1 The rules side by side
#
# Every rule redistributes R_k onto the inputs j of neuron k in proportion to some share of
# their contribution a_j w_jk. They differ in which contributions count:
#
# * **LRP-0**: all of them, R_j = sum_k a_j w_jk / z_k R_k with z_k = sum_j a_j w_jk + b_k; the
#   bias b_k takes its share too. **LRP-epsilon** adds eps * sign(z_k) to the denominator,
#   which absorbs relevance of weakly activated neurons (less noise, less conservation).
# * **alpha-beta**, Eq. (1): the positive contributions (a_j w_jk)^+ share alpha R_k, the
#   negative ones share -beta R_k, with alpha - beta = 1. **alpha1beta0** keeps only the
#   positive ones: the **z+** rule of Eq. (2). **alpha2beta1** adds negative relevance.
# * For the **first layer**, whose inputs are pixels and not ReLU activations, Table 2 gives
#   **zB** (inputs in a box [l, h], here [-1, 1]) and **w^2** (unbounded real inputs); the
#   **flat** rule spreads R_k uniformly over the receptive field.
#
# A rule assignment is a plain mapping {layer index: rule} or a preset name from
# `rules.PRESETS`; `resolve_rules` shows what a network gets from it. The figure shows the
# "3" under seven assignments. What to look for: LRP-0 is noisy and of both signs; epsilon
# is cleaner but its sum falls short of f_c; alpha1beta0 on all layers (pixels included) and
# the deep Taylor rules are positive; alpha2beta1 adds some negative (blue) evidence, whose
# share the table below the figure prints; w^2 and flat ignore the pixel values in the first
# layer and blur the heatmap over the 5x5 receptive fields.

# %%
linear = [i for i, layer in enumerate(cnn.layers) if layer.linear]          # rules go here
weighted = [i for i, layer in enumerate(cnn.layers) if layer.weighted]      # Conv2d layers
z_plus_above = {i: ZPlus() for i in linear if i > linear[0]}
RULES = {  # title (method and rule) -> rule assignment
    "LRP-0\n(all layers)": Epsilon(0.0),
    "LRP-epsilon, eps = 1\n(all layers)": Epsilon(1.0),
    "LRP-alpha1beta0 = z+\n(all layers, pixels too)":
        {i: AlphaBeta(alpha=1.0, beta=0.0) if i in weighted else ZPlus() for i in linear},
    "LRP-alpha2beta1\n(preset: zB on pixels)": "alpha2beta1",
    "zB on pixels, z+ above\n(Table 2: deep Taylor)": "deep_taylor",
    "w^2 on pixels, z+ above\n(Table 2: real inputs)": "deep_taylor_real",
    "flat on pixels,\nz+ above": {linear[0]: Flat()} | z_plus_above,
}
for preset in PRESETS:                           # what each preset gives each linear layer
    assigned = {i: type(r).__name__ + (f"({r.alpha:g},{r.beta:g})" if isinstance(r, AlphaBeta)
                                       else "") for i, r in resolve_rules(cnn, preset).items()}
    print(f"preset {preset!r:<20}", ", ".join(f"{i}: {name}" for i, name in assigned.items()))

# %%
# every layer's relevance is kept: the ledgers below read the same runs
results = {name: explain.lrp(cnn, x, rules=rules, return_layers=True) for name, rules in RULES.items()}
heatmaps = {name: result.R[0][0, 0] for name, result in results.items()}
fig = render.new_figure(14.5, 7.4, layout="constrained")
axes = fig.subplots(2, 4).ravel()
render.show_image(axes[0], x[0, 0], f"input: a '3' (#{three})\nf_c(x) = {f_c:.2f}")
for ax, (name, R) in zip(axes[1:], heatmaps.items()):
    render.show_heatmap(ax, R, f"{name}\nsum R = {R.sum():.2f}")
fig.suptitle("Sec. 5.1 and Table 2: the same decision explained by LRP with each rule "
             "(shipped CNN, each heatmap on its own symmetric scale)", fontsize=render.FONT + 1)
notebook.show(fig, "04_rules.png", run)

# %%
print(f"{'rule':<46} {'sum R':>9} {'sum R - f_c':>12} {'negative share':>15}")
for name, R in heatmaps.items():
    negative = np.abs(np.minimum(R, 0)).sum() / np.abs(R).sum()
    print(f"{name.replace(chr(10), ' '):<46} {R.sum():9.4f} {R.sum() - f_c:12.4e} {negative:15.3f}")
exact = [name for name, R in heatmaps.items() if abs(R.sum() - f_c) < 1e-9 * f_c]
print(f"{len(exact)} of {len(heatmaps)} assignments conserve f_c(x) = {f_c:.4f} to 1e-9: "
      + "; ".join(name.replace(chr(10), " ") for name in exact))

# %% [markdown]
# ### The conservation ledger
#
# Where does the missing relevance of LRP-0 and LRP-epsilon go? `explain.lrp(...,
# return_layers=True)` records every layer: the relevance that entered it from above
# (R out), what it passed down (R in), and what the bias and the stabilizer absorbed, so that
# R out = R in + bias + stabilizer in every row. `.table(0)` prints the ledger of sample 0.
# For the deep Taylor rules both columns are zero up to rounding: z+ and zB ignore the bias
# and need no stabilizer. LRP-0's biases take a small share b_k / z_k R_k, of either sign;
# epsilon's stabilizer absorbs relevance in every layer with weights, the more the smaller the
# denominators z_k are compared with eps.

# %%
ledgers = {"LRP-0": "LRP-0\n(all layers)", "LRP-epsilon (eps = 1)": "LRP-epsilon, eps = 1\n(all layers)",
           "deep Taylor (zB, z+)": "zB on pixels, z+ above\n(Table 2: deep Taylor)"}
absorbed = {}
for name, rule_name in ledgers.items():
    result = results[rule_name]
    print(f"\nledger, {name}:\n{result.table(0)}")
    bias = sum(float(e.bias[0]) for e in result.ledger)
    stabilizer = sum(float(e.stabilizer[0]) for e in result.ledger)
    absorbed[name] = (float(result.R[0].sum()), bias, stabilizer)
print()
for name, (pixels, bias, stabilizer) in absorbed.items():
    print(f"{name}: f_c = {f_c:.4f} = pixels {pixels:.4f} + biases {bias:.4f} + "
          f"stabilizer {stabilizer:.4f} (residual {f_c - pixels - bias - stabilizer:.1e})")

# %% [markdown]
# ## Exercise 2: the alpha-beta rule's two parts
#
# Write Eq. (1) for one dense layer with ReLU inputs a >= 0:
#
#     R_j = sum_k ( alpha a_j w_jk^+ / sum_j a_j w_jk^+  -  beta a_j w_jk^- / sum_j a_j w_jk^- ) R_k
#
# Shapes: `a` (N, D_in), `W` (D_in, D_out), `R` (N, D_out); return the relevance of the inputs,
# (N, D_in). Compute the excitatory part (positive weights) and the inhibitory part (negative
# weights) each with the four LRP steps (z = a @ W^+, s = R / z, c = s @ W^+.T, a * c), and
# combine them with alpha and -beta. The check below compares your function with the library
# for (alpha, beta) = (1, 0), (2, 1) and (3, 2); until you write it, it says "not attempted
# yet".

# %%
def alpha_beta(a, W, R, alpha, beta):
    """Relevance of the inputs a (N, D_in) by the alpha-beta rule, Eq. (1)."""
    ...  # your code here
    return None


# %%
exercises.check_alpha_beta(alpha_beta)

# %% [markdown]
# A reference answer is `heatmapping.exercises.solution_alpha_beta` (read it with
# `help(exercises.solution_alpha_beta)` or in `heatmapping/exercises.py`), for after you have
# tried. Two things to notice once it passes: with beta = 0 it is the z+ rule of the deep
# Taylor preset, and for alpha = 2, beta = 1 each neuron passes down 2 R_k of positive and
# -R_k of negative relevance, which still add up to R_k.

# %% [markdown]
# ## 5.2 Deep Taylor decomposition: the relevance neuron and its root point
#
# Why is z+ the right rule for ReLU layers? Suppose the relevance of neuron k is its
# activation times a positive constant, R_k = a_k c_k. Then R_k is itself a ReLU neuron of the
# layer below, the **relevance neuron** of Eq. (3):
#
#     R_k = max(0, sum_j a_j w'_jk + b'_k),   w'_jk = w_jk c_k,  b'_k = b_k c_k <= 0.
#
# Deep Taylor decomposition expands R_k at a **root point** a~ (R_k(a~) = 0) and keeps the
# first-order terms R_{j<-k} = dR_k/da_j|_a~ (a_j - a~_j). Because the neuron is linear between
# a and a~, these terms add up to R_k exactly. The rule is decided by *where* we search for
# the root, a segment a - t v, t in [0, 1] (`deep_taylor.search_direction` gives v):
#
# * **z+** (ReLU inputs, a >= 0): towards (a_j 1[w_jk <= 0])_j, i.e. shrink the inputs with
#   positive weights; the root stays in a >= 0 and the terms are a_j w_jk^+ / sum a_j w_jk^+ R_k.
# * **zB** (pixels in [l, h]): towards the box corner l where w > 0 and h where w < 0.
# * **w^2** (unbounded inputs): along -w, steepest descent, on the whole ray t >= 0.
#
# The figure is Figure 4(b), "the function's view", for 2-input neurons: the shading and the
# thin lines are R_k over (a_1, a_2) (white where R_k = 0, the thick line is R_k = 0), the
# dot is the data point, the dashed line is the rule's search domain, the cross is the root
# found, and the red arrows are the two Taylor terms. The two lower panels explain the *same*
# neuron at the *same* point by zB and by w^2: different search directions find different
# roots, and share R_k differently.

# %%
NEURONS = {  # title -> (point a, weights w, bias b <= 0, rule, plotting window)
    "z+ rule, both weights > 0\n(ReLU inputs a >= 0)":
        (np.array([1.2, 0.9]), np.array([0.9, 0.6]), -0.5, ZPlus(), (0, 2)),
    "z+ rule, w_2 < 0: search towards (0, a_2)\n(ReLU inputs a >= 0)":
        (np.array([1.5, 0.8]), np.array([1.0, -0.7]), -0.2, ZPlus(), (0, 2)),
    "zB rule, box [-1, 1]^2: towards corner (l, h)\n(pixels)":
        (np.array([0.6, -0.5]), np.array([1.0, -0.7]), -0.2, ZBox(-1.0, 1.0), (-1.3, 1.3)),
    "w^2 rule: along -w\n(real-valued inputs)":
        (np.array([0.6, -0.5]), np.array([1.0, -0.7]), -0.2, WSquare(), (-1.3, 1.3)),
}


def relevance_neuron(points, w, b):
    """R_k = max(0, a . w + b) at points (..., 2)."""
    return np.maximum(0.0, points @ w + b)


fig = render.new_figure(12, 10.5, layout="constrained")
for ax, (title, (a, w, b, rule, (lo, hi))) in zip(fig.subplots(2, 2).ravel(), NEURONS.items()):
    grid = np.linspace(lo, hi, 201)
    G1, G2 = np.meshgrid(grid, grid)
    R_map = relevance_neuron(np.stack([G1, G2], axis=-1), w, b)
    levels = np.linspace(0, R_map.max(), 13)
    levels[0] = 1e-12                                            # R_k = 0 stays white
    shading = ax.contourf(G1, G2, R_map, levels=levels, cmap="Reds")
    ax.contour(G1, G2, R_map, levels=levels[1:], colors="k", linewidths=0.3)
    ax.contour(G1, G2, G1 * w[0] + G2 * w[1] + b, levels=[0], colors="k", linewidths=1.5)
    root, terms = root_point(a, w, b, rule), taylor_terms(a, w, b, rule) + 0.0   # no -0.0
    end = a - search_direction(a, w, rule)                       # the segment's far end, t = 1
    if isinstance(rule, WSquare):                                # a ray: draw it past the root
        end = a + 1.6 * (root - a)
    ax.plot(*np.stack([a, end]).T, "k--", lw=1.5, label="search domain")
    ax.plot(*a, "ko", ms=8, label=f"data point a, R_k = {relevance_neuron(a, w, b):.2f}")
    ax.plot(*root, "bX", ms=11, label=f"root a~ = ({root[0]:.2f}, {root[1]:.2f})")
    for j, direction in enumerate(np.eye(2)):                    # the terms as arrows at a
        ax.annotate("", a + 0.5 * terms[j] * direction, a,
                    arrowprops=dict(arrowstyle="-|>", color="tab:red", lw=2.5))
    if isinstance(rule, ZBox):
        ax.add_patch(Rectangle((-1, -1), 2, 2, fill=False, ls=":", lw=1.2))     # the box
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("a_1", fontsize=render.FONT)
    ax.set_ylabel("a_2", fontsize=render.FONT)
    ax.tick_params(labelsize=render.FONT)
    ax.set_title(f"{title}\nterms R_1<-k = {terms[0]:.3f}, R_2<-k = {terms[1]:.3f}",
                 fontsize=render.FONT)
    ax.legend(fontsize=9, loc="upper left", framealpha=0.9)
    bar = fig.colorbar(shading, ax=ax, fraction=0.046, pad=0.03,
                       ticks=np.linspace(0, levels[-1], 5), format="{x:.2f}")
    bar.ax.tick_params(labelsize=9)
    bar.set_label("relevance neuron R_k(a)", fontsize=9)
fig.suptitle("Fig. 4(b), the function's view: R_k = max(0, a . w + b), the root search and "
             "the first-order terms (red arrows, half length)", fontsize=render.FONT + 1)
notebook.show(fig, "04_relevance_neuron.png", run)

# %% [markdown]
# Now the numbers behind the figure. For each neuron: R_k at the data point, R_k at the root
# (zero), the two Taylor terms and their sum (equal to R_k), and what the rule itself gives
# when it redistributes R_k through a one-neuron `Linear` layer with `lrp.propagate`. The last
# lines do the same for real neurons of the shipped MLP, whose biases are <= 0: the
# most active neuron of its first layer (784 pixel inputs, zB and w^2) and of its second layer
# (300 ReLU inputs, z+), with c_k = 1 (any positive c_k scales both sides alike).

# %%
def rule_share(a, w, b, rule):
    """What ``rule`` gives the inputs of one neuron with relevance R_k = max(0, a . w + b)."""
    layer = Linear(w[:, None], np.array([b]))                   # one neuron: W (D, 1)
    return propagate(layer, a[None], relevance_neuron(a, w, b).reshape(1, 1), rule)[0]


print(f"{'neuron':<46} {'R_k(a)':>7} {'R_k(a~)':>8} {'terms':>17} {'sum':>7} {'rule':>17} "
      f"{'|terms - rule|':>14}")
for title, (a, w, b, rule, _) in NEURONS.items():
    terms, share = taylor_terms(a, w, b, rule) + 0.0, rule_share(a, w, b, rule)
    print(f"{title.split(chr(10))[0]:<46} {relevance_neuron(a, w, b):7.4f} "
          f"{relevance_neuron(root_point(a, w, b, rule), w, b):8.1e} "
          f"({terms[0]:6.4f}, {terms[1]:6.4f}) {terms.sum():7.4f} "
          f"({share[0]:6.4f}, {share[1]:6.4f}) "
          f"{np.abs(terms - share).max():14.1e}")

mlp = models.load_model("mlp").astype(np.float64)
A = mlp.activations(models.inputs_for(mlp, images[three:three + 1]))   # A[1]: pixels (1, 784)
real = {}
for name, layer_index, rule in (("MLP layer 1, zB on 784 pixels", 1, ZBox(-1.0, 1.0)),
                                ("MLP layer 1, w^2 on 784 pixels", 1, WSquare()),
                                ("MLP layer 4, z+ on 300 ReLU inputs", 4, ZPlus())):
    layer, a = mlp.layers[layer_index], A[layer_index][0]
    k = int(np.argmax(layer.forward(a[None])[0]))                # the most active neuron
    w, b = layer.W[:, k], float(layer.b[k])
    terms, share = taylor_terms(a, w, b, rule), rule_share(a, w, b, rule)
    real[name] = np.abs(terms - share).max()
    print(f"{name} (neuron {k}): R_k = {relevance_neuron(a, w, b):.4f}, sum of the Taylor terms "
          f"{terms.sum():.4f}, max |terms - rule| = {real[name]:.1e}")
print(f"deep Taylor: the first-order terms at the root equal the rule's redistribution; "
      f"largest difference over all neurons above {max(real.values()):.1e}")

# %% [markdown]
# ## 5.3 Max pooling: proportional or winner-take-all
#
# A max pool outputs the largest of its inputs. Bach et al. give all of the pool's relevance
# to that winner (`max_pool="winner"`, the gradient's routing); Montavon et al. share it in
# proportion to the inputs, R_j = x_j / sum_j x_j R_k (`max_pool="proportional"`, the
# default), which the paper says "ensures explanation continuity" (Sec. 7.1). Both conserve.
# We explain a "2" with the shipped max-pool CNN (`models.load_model("cnn_max")`). Top row:
# the two heatmaps and their difference. Bottom row: the relevance arriving at the input of
# the first max pool, summed over its 10 feature maps: with winner-take-all only one unit of
# each 2x2 pool receives anything, which shows as a checkerboard of holes. What to look for
# in the numbers: equal sums, far fewer non-zero units under winner-take-all, and a smaller
# continuity constant (the heatmap changes less when the digit moves) for the proportional
# rule.

# %%
cnn_max = models.load_model("cnn_max").astype(np.float64)
two = int(np.flatnonzero(labels == 2)[0])
x2 = models.inputs_for(cnn_max, images[two:two + 1])
f_2 = float(cnn_max.forward(x2)[0, 2])
pools = [i for i, layer in enumerate(cnn_max.layers) if isinstance(layer, MaxPool2d)]
pooling = {mode: explain.lrp(cnn_max, x2, target=2, max_pool=mode, return_layers=True)
           for mode in ("proportional", "winner")}

fig = render.new_figure(13, 7.6, layout="constrained")
axes = fig.subplots(2, 3)
render.show_image(axes[0, 0], x2[0, 0], f"input: a '2' (#{two})\nf_2 = {f_2:.2f}")
for col, (mode, result) in enumerate(pooling.items(), start=1):
    render.show_heatmap(axes[0, col], result.R[0][0, 0], f"LRP deep Taylor, max pool: {mode}\n"
                        f"sum R = {result.R[0].sum():.2f}")
    at_pool = result.R[pools[0]][0].sum(axis=0)                 # (28, 28): input of pool 1
    nonzero = np.mean(result.R[pools[0]] != 0)
    render.show_heatmap(axes[1, col], at_pool, f"{mode}: R at the first max pool's\n"
                        f"input (summed over maps), {nonzero:.0%} non-zero")
difference = pooling["winner"].R[0] - pooling["proportional"].R[0]
render.show_heatmap(axes[1, 0], difference[0, 0],
                    "difference of the heatmaps\nwinner - proportional")
fig.suptitle("Sec. 5.3: relevance through max pooling on the shipped max-pool CNN "
             "(zB on pixels, z+ above)", fontsize=render.FONT + 1)
notebook.show(fig, "04_max_pooling.png", run)

# %%
path = translation_path(x2, 3)                  # a moving "2", shifted -3..3 pixels
continuity = {}
for mode, result in pooling.items():
    nonzero = [f"{np.mean(result.R[i] != 0):.0%}" for i in pools]
    continuity[mode] = metrics.continuity_along_path(
        lambda v, mode=mode: explain.lrp(cnn_max, v, target=2, max_pool=mode), path)
    print(f"max pool {mode:<12}: sum R = {result.R[0].sum():.4f} (f_2 = {f_2:.4f}); non-zero "
          f"relevance at the inputs of the 3 max pools {', '.join(nonzero)}; continuity along a "
          f"7-step shift {continuity[mode]:.4f}")
print(f"lower continuity constant (more continuous): {min(continuity, key=continuity.get)}")

# %% [markdown]
# ## 5.3 Normalization layers: ignore or merge
#
# Bach et al. propose to **ignore** normalization layers: relevance passes through them
# unchanged. A batch-normalization layer at inference time is a fixed affine map of each
# feature, y = gamma (z - mean) / sqrt(var + eps) + beta = scale * z + shift, so it can also
# be **merged** into the linear layer before it (w' = w scale, b' = b scale + shift, in
# `canonize.merge_batchnorm`), giving a network that computes the same function and that LRP
# explains through the merged weights.
#
# To compare the two on a network we know, we rewrite the shipped CNN with a `BatchNorm` after
# its first convolution: the convolution loses its bias and its weights get an arbitrary
# positive scale per feature map (as a network trained with batch normalization would have),
# and the BatchNorm layer, whose fixed statistics (mean, var) are those of the new
# convolution on test digits, undoes the scale and adds the bias back. By construction the
# network computes the shipped CNN's function, and merging its BatchNorm gives the shipped
# CNN's first layer back. A second version flips the sign of 3 feature maps' weights, so
# that their BatchNorm scale is negative (gamma < 0 is allowed, and training can produce it).

# %%
def with_batchnorm(net, scale, X, eps=1e-5):
    """``net`` with a BatchNorm after its first convolution, computing the same function: the
    convolution without bias and with its weights times ``scale`` (C,), then a BatchNorm
    whose statistics are the new convolution's outputs on ``X`` and whose gamma and beta
    undo the scaling and add the bias back (BN(z) = z / scale + b)."""
    conv = net.layers[0]
    raw = conv.replace(W=conv.W * scale[:, None, None, None], b=np.zeros_like(conv.b))
    z = raw.forward(X)                                           # (N, C, H, W)
    mean, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
    gamma, beta = np.sqrt(var + eps) / scale, conv.b + mean / scale
    return Sequential([raw, BatchNorm(gamma, beta, mean, var, eps=eps)] + net.layers[1:],
                      input_shape=net.input_shape)


rng = np.random.default_rng(0)
X_stats = models.inputs_for(cnn, images[:run.pick(1000, 200)])   # digits for the statistics
positive = rng.uniform(0.3, 3.0, cnn.layers[0].W.shape[0])       # per-map scale, all > 0
flipped = positive * np.where(np.isin(np.arange(len(positive)), [1, 4, 7]), -1.0, 1.0)
bn_nets = {"gamma > 0": with_batchnorm(cnn, positive, X_stats),
           "gamma < 0 in maps 1, 4, 7": with_batchnorm(cnn, flipped, X_stats)}
merged = canonize.merge_batchnorm(bn_nets["gamma > 0"])
X_test = models.inputs_for(cnn, images[-run.pick(500, 50):])    # other digits than the statistics'
for name, net in bn_nets.items():
    print(f"BatchNorm network ({name}): max |f_BN(x) - f_CNN(x)| over {len(X_test)} digits = "
          f"{np.abs(net.forward(X_test) - cnn.forward(X_test)).max():.1e}")
print(f"merged network: max |f_merged(x) - f_BN(x)| = "
      f"{np.abs(merged.forward(X_test) - bn_nets['gamma > 0'].forward(X_test)).max():.1e}; "
      f"merged first layer vs the shipped CNN's: weights "
      f"{np.abs(merged.layers[0].W - cnn.layers[0].W).max():.1e}, biases "
      f"{np.abs(merged.layers[0].b - cnn.layers[0].b).max():.1e}")

# %% [markdown]
# The heatmaps of the "3": rows are two rule assignments, the deep Taylor preset (zB, z+) and
# Bach et al.'s LRP-epsilon (preset `epsilon`, eps = 0.01 on every layer); columns are the
# merged network and BatchNorm ignored in the two versions, and the difference between
# ignoring (gamma < 0 version) and merging. What to look for:
#
# * **deep Taylor, gamma > 0: ignoring = merging**, to rounding. z+ and zB share R_k in
#   ratios that do not change when a neuron's weights are multiplied by a positive number,
#   and they ignore biases, where batch normalization's shift ends up.
# * **deep Taylor, gamma < 0**: ignoring goes wrong. The pre-normalization weights of those
#   maps have the opposite sign of the effective ones, so zB hands their relevance to the
#   pixels that *lower* the neuron.
# * **LRP-epsilon**: ignoring differs for both versions, because this rule puts the bias
#   in the denominator (the shift of the normalization is missing when it is ignored) and
#   eps is compared with the unnormalized z. (Flipping signs changes nothing here: LRP-0's
#   shares a_j w_jk / z_k are invariant to the sign of a neuron's weights.)

# %%
BN_RULES = {"deep Taylor (zB, z+)": "deep_taylor", "LRP-epsilon (eps = 0.01)": "epsilon"}
fig = render.new_figure(15.5, 7.6, layout="constrained")
axes = fig.subplots(2, 5)
render.show_image(axes[0, 0], x[0, 0], f"input: the '3'\nf_3 = {f_c:.2f}")
scale_bn = bn_nets["gamma < 0 in maps 1, 4, 7"].layers[1].scale_shift()[0]     # (10,)
axes[1, 0].bar(np.arange(len(scale_bn)), scale_bn,
               color=np.where(scale_bn < 0, "tab:blue", "tab:red"))
axes[1, 0].axhline(0, color="k", lw=0.8)
axes[1, 0].set_title("BN scale gamma / sqrt(var + eps)\n(the gamma < 0 version)",
                     fontsize=render.FONT)
axes[1, 0].set_xlabel("feature map", fontsize=render.FONT)
axes[1, 0].set_xticks(range(len(scale_bn)))
axes[1, 0].tick_params(labelsize=render.FONT)
bn_heatmaps = {}
for row, (rule_name, rules) in enumerate(BN_RULES.items()):
    R_merged = explain.lrp(merged, x, rules=rules)[0, 0]
    R_ignored = {name: explain.lrp(net, x, rules=rules)[0, 0] for name, net in bn_nets.items()}
    bn_heatmaps[rule_name] = (R_merged, R_ignored)
    panels = [(R_merged, "BN merged"), (R_ignored["gamma > 0"], "BN ignored, all gamma > 0"),
              (R_ignored["gamma < 0 in maps 1, 4, 7"], "BN ignored, gamma < 0 in 3 maps"),
              (R_ignored["gamma < 0 in maps 1, 4, 7"] - R_merged, "ignored (gamma < 0) - merged")]
    for ax, (R, what) in zip(axes[row, 1:], panels):
        render.show_heatmap(ax, R, f"{rule_name}\n{what}\nsum R = {R.sum():.2f}")
fig.suptitle("Sec. 5.3: LRP through a BatchNorm layer, ignored (Bach et al.) or merged into "
             "the convolution before it (canonize.merge_batchnorm)", fontsize=render.FONT + 1)
notebook.show(fig, "04_batchnorm.png", run)

# %%
for rule_name, (R_merged, R_ignored) in bn_heatmaps.items():
    for name, R in R_ignored.items():
        change = np.abs(R - R_merged).max() / np.abs(R_merged).max()
        print(f"{rule_name}, BN ignored ({name}): sum R = {R.sum():.4f} vs merged "
              f"{R_merged.sum():.4f}; max |ignored - merged| / max |merged| = {change:.1e}")

# %% [markdown]
# ## What to take away
#
# * A rule is a choice of which contributions share R_k; the deep Taylor rules (z+ above,
#   zB or w^2 on the input) conserve f(x) exactly, and the ledger shows where LRP-0 and
#   LRP-epsilon lose relevance (biases, stabilizer).
# * z+ and zB are not ad hoc: each is the first-order Taylor expansion of a relevance neuron
#   at a root found on a particular segment, and the expansion is exact because the neuron
#   is linear on that segment.
# * Max pooling: proportional redistribution keeps more of the input relevant and moves more
#   smoothly with the input than winner-take-all. Batch normalization: merge it into the layer
#   before (it costs nothing, and the network is the same); ignoring it is harmless only for
#   scale-invariant, bias-free rules and positive scales.
#
# The next notebook turns the paper's Sec. 6 recommendations into practice.
