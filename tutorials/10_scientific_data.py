# %% [markdown]
# # 10. Analysis of scientific data (Sec. 8.2, Figure 10)
#
# Sec. 8.2 of Montavon, Samek & Müller (2017) shows explanations used to learn about the data
# rather than the model: EEG heatmaps of imagined movements, "right hand" versus "foot"
# (Sturm et al. 2016, Figure 10b), where the relevance of a spatio-temporal signal is
# "pooled temporally to produce EEG heatmaps revealing from which part of the brain the
# decision ... originates", and DNA sequences mapped to protein binding sites (Alipanahi et
# al. 2015, Figure 10c), whose relevant nucleotides were found by mutating them one by one.
#
# The real recordings and sequences are not part of this project. This part uses
# **synthetic data with a planted answer** (`heatmapping.synthetic`), so that each
# explanation can be scored against the truth, which in real scientific data is exactly what
# is unknown:
#
# * EEG-like trials, 16 channels x 128 time steps, whose two classes differ only by the
#   frequency of an oscillation in channels 3, 4 and 11 during steps 40-89;
# * DNA-like sequences of 100 nucleotides; the positive ones carry the motif TATAAT, the
#   negative ones do not.
#
# It runs as a script (`python tutorials/10_scientific_data.py`, under a minute) and as a
# notebook; with `HEATMAPPING_QUICK=1` it uses fewer trials and sequences.

# %%
import numpy as np
from matplotlib.patches import Rectangle

from heatmapping import metrics, notebook, render, synthetic

run = notebook.settings()
N_TRAIN = 800                        # training trials / sequences (both modes, same nets)
N_TEST = run.pick(400, 120)          # test trials / sequences (explained)

# %% [markdown]
# ## EEG-like trials
#
# The generative model (the docstring of `synthetic.eeg_like` states it in full): every
# channel carries white noise and a background rhythm of random frequency; in the planted
# channels {3, 4, 11}, during steps 40-89, class 0 ("right hand") adds an oscillation of
# 0.08 cycles per step and class 1 ("foot") one of 0.2 cycles per step, of amplitude 1.5
# against noise of standard deviation 1 (weaker signals did not train reliably in seconds).
# The signals are signed and unbounded, like recorded potentials.
#
# The classifier (`synthetic.eeg_net`) is built from the project's layers: a convolution
# over time in each channel (a `Conv2d` with a 1 x 9 kernel: band detectors), sum pooling
# over time bins (band power), a `Conv2d` over all 16 channels (spatial patterns), and a
# linear layer on the time bins. It is trained by the project's `Trainer` with biases kept
# <= 0 (Sec. 6.1), with a fixed seed.

# %%
# draw trials with a fixed seed, train on N_TRAIN, explain and score the N_TEST others
eeg = synthetic.eeg_experiment(n_train=N_TRAIN, n_test=N_TEST, seed=0)
X_eeg, y_eeg, truth = eeg["X"], eeg["y"], eeg["truth"]
print(f"EEG: {len(X_eeg)} test trials, test accuracy {eeg['accuracy']:.3f} "
      f"({round(eeg['accuracy'] * len(X_eeg))}/{len(X_eeg)})")

# %% [markdown]
# ## Explaining a trial
#
# Each trial's predicted class c is explained through its log-odds f_c(x) - f_{1-c}(x):
# a two-class softmax depends on the difference of the logits only, and a trained network is
# free to encode the evidence for "foot" as raising f_foot or as lowering f_hand
# (`synthetic.log_odds`). Four explanations (Sec. 4 and 5):
#
# * **LRP (w^2, z+)**, the deep Taylor preset for real-valued inputs (`"deep_taylor_real"`):
#   the inputs are unbounded, so the first layer gets the w^2 rule of Table 2 (the zB rule
#   needs a box the data do not have), z+ above. It ignores the biases and is exactly
#   conservative;
# * **LRP-epsilon** (eps = 0.01 everywhere), the rule of Bach et al. used by Sturm et al.;
#   it lets the biases absorb part of f(x);
# * **sensitivity** (df/dx_i)^2 and **simple Taylor** (gradient x input).
#
# **What to see in the figure**: one correctly classified trial of each class (left
# column: the signal; the planted channels and window are outlined in black). LRP (w^2, z+)
# is smooth, positive and densest inside the outlines; LRP-epsilon and simple Taylor are
# signed and speckled, following the oscillation's phase; sensitivity is sparse.

# %%
eeg_names = list(eeg["methods"])
right = eeg["predicted"] == y_eeg
examples = [int(np.flatnonzero(right & (y_eeg == c))[0]) for c in (0, 1)]


def outline(ax, mask):
    """Outline the True cells of a (rows, columns) mask, one rectangle per run in a row."""
    for r in np.flatnonzero(mask.any(axis=1)):
        cols = np.flatnonzero(mask[r])
        for run_ in np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1):
            ax.add_patch(Rectangle((run_[0] - 0.5, r - 0.5), len(run_), 1, fill=False,
                                   edgecolor="black", lw=1.2))


fig = render.new_figure(14, 11, layout="constrained")
axes = fig.subplots(len(eeg_names) + 1, 2)
for j, n in enumerate(examples):
    label = synthetic.EEG_CLASSES[y_eeg[n]]
    rows = [("signal x", X_eeg[n, 0], "signal")] + [
        (name, eeg["methods"][name]["R"][n], "relevance") for name in eeg_names]
    for i, (title, image, what) in enumerate(rows):
        ax = axes[i, j]
        render.show_heatmap(ax, image, f"trial {n}, '{label}': {title}", label=what)
        ax.set_aspect("auto")
        outline(ax, truth)
        ax.set_ylabel("channel", fontsize=render.FONT)
    axes[-1, j].set_xlabel("time step", fontsize=render.FONT)
notebook.show(fig, "10_eeg_heatmaps.png", run)
lrp_name = eeg_names[0]
inside = [metrics.relevance_mass_accuracy(eeg["methods"][lrp_name]["R"][[n]], truth)[0]
          for n in examples]
print(f"{lrp_name} puts {inside[0]:.0%} ('right hand' trial) and {inside[1]:.0%} ('foot' "
      f"trial) of its positive relevance inside the planted window, which covers "
      f"{eeg['chance_mass']:.1%} of the trial")

# %% [markdown]
# ## Pooling over time (Figure 10b)
#
# Summing the relevance over the time axis gives one score per channel, an "EEG heatmap".
# The paper's remark: "temporally pooling preserves the total function value, and thus,
# still corresponds to a decomposition of the prediction". For a conservative LRP the pooled
# channel scores therefore still add up to f(x); for LRP-epsilon only up to what the biases
# and the stabilizer absorbed, and the gradient methods were never decompositions of f(x).
#
# **What to see in the figure**: the channel maps averaged over the test trials of each
# predicted class, the 16 channels drawn as a 4 x 4 grid (a stand-in for the scalp, with
# no real montage behind it). The planted channels 3, 4 and 11 are outlined; the LRP maps
# are red there and pale elsewhere.

# %%
for name in eeg_names:
    print(f"temporal pooling, {name:14s}: max_n |sum_c R_c(x_n) - f(x_n)| = "
          f"{eeg['methods'][name]['pooled_error']:.2g}  (f(x) = log-odds, mean "
          f"{eeg['f'].mean():.2f})")

C = X_eeg.shape[2]
side = int(np.sqrt(C))
planted = truth.any(axis=1).reshape(side, side)
fig = render.new_figure(15, 6.5, layout="constrained")
axes = fig.subplots(2, len(eeg_names))
for c in (0, 1):
    chosen = eeg["predicted"] == c
    for j, name in enumerate(eeg_names):
        grid = eeg["methods"][name]["channel_map"][chosen].mean(axis=0).reshape(side, side)
        render.show_heatmap(axes[c, j], grid, f"{name}\npredicted '{synthetic.EEG_CLASSES[c]}'")
        outline(axes[c, j], planted)
        for k in range(C):
            axes[c, j].text(k % side, k // side, str(k), ha="center", va="center",
                            fontsize=render.FONT - 1)
notebook.show(fig, "10_eeg_channel_maps.png", run)
pooled = eeg["methods"][lrp_name]["channel_map"]
share = pooled[:, truth.any(axis=1)].sum() / pooled.sum()
print(f"{lrp_name}: the 3 planted channels hold {share:.0%} "
      f"of the pooled relevance summed over all test trials; 3 of {C} channels would be "
      f"{eeg['chance_channels']:.0%}")

# %% [markdown]
# ## How much relevance lands on the truth
#
# Two scores against the planted mask (`heatmapping.metrics`), averaged over the test trials:
# the **relevance mass accuracy** (the share of the positive relevance inside the mask) and
# the **relevance rank accuracy** (the share of the |mask| most relevant features inside it),
# on the full channel x time heatmap and, for the mass, on the channel map pooled over time.
# A heatmap that knew nothing would score the mask's share: 7.3% of the features, 3 of 16
# channels.

# %%
print(f"{'method':16s} {'mass (C x T)':>13s} {'rank (C x T)':>13s} {'mass (channels)':>16s}")
for name in eeg_names:
    m = eeg["methods"][name]
    print(f"{name:16s} {m['mass']:13.3f} {m['rank']:13.3f} {m['channel_mass']:16.3f}")
print(f"{'chance':16s} {eeg['chance_mass']:13.3f} {eeg['chance_mass']:13.3f} "
      f"{eeg['chance_channels']:16.3f}")
best = max(eeg_names, key=lambda name: eeg["methods"][name]["mass"])
print(f"{lrp_name} puts {eeg['methods'][lrp_name]['mass'] / eeg['chance_mass']:.1f}x chance of its "
      f"positive relevance on the planted window; the most concentrated heatmap here is {best} "
      f"({eeg['methods'][best]['mass']:.3f})")

# %% [markdown]
# Every method puts several times the chance share of its positive relevance on the planted
# window; the line above names the most concentrated one on this run, and the gaps between
# the methods' mass accuracies are small. They measure different things: the squared
# gradient is large where the log-odds is *most sensitive*; LRP distributes its *value*,
# part of which is carried by filters responding to the noise and the background rhythm in
# every channel (z+ passes it on in proportion), and the w^2 rule spreads each filter's share
# over its 9 time steps, which is why its map is smooth and mostly positive. What the
# conservative LRP adds is that its channel map is a decomposition of f(x), as the pooling
# check above shows; sensitivity's is not, and LRP-epsilon's and simple Taylor's signed maps
# (blue channels) only approximately.

# %% [markdown]
# ## DNA-like sequences
#
# Random sequences, one-hot encoded as 4 rows (A, C, G, T) x 100 positions; positives carry
# TATAAT at a random position, and the generator redraws any negative that contains TATAAT by
# chance (`decoy=True` would also give each negative a near miss, one letter changed: a
# harder task on which this small net does not train reliably in a few seconds). The
# classifier (`synthetic.dna_net`) is a `Conv2d` with 4 x 6 kernels over the one-hot rows
# (motif detectors), ReLU, max pooling over all positions (the best hit, as in DeepBind) and
# a linear layer.

# %%
dna = synthetic.dna_experiment(n_train=N_TRAIN, n_test=N_TEST, seed=1)
dna_net, S_test, sy_test, smask_test = dna["net"], dna["X"], dna["y"], dna["mask"]
print(f"DNA: {len(S_test)} test sequences, test accuracy {dna['accuracy']:.3f}")

# %% [markdown]
# ## Explaining a sequence (Figure 10c)
#
# Three explanations of the positive class's log-odds:
#
# * **in-silico mutagenesis** (Alipanahi et al.): each nucleotide is mutated to each of the
#   three others and the drop of f recorded (`synthetic.in_silico_mutagenesis`, 300 mutants
#   per sequence, evaluated in batches); a position scores its largest drop;
# * **LRP (zB, z+)**: the one-hot inputs live in the box [0, 1], so the first layer gets the
#   zB rule with those bounds (Table 2), z+ on the output layer; the max pool passes
#   relevance in proportion to its inputs (Sec. 5.3);
# * **sensitivity**, (df/dx_i)^2.
#
# **What to see in the figure**: as in Figure 10c, a true positive, a false positive and a
# false negative where the test set has them (else more true positives), each in a
# 40-position window around the motif (the letters of TATAAT outlined) or, without one,
# around LRP's most relevant position. In a true positive all three methods light up the
# motif. Mutagenesis scores only the letter
# that is there; zB also gives relevance to absent letters whose absence the detector
# wants (the -h w^- term), and both LRP and sensitivity blur over the 6-wide kernel. Where the
# net misses a motif (a false negative) the explained log-odds is negative, and LRP, which
# distributes that value, turns blue; sensitivity and mutagenesis stay positive by
# construction (a square, a largest drop).

# %%
predicted = synthetic.log_odds(dna_net).forward(S_test).argmax(axis=1)
cases = {"true positive": (sy_test == 1) & (predicted == 1),
         "false positive": (sy_test == 0) & (predicted == 1),
         "false negative": (sy_test == 1) & (predicted == 0)}
shown = [(kind, int(np.flatnonzero(found)[0])) for kind, found in cases.items() if found.any()]
# where the net makes fewer than two kinds of error, more true positives fill the grid
more = np.flatnonzero(cases["true positive"])[1:4 - len(shown)]
shown += [("true positive", int(n)) for n in more]
methods = synthetic.dna_methods()
order = ["mutagenesis", "LRP (zB, z+)", "sensitivity"]
R_shown = {name: methods[name](synthetic.log_odds(dna_net), S_test[[n for _, n in shown]])
           for name in order}
WIDTH = 40
fig = render.new_figure(15, 2.1 * len(shown) + 0.6, layout="constrained")
axes = fig.subplots(len(shown), len(order), squeeze=False)
for i, (kind, n) in enumerate(shown):
    motif_at = np.flatnonzero(smask_test[n])
    centre = int(motif_at.mean() if motif_at.size else
                 synthetic.position_scores(R_shown["LRP (zB, z+)"][i]).argmax())
    lo = int(np.clip(centre - WIDTH // 2, 0, S_test.shape[-1] - WIDTH))
    for j, name in enumerate(order):
        ax = axes[i, j]
        render.show_heatmap(ax, R_shown[name][i][:, lo:lo + WIDTH],
                            f"{kind} (seq. {n}): {name}")
        ax.set_aspect("auto")
        ax.set_yticks(range(4), list(synthetic.NUCLEOTIDES), fontsize=render.FONT)
        ax.set_xticks(range(0, WIDTH, 5), [str(lo + k) for k in range(0, WIDTH, 5)],
                      fontsize=render.FONT - 1)
        outline(ax, smask_test[n, lo:lo + WIDTH] & (S_test[n, 0, :, lo:lo + WIDTH] > 0))
    axes[i, -1].set_xlabel("position", fontsize=render.FONT)
notebook.show(fig, "10_dna_heatmaps.png", run)
tp = dna["methods"]
print(f"on the {dna['positives']} positive test sequences the motif's positions rank on average "
      f"{tp['mutagenesis']['rank']:.1f} under mutagenesis and {tp['LRP (zB, z+)']['rank']:.1f} "
      f"under LRP out of {S_test.shape[-1]} (best possible {dna['motif_rank']:.1f}, "
      f"random {dna['chance_rank']:.1f})")

# %% [markdown]
# ## Ranks and cost
#
# For each method, over the positive test sequences: the mean rank of the motif's positions
# among all 100 positions (relevance summed over the 4 rows of a position; 1 = most
# relevant), the rank accuracy (the share of the 6 most relevant positions that lie in the
# motif), and the time per sequence, all measured in the same run.
#
# **What to see in the figure**: the three methods rank the motif near the top, far from
# the random rank; mutagenesis needs 300 forward passes per sequence, LRP one forward and
# one backward pass, and the time axis (logarithmic) shows the difference.

# %%
lrp = tp["LRP (zB, z+)"]
print(f"{'method':14s} {'motif rank':>10s} {'rank acc.':>10s} {'ms/sequence':>12s} {'/ LRP':>7s}")
for name in order:
    m = tp[name]
    print(f"{name:14s} {m['rank']:10.2f} {m['rank_accuracy']:10.3f} {1e3 * m['seconds']:12.3f} "
          f"{m['seconds'] / lrp['seconds']:7.1f}")
print(f"{'random':14s} {dna['chance_rank']:10.2f}")

fig = render.new_figure(12, 4, layout="constrained")
ax_rank, ax_time = fig.subplots(1, 2)
ax_rank.bar(order, [tp[name]["rank"] for name in order], color="tab:red")
ax_rank.axhline(dna["chance_rank"], color="gray", ls="--", label="random order")
ax_rank.axhline(dna["motif_rank"], color="black", ls=":", label="motif ranked first")
ax_rank.set_ylabel("mean rank of the motif (1 = top)", fontsize=render.FONT)
ax_rank.set_title("where each method ranks TATAAT", fontsize=render.FONT)
ax_rank.legend(fontsize=render.FONT)
ax_time.bar(order, [1e3 * tp[name]["seconds"] for name in order], color="tab:blue")
ax_time.set_yscale("log")
ax_time.set_ylabel("ms per sequence (log scale)", fontsize=render.FONT)
ax_time.set_title("what each explanation costs", fontsize=render.FONT)
for ax in (ax_rank, ax_time):
    ax.tick_params(labelsize=render.FONT)
notebook.show(fig, "10_dna_ranks.png", run)
print(f"mutagenesis takes {tp['mutagenesis']['seconds'] / lrp['seconds']:.0f}x the time of LRP "
      f"per sequence, and ranks the motif at {tp['mutagenesis']['rank']:.1f} against LRP's "
      f"{lrp['rank']:.1f}")

# %% [markdown]
# ## What this shows, and what it does not
#
# * Temporal pooling of a conservative LRP heatmap is again a decomposition of f(x): the
#   pooled channel scores add up to the log-odds to rounding. LRP-epsilon's lose what the
#   biases absorbed, and the gradient methods' never summed to f(x).
# * On the EEG task every method finds the planted channels and window well above chance;
#   on the DNA task mutagenesis, LRP and sensitivity all rank the motif near the top, and
#   mutagenesis costs hundreds of forward passes per sequence where the others cost one
#   forward and one backward pass.
# * The synthetic tasks are easy (test accuracies near 1): the comparison is of explanations
#   of a network that has found the planted cause, not of classifiers.
# * The data are synthetic, with one planted cause each. Real EEG and genomic data have
#   many weak, correlated causes and no mask to score against; there the explanation is
#   the hypothesis, not its check.
