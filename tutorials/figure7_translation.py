"""Figure 7 of Montavon, Samek & Mueller (2017): explanations of a moving digit.

A handwritten "2" from the MNIST test set is moved from left to right through the shipped
CNN's input field.  At each position we record the class-2 logit f(x) and, for sensitivity
analysis, simple Taylor decomposition and deep-Taylor LRP, the relevance pooled into the
four quadrants of the image (Sec. 4.4).  The function changes slowly; the gradient-based
explanations jump around, deep-Taylor LRP follows the digit smoothly.  Each method's
continuity along the path, max ||R(x_t) - R(x_t+1)||_1 / ||x_t - x_t+1||_2 (Sec. 7.1), is
printed.

Run: python tutorials/figure7_translation.py [--out-dir DIR] [--data MNIST_FOLDER]
"""

# %% Set-up
import argparse
from pathlib import Path

import numpy as np

from heatmapping import data, explain, metrics, models, render
from heatmapping.relevance import pool_grid
from heatmapping.tricks import shift

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
parser.add_argument("--data", help="MNIST folder (default: found automatically, else embedded digits)")
parser.add_argument("--index", type=int, default=0, help="which '2' of the data set (default 0)")
args = parser.parse_args()
args.out_dir.mkdir(parents=True, exist_ok=True)

net = models.load_model("cnn").astype(np.float64)
images, labels, source = data.load_test_digits(args.data)
digit = images[np.flatnonzero(labels == 2)[args.index]]
print(f"a '2' from {source}")

# %% The path: the digit shifted from 8 pixels left to 8 pixels right (background -1)
x = models.inputs_for(net, digit[None])                      # (1, 1, 32, 32)
shifts = np.arange(-8, 9)
path = np.concatenate([shift(x, 0, int(s), fill=-1.0) for s in shifts])
f = net.forward(path)[:, 2]
print("f_2(x) along the path:", np.round(f, 1))

# %% Explain every position at once, and pool relevance into quadrants
METHODS = {
    "sensitivity": lambda v: explain.sensitivity(net, v, target=2),
    "simple Taylor": lambda v: explain.simple_taylor(net, v, target=2),
    "deep Taylor LRP": lambda v: explain.lrp(net, v, target=2, rules="deep_taylor"),
}
quadrants = {name: pool_grid(fn(path), (2, 2)).reshape(len(path), 4) for name, fn in METHODS.items()}

# %% Plot: f(x), then the four quadrant relevances of each method against the shift
fig = render.new_figure(14, 3.4)
ax = fig.add_subplot(1, 5, 1)
ax.imshow(np.concatenate([path[0, 0], path[len(path) // 2, 0], path[-1, 0]], axis=1), cmap="gray")
ax.set_title("input sequence (start, middle, end)", fontsize=8)
ax.set_axis_off()
ax = fig.add_subplot(1, 5, 2)
ax.plot(shifts, f, "k")
ax.set_title("f(x), class 2")
ax.set_xlabel("shift (pixels)")
for k, (name, q) in enumerate(quadrants.items()):
    ax = fig.add_subplot(1, 5, k + 3)
    for j, label in enumerate(["R1 top left", "R2 top right", "R3 bottom left", "R4 bottom right"]):
        ax.plot(shifts, q[:, j], label=label)
    ax.set_title(name)
    ax.set_xlabel("shift (pixels)")
ax.legend(fontsize=6)
fig.tight_layout()
print(f"saved {render.save_figure(fig, args.out_dir / 'figure7_translation.png')}")

# %% Continuity along the path (Sec. 7.1).  The methods' relevances have different units (squared
# gradients for sensitivity), so the constant is also shown relative to the mean ||R||_1 along
# the path: how much of a typical heatmap changes per unit of input change.
print(f"\n{'method':>16}  {'continuity':>10}  {'relative to mean ||R||_1':>24}")
continuity = {}
for name, fn in METHODS.items():
    raw = metrics.continuity_along_path(fn, path)
    size = np.abs(fn(path)).reshape(len(path), -1).sum(axis=1).mean()
    continuity[name] = (raw, raw / size)
    print(f"{name:>16}  {raw:10.3f}  {raw / size:24.4f}")
for k, measure in enumerate(("continuity", "relative continuity")):
    best = min(continuity, key=lambda name: continuity[name][k])
    print(f"lowest {measure}: {best}")
print("(a method that varies least moves its relevance with the digit; the gradient methods react "
      "to every change of the ReLU activation pattern)")
