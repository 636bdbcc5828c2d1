# %% [markdown]
# # 2. From global to local prototypes
#
# Montavon, Samek & Müller (2017), **Sec. 3.4** "From global to local analysis": localized
# activation maximization, and multiple local prototypes of one class (Nguyen et al. 2016).
# It continues `01_interpreting_concepts.py` (Sec. 2-3.3), whose AM with an RBM expert it
# reuses, and it ends with the question that Sec. 4 and the rest of the course answer.
#
# One prototype per class, as in Figure 2, summarises a class by a single image. Sec. 3.4
# points out two limits of that:
#
# * p(w_c | x) and p(x) may be **multimodal** or strongly elongated: there are several ways
#   of writing a "2", and one prototype cannot show them all. Several **local prototypes**,
#   one per region of the class's data, can.
# * We may care about one **region** of the input space only, around a data point x0 of
#   interest. A localization term ties the prototype to x0, and then the question itself
#   changes.

# %% Settings: quick mode (HEATMAPPING_QUICK=1) and the figure folder (HEATMAPPING_OUT)
import numpy as np

from heatmapping import am, data, models, notebook, render
from heatmapping.rbm import heldout_split, load_rbm
from heatmapping.train import softmax

run = notebook.settings()
steps = run.pick(150, 60)      # gradient ascent steps of every AM run
c = 2                          # the class w_c to interpret
n_prototypes = 5               # local prototypes (k-means clusters of the class)
seed = 0
print(f"quick mode: {run.quick}; figures go to {run.out_dir}; class {c}, {steps} AM steps")

# %% [markdown]
# ## The classifier, the expert and the data
#
# The classifier is the shipped MLP 784-300-100-10 and the expert the shipped Gaussian RBM,
# as in notebook 1. Every run maximises, for class w_c,
#
#     log p(w_c | x) + gamma log p(x) - eta ||x - x0||^2,    gamma = 0.1,
#
# with `am.activation_maximization`. This is the paper's class term: notebook 1 found that
# it barely moves simple AM away from the class mean, where its gradient vanishes, but here
# the expert's term log p(x) keeps pulling, and the class term keeps the prototype a
# confident "2" on the way. The data are the 5,000
# embedded digits the models were trained on (pixels x = p / 127.5 - 1 in [-1, 1]); x0 is
# one of the 500 held out from the expert's training, the "2" farthest from the class mean,
# so that the way from the global prototype to it is long.

# %% Models, the class's digits and the reference point x0
net = models.load_model("mlp").astype(np.float64)
rbm = load_rbm(models.DATA_DIR / "rbm.npz")
images, labels = data.load_mnist5k()
x_all = data.to_input(images)[:, None]                     # (5000, 1, 28, 28)
x_class = x_all[labels == c]                               # (500, 1, 28, 28)

held = heldout_split(len(images))[1]                       # digits the expert never saw
candidates = held[labels[held] == c]
far = np.argmax(((x_all[candidates] - x_class.mean(0)) ** 2).sum(axis=(1, 2, 3)))
x0 = x_all[candidates[far]]                                # (1, 28, 28)
settings = dict(expert=rbm, gamma=0.1, steps=steps, step_size=0.05)
print(f"class {c}: {len(x_class)} digits; x0 is held-out digit #{candidates[far]}, "
      f"p(w_c | x0) = {softmax(net.forward(x0[None]))[0, c]:.3f}, "
      f"{np.linalg.norm(x0 - x_class.mean(0)):.1f} away from the class mean")

# %% [markdown]
# ## Localized AM
#
# Adding the localization term -eta ||x - x0||^2 to the objective ties the prototype to x0;
# eta controls how tightly. We first find the global prototype (eta = 0, started at the
# class mean), then one localized prototype for each eta, each warm-started from the global
# one. The eight runs are one batch: `eta` may give one value per prototype, and the
# objectives do not interact. The ascent stays stable while step_size * 2 * eta < 2, so
# eta <= 10 here.
#
# The paper's point: as eta grows, the prototype converges to x0 and "loses its information
# content": it no longer says what a "2" is, only what x0 is.

# %% The localization path: one prototype per eta
global_proto = am.activation_maximization(net, c, x0=x_class.mean(0), **settings).x[0]
etas = np.array([0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0])
localized = am.activation_maximization(net, np.full(len(etas), c), x0=global_proto, eta=etas,
                                       x_ref=x0, **settings).x      # (8, 1, 28, 28)
distances = np.linalg.norm((localized - x0).reshape(len(etas), -1), axis=1)
p_local = softmax(net.forward(localized))[:, c]
print(f"{'eta':>6} {'||x* - x0||':>12} {'p(w_c | x*)':>12}")
for eta, d, p in zip(etas, distances, p_local):
    print(f"{eta:6.2f} {d:12.3f} {p:12.4f}")

# %% [markdown]
# The figure shows x0, then the prototype for each eta, with its distance to x0 and its
# class probability; the last panel plots the distance against eta. Look for: at eta = 0 a
# blurry, generic "2" (the global prototype); as eta grows, the stroke of x0 appears and
# takes over, until the prototype *is* x0. The class probability stays near 1 all along:
# x0 is itself a confident "2", so nothing is traded away, and nothing is learned either.

# %% Figure: localized AM
fig = render.new_figure(13, 6.2, layout="constrained")
axes = fig.subplots(2, 5)
render.show_image(axes[0, 0], x0[0], f"x0: held-out {c}\n(the data point)")
for ax, eta, d, p, x in zip(axes.ravel()[1:], etas, distances, p_local, localized):
    render.show_image(ax, x[0], f"eta = {eta:g}\n||x*-x0|| = {d:.1f}, p = {p:.3f}")
ax = axes[1, 4]
ax.plot(etas, distances, "o-", color="tab:red")
ax.set_xscale("symlog", linthresh=0.01)
ax.set_xlabel("eta", fontsize=render.FONT)
ax.set_ylabel("||x* - x0||", fontsize=render.FONT)
ax.set_title("distance to x0", fontsize=render.FONT)
ax.tick_params(labelsize=render.FONT - 1)
fig.suptitle(f"Localized AM (Sec. 3.4), AM + RBM expert for class {c}: "
             "max log p(w_c | x) + gamma log p(x) - eta ||x - x0||^2", fontsize=render.FONT + 1)
notebook.show(fig, "02_localized_am.png", run)
monotone = bool(np.all(np.diff(distances) < 0))
print(f"||x* - x0|| falls from {distances[0]:.1f} (eta = 0) to {distances[-1]:.1f} "
      f"(eta = {etas[-1]:g}); p(w_c | x*) >= {p_local.min():.3f} all along")
print("||x* - x0|| decreases monotonically in eta:", monotone)

# %% [markdown]
# ## Multiple local prototypes
#
# Instead of one global prototype, Nguyen et al. (2016) interpret a class by several: the
# class's digits are clustered (k-means, `am.cluster_starts`), and one AM run starts, and is
# centred, at each cluster's centre (`am.local_prototypes`). Each run climbs the class
# score from its own region of the data, and the expert keeps it near the data there: one
# prototype per way of writing the digit.

# %% One prototype per k-means cluster of the class's digits
local = am.local_prototypes(net, c, x_class, n_prototypes=n_prototypes,
                            rng=np.random.default_rng(seed), **settings)
starts = am.cluster_starts(x_class, n_prototypes, rng=np.random.default_rng(seed))
p_multi = softmax(net.forward(local.x))[:, c]
print(f"{len(local.x)} local prototypes of class {c}: p(w_c | x*) = {np.round(p_multi, 3)}")

# which cluster each digit belongs to, and which cluster centre each prototype is nearest to
flat_class, flat_starts = x_class.reshape(len(x_class), -1), starts.reshape(n_prototypes, -1)
members = np.argmin(((flat_class[:, None] - flat_starts[None]) ** 2).sum(-1), axis=1)
sizes = np.bincount(members, minlength=n_prototypes)
to_starts = np.linalg.norm(local.x.reshape(n_prototypes, 1, -1) - flat_starts[None], axis=2)
print(f"cluster sizes: {sizes.tolist()}")
moved = to_starts[np.arange(n_prototypes), np.arange(n_prototypes)]
pairs = np.triu_indices(n_prototypes, 1)                   # each pair of clusters once
spacing = np.linalg.norm(flat_starts[:, None] - flat_starts[None], axis=2)[pairs]
print(f"the prototypes moved {moved.mean():.1f} from their starts on average, while the cluster "
      f"centres are {spacing.mean():.1f} apart; the expert's log p(x) = -F(x) + cst rose from "
      f"{-rbm.free_energy(flat_starts).mean():.0f} (centres) to "
      f"{-rbm.free_energy(local.x.reshape(n_prototypes, -1)).mean():.0f} (prototypes)")

# %% [markdown]
# The figure: in the first column the class mean and the global prototype; then one column
# per cluster, its centre (the start of the run) above and its local prototype below. Look
# for: different shapes of "2" (with or without a loop, upright or slanted) kept apart, each
# prototype still recognisably its own cluster's "2" while classified with certainty. The
# global prototype blurs them into one.
#
# Note how little each run moved (printed above): the centres are already confident "2"s,
# where log p(w_c | x) saturates, so the ascent is short and the expert mostly sharpens the
# centre. A local prototype here is its cluster's centre made likelier, not a new image;
# try `output="logit"` in `settings` (notebook 1) to let the runs go further.

# %% Figure: multiple local prototypes
p_global = softmax(net.forward(global_proto[None]))[0, c]
fig = render.new_figure(13, 5.8, layout="constrained")
axes = fig.subplots(2, n_prototypes + 1)
render.show_image(axes[0, 0], x_class.mean(0)[0], f"class mean\n({len(x_class)} digits)")
render.show_image(axes[1, 0], global_proto[0], f"global prototype\np = {p_global:.3f}")
for k in range(n_prototypes):
    render.show_image(axes[0, k + 1], starts[k, 0], f"cluster {k + 1} centre\n({sizes[k]} digits)")
    render.show_image(axes[1, k + 1], local.x[k, 0],
                      f"local prototype {k + 1}\np = {p_multi[k]:.3f}")
fig.suptitle(f"Multiple local prototypes (Sec. 3.4, Nguyen et al. 2016) of class {c}: "
             "AM + RBM expert from each k-means cluster", fontsize=render.FONT + 1)
notebook.show(fig, "02_local_prototypes.png", run)
own = bool(np.all(to_starts.argmin(axis=1) == np.arange(n_prototypes)))
print(f"each local prototype is nearest to its own cluster's centre: {own}; "
      f"p(w_c | x*) >= {p_multi.min():.3f}")

# %% [markdown]
# ## What to take away
#
# * Localization answers "what is a good prototype of w_c *near x0*?"; pushed far
#   (large eta), it just returns x0, and the question becomes empty, as the paper says.
# * Local prototypes give a richer picture of a class than a single global one, at the
#   price of a choice (how many clusters) and of still being *interpretations*: images of
#   a class, not reasons for a decision.
# * The paper's way out: when we care about a particular x, ask instead **"what features of
#   x make it representative of w_c?"**. That is an *explanation* (Definition 2): a
#   relevance score R_i per pixel of x, a heatmap. Sec. 4 onwards, and the next notebooks,
#   are about computing it: sensitivity analysis, simple Taylor decomposition, and
#   layer-wise relevance propagation.
