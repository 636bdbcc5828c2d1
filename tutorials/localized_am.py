"""Sec. 3.4 of Montavon, Samek & Mueller (2017): from global to local prototypes.

1. Localized AM.  Adding -eta ||x - x0||^2 to the AM objective ties the prototype to a data
   point x0.  With the shipped MLP and the RBM expert,

       max_x  log p(w_c | x) + gamma log p(x) - eta ||x - x0||^2,

   the prototype moves from the global prototype (eta = 0) to x0 as eta grows, and loses
   what made it a prototype: the question becomes "what features of x make it
   representative of w_c?", the subject of the paper's Sec. 4.

2. Multiple local prototypes (Nguyen et al. 2016).  One AM run per k-means cluster of the
   class's digits, each started and centred at its cluster: several prototypes for the
   several ways of writing the digit.

Run: python tutorials/localized_am.py [--out-dir DIR] [--digit C] [--steps N]
"""

# %% Set-up
import argparse
from pathlib import Path

import numpy as np

from heatmapping import am, data, models, render
from heatmapping.rbm import heldout_split, load_rbm
from heatmapping.train import softmax

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
parser.add_argument("--digit", type=int, default=2, help="the class w_c (default 2)")
parser.add_argument("--steps", type=int, default=150, help="gradient ascent steps (default 150)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
args.out_dir.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(args.seed)
c = args.digit

net = models.load_model("mlp").astype(np.float64)
rbm = load_rbm(models.DATA_DIR / "rbm.npz")
images, labels = data.load_mnist5k()
x_all = data.to_input(images)[:, None]                              # (5000, 1, 28, 28)
x_class = x_all[labels == c]

# x0: a held-out digit of class c (not seen by the expert), the one farthest from the class
# mean, so that the path from the global prototype to it is long
held = heldout_split(len(images))[1]
candidates = held[labels[held] == c]
far = np.argmax(((x_all[candidates] - x_class.mean(0)) ** 2).sum(axis=(1, 2, 3)))
x0 = x_all[candidates[far]]
settings = dict(expert=rbm, gamma=0.1, steps=args.steps, step_size=0.05)

# %% The global prototype, then localized ones for growing eta, each warm-started from it
# (step_size * 2 * eta must stay below 2 for the ascent to be stable: eta <= 10 here)
global_proto = am.activation_maximization(net, c, x0=x_class.mean(0), **settings).x[0]
etas = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
localized = [am.activation_maximization(net, c, x0=global_proto, eta=eta, x_ref=x0,
                                        **settings).x[0] for eta in etas]
distances = [float(np.linalg.norm(x - x0)) for x in localized]
p_local = softmax(net.forward(np.stack(localized)))[:, c]
print(f"class {c}; x0 is held-out digit #{candidates[far]}, "
      f"p(w_c | x0) = {softmax(net.forward(x0[None]))[0, c]:.3f}")
print(f"{'eta':>6} {'||x* - x0||':>12} {'p(w_c | x*)':>12}")
for eta, d, p in zip(etas, distances, p_local):
    print(f"{eta:6.2f} {d:12.3f} {p:12.4f}")
print("||x* - x0|| decreases monotonically in eta:",
      all(a > b for a, b in zip(distances, distances[1:])))

# %% Multiple local prototypes: one per k-means cluster of the class's digits
local = am.local_prototypes(net, c, x_class, n_prototypes=5, rng=rng, **settings)
p_multi = softmax(net.forward(local.x))[:, c]
print(f"\n{len(local.x)} local prototypes of class {c}: p(w_c | x*) = {np.round(p_multi, 3)}")

# %% The figure: x0, then the localized path; below, the local prototypes
fig = render.new_figure(13, 3.6)
row = [("x0 (data)", x0)] + [(f"eta={eta:g}\n|x*-x0|={d:.1f}", x)
                             for eta, d, x in zip(etas, distances, localized)]
for i, (title, image) in enumerate(row):
    ax = fig.add_subplot(2, len(row), i + 1)
    ax.imshow(image[0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
for i, (image, p) in enumerate(zip(local.x, p_multi)):
    ax = fig.add_subplot(2, len(row), len(row) + i + 1)
    ax.imshow(image[0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(f"local prototype {i + 1}\np={p:.3f}", fontsize=8)
    ax.set_axis_off()
fig.tight_layout()
print(f"saved {render.save_figure(fig, args.out_dir / 'localized_am.png')}")
