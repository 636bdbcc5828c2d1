"""The translation trick of Montavon, Samek & Mueller (2017), Sec. 6.4.

Heatmaps can carry artefacts of the first layer's filters or stride.  Averaging the
explanations of slightly translated copies, each shifted back,

    R*(x) = 1/|T| sum_{tau in T} tau^-1( R( tau(x) ) ),

smooths them.  We compare plain and translation-averaged deep-Taylor LRP on the shipped CNN:
the heatmaps side by side, the continuity along the moving-digit path of Figure 7, and the
pixel-flipping AUC (Sec. 7.2; lower is more selective).

Run: python tutorials/translation_trick.py [--out-dir DIR] [--data DIR] [--n 200] [--shift 1]
"""

# %% Set-up
import argparse
from pathlib import Path

import numpy as np

from heatmapping import data, explain, metrics, models, render
from heatmapping.tricks import shift, translation_explainer

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
parser.add_argument("--data", help="MNIST folder (default: found automatically, else embedded digits)")
parser.add_argument("--n", type=int, default=200, help="digits for the pixel-flipping AUC (default 200)")
parser.add_argument("--shift", type=int, default=1, help="largest shift in pixels (default 1: 9 shifts)")
args = parser.parse_args()
args.out_dir.mkdir(parents=True, exist_ok=True)

net = models.load_model("cnn").astype(np.float64)
images, labels, source = data.load_test_digits(args.data)
print(f"digits from {source}; translations of up to {args.shift} pixel(s)")


def plain(x, target=None):
    return explain.lrp(net, x, target=target, rules="deep_taylor")


# every translated copy explains the class of the original image (default: its prediction)
tricked = translation_explainer(net, plain, max_shift=args.shift)


# %% Heatmaps before and after
x = models.inputs_for(net, images[:6])
before, after = plain(x), tricked(x)
pairs = np.concatenate([before[:, 0], after[:, 0]])
titles = [f"plain, digit {labels[i]}" for i in range(6)] + [f"translation trick, digit {labels[i]}" for i in range(6)]
path = render.heatmap_grid(np.concatenate([x[:, 0], x[:, 0]]), pairs, titles,
                           args.out_dir / "translation_trick.png", columns=6)
print(f"saved {path}")
print("sum of relevance, plain vs trick:", np.round(before.sum(axis=(1, 2, 3)), 2),
      np.round(after.sum(axis=(1, 2, 3)), 2))

# %% Continuity along the moving-digit path of Figure 7, explaining class 2 as Figure 7 does
two = models.inputs_for(net, images[np.flatnonzero(labels == 2)[:1]])
path_x = np.concatenate([shift(two, 0, s, fill=-1.0) for s in range(-8, 9)])
print(f"continuity along the path: plain "
      f"{metrics.continuity_along_path(lambda v: plain(v, target=2), path_x):.3f}, translation trick "
      f"{metrics.continuity_along_path(lambda v: tricked(v, target=2), path_x):.3f}")

# %% Pixel-flipping AUC (4x4 patches set to black), lower is better
x = models.inputs_for(net, images[:args.n])
for name, fn in (("plain", plain), ("translation trick", tricked)):
    result = metrics.pixel_flipping(net, x, fn(x), patch=(4, 4), removal="black")
    print(f"pixel-flipping AUC over {args.n} digits (order fixed by the first heatmap), "
          f"{name:17s}: {np.mean(result.auc):.3f}")
