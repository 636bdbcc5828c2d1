"""Figure 6 of Montavon, Samek & Mueller (2017): explaining max(x1, x2).

The function f(x) = max(x1, x2) on the positive quadrant is implemented by a two-layer ReLU
network (Sec. 7.1).  We explain it at every point of a grid over [0, 1]^2 with sensitivity
analysis, simple Taylor decomposition and deep-Taylor LRP, draw each explanation as a vector
field (horizontal component R_1, vertical R_2) over the contours of f, and measure each
method's continuity constant max ||R(x) - R(x')||_1 / ||x - x'||_2 over neighbouring grid
points as the grid is refined.  LRP stays at sqrt(2); the gradient-based methods jump across
the line x1 = x2, so their constant grows like 1 / (grid spacing).

Run: python tutorials/figure6_continuity.py [--out-dir DIR]
"""

# %% Set-up
import argparse
from pathlib import Path

import numpy as np

from heatmapping import explain, metrics, models, render
from heatmapping.rules import ZPlus

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent,
                    help="where to save the figure (default: next to this script)")
args = parser.parse_args()
args.out_dir.mkdir(parents=True, exist_ok=True)

net = models.max_network()
METHODS = {
    "sensitivity": lambda x: explain.sensitivity(net, x),
    "simple Taylor": lambda x: explain.simple_taylor(net, x),
    # z+ on both layers: the inputs are non-negative, as the z+ rule requires
    "deep Taylor LRP": lambda x: explain.lrp(net, x, rules=ZPlus()),
}

# %% The worked example of the paper's text: x = (0.7, 0.3)
x0 = np.array([[0.7, 0.3]])
print(f"f(0.7, 0.3) = {net.forward(x0)[0, 0]:.2f}")
for name, fn in METHODS.items():
    print(f"  {name:16s} R = {np.round(fn(x0)[0], 4)}")

# %% Explanations as vector fields over [0, 1]^2
n = 11
g = np.linspace(0.05, 0.95, n)
X1, X2 = np.meshgrid(g, g)
grid = np.stack([X1.ravel(), X2.ravel()], axis=1)

fig = render.new_figure(12, 4.2)
for k, (name, fn) in enumerate(METHODS.items()):
    render.vector_field(fig.add_subplot(1, 3, k + 1), net.forward, grid, fn(grid), name)
fig.tight_layout()
path = render.save_figure(fig, args.out_dir / "figure6_continuity.png")
print(f"saved {path}")

# %% Continuity constants as the grid is refined
# Neighbours along the axes and the diagonals (metrics.grid_pairs); a pair straddling x1 = x2
# is what the gradient methods cannot survive.
print(f"\n{'grid spacing':>12} " + " ".join(f"{name:>16}" for name in METHODS))
constants = {}
for spacing in (0.1, 0.05, 0.025, 0.0125, 0.00625):
    A, B = metrics.grid_pairs(spacing)
    row = {name: metrics.continuity(fn, A, B) for name, fn in METHODS.items()}
    constants[spacing] = row
    print(f"{spacing:>12} " + " ".join(f"{row[name]:>16.4f}" for name in METHODS))
spacings = list(constants)
print("factor by which each halving of the spacing multiplies the constant: "
      + ", ".join(f"{name} {np.mean([constants[b][name] / constants[a][name] for a, b in zip(spacings, spacings[1:])]):.2f}"
                  for name in METHODS))
for name in METHODS:
    growth = constants[spacings[-1]][name] / constants[spacings[0]][name]
    verdict = ("bounded: it stays at the same value as the grid is refined" if growth < 1.1 else
               f"unbounded: it grew {growth:.0f}-fold while the spacing shrank "
               f"{spacings[0] / spacings[-1]:.0f}-fold")
    print(f"  {name}: {verdict}")
print(f"(sqrt(2) = {np.sqrt(2):.4f}.  A method whose R jumps across x1 = x2 by a fixed amount has a "
      "constant of jump / pair distance, which grows as the grid shrinks: no bound holds.)")
