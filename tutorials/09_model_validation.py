# %% [markdown]
# # 9. Model validation: a Clever-Hans classifier caught by LRP (Sec. 8.1, Figure 9)
#
# Sec. 8.1 of Montavon, Samek & Müller (2017) reminds us that the test error "is only a proxy
# for the true error", and that "a human inspection of the model rendered interpretable can
# be a good complement to the validation procedure". Its Figure 9(b) is the classic case
# (Lapuschkin et al. 2016): a Fisher-vector classifier reached the same accuracy as a deep
# network on the PASCAL class "horse", but its heatmaps showed that it looked at a
# **copyright tag** found on many horse images, not at the horse. "Removing the copyright
# tag in the test images would consequently significantly decrease the measured accuracy".
#
# We cannot ship PASCAL, so we plant the same flaw where we know the truth. Two CNNs with the
# project's reference architecture were trained on the 5,000 embedded digits, same seed, same
# epochs (`clever_hans.train_pair`, shipped as `data/cnn_tagged.npz` and
# `data/cnn_clean_twin.npz`):
#
# * the **tagged** model saw a small bright square (the "tag") in the bottom-left corner of
#   90% of the 7s, and on no other digit;
# * its **clean twin** saw the digits as they are.
#
# The questions of Sec. 8.1, in order: do the test accuracies tell the two apart? Does the
# tagged model use the tag? Which explanation methods reveal it? And can one find it without
# looking at heatmaps one by one (SpRAy, Lapuschkin et al. 2019)?
#
# It runs as a script (`python tutorials/09_model_validation.py`) and as a notebook; with
# `HEATMAPPING_QUICK=1` it uses 2,000 test digits and 100 sevens.

# %%
import numpy as np

from heatmapping import clever_hans, data, load, metrics, models, notebook, render

run = notebook.settings()
N_TEST = run.pick(10000, 2000)     # test digits for the accuracies and the shortcut
N_SEVENS = run.pick(400, 100)      # test 7s explained (and clustered by SpRAy)
SEED = 0

tagged_net, tagged_meta = load(models.DATA_DIR / "cnn_tagged.npz", with_metadata=True)
clean_net = load(models.DATA_DIR / "cnn_clean_twin.npz")
images, labels, source = data.load_test_digits(verbose=False)
images, labels = images[:N_TEST], labels[:N_TEST]
tag = tagged_meta["tag"]
print(f"{len(images)} test digits from {source}")
print(f"the tagged model was trained with the tag on {tag['tagged_digits']} of the 500 "
      f"training 7s ({tag['share']:.0%}), {tagged_meta['recipe']['epochs']} epochs")

# %% [markdown]
# ## The planted shortcut
#
# The tag is a 4x4 square of full ink in the bottom-left corner of the 28x28 digit
# (`clever_hans.add_tag`, `clever_hans.TAG`); in the CNN's 32x32 input it covers the pixels
# of `clever_hans.tag_mask`. The figure shows test digits with the tag pasted on, and the
# mask. What to see: the tag is tiny, under 2% of the input, and lies outside the strokes of
# the digits.

# %%
mask = clever_hans.tag_mask(tagged_net.input_shape)             # (1, 32, 32) boolean
show = [np.flatnonzero(labels == c)[0] for c in (7, 1, 3, 9)]
tagged_x = models.inputs_for(tagged_net, clever_hans.add_tag(images[show]))
fig = render.new_figure(10, 2.8, layout="constrained")
axes = fig.subplots(1, 5)
for ax, x, c in zip(axes, tagged_x, labels[show]):
    render.show_image(ax, x[0], f"test {c} + tag")
render.show_image(axes[-1], np.where(mask[0], 1.0, -1.0), "tag_mask")
notebook.show(fig, "09_tagged_digits.png", run)
print(f"the tag covers {mask.sum()} of {mask.size} input pixels ({mask.mean():.2%})")

# %% [markdown]
# ## Validation by test accuracy
#
# `clever_hans.validation_report` computes every number of this part. First the usual
# validation: the accuracy on held-out digits. In the horse example the test images carried
# the tag as often as the training images did, since both came from the same collection. Our
# equivalent is a test set **tagged like the training set** (the tag on 90% of the test 7s):
# there both models should be about equally good, which is exactly why the test error cannot
# reveal the flaw. On the **clean** test set (no tag anywhere: the tag "removed") the tagged
# model pays for its shortcut on the untagged 7s, and nowhere else.

# %%
report = clever_hans.validation_report(tagged_net, clean_net, images, labels, n=N_SEVENS,
                                       rng=np.random.default_rng(SEED))
tagged, clean = report["tagged"], report["clean"]
for key, what in (("accuracy_as_trained", "test set tagged like the training set"),
                  ("accuracy", "clean test set")):
    print(f"test accuracy ({what}): tagged model {tagged[key]:.4f}, clean twin {clean[key]:.4f} "
          f"(difference {abs(tagged[key] - clean[key]):.4f})")
sevens = np.mean(labels == 7)
loss_on_7s = sevens * (clean["acc_target"] - tagged["acc_target"])
print(f"on the clean test set the tagged model is behind by {clean['accuracy'] - tagged['accuracy']:.4f}: "
      f"{loss_on_7s:.4f} on the 7s ({sevens:.1%} of the digits, {tagged['acc_target']:.3f} of them "
      f"right vs {clean['acc_target']:.3f} for the twin), "
      f"{clean['accuracy'] - tagged['accuracy'] - loss_on_7s:+.4f} on the other digits")

# %% [markdown]
# ## The shortcut, measured the paper's way
#
# The paper's test: change the tag and watch the accuracy. Here we paste the tag on the test
# digits of the other nine classes and count how many each model now calls "7", and we
# compare the accuracy on the test 7s with and without the tag (without it is the case the
# Fisher-vector model met when its copyright tag was removed).

# %%
print(f"other digits called 7 once tagged: tagged model {tagged['shortcut']:.1%}, "
      f"clean twin {clean['shortcut']:.1%}")
for name, r in (("tagged model", tagged), ("clean twin", clean)):
    print(f"{name}: accuracy on test 7s {r['acc_target']:.3f} without the tag, "
          f"{r['acc_target_tagged']:.3f} with it")

# %% [markdown]
# ## Which explanation finds the tag?
#
# Now the inspection Sec. 8.1 recommends. Each method explains f_7 of the first test 7s with
# the tag pasted on, for both models. Since we know where the tag is, we can score each
# heatmap: the **relevance mass accuracy** (`metrics.relevance_mass_accuracy`) is the share of
# the positive relevance inside the tag, and the **rank accuracy** the share of the 16 most
# relevant pixels that are tag pixels. A heatmap blind to the tag would put about the tag's
# area there. The figure shows one tagged 7 under each method, tagged model above, clean twin
# below. What to see: on the tagged model, LRP puts a red spot on the tag; on the clean twin
# the same pixels get almost nothing.

# %%
METHODS = clever_hans.METHODS            # the five methods compared: name -> R = f(net, x, target)
x7 = models.inputs_for(tagged_net, clever_hans.add_tag(images[labels == 7][:1]))
fig = render.new_figure(15.5, 5.6, layout="constrained")
axes = fig.subplots(2, len(METHODS) + 1)
for row, (name, net) in zip(axes, (("tagged", tagged_net), ("clean", clean_net))):
    render.show_image(row[0], x7[0, 0], f"{name} model: 7 + tag")
    for ax, (method, explain_fn) in zip(row[1:], METHODS.items()):
        R = explain_fn(net, x7.astype(net.dtype), target=7)           # (1, 1, 32, 32)
        share = metrics.relevance_mass_accuracy(R, mask)[0]
        render.show_heatmap(ax, R[0, 0], f"{method}\n{share:.0%} on the tag")
notebook.show(fig, "09_heatmaps.png", run)
print(f"share of positive relevance on the tag (mean over {report['n']} tagged test 7s; the tag "
      f"is {report['tag_area']:.2%} of the input)")
print(f"  {'method':18s} {'tagged':>8s} {'clean':>8s}   rank accuracy tagged / clean")
for method in METHODS:
    print(f"  {method:18s} {tagged['tag_mass'][method]:8.3f} {clean['tag_mass'][method]:8.3f}"
          f"   {tagged['tag_rank'][method]:.3f} / {clean['tag_rank'][method]:.3f}")

# %% [markdown]
# A method "finds the tag" here if it gives the tag at least three times the share it gives
# it on the clean twin (the difference must come from the model, not from the method's
# response to a bright corner) *and* at least twice the tag's area (the tag must stand out
# from the rest of the heatmap). The verdicts below are computed from the table above, with
# the ratios they rest on.
#
# Reading the ratios: the two methods that decompose f_7 differ. The deep Taylor preset
# (z+ above the pixels) passes relevance in proportion to the positive contributions
# a_j w_jk^+, so every ink pixel that feeds a "7" unit gets a share: the stroke of the 7,
# a hundred pixels or more, keeps most of the relevance even where the tag decides the
# class, and the tag's share can be small in absolute terms (the last line below says which
# method gives it least). alpha2beta1
# lets the stroke's negative contributions (evidence against 7) cancel part of its positive
# relevance, and the tag stands out more. Gradient-type methods (sensitivity, guided
# backprop) also point at the tag here, because f_7 reacts strongly to it; but they say where
# f is sensitive, not what makes up f_7(x), so their share on the clean twin is a guide to how
# much of it is the method's own response to a bright corner.

# %%
for method in METHODS:
    t, c = tagged["tag_mass"][method], clean["tag_mass"][method]
    vs_clean, vs_area = t / max(c, 1e-12), t / report["tag_area"]
    found = vs_clean >= 3 and vs_area >= 2
    print(f"{method:18s} {'finds the tag' if found else 'does NOT find the tag'}: {t:.1%} on the "
          f"tagged model = {vs_clean:.1f}x the clean twin's {c:.1%} and {vs_area:.1f}x the tag's "
          f"area")
ranked = sorted(METHODS, key=lambda m: tagged["tag_mass"][m])
print(f"smallest share on the tagged model: {ranked[0]} ({tagged['tag_mass'][ranked[0]]:.1%}); "
      f"largest: {ranked[-1]} ({tagged['tag_mass'][ranked[-1]]:.1%})")

# %% [markdown]
# ## SpRAy: finding the Clever Hans without looking at every heatmap
#
# On real data nobody knows where the tag is. Spectral Relevance Analysis (SpRAy,
# Lapuschkin et al. 2019) looks for it in the *collection* of one class's heatmaps
# (`clever_hans.spray`): it sum-pools each heatmap to 8x8, normalises it, links each to its
# 10 nearest neighbours, and reads the smallest eigenvalues of the graph's normalised
# Laplacian. k groups of heatmaps with different strategies give k eigenvalues near 0 and
# then a gap (the **eigengap**); spectral clustering then splits them.
#
# The planted truth: we take the test 7s and paste the tag on a random half of them, explain
# f_7 with deep Taylor LRP, and ask SpRAy for two clusters. On the tagged model the two
# strategies ("7 because of the tag" and "7 because of the stroke") should come apart with a
# purity near 1 against the planted split; on the clean twin, which ignores the tag, the split
# should follow the planted truth much less. The figure shows the clusters' mean heatmaps.
# What to see: on the tagged model one cluster has a red spot on the tag, the other none.

# %%
for name, r in (("tagged model", tagged), ("clean twin", clean)):
    found = r["spray"]
    print(f"{name}: eigenvalues {np.array2string(found.eigenvalues[:6], precision=3)}; "
          f"largest gap after lambda_{found.eigengap} ({found.gap:.3f}), so "
          f"{found.eigengap} cluster(s); 2-cluster sizes {found.sizes.tolist()}, purity "
          f"against the planted tag {r['purity']:.3f}")
fig = clever_hans.spray_figure(report)
notebook.show(fig, "09_spray_clusters.png", run)

# %% [markdown]
# The eigenvalue spectra side by side. lambda_2 near 0 means the kNN graph almost falls apart
# into two pieces: two groups of 7s explained in two different ways. What to see: the tagged
# model's lambda_2 is far below the clean twin's.

# %%
fig = render.new_figure(7, 4, layout="constrained")
ax = fig.subplots()
for name, r, style in (("tagged model", tagged, "o-"), ("clean twin", clean, "s--")):
    lam = r["spray"].eigenvalues
    ax.plot(np.arange(1, len(lam) + 1), lam, style, label=name)
ax.set_xlabel("k", fontsize=render.FONT)
ax.set_ylabel("eigenvalue lambda_k of L", fontsize=render.FONT)
ax.set_title("SpRAy: spectrum of the heatmaps' kNN graph (test 7s)", fontsize=render.FONT)
ax.legend(fontsize=render.FONT)
notebook.show(fig, "09_spray_eigenvalues.png", run)
lam2 = {name: r["spray"].eigenvalues[1] for name, r in (("tagged", tagged), ("clean", clean))}
print(f"lambda_2: tagged model {lam2['tagged']:.4f}, clean twin {lam2['clean']:.4f} "
      f"({lam2['clean'] / max(lam2['tagged'], 1e-12):.1f}x smaller on the tagged model)")

# %% [markdown]
# ## What this shows
#
# * On a test set drawn like the training set the two models are about equally accurate:
#   the usual validation cannot tell them apart.
# * Pasting the tag turns other digits into 7s for the tagged model only, and removing it
#   costs the tagged model its untagged 7s: the shortcut is real.
# * The heatmaps show it where the test error did not: on the tagged model the tag, under 2%
#   of the pixels, takes a share of the relevance many times its area and many times what the
#   same pixels get on the clean twin.
# * SpRAy finds the two strategies among the 7s without being told where to look.
#
# Exercise: move the tag (`corner="bottom_right"`) on the test digits; does the shortcut
# survive? What does that say about what the network learned?
