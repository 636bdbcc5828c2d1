# %% [markdown]
# # 7. Explanation continuity (Sec. 7.1, Figures 6 and 7)
#
# Section 7 of Montavon, Samek & Müller (2017) asks what makes an explanation *good*, and how
# to measure it. Its first property is **continuity**: "if two data points are nearly
# equivalent, then the explanations of their predictions should also be nearly equivalent."
# The paper measures it by the strongest variation of the explanation R(x) over the input
# domain,
#
#     max_{x != x'}  ||R(x) - R(x')||_1 / ||x - x'||_2 ,
#
# a Lipschitz constant of the map x -> R(x): small means continuous. This part measures it
# twice:
#
# * **Figure 6**: the two-input function f(x) = max(x1, x2), where we can refine a grid and
#   watch the constant converge (deep Taylor LRP) or blow up (the gradient methods);
# * **Figure 7**: a handwritten '2' moving through the CNN's input, where f changes little
#   and we ask how much each explanation changes.
#
# Exercise 3 asks you to write the continuity constant yourself.
#
# It runs as a script (`python tutorials/07_continuity.py`) and as a notebook; with
# `HEATMAPPING_QUICK=1` it refines the grid less far.

# %%
import functools

import numpy as np

from heatmapping import data, exercises, explain, metrics, models, notebook, render
from heatmapping.relevance import pool_grid
from heatmapping.rules import ZPlus
from heatmapping.tricks import translation_path

run = notebook.settings()
SPACINGS = run.pick((0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125),
                    (0.1, 0.05, 0.025, 0.0125, 0.00625))

# %% [markdown]
# ## Figure 6: explaining max(x1, x2)
#
# On the positive quadrant the paper implements f(x) = max(x1, x2) by a two-layer ReLU network,
#
#     f(x) = max(0, 0.5 max(0, x1 - x2) + 0.5 max(0, x2 - x1) + 0.5 max(0, x1 + x2)),
#
# (`models.max_network()`). f itself is continuous, with a kink on the line x1 = x2 where the
# maximum changes hands. We explain it three ways (Sec. 4.1, 4.2, 5):
#
# * sensitivity analysis, R_i = (df/dx_i)^2;
# * simple Taylor decomposition at the root 0, R_i = df/dx_i * x_i;
# * deep Taylor LRP, here the z+ rule on both layers (the inputs are non-negative, as z+
#   requires).
#
# First the paper's worked point x = (0.7, 0.3): x1 wins, so the gradient is (1, 0), and the
# gradient methods give x2 nothing; LRP gives x2 a share.

# %%
net = models.max_network()
METHODS = {
    "sensitivity": functools.partial(explain.sensitivity, net),
    "simple Taylor": functools.partial(explain.simple_taylor, net),
    "deep Taylor LRP": functools.partial(explain.lrp, net, rules=ZPlus()),
}
x0 = np.array([[0.7, 0.3]])
print(f"f(0.7, 0.3) = {net.forward(x0)[0, 0]:.2f}")
for name, fn in METHODS.items():
    print(f"  {name:16s} R = {np.round(fn(x0)[0], 4)}")

# %% [markdown]
# ### The explanations as vector fields
#
# Each arrow is the explanation (R_1, R_2) at a point of a grid over [0, 1]^2, drawn over the
# contours of f (dark = high). What to look for: on either side of the dotted diagonal the
# arrows of sensitivity and simple Taylor point along different axes, all of the relevance on
# whichever input is larger, and they *flip* as the diagonal is crossed. Deep Taylor LRP's
# arrows turn gradually. The cell after the figure measures the flip: the change of R between
# two points just either side of the diagonal.

# %%
g = np.linspace(0.05, 0.95, 11)
grid = np.stack([a.ravel() for a in np.meshgrid(g, g)], axis=1)           # (121, 2)
fig = render.new_figure(13, 4.8, layout="constrained")
for ax, (name, fn) in zip(fig.subplots(1, 3), METHODS.items()):
    render.vector_field(ax, net.forward, grid, fn(grid), f"{name}: arrows (R_1, R_2)")
fig.suptitle("Figure 6: explanations of f(x) = max(x1, x2) over the contours of f "
             "(deep Taylor LRP: z+ rule on both layers)", fontsize=render.FONT + 1)
notebook.show(fig, "07_max_vector_fields.png", run)

a, b = np.array([[0.505, 0.495]]), np.array([[0.495, 0.505]])
step = float(np.linalg.norm(a - b))
print(f"crossing the diagonal from {a[0]} to {b[0]} (a step of {step:.4f}), ||R(x) - R(x')||_1 is "
      + ", ".join(f"{np.abs(fn(a) - fn(b)).sum():.4f} for {name}" for name, fn in METHODS.items()))

# %% [markdown]
# ## Exercise 3: the continuity constant
#
# The quotient above, maximized over many pairs, is the continuity constant of Sec. 7.1.
# Write `continuity_constant(explain_fn, A, B)`: `A` and `B` are arrays (P, D) of P pairs of
# points (A[i], B[i]), `explain_fn` maps a batch (N, D) to relevance (N, D). Return the
# largest ||R(A[i]) - R(B[i])||_1 / ||A[i] - B[i]||_2 over the pairs, as a float.

# %%


def continuity_constant(explain_fn, A, B):
    # your code here: R for both sides, the L1 norm of their difference, the L2 norm of A - B
    return None


# %%
exercises.check_continuity_constant(continuity_constant)

# %% [markdown]
# The check compares your answer with `heatmapping.metrics.continuity` on the pairs of a grid
# over [0, 1]^2, for the three explanations of the max network. A reference answer is
# `heatmapping.exercises.solution_continuity_constant`.
#
# ### The constant as the grid is refined
#
# The library's `metrics.continuity(explain_fn, A, B)` computes the same quotient;
# `metrics.grid_pairs(h)` gives all pairs of neighbouring points (along both axes and both
# diagonals) of a grid of spacing h over [0, 1]^2. If R is continuous and piecewise linear, as
# deep Taylor LRP's is here (R = (x1 - x2/2, x2/2) where x1 >= x2), the constant is the
# largest slope of its pieces, sqrt(2), whatever h. If R jumps by a fixed amount J across the
# diagonal, a pair straddling it gives J / (pair distance), so the constant doubles each time
# h halves: no bound holds.

# %%
constants = {h: {name: metrics.continuity(fn, *metrics.grid_pairs(h)) for name, fn in METHODS.items()}
             for h in SPACINGS}
print(f"{'grid spacing':>12} " + " ".join(f"{name:>16}" for name in METHODS))
for h, row in constants.items():
    print(f"{h:>12} " + " ".join(f"{row[name]:>16.4f}" for name in METHODS))
factor = {name: np.mean([constants[b][name] / constants[a][name] for a, b in zip(SPACINGS, SPACINGS[1:])])
          for name in METHODS}
print("factor by which each halving of the spacing multiplies the constant: "
      + ", ".join(f"{name} {factor[name]:.2f}" for name in METHODS))
for name in METHODS:
    growth = constants[SPACINGS[-1]][name] / constants[SPACINGS[0]][name]
    verdict = ("bounded: it stays at the same value as the grid is refined" if growth < 1.1 else
               f"unbounded: it grew {growth:.0f}-fold while the spacing shrank "
               f"{SPACINGS[0] / SPACINGS[-1]:.0f}-fold")
    print(f"  {name}: {verdict}")
print(f"(sqrt(2) = {np.sqrt(2):.4f})")

# %% [markdown]
# The same table as a picture, on logarithmic axes: a constant that grows like 1 / h is a
# straight line of slope -1; a bounded one is flat. What to look for: a line of slope -1 for
# the gradient methods (theirs coincide: both jump by 2 between the grid points (1, 1 - h) and
# (1 - h, 1), where R turns from (1, 0) to (0, 1)), and deep Taylor LRP flat on the dashed
# line at sqrt(2).

# %%
fig = render.new_figure(7.5, 5, layout="constrained")
ax = fig.subplots()
for name, style in zip(METHODS, ("s-", "o--", "o-")):          # the gradient lines coincide
    ax.loglog(SPACINGS, [constants[h][name] for h in SPACINGS], style, label=name,
              markersize=9 if name == "sensitivity" else 5)
ax.axhline(np.sqrt(2), color="gray", linestyle="--", label="sqrt(2)")
ax.invert_xaxis()
ax.set_xlabel("grid spacing h (finer to the right)", fontsize=render.FONT)
ax.set_ylabel("max ||R(x) - R(x')||_1 / ||x - x'||_2", fontsize=render.FONT)
ax.set_title("Figure 6: continuity constant of each method on max(x1, x2)", fontsize=render.FONT)
ax.legend(fontsize=render.FONT)
notebook.show(fig, "07_continuity_vs_spacing.png", run)
print(f"as the spacing shrinks {SPACINGS[0] / SPACINGS[-1]:.0f}-fold, deep Taylor LRP's constant "
      f"stays at {constants[SPACINGS[-1]]['deep Taylor LRP']:.4f} = sqrt(2), while sensitivity's "
      f"grows from {constants[SPACINGS[0]]['sensitivity']:.2f} to "
      f"{constants[SPACINGS[-1]]['sensitivity']:.2f} and simple Taylor's from "
      f"{constants[SPACINGS[0]]['simple Taylor']:.2f} to {constants[SPACINGS[-1]]['simple Taylor']:.2f}")

# %% [markdown]
# ## Figure 7: a digit moving through the CNN's input
#
# The paper then moves a handwritten '2' from left to right through the receptive field of a
# CNN trained on MNIST and tracks each explanation's relevance pooled into the four quadrants
# of the image (Sec. 4.4; `relevance.pool_grid`). Its argument: "although the function itself
# is relatively low-varying, strong variations occur in the explanations". That argument
# needs a path along which f really varies little. Moved far enough, a digit leaves the part
# of the field the network was trained on, and f changes a lot (the first '2' of the test set,
# moved 8 pixels each way, takes f_2 from about -1.4 to 32.5). So we choose the path: shifts
# of at most `MAX_SHIFT` pixels each way, and among the first 100 '2's the one whose f_2
# varies least relative to its mean along those shifts,
#
#     (max_t f_2(x_t) - min_t f_2(x_t)) / mean_t f_2(x_t).

# %%
cnn = models.load_model("cnn").astype(np.float64)
images, labels, source = data.load_test_digits(verbose=False)
MAX_SHIFT = 4


def moving(digits, max_shift):
    """Digits (N, 28, 28), each shifted horizontally by -max_shift..max_shift pixels:
    (N * T, 1, 32, 32), digit by digit."""
    return translation_path(models.inputs_for(cnn, digits), max_shift)


def variation(f):
    """Range of f along a path relative to its mean."""
    return (f.max() - f.min()) / f.mean()


twos = np.flatnonzero(labels == 2)[:100]
f_all = cnn.forward(moving(images[twos], MAX_SHIFT))[:, 2].reshape(len(twos), -1)   # (100, T)
relative = (f_all.max(axis=1) - f_all.min(axis=1)) / f_all.mean(axis=1)
chosen = int(twos[np.argmin(relative)])
path = moving(images[chosen:chosen + 1], MAX_SHIFT)
shifts = np.arange(-MAX_SHIFT, MAX_SHIFT + 1)
f = f_all[np.argmin(relative)]
first = cnn.forward(moving(images[twos[:1]], 8))[:, 2]
print(f"digits from {source}")
print(f"chosen: the '2' at index {chosen}, shifted {-MAX_SHIFT}..{MAX_SHIFT} pixels; "
      f"f_2(x) runs from {f.min():.2f} to {f.max():.2f}, relative variation {variation(f):.2f}")
print(f"(median relative variation of the first 100 '2's over these shifts: {np.median(relative):.2f}; "
      f"the first '2' moved -8..8 pixels: f_2 from {first.min():.2f} to {first.max():.2f}, "
      f"relative variation {variation(first):.2f})")
print("f_2(x) along the path:", np.round(f, 1))

# %% [markdown]
# ### Figure 7
#
# Top: three positions of the digit, f_2 along the path, and how much each explanation changes
# from one shift to the next, ||R(x_t+1) - R(x_t)||_1 relative to its mean size ||R||_1
# along the path, beside the relative change of f. Bottom: each method's relevance per
# quadrant (R1 top left, R2 top right, R3 bottom left, R4 bottom right). What to look for:
# f changes smoothly; the quadrant relevances of sensitivity and simple Taylor jump between
# neighbouring shifts, deep Taylor LRP's (zB on the pixels, z+ above) move with the digit.

# %%
EXPLAIN = {
    "sensitivity": functools.partial(explain.sensitivity, cnn, target=2),
    "simple Taylor": functools.partial(explain.simple_taylor, cnn, target=2),
    "deep Taylor LRP": functools.partial(explain.lrp, cnn, target=2, rules="deep_taylor"),
}
R = {name: fn(path) for name, fn in EXPLAIN.items()}                       # (T, 1, 32, 32) each
size = {name: np.abs(r).reshape(len(path), -1).sum(axis=1).mean() for name, r in R.items()}
change = {name: np.abs(np.diff(r, axis=0)).reshape(len(path) - 1, -1).sum(axis=1) / size[name]
          for name, r in R.items()}                                         # (T-1,) each
f_change = np.abs(np.diff(f)) / f.mean()
midpoints = (shifts[1:] + shifts[:-1]) / 2

fig = render.new_figure(15, 8.5, layout="constrained")
axes = fig.subplots(2, 3)
render.show_image(axes[0, 0], np.concatenate([path[0, 0], path[MAX_SHIFT, 0], path[-1, 0]], axis=1),
                  f"input at shifts {-MAX_SHIFT}, 0, +{MAX_SHIFT}")
axes[0, 1].plot(shifts, f, "ko-")
axes[0, 1].set_ylim(0, 1.2 * f.max())
axes[0, 1].set_title(f"f_2(x): {f.min():.1f} to {f.max():.1f}", fontsize=render.FONT)
axes[0, 2].plot(midpoints, f_change, "k--", label="f_2 (relative to mean f_2)")
for name in EXPLAIN:
    axes[0, 2].plot(midpoints, change[name], "o-", label=name)
axes[0, 2].set_title("change per 1-pixel step, relative to mean ||R||_1", fontsize=render.FONT)
axes[0, 2].legend(fontsize=render.FONT - 1)
for ax, (name, r) in zip(axes[1], R.items()):
    quadrants = pool_grid(r, (2, 2)).reshape(len(path), 4)
    for q, label in zip(quadrants.T, ("R1 top left", "R2 top right", "R3 bottom left",
                                      "R4 bottom right")):
        ax.plot(shifts, q, "o-", markersize=3, label=label)
    ax.set_title(f"{name}: relevance per quadrant", fontsize=render.FONT)
axes[1, 0].legend(fontsize=render.FONT - 1)
for ax in list(axes[0, 1:]) + list(axes[1]):
    ax.set_xlabel("horizontal shift of the digit (pixels)", fontsize=render.FONT)
fig.suptitle(f"Figure 7: a '2' from {'MNIST' if 'MNIST' in source else 'the embedded sample'} "
             f"moving through the CNN's input, explained for class 2", fontsize=render.FONT + 1)
notebook.show(fig, "07_moving_digit.png", run)
print(f"per 1-pixel step f_2 changes by at most {f_change.max():.0%} of its mean; the heatmap by "
      "at most " + ", ".join(f"{change[name].max():.0%} of its mean size for {name}" for name in EXPLAIN))

# %% [markdown]
# ### Continuity along the path
#
# `metrics.continuity_along_path(explain_fn, path)` is the quotient of Sec. 7.1 maximized over
# consecutive positions. Its raw value has each method's units (squared gradients for
# sensitivity), so it is also shown relative to the mean ||R||_1 along the path: how much of a
# typical heatmap changes per unit of input change.

# %%
print(f"{'method':>16}  {'continuity':>10}  {'relative to mean ||R||_1':>24}")
continuity = {}
for name, fn in EXPLAIN.items():
    raw = metrics.continuity_along_path(fn, path)
    continuity[name] = (raw, raw / size[name])
    print(f"{name:>16}  {raw:10.3f}  {raw / size[name]:24.4f}")
for k, measure in enumerate(("continuity", "relative continuity")):
    best = min(continuity, key=lambda name: continuity[name][k])
    print(f"lowest {measure}: {best}")

# %% [markdown]
# ## What this shows, and what it does not
#
# * On max(x1, x2) the measurement agrees with the paper: the gradient methods' explanations
#   are discontinuous on the line x1 = x2 (their constant grows without bound as the grid is
#   refined) and deep Taylor LRP's is continuous (its constant stays at sqrt(2)).
# * On the moving digit, along a path chosen so that f varies little, deep Taylor LRP again
#   varies least, by the raw constant and relative to the size of its heatmaps. Sensitivity
#   and simple Taylor react to every change of the ReLU activation pattern (the "derivative
#   noise" of Sec. 7.1).
# * A path is a sample: a maximum over 8 steps of one digit is not a bound over all inputs.
#   `metrics.local_lipschitz` estimates the same quotient from random perturbations around
#   each input, a complement for real data.
