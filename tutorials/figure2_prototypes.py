"""Figure 2 of Montavon, Samek & Mueller (2017): prototypes of the ten MNIST classes by
simple AM, AM with an expert, and AM in the code space of a decoder.

The classifier is the shipped 784-300-100-10 ReLU MLP (the paper's three-layer DNN).  For
each class w_c, three prototypes (Sec. 3.3), all started from the class's mean:

1. simple AM:        max_x f_c(x) - lam ||x - x_bar_c||^2, x_bar_c the class mean;
2. AM + expert:      max_x f_c(x) + gamma log p(x), p(x) the shipped Gaussian RBM (784 - 900);
3. AM + decoder:     max_z f_c(g(z)) - lam ||z - z_bar_c||^2, x* = g(z*), g the decoder of
                     the shipped VAE (100 - 900 - 784), z_bar_c the class's mean code.

The class term is the logit f_c, not the paper's log p(w_c | x).  The class mean is already
classified as c (p from 0.8 to 1), where log-softmax saturates: its gradient vanishes and every
variant stays at its start (the script measures this), so the figure would only show where
the ascent began.  The logit never saturates, so each objective's own pull shows.

The paper's claim, checked and printed: every prototype is classified with near certainty,
but only the expert and decoder prototypes look like digits.  "Looks like data" is measured
by the expert's free energy F(x*) (low = likely), by the decoder's reconstruction error of
x*, and by sharpness (the share of mid-gray pixels, -0.5 < x < 0.5: MNIST digits are almost
black and white, blurry averages are not), each as the percentile among real test digits of
the class (100 = better than all test digits, 0 = worse than all).  The first two measures
flatter the prototypes made with their own model (AM + expert maximises log p(x) = -F(x) + cst,
and g(z*) is in the decoder's range by construction); the fair entries are the crossed ones:
the expert's prototypes under the decoder, and the decoder's under the expert.

Run: python tutorials/figure2_prototypes.py [--out-dir DIR] [--data DIR] [--steps N]
"""

# %% Set-up
import argparse
from pathlib import Path

import numpy as np

from heatmapping import am, data, models, render
from heatmapping.decoder import load_vae
from heatmapping.rbm import heldout_split, load_rbm
from heatmapping.train import softmax

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
parser.add_argument("--data", help="MNIST folder (default: found automatically, else embedded digits)")
parser.add_argument("--steps", type=int, default=200, help="gradient ascent steps (default 200)")
args = parser.parse_args()
args.out_dir.mkdir(parents=True, exist_ok=True)

net = models.load_model("mlp").astype(np.float64)
rbm = load_rbm(models.DATA_DIR / "rbm.npz")
vae = load_vae(models.DATA_DIR / "vae.npz")
classes = np.arange(10)

# class means of the digits the models were trained on: x_bar_c in pixel space, z_bar_c in
# code space (the encoder's mean code)
train_images, train_labels = data.load_mnist5k()
x_train = data.to_input(train_images)[:, None]                     # (5000, 1, 28, 28)
x_bar = am.class_means(x_train, train_labels, classes)
z_bar = am.class_means(vae.encode(x_train.reshape(-1, 784)), train_labels, classes)

# real digits to compare with: the MNIST test set, else the digits held out from the
# expert's and the decoder's training
test_images, test_labels, source = data.load_test_digits(args.data)
if "embedded" in source:
    held = heldout_split(len(test_images))[1]
    test_images, test_labels, source = test_images[held], test_labels[held], \
        "the 500 embedded digits held out from the RBM and VAE training"
x_test = data.to_input(test_images).reshape(len(test_images), -1)
print(f"reference digits: {source} ({len(x_test)})")

# %% Why the logit: from the class mean, the paper's log-softmax objective hardly moves
saturated = am.activation_maximization(net, classes, x0=x_bar, lam=0.01, center=x_bar,
                                       steps=args.steps, step_size=0.1)
p_start = softmax(net.forward(x_bar))[classes, classes]
moved = np.linalg.norm((saturated.x - x_bar).reshape(10, -1), axis=1)
print(f"class means: p(w_c | x_bar_c) from {p_start.min():.3f} to {p_start.max():.3f}; simple AM "
      f"with log p(w_c | x) moves them by only {moved.mean():.1f} on average (a test digit is "
      f"about {np.linalg.norm(x_test - x_bar.reshape(10, -1)[test_labels], axis=1).mean():.0f} "
      f"away from its class mean), so the variants below use the logit f_c")

# %% The three variants, all ten classes at once (one batch of ten prototypes each)
plain = am.activation_maximization(net, classes, x0=x_bar, lam=0.01, center=x_bar,
                                   output="logit", steps=args.steps, step_size=0.1)
expert = am.activation_maximization(net, classes, x0=x_bar, expert=rbm, gamma=0.1,
                                    output="logit", steps=args.steps, step_size=0.05)
decoded = am.code_space_am(net, classes, vae, lam=0.05, z_center=z_bar, output="logit",
                           steps=args.steps, step_size=0.05)
variants = [("simple AM", plain), ("AM + expert", expert), ("AM + decoder", decoded)]

# %% The figure: one row per variant, one column per class
fig = render.new_figure(12, 4.2)
for row, (name, protos) in enumerate(variants):
    p = softmax(net.forward(protos.x))[classes, classes]
    for c in classes:
        ax = fig.add_subplot(3, 10, 10 * row + c + 1)
        ax.imshow(protos.x[c, 0], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{c}: p={p[c]:.3f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(name, fontsize=9)
fig.tight_layout()
print(f"saved {render.save_figure(fig, args.out_dir / 'figure2_prototypes.png')}")

# %% Class probabilities: the paper says every prototype is classified with near certainty
print("\nclass probability p(w_c | x*) of each prototype")
print(f"{'':<14}" + "".join(f"{c:>7d}" for c in classes) + "    min")
for name, protos in variants:
    p = softmax(net.forward(protos.x))[classes, classes]
    print(f"{name:<14}" + "".join(f"{v:7.3f}" for v in p) + f"  {p.min():.3f}")

# %% Does it look like data?  Percentile of each prototype among the real digits of its
# class: by the expert's free energy (lower F = likelier), by the decoder's reconstruction
# error (lower = closer to what the decoder can produce) and by the share of mid-gray pixels
# (lower = sharper)
def mid_gray(x):
    """Share of the pixels of each image strictly between -0.5 and 0.5."""
    return ((x > -0.5) & (x < 0.5)).mean(axis=1)


free_test = rbm.free_energy(x_test)
error_test = ((vae.reconstruct(x_test) - x_test) ** 2).mean(1)
gray_test = mid_gray(x_test)


def percentile_rank(value, reference):
    """Percentage of reference values that are worse (larger) than ``value``."""
    return 100.0 * np.mean(reference > value)


print("\nlooks like data: percentile among the test digits of the class "
      "(100 = better than all, 0 = worse than all)")
print(f"{'':<14}{'measure':<22}" + "".join(f"{c:>6d}" for c in classes) + "   mean")
summary = {}
for name, protos in variants:
    flat = protos.x.reshape(10, -1)
    free = rbm.free_energy(flat)
    error = ((vae.reconstruct(flat) - flat) ** 2).mean(1)
    for measure, values, reference in (("expert free energy", free, free_test),
                                       ("decoder recon. error", error, error_test),
                                       ("mid-gray pixels", mid_gray(flat), gray_test)):
        ranks = [percentile_rank(values[c], reference[test_labels == c]) for c in classes]
        summary[name, measure] = np.mean(ranks)
        print(f"{name:<14}{measure:<22}" + "".join(f"{r:6.0f}" for r in ranks)
              + f"  {np.mean(ranks):5.1f}")

print("(the first two measures favour the prototypes made with their own model: compare the "
      "expert's prototypes by the decoder and the decoder's by the expert)")
print(f"share of mid-gray pixels: test digits {np.median(gray_test):.3f} (median), class means "
      f"{mid_gray(x_bar.reshape(10, -1)).mean():.3f}, prototypes "
      + ", ".join(f"{name} {mid_gray(protos.x.reshape(10, -1)).mean():.3f}"
                  for name, protos in variants))

print("\nfree energy F(x*) of each prototype (test digits: median per class in the last row)")
print(f"{'':<14}" + "".join(f"{c:>8d}" for c in classes))
for name, protos in variants:
    print(f"{name:<14}" + "".join(f"{v:8.0f}" for v in rbm.free_energy(protos.x.reshape(10, -1))))
print(f"{'test median':<14}" + "".join(f"{np.median(free_test[test_labels == c]):8.0f}"
                                      for c in classes))

# %% The decoder as a generative model: do codes z ~ N(0, I) decode to digits?  The CNN
# (trained separately, 0.985 test accuracy) classifies 1,000 decoded samples
cnn = models.load_model("cnn").astype(np.float64)
samples = vae.sample(1000, rng=np.random.default_rng(0)).reshape(-1, 1, 28, 28)
p_samples = softmax(cnn.forward(data.pad_images(samples, 2, value=-1.0)))
counts = np.bincount(p_samples.argmax(1), minlength=10)
print(f"\n1,000 decoder samples g(z), z ~ N(0, I): mean largest CNN class probability "
      f"{p_samples.max(1).mean():.3f}")
print("predicted class histogram: " + ", ".join(f"{c}: {n}" for c, n in enumerate(counts)))
