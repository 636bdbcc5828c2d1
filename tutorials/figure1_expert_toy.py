"""Figure 1 of Montavon, Samek & Mueller (2017): how the expert p(x) decides where AM lands.

A one-dimensional problem whose density is known exactly: two classes on a line,

    p(x | w_0) = N(-1, 1.2^2),   p(x | w_1) = N(2, 1.2^2),   equal priors.

The classifier is the Bayes-optimal one, a Linear layer with two logits f_0 = 0 and
f_1 = log p(x | w_1) - log p(x | w_0) (linear in x for equal variances), so that
log-softmax gives exactly p(w_1 | x).  It is interpreted by activation maximization,

    max_x  log p(w_1 | x) + log p(x)          (Sec. 3.2, gamma = 1)

with four choices of the expert p(x), the cases (a)-(d) of the paper's cartoon:

  (a) none (no regulariser either): the prototype runs to where the classifier is most
      sure, the edge of the input box: artificial;
  (b) underfitted, an expert that only knows the range of the data (a flat density over
      its central 98%, like an image expert that only knows natural colours): the prototype
      stays in that range but goes to its edge: natural looking but unlikely;
  (c) the true density: the prototype is the most likely x of class 1 (the objective is
      log p(x | w_1) up to a constant, by Bayes' rule), x* = 2;
  (d) overfitted, a kernel density estimate with a tiny bandwidth on 12 samples: the spikes
      dominate, the prototype sticks to the training sample nearest to the start and
      represents p(x) rather than w_1.

Every run uses the same optimiser as the MNIST prototypes, ``am.activation_maximization``,
starting at x = 0 (between the classes).  The step size suits the steepest term of each
objective: the overfitted expert's spikes need small steps, while without an expert the
saturating log-softmax needs large ones to get anywhere.

Run: python tutorials/figure1_expert_toy.py [--out-dir DIR]
"""

# %% Set-up
import argparse
from pathlib import Path

import numpy as np

from heatmapping import Linear, Sequential, am, render
from heatmapping.train import softmax

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
args.out_dir.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(args.seed)

MEANS, STD = np.array([-1.0, 2.0]), 1.2
BOX = (-6.0, 6.0)


class GaussianMixture1D:
    """An expert for AM: p(x) = sum_k pi_k N(x; m_k, s_k^2) on inputs x of shape (N, 1)."""

    def __init__(self, means, stds, weights=None):
        self.means, self.stds = np.asarray(means, float), np.asarray(stds, float)
        k = len(self.means)
        self.weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)

    def _log_components(self, x):
        # (N, 1) against (K,) broadcasts to (N, K): one column per mixture component
        return (np.log(self.weights) - 0.5 * ((x - self.means) / self.stds) ** 2
                - np.log(self.stds * np.sqrt(2 * np.pi)))

    def log_density(self, x):
        return np.logaddexp.reduce(self._log_components(x), axis=1)

    def log_density_gradient(self, x):
        # d/dx log sum_k exp(l_k) = sum_k r_k dl_k/dx with responsibilities r_k
        log_c = self._log_components(x)
        r = np.exp(log_c - np.logaddexp.reduce(log_c, axis=1, keepdims=True))
        return (r * -(x - self.means) / self.stds ** 2).sum(axis=1, keepdims=True)


# %% Data and the Bayes-optimal classifier
labels = rng.integers(0, 2, 2000)
x_train = rng.normal(MEANS[labels], STD)[:, None]
# log N(x; m1, s^2) - log N(x; m0, s^2) = (m1 - m0) / s^2 x + (m0^2 - m1^2) / (2 s^2)
slope = (MEANS[1] - MEANS[0]) / STD ** 2
intercept = (MEANS[0] ** 2 - MEANS[1] ** 2) / (2 * STD ** 2)
net = Sequential([Linear(np.array([[0.0, slope]]), np.array([0.0, intercept]))], input_shape=(1,))
accuracy = np.mean(net.forward(x_train).argmax(1) == labels)
print(f"classifier p(w_1 | x) = sigmoid({slope:.3f} x + {intercept:.3f}): accuracy {accuracy:.3f} "
      f"on {len(labels)} samples")

# %% The four experts
true = GaussianMixture1D(MEANS, [STD, STD])
low, high = np.percentile(x_train, [1, 99])
underfitted = GaussianMixture1D(np.linspace(low, high, 60), np.full(60, 0.5))
kde_points = x_train[rng.choice(len(x_train), 12, replace=False), 0]
overfitted = GaussianMixture1D(kde_points, np.full(12, 0.1))
# (key, name, expert, step size)
cases = [("a", "none", None, 5.0), ("b", "underfitted", underfitted, 0.5),
         ("c", "true", true, 0.5), ("d", "overfitted", overfitted, 0.005)]

# %% AM with each expert from x = 0 (many steps: the problem is tiny)
results = {}
for key, name, expert, step_size in cases:
    proto = am.activation_maximization(net, 1, x0=np.zeros(1), expert=expert, gamma=1.0,
                                       steps=3000, step_size=step_size, box=BOX)
    results[key] = float(proto.x[0, 0])

print(f"\n{'case':<4} {'expert':<16} {'x*':>7} {'p(w_1|x*)':>10} {'true log p(x*)':>15}")
for key, name, *_ in cases:
    x_star = np.array([[results[key]]])
    p = softmax(net.forward(x_star))[0, 1]
    print(f"({key})  {name:<16} {results[key]:7.3f} {p:10.4f} {true.log_density(x_star)[0]:15.2f}")
nearest = kde_points[np.argmin(np.abs(kde_points - results["d"]))]
print(f"\n(d) landed {abs(results['d'] - nearest):.3f} from the KDE sample {nearest:.3f}: "
      "it represents the overfitted p(x), not the class")
print(f"(c) vs the mode of p(x | w_1) = {MEANS[1]}: the true expert recovers the most likely "
      "class-1 input")

# %% The figure: p(w_1 | x) on top, then one panel per expert with p(x) and the prototype
grid = np.linspace(*BOX, 1201)[:, None]
fig = render.new_figure(10, 8)
ax = fig.add_subplot(5, 1, 1)
ax.plot(grid[:, 0], softmax(net.forward(grid))[:, 1], color="k")
ax.hist(x_train[labels == 0, 0], bins=60, density=True, alpha=0.3, color="tab:blue",
        label="data, class 0")
ax.hist(x_train[labels == 1, 0], bins=60, density=True, alpha=0.3, color="tab:red",
        label="data, class 1")
ax.set_ylabel("p(w_1 | x)")
ax.set_xlim(*BOX)
ax.legend(loc="upper left", fontsize=8)
for row, (key, name, expert, _) in enumerate(cases, start=2):
    ax = fig.add_subplot(5, 1, row)
    if expert is not None:
        density = np.exp(expert.log_density(grid))
        ax.plot(grid[:, 0], density / density.max(), color="tab:green", label="expert p(x), scaled")
    ax.plot(grid[:, 0], np.exp(true.log_density(grid)) / np.exp(true.log_density(grid)).max(),
            color="gray", linestyle=":", label="true p(x), scaled")
    ax.axvline(results[key], color="tab:red", linewidth=2, label="prototype x*")
    ax.set_xlim(*BOX)
    ax.set_yticks([])
    ax.set_ylabel(f"({key}) {name}", fontsize=8)
    if key in ("a", "b"):
        ax.legend(loc="upper left", fontsize=8)
ax.set_xlabel("input x")
fig.tight_layout()
print(f"saved {render.save_figure(fig, args.out_dir / 'figure1_expert_toy.png')}")
