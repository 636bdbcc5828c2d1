"""Sec. 8 of the tour: applications, each with a planted truth and a number (Figures 9, 10)."""

from __future__ import annotations

import numpy as np

from .. import clever_hans, render, synthetic
from .page import Section
from .runner import Tour


def section(tour: Tour) -> Section:
    s = tour.section("8", "Applications", "Sec. 8.1 model validation (Figure 9), Sec. 8.2 "
                     "analysis of scientific data (Figure 10)",
                     "Sec. 8 uses explanations to catch what a test error hides and to find "
                     "what a model learned from data where intuition is weak. Here every "
                     "application has a planted truth, so that whether an explanation finds it "
                     "is measured, not judged by eye.")
    _model_validation(tour, s)
    _scientific_data(tour, s)
    return s


def _model_validation(tour, s):
    """Sec. 8.1: a CNN trained with a 'copyright tag' on 90% of its training 7s, and its clean
    twin (same seed and epochs), both shipped; explanations and SpRAy find the shortcut."""
    tour.progress("8", "model validation: the tagged CNN and its clean twin")
    images, labels, _ = tour.digits()
    n_digits = 2000 if tour.quick else len(images)
    report = clever_hans.validation_report(
        tour.model("cnn_tagged"), tour.model("cnn_clean_twin"), images[:n_digits],
        labels[:n_digits], n=100 if tour.quick else 400, rng=np.random.default_rng(0))
    t, c = report["tagged"], report["clean"]
    s.number(f"Sec. 8.1 accuracy on {n_digits} test digits tagged like the training set, and "
             f"clean: tagged model vs clean twin", f"{t['accuracy_as_trained']:.4f}, "
             f"{t['accuracy']:.4f} vs {c['accuracy_as_trained']:.4f}, {c['accuracy']:.4f}")
    s.number("other digits called '7' once the tag is pasted on them (the shortcut)",
             f"{t['shortcut']:.3f} vs {c['shortcut']:.3f}")
    s.number("test 7s right without / with the tag", f"{t['acc_target']:.3f} / "
             f"{t['acc_target_tagged']:.3f} vs {c['acc_target']:.3f} / {c['acc_target_tagged']:.3f}")
    s.number(f"share of the positive relevance on the tag ({report['tag_area']:.1%} of the "
             f"input), tagged vs clean model", ", ".join(
                 f"{m} {t['tag_mass'][m]:.3f} vs {c['tag_mass'][m]:.3f}" for m in t["tag_mass"]))
    s.number("SpRAy on LRP of the 7s, half of them tagged: purity against the planted split, "
             "tagged vs clean model", f"{t['purity']:.3f} vs {c['purity']:.3f}")
    fig = clever_hans.spray_figure(report)
    lrp = next(m for m in t["tag_mass"] if "deep" in m)
    tour.save(s, fig, "sec8_clever_hans.png",
              f"Sec. 8.1 (Figure 9's 'copyright tag'): on a test set tagged like its training "
              f"set the tagged CNN looks as good as its clean twin ({t['accuracy_as_trained']:.3f} "
              f"vs {c['accuracy_as_trained']:.3f}), but the tag alone turns "
              f"{t['shortcut']:.0%} of the other digits into 7s ({c['shortcut']:.1%} for the "
              f"twin). The explanations show it: {lrp} puts {t['tag_mass'][lrp]:.1%} of its "
              f"positive relevance on the tag's {report['tag_area']:.1%} of the input "
              f"({c['tag_mass'][lrp]:.1%} for the twin), and SpRAy, told nothing, splits the "
              f"tagged model's heatmaps of half-tagged 7s along the tag (purity "
              f"{t['purity']:.2f}, against {c['purity']:.2f} for the twin).")


def _scientific_data(tour, s):
    """Sec. 8.2 on synthetic data (stated as such): EEG-like trials whose classes differ in 3
    channels during a window, and DNA-like sequences whose positive class carries a motif."""
    n_test = 120 if tour.quick else 400
    tour.progress("8", "EEG-like trials: train a small conv net, explain, pool over time")
    eeg = synthetic.eeg_experiment(n_test=n_test)
    tour.progress("8", "DNA-like sequences: LRP vs in-silico mutagenesis vs sensitivity")
    dna = synthetic.dna_experiment(n_test=n_test)
    lrp = next(name for name in eeg["methods"] if name.startswith("LRP (w"))
    m = eeg["methods"]
    s.number("Sec. 8.2 EEG-like (synthetic): test accuracy of the conv net", f"{eeg['accuracy']:.3f}")
    s.number("EEG: max |sum of the time-pooled channel map - f(x)| per method (Fig. 10b)",
             ", ".join(f"{name} {v['pooled_error']:.2g}" for name, v in m.items()))
    s.number(f"EEG: relevance mass / rank accuracy in the planted channels x window (chance "
             f"{eeg['chance_mass']:.3f})", ", ".join(f"{name} {v['mass']:.3f} / {v['rank']:.3f}"
                                                     for name, v in m.items()))
    d = dna["methods"]
    s.number("Sec. 8.2 DNA-like (synthetic): test accuracy of the conv net", f"{dna['accuracy']:.3f}")
    s.number(f"DNA: mean rank of the motif's positions among {int(2 * dna['chance_rank'] - 1)} "
             f"(best possible {dna['motif_rank']:.1f}, random {dna['chance_rank']:.1f})",
             ", ".join(f"{name} {v['rank']:.2f}" for name, v in d.items()))
    s.number("DNA: time per sequence (ms)", ", ".join(f"{name} {1e3 * v['seconds']:.3f}"
                                                      for name, v in d.items()))

    fig = render.new_figure(15, 4.4, layout="constrained")
    axes = fig.subplots(1, 3)
    trial = int(np.argmax(eeg["f"]))
    render.show_heatmap(axes[0], m[lrp]["R"][trial], f"EEG trial, {lrp}", label="relevance")
    axes[0].set_aspect("auto")                        # 16 channels x 128 steps: stretch
    axes[0].contour(eeg["truth"], levels=[0.5], colors="k", linewidths=0.8)
    axes[0].set_xlabel("time step", fontsize=render.FONT)
    axes[0].set_ylabel("channel", fontsize=render.FONT)
    channel_map = m[lrp]["channel_map"].mean(axis=0)
    planted = eeg["truth"].any(axis=1)
    axes[1].bar(np.arange(len(channel_map)), channel_map,
                color=np.where(planted, "tab:red", "tab:gray"))
    axes[1].set_title(f"EEG: {lrp} pooled over time, mean over trials\n(red: the planted "
                      f"channels)", fontsize=render.FONT)
    axes[1].set_xlabel("channel", fontsize=render.FONT)
    names = list(d)
    axes[2].bar(names, [d[n]["rank"] for n in names], color="tab:blue")
    axes[2].axhline(dna["motif_rank"], color="k", lw=0.8, ls=":", label="best possible")
    axes[2].axhline(dna["chance_rank"], color="gray", lw=0.8, ls="--", label="random")
    axes[2].set_title("DNA: mean rank of the motif's positions (lower = found)", fontsize=render.FONT)
    axes[2].tick_params(labelsize=render.FONT - 1)
    axes[2].legend(fontsize=render.FONT - 1)
    fig.suptitle("Sec. 8.2 on synthetic data with a planted answer (Figure 10's EEG and DNA "
                 "analyses)", fontsize=render.FONT + 1)
    share = channel_map[planted].sum() / channel_map.sum()
    tour.save(s, fig, "sec8_scientific_data.png",
              f"Sec. 8.2 on synthetic data: the EEG classes differ only in 3 of "
              f"{len(planted)} channels during a window (black outline). {lrp}'s relevance, "
              f"pooled over time into a channel map as in Figure 10b, still sums to f(x) (to "
              f"{m[lrp]['pooled_error']:.0e}) and puts {share:.0%} of it on the planted "
              f"channels ({planted.mean():.0%} by chance). In the DNA task, LRP ranks the "
              f"motif's positions at {d[next(n for n in d if n.startswith('LRP'))]['rank']:.1f} "
              f"on average (best possible {dna['motif_rank']:.1f}, random "
              f"{dna['chance_rank']:.1f}), as in-silico mutagenesis does "
              f"({d['mutagenesis']['rank']:.1f}), at "
              f"{d['mutagenesis']['seconds'] / d[next(n for n in d if n.startswith('LRP'))]['seconds']:.0f}x "
              f"less time per sequence.")
