"""Sec. 3 of the tour: interpreting a concept by activation maximization (Figure 2, Sec. 3.4)."""

from __future__ import annotations

import numpy as np

from .. import am, data, render
from ..rbm import heldout_split
from ..train import softmax
from .page import Section
from .runner import Tour

CLASSES = np.arange(10)


def section(tour: Tour) -> Section:
    s = tour.section("3", "Interpreting a concept: activation maximization",
                     "Sec. 3.1-3.3 (Figure 2): simple AM, AM with an expert, AM in code space; "
                     "Sec. 3.4: localized AM",
                     "A prototype x* of class w_c is an input that the network's output neuron "
                     "for w_c responds to most. Simple AM maximises the class score with an l2 "
                     "penalty around the class mean (Sec. 3.1); an expert, the density p(x) of "
                     "a Gaussian RBM, pulls x* towards likely digits (Sec. 3.2); a decoder g "
                     "searches in its code space, x* = g(z*) (Sec. 3.3). The classifier is the "
                     "shipped 784-300-100-10 MLP, the paper's three-layer DNN. As in the "
                     "paper's setting, each run starts at the class mean; the class term is "
                     "the logit f_c, because log p(w_c|x) saturates at the class means, where "
                     "its gradient vanishes.")
    net, rbm, vae = tour.model("mlp"), tour.rbm(), tour.vae()
    steps = 100 if tour.quick else 200
    images, labels = data.load_mnist5k()
    x_train = data.to_input(images)[:, None]                      # (5000, 1, 28, 28)
    x_bar = am.class_means(x_train, labels, CLASSES)
    z_bar = am.class_means(vae.encode(x_train.reshape(len(x_train), -1)), labels, CLASSES)

    tour.progress("3", f"prototypes of 10 classes, 3 variants, {steps} steps")
    variants = {
        "simple AM": am.activation_maximization(net, CLASSES, x0=x_bar, lam=0.01, center=x_bar,
                                                output="logit", steps=steps, step_size=0.1),
        "AM + expert": am.activation_maximization(net, CLASSES, x0=x_bar, expert=rbm, gamma=0.1,
                                                  output="logit", steps=steps, step_size=0.05),
        "AM + decoder": am.code_space_am(net, CLASSES, vae, lam=0.05, z_center=z_bar,
                                         output="logit", steps=steps, step_size=0.05),
    }
    fig = render.new_figure(15, 5.4, layout="constrained")
    axes = fig.subplots(3, 10)
    p_min, gray = {}, {}
    for row, (name, protos) in zip(axes, variants.items()):
        p = softmax(net.forward(protos.x))[CLASSES, CLASSES]
        p_min[name], gray[name] = p.min(), am.mid_gray(protos.x).mean()
        for c, ax in zip(CLASSES, row):
            render.show_image(ax, protos.x[c, 0], f"{c}: p={p[c]:.3f}")
        row[0].set_ylabel(name, fontsize=render.FONT)
        s.number(f"p(w_c | x*) of the 10 prototypes, {name}",
                 " ".join(f"{v:.3f}" for v in p) + f" (min {p.min():.3f})")
    gray_data = float(np.median(am.mid_gray(x_train)))
    s.number("share of mid-gray pixels (-0.5 < x < 0.5), lower = sharper",
             ", ".join(f"{name} {g:.3f}" for name, g in gray.items())
             + f"; real digits (median) {gray_data:.3f}")
    fig.suptitle("Class prototypes x* of the MLP: simple AM, AM + RBM expert, AM + VAE decoder "
                 "(Figure 2)", fontsize=render.FONT + 1)
    sharper = gray["AM + expert"] < gray["simple AM"] and gray["AM + decoder"] < gray["simple AM"]
    tour.save(s, fig, "sec3_prototypes.png",
              f"Figure 2: one prototype per class (columns 0-9) for each variant (rows), with "
              f"the class probability p(w_c|x*). Every prototype is classified with "
              f"p >= {min(p_min.values()):.3f}, " + ("but only the expert and the decoder make "
              "them look like digits" if sharper else "and here (after only "
              f"{steps} steps) the expert has not yet sharpened its prototypes")
              + f": simple AM leaves {gray['simple AM']:.0%} of the pixels mid-gray, the expert "
              f"{gray['AM + expert']:.0%}, the decoder {gray['AM + decoder']:.0%} (real digits: "
              f"{gray_data:.0%}).")
    _localized(tour, s, net, rbm, x_train, labels, steps)
    return s


def _localized(tour, s, net, rbm, x_train, labels, steps, c=2):
    """Sec. 3.4: -eta ||x - x0||^2 ties the prototype to a digit x0 as eta grows."""
    tour.progress("3", "localized AM at three values of eta")
    held = heldout_split(len(x_train))[1]                 # digits the expert never saw
    candidates = held[labels[held] == c]
    x_class = x_train[labels == c]
    # the held-out "2" farthest from the class mean: a long way from the global prototype
    x0 = x_train[candidates[np.argmax(((x_train[candidates] - x_class.mean(0)) ** 2).sum(axis=(1, 2, 3)))]]
    settings = dict(expert=rbm, gamma=0.1, steps=steps, step_size=0.05)
    global_proto = am.activation_maximization(net, c, x0=x_class.mean(0), **settings).x[0]
    etas = (0.0, 0.3, 3.0)
    localized = np.stack([am.activation_maximization(net, c, x0=global_proto, eta=eta, x_ref=x0,
                                                     **settings).x[0] for eta in etas])
    distance = np.linalg.norm((localized - x0).reshape(len(etas), -1), axis=1)
    p = softmax(net.forward(localized))[:, c]
    fig = render.new_figure(8, 2.6, layout="constrained")
    axes = fig.subplots(1, 4)
    render.show_image(axes[0], x0[0], "x0 (a held-out 2)")
    for ax, eta, d, pc in zip(axes[1:], etas, distance, p):
        render.show_image(ax, localized[list(etas).index(eta), 0],
                          f"eta={eta:g}: |x*-x0|={d:.1f}\np={pc:.3f}")
    fig.suptitle("Localized AM (Sec. 3.4), AM + expert for class 2", fontsize=render.FONT + 1)
    for eta, d, pc in zip(etas, distance, p):
        s.number(f"localized AM, eta = {eta:g}", f"||x* - x0|| = {d:.2f}, p(w_2 | x*) = {pc:.3f}")
    tour.save(s, fig, "sec3_localized.png",
              f"Sec. 3.4: adding -eta ||x - x0||^2 to the objective moves the prototype from "
              f"the global one (eta = 0, {distance[0]:.1f} away from x0) to the digit x0 "
              f"itself ({distance[-1]:.1f} away at eta = {etas[-1]:g}): the question turns "
              f"from 'what is a 2?' into 'what makes x0 a 2?', the subject of Sec. 4.")
