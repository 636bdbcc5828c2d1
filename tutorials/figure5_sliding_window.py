"""Figure 5 of Montavon, Samek & Mueller (2017): explaining an image larger than the network.

A canvas of several MNIST digits is larger than the CNN's 32x32 input.  We explain
g(X) = sum_s f(X[s]), the sum of the network's evidence for one class over all 32x32 windows
at a stride (Sec. 6.5): every pixel collects the relevance of every window it belongs to, and
deep-Taylor LRP conserves g.  The evidence of a window is the positive part of the class
logit, max(0, f_c), so that windows without the class add nothing.

The direct approach runs the CNN without its final Flatten over the whole canvas (a class-score
map) and explains the sum of that map; with no padded convolutions in the shipped CNN it equals
the sliding window at the CNN's total stride (8 pixels) exactly.  With border-padded
convolutions the two would differ (see tests/test_tricks.py).

Run: python tutorials/figure5_sliding_window.py [--out-dir DIR] [--data DIR] [--digit C]
"""

# %% Set-up
import argparse
from pathlib import Path

import numpy as np

from heatmapping import data, explain, models, render
from heatmapping.tricks import (digit_canvas, direct_explanation, fully_convolutional,
                               positive_evidence, sliding_window)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
parser.add_argument("--data", help="MNIST folder (default: found automatically, else embedded digits)")
parser.add_argument("--digit", type=int, default=3, help="the class to explain (default 3)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
args.out_dir.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(args.seed)

net = models.load_model("cnn").astype(np.float64)
images, labels, source = data.load_test_digits(args.data)

# %% A 64x128 canvas (pixel range [-1, 1], background -1) holding 8 digits, two of class c
c = args.digit
picks = list(rng.choice(np.flatnonzero(labels == c), 2, replace=False))
picks += list(rng.choice(np.flatnonzero(labels != c), 6, replace=False))
rng.shuffle(picks)
canvas, cells = digit_canvas(data.to_input(images[picks]), rows=2, cols=4, cell=32)
print(f"canvas of digits {[int(labels[i]) for i in picks]} from {source}; explaining class {c}")

# %% Sliding window: 32x32 windows every 4 pixels, evidence max(0, f_c) per window
explain_windows, evidence = positive_evidence(net, c)
R, g = sliding_window(explain_windows, evidence, canvas, window=(32, 32), stride=(4, 4))
print(f"g(X) = {g[0]:.2f}, sum of the heatmap = {R.sum():.2f} (conservation)")

fig = render.new_figure(12, 3.4)
ax = fig.add_subplot(1, 2, 1)
ax.imshow(canvas[0, 0], cmap="gray", vmin=-1, vmax=1)
ax.set_title("input image X")
ax.set_axis_off()
ax = fig.add_subplot(1, 2, 2)
scale = np.abs(R).max() or 1.0
ax.imshow(R[0, 0], cmap="bwr", vmin=-scale, vmax=scale)
ax.set_title(f"aggregated heatmap R(X), class {c}")
ax.set_axis_off()
fig.tight_layout()
print(f"saved {render.save_figure(fig, args.out_dir / 'figure5_sliding_window.png')}")

# %% Relevance per digit: the class-c digits should hold more than their share of the area
# (windows at stride 4 that straddle two digits also give relevance to the neighbour)
share_c = 0.0
for k, (i, cell) in enumerate(zip(picks, cells)):
    share = R[0, 0][cell].sum() / R.sum()
    share_c += share if labels[i] == c else 0.0
    print(f"  digit {int(labels[i])} at {divmod(k, 4)}: {100 * share:5.1f}% of the relevance")
area = np.mean([labels[i] == c for i in picks])
print(f"the class-{c} digits hold {100 * share_c:.1f}% of the relevance on {100 * area:.0f}% of the area")

# %% The direct approach equals the sliding window at the CNN's stride of 8 (no padding)
fcn = fully_convolutional(net)
R_direct, g_direct = direct_explanation(explain.lrp, fcn, canvas, target=c)
R_window, g_window = sliding_window(lambda w: explain.lrp(net, w, target=c), lambda w: net.forward(w)[:, c],
                                    canvas, window=(32, 32), stride=(8, 8))
print(f"direct approach vs sliding window at stride 8 (raw logits): "
      f"g {g_direct[0]:.4f} vs {g_window[0]:.4f}, max heatmap difference {np.abs(R_direct - R_window).max():.1e}")
