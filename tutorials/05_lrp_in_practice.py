# %% [markdown]
# # 5. LRP in practice: the model, the rules, the four steps (Sec. 6.1-6.3)
#
# Section 6 of Montavon, Samek & Müller (2017) turns LRP from a formula into a tool. This part
# covers its first three recommendations:
#
# * **6.1 the model**: a convolutional ReLU network with few fully connected layers, sum
#   pooling, and biases forced to be zero or negative during training;
# * **6.2 the rules**: the deep Taylor rules of Table 2 by default, LRP-alpha2beta1 if negative
#   relevance is needed, and pixel-flipping to choose among more;
# * **6.3 the implementation**: the four elementary steps (Eq. 4-7), written by hand for a dense
#   and a convolutional layer and checked against the library.
#
# It runs as a script (`python tutorials/05_lrp_in_practice.py`) and as a notebook; with
# `HEATMAPPING_QUICK=1` it uses fewer digits.

# %%
import numpy as np

from heatmapping import data, exercises, explain, models, notebook, render
from heatmapping.layers import ReLU
from heatmapping.rules import Epsilon, ZBox, ZPlus
from heatmapping.tricks import select_rules

run = notebook.settings()
net = models.load_model("cnn").astype(np.float64)
images, labels, source = data.load_test_digits(verbose=False)
x = models.inputs_for(net, images[:run.pick(200, 40)])
print(f"{len(x)} digits from {source}; the shipped CNN:")
for i, layer in enumerate(net.layers):
    print(f"  {i:2d} {layer}")

# %% [markdown]
# ## 6.1 Biases <= 0, and why
#
# The deep Taylor view of Sec. 5.2 builds, for each ReLU neuron, a *relevance neuron*
# R_k = max(0, sum_j a_j w'_jk + b'_k) and looks for its root on a segment towards the
# origin. With b_k <= 0 the neuron is off at a = 0, so a root exists and all of R_k can be
# given to the inputs: the z+ rule ignores the bias without cheating. With b_k > 0 the neuron
# fires on an empty input, and part of what it passes up is explained by no input at all.
# Negative biases also make activations sparser, which the paper credits for "better
# disentangled" relevance.
#
# The shipped CNN was trained with every bias projected to b <= 0 after each update
# (`heatmapping.train.Trainer(nonpositive_bias=True)`). Below we compare it with a copy whose
# hidden biases are raised by +0.1: the share of active ReLUs, and how much of f_c the biases
# absorb under LRP-0 (the rule that keeps the bias in z; the ledger shows its share).

# %%


def with_bias_shift(net, delta):
    """A copy of ``net`` with ``delta`` added to every bias but the output layer's."""
    weighted = [i for i, layer in enumerate(net.layers) if layer.weighted]
    layers = [layer.replace(b=layer.b + delta) if i in weighted[:-1] else layer
              for i, layer in enumerate(net.layers)]
    return type(net)(layers, input_shape=net.input_shape)


def active_share(net, x):
    """Share of ReLU outputs that are > 0, over the network's ReLUs and the batch."""
    A = net.activations(x)
    active = [A[i + 1] > 0 for i, layer in enumerate(net.layers) if isinstance(layer, ReLU)]
    return float(np.mean(np.concatenate([a.ravel() for a in active])))


def bias_share(net, x):
    """Share of f_c absorbed by the biases under LRP-0 (Epsilon(0) on every layer)."""
    result = explain.lrp(net, x, rules=Epsilon(0.0), return_layers=True)
    absorbed = sum(entry.bias for entry in result.ledger)
    return float(np.mean(np.abs(absorbed) / np.abs(result.ledger[-1].relevance_out)))


positive = with_bias_shift(net, 0.1)
biases = {"shipped (b <= 0)": net, "biases + 0.1": positive}
sparsity = {name: active_share(n, x) for name, n in biases.items()}
absorbed = {name: bias_share(n, x) for name, n in biases.items()}
for name in biases:
    print(f"{name:18s}: {sparsity[name]:.1%} of the ReLUs active, biases absorb "
          f"{absorbed[name]:.1%} of f_c under LRP-0")
print(f"with positive biases {sparsity['biases + 0.1'] / sparsity['shipped (b <= 0)']:.1f}x as "
      f"many ReLUs are active, and the biases take {absorbed['biases + 0.1']:.1%} of f_c instead "
      f"of {absorbed['shipped (b <= 0)']:.1%}")

# %% [markdown]
# A neuron that is active without input passes on relevance that no input earned. With the
# shipped biases that share is tiny; this is what makes the z+ rule, which ignores biases, a
# faithful decomposition here.
#
# ## 6.2 Choosing the rules
#
# "As a default choice for relevance propagation, use the deep Taylor LRP rules given in
# Table 2" (zB on the pixels, z+ above: the preset `"deep_taylor"`); "if negative relevance is
# needed, or the heatmaps are too diffuse, replace LRP-alpha1beta0 by LRP-alpha2beta1 in the
# hidden layers" (`"alpha2beta1"`); otherwise try more rules and let pixel-flipping (Sec. 7.2)
# choose. `heatmapping.tricks.select_rules` does that: each candidate explains the digits,
# the most relevant 4x4 patches are removed one by one, and the lowest area under the curve
# of f_c wins. We run it both ways Sec. 7.2 allows: the heatmap recomputed after every removal
# (the paper's procedure) and the cheaper fixed order of the first heatmap.

# %%
candidates = {name: name for name in ("deep_taylor", "alpha2beta1", "epsilon", "deep_taylor_real")}
x_select = x[:run.pick(50, 8)]
choice = {}
for recompute in (False, True):
    how = "recomputed" if recompute else "fixed order"
    best, scores = select_rules(net, x_select, candidates, recompute=recompute)
    choice[how] = best
    print(f"pixel-flipping AUC over {len(x_select)} digits, {how:11s}: "
          + ", ".join(f"{name} {auc:.3f}" for name, auc in scores.items()) + f"  -> {best}")

# %% [markdown]
# Lower is better. Pixel-flipping with black removal is one criterion among several: once a
# heatmap is recomputed on a half-erased digit, a rule that keeps finding pixels that push
# f_c below zero "wins" off the data manifold, and a rule close to the gradient (LRP-epsilon
# with a small eps is close to gradient x input) profits most. Part 8 measures this in detail;
# the paper's reading is the head of the curve, where the digit is still there.

# %%
print(f"select_rules picks {choice['fixed order']} with the fixed order and "
      f"{choice['recomputed']} with recomputed heatmaps"
      + (" (the same)" if choice["fixed order"] == choice["recomputed"] else
         " (they disagree: see part 8 for why the recomputed tail favours gradient-like rules)"))

# %% [markdown]
# ## 6.3 The four steps of LRP, by hand
#
# For the z+ rule of Eq. (2), R_j = a_j sum_k w_jk^+ / (sum_j a_j w_jk^+) R_k, the paper
# writes LRP as four elementary computations (Eq. 4-7):
#
# | step | element-wise | vector form |
# | --- | --- | --- |
# | (4) | z_k = sum_j a_j w_jk^+ | z = W+^T a |
# | (5) | s_k = R_k / z_k | s = R / z |
# | (6) | c_j = sum_k w_jk^+ s_k | c = W+ s |
# | (7) | R_j = a_j c_j | R = a * c |
#
# ### Exercise 1: the z+ rule for a dense layer
#
# Write `zplus_dense(a, W, R)`: `a` (N, D_in) are ReLU activations, `W` (D_in, D_out) the
# weights (this project's layout: z = a @ W + b), `R` (N, D_out) the relevance of the outputs.
# Return the relevance of the inputs, (N, D_in). The bias is ignored by this rule.

# %%


def zplus_dense(a, W, R):
    # your code here: the four steps z, s, c and R = a * c
    return None


# %%
exercises.check_zplus_dense(zplus_dense)

# %% [markdown]
# The check compares your answer with `heatmapping.lrp.propagate(Linear(W, b), a, R, ZPlus())`
# on three random layers. A reference answer is `heatmapping.exercises.solution_zplus_dense`.
#
# ### The same four steps on a real dense layer, and on a convolution
#
# Sec. 6.3's trick: step (4) is the forward pass and step (6) the backward pass of a copy of
# the layer whose weights are replaced by W+ and whose bias is zero. In this library
# `layer.map_weights(rho)` makes that copy, and every layer's `backward(a, grad)` is the
# transpose of its linear map. So the paper's `lrp(layer, a, R)` is four lines for *any*
# linear-type layer, dense or convolutional:

# %%


def lrp_zplus(layer, a, R):
    """The paper's Sec. 6.3 pseudo-code: clone with W+ and no bias, forward, divide, backward."""
    clone = layer.map_weights(lambda w: np.maximum(w, 0))     # W+, B = 0
    z = clone.forward(a)                                      # Eq. (4)
    s = R / np.where(z == 0, np.inf, z)   # Eq. (5); a dead neuron (z = 0) has R = 0: pass 0
    c = clone.backward(a, s)                                  # Eq. (6)
    return a * c                                              # Eq. (7)


# the relevance that the library's LRP brings to a layer, and what it passes down
mlp = models.load_model("mlp").astype(np.float64)
x_mlp = data.to_input(images[:4])[:, None]
checks = {"dense: the MLP's last layer (100 -> 10)": (mlp, x_mlp, len(mlp.layers) - 1),
          "conv: the CNN's second convolution (10 -> 25 maps, 5x5)": (net, x[:4], 3)}
for name, (model, inputs, i) in checks.items():
    A = model.activations(inputs)
    library = explain.lrp(model, inputs, rules="deep_taylor", return_layers=True)
    by_hand = lrp_zplus(model.layers[i], A[i], library.R[i + 1])
    gap = np.abs(by_hand - library.R[i]).max() / np.abs(library.R[i]).max()
    print(f"{name}: four steps by hand vs the library, largest relative difference {gap:.1e}; "
          f"sum in {by_hand.sum():.4f} = sum out {library.R[i + 1].sum():.4f}")

# %% [markdown]
# ### The whole network in a loop
#
# A network is explained by running this step layer by layer from the top: the relevance of
# the predicted logit enters the output layer; ReLU, dropout and flatten layers pass relevance
# through unchanged (their output is their input's relevant part); sum pools are linear layers
# with positive weights, so z+ applies to them as it is. The first layer sees pixels in
# [l, h] = [-1, 1], not ReLU activations, and needs the zB rule of Table 2,
# R_i = sum_j (x_i w_ij - l w_ij^+ - h w_ij^-) / (sum_i ...) R_j: its z has three terms, so
# steps (4) and (6) run three modified layers.

# %%


def lrp_zbox(layer, x, R, low=-1.0, high=1.0):
    """The zB rule by the same four steps: z = W x - l W+ 1 - h W- 1."""
    plain = layer.map_weights(lambda w: w)
    pos = layer.map_weights(lambda w: np.maximum(w, 0))
    neg = layer.map_weights(lambda w: np.minimum(w, 0))
    lo, hi = np.full_like(x, low), np.full_like(x, high)
    z = plain.forward(x) - pos.forward(lo) - neg.forward(hi)                    # Eq. (4)
    s = R / np.where(z == 0, np.inf, z)                                         # Eq. (5)
    return x * plain.backward(x, s) - lo * pos.backward(lo, s) - hi * neg.backward(hi, s)


def deep_taylor_by_hand(net, x):
    A = net.activations(x)
    R = np.zeros_like(A[-1])
    c = A[-1].argmax(axis=1)
    R[np.arange(len(x)), c] = A[-1][np.arange(len(x)), c]        # R_L = f_c(x) e_c
    first = next(i for i, layer in enumerate(net.layers) if layer.linear)
    for i in reversed(range(len(net.layers))):
        layer, a = net.layers[i], A[i]
        if not layer.linear:                                      # ReLU, Dropout, Flatten
            R = R.reshape(a.shape)
        elif i == first:
            R = lrp_zbox(layer, a, R)
        else:
            R = lrp_zplus(layer, a, R)
    return R


R_hand = deep_taylor_by_hand(net, x[:8])
# the preset "deep_taylor" is this mapping: zB on layer 0, z+ on every other linear-type layer
R_lib = explain.lrp(net, x[:8], rules={0: ZBox(-1, 1)} | {i: ZPlus() for i in (2, 3, 5, 6, 8, 10)})
gap = float(np.abs(R_hand - R_lib).max() / np.abs(R_lib).max())
f_c = net.forward(x[:8]).max(axis=1)
print(f"deep Taylor LRP of the whole CNN by hand vs explain.lrp(rules='deep_taylor'): largest "
      f"relative difference {gap:.1e} over 8 digits; sums {np.round(R_hand.sum(axis=(1, 2, 3)), 4)} "
      f"= f_c {np.round(f_c, 4)}")
print("the mapping is the preset:", np.array_equal(R_lib, explain.lrp(net, x[:8], rules="deep_taylor")))

# %% [markdown]
# ### The figure: one digit, every layer's relevance
#
# `explain.lrp(..., return_layers=True)` keeps the relevance of every layer. Summed over the
# channels (Sec. 4.4's pooling), each layer's map shows where the evidence sits at that
# resolution: 28x28 after the first convolution, 14x14 and 10x10 in the middle, 2x2 near the
# top. Every map sums to the same f_c: that is conservation, layer by layer.

# %%
one = x[:1]
result = explain.lrp(net, one, rules="deep_taylor", return_layers=True)
maps = [(i, result.R[i]) for i in (0, 1, 3, 4, 6, 7)]
fig = render.new_figure(13, 7, layout="constrained")
axes = fig.subplots(2, 3).ravel()
for ax, (i, R) in zip(axes, maps):
    pooled = R[0].sum(axis=0)                           # relevance per position, channels summed
    where = "input pixels" if i == 0 else f"output of layer {i - 1} ({type(net.layers[i - 1]).__name__})"
    render.show_heatmap(ax, pooled, f"{where}\n{pooled.shape[0]}x{pooled.shape[1]}, sum {pooled.sum():.3f}")
fig.suptitle(f"Deep Taylor LRP (zB, z+) of the shipped CNN, layer by layer, for a "
             f"'{labels[0]}' (f_c = {net.forward(one).max():.3f})", fontsize=render.FONT + 1)
notebook.show(fig, "05_layers.png", run)
sums = [float(R.sum()) for _, R in maps]
print(f"each layer's relevance sums to f_c = {net.forward(one).max():.4f}: largest deviation "
      f"{max(abs(v - net.forward(one).max()) for v in sums):.1e}")
