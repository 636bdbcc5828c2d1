"""Command line: ``python -m heatmapping COMMAND``; ``--help`` lists the commands."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import bench, data, decoder, models, rbm, render, tour
from .files import check_output
from .explain import METHODS
from .network import save
from .rules import PRESETS
from .train import predict, softmax


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum`` (argparse names the flag in its message)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "a seed, an integer >= 0")


def _indices(text: str, n: int) -> np.ndarray:
    """'0..11' (inclusive), '3' or '1,4,7' -> an index array, each in 0..n-1."""
    try:
        if ".." in text:
            lo, hi = (int(v) for v in text.split(".."))
            ends = [lo, hi]
        else:
            ends = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--index: expected 'A..B', 'A' or 'A,B,C', got {text!r}") from None
    # the range is checked before it is built: '0..99999999999' must not allocate
    if min(ends) < 0 or max(ends) >= n or (".." in text and ends[0] > ends[1]):
        raise ValueError(f"--index: expected indices in 0..{n - 1}, got {text!r}")
    return np.arange(ends[0], ends[1] + 1) if ".." in text else np.array(ends)


def _sections(text: str) -> dict:
    """'3,7' -> the tour's sections 3 and 7, in the paper's order."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in tour.SECTIONS]
    if unknown or not keys:
        raise ValueError(f"--sections: expected section numbers among "
                         f"{','.join(tour.SECTIONS)} separated by commas, got {text!r}")
    return {k: fn for k, fn in tour.SECTIONS.items() if k in keys}


def _tour(args) -> None:
    """The main job: the paper's Sections 3-8 computed, as an HTML page with figures."""
    page = tour.run(args.out, _sections(args.sections), quick=args.quick,
                    data_folder=args.data, force=args.force)
    print(f"\nwrote {Path(page).resolve()} (open it in a browser)")


def _predict(args) -> None:
    """12 embedded digits with a shipped classifier's predictions."""
    check_output(args.out, flag="--out", suffix=".png", force=args.force)
    net = models.load_model(args.model)
    images, labels = data.load_mnist5k()
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(images), size=12, replace=False)
    p = softmax(net.forward(models.inputs_for(net, images[pick])))
    titles = []
    for label, probs in zip(labels[pick], p):
        c = int(probs.argmax())
        titles.append(f"label {label}: pred {c}\np = {probs[c]:.3f}")
        print(f"label {label}  predicted {c}  probability {probs[c]:.4f}")
    path = render.digit_grid(images[pick], titles, args.out)
    print(f"wrote {Path(path).resolve()}")


#: the generative models of Sec. 3: how each is trained and saved
GENERATIVE = {"rbm": (rbm.train_default, rbm.save_rbm), "vae": (decoder.train_default, decoder.save_vae)}


def _train(args) -> None:
    """Train a reference model on the 5,000 embedded digits and save it."""
    # checked first: a bad path must not cost the training
    check_output(args.out, flag="--out", suffix=".npz", force=args.force)
    if args.model in GENERATIVE:
        train, save_model = GENERATIVE[args.model]
        start = time.perf_counter()
        # no timings in the file: the same training gives the same bytes (and checksum)
        path = save_model(train(data.load_mnist5k()[0], verbose=True), args.out)
        print(f"trained in {time.perf_counter() - start:.1f} s; wrote {path}")
        return
    recipe = dict(models.RECIPES[args.model])
    if args.epochs is not None:
        recipe["epochs"] = args.epochs
    if args.seed is not None:
        recipe["random_state"] = args.seed
    images, labels = data.load_mnist5k()
    validation = None
    if args.validation_data:
        test_images, test_labels = data.load_mnist(args.validation_data)
        validation = (test_images[:2000], test_labels[:2000])
    print(f"training {args.model} on {len(images)} embedded digits, {args.dtype}: {recipe}")
    start = time.perf_counter()
    net, metadata = models.train_reference(args.model, images, labels, recipe=recipe,
                                           dtype=args.dtype, validation=validation)
    seconds = time.perf_counter() - start
    path = save(net, args.out, metadata=metadata)
    print(f"trained in {seconds:.1f} s; wrote {path}")


def _evaluate(args) -> None:
    """Accuracy of a model on a labelled MNIST split."""
    net = models.load_model(args.model)
    folder = data.find_mnist(args.data)
    if folder is None:
        raise FileNotFoundError("evaluate: no MNIST folder found; pass --data DIR or set "
                                "HEATMAPPING_DATA (python -m heatmapping download --folder DIR "
                                "fetches the files)")
    images, labels = data.load_mnist(folder, split=args.split)
    predicted = predict(net, models.inputs_for(net, images)).argmax(axis=1)
    correct = int((predicted == labels).sum())
    for c in range(10):
        mask = labels == c
        print(f"class {c}: {np.mean(predicted[mask] == c):.4f} ({mask.sum()} digits)")
    print(f"accuracy: {correct / len(labels):.4f} ({correct}/{len(labels)})")


def _explain(args) -> None:
    """Explain digits with one method and draw them next to their heatmaps."""
    check_output(args.out, flag="--out", suffix=".png", force=args.force)
    net = models.load_model(args.model)
    images, labels, source = data.load_test_digits(args.data)
    idx = _indices(args.index, len(images))
    x = models.inputs_for(net, images[idx])
    target = args.target
    kwargs = METHOD_OPTIONS.get(args.method, lambda a: {})(args)
    R = METHODS[args.method](net, x, target=target, **kwargs)
    logits = net.forward(x)
    explained = logits.argmax(axis=1) if target is None else np.full(len(x), target)
    # digits padded for the network are cropped back to 28x28 for display
    crop = (x.shape[2] - 28) // 2
    heat = R[:, 0, crop:crop + 28, crop:crop + 28]
    titles = []
    for i, c, r, f in zip(idx, explained, R, logits):
        titles.append(f"#{i} label {labels[i]}: f_{c} = {f[c]:.2f}\nsum R = {r.sum():.2f}")
        print(f"digit {i}: label {labels[i]}, explained class {c}, f = {f[c]:.4f}, "
              f"sum R = {r.sum():.4f}")
    path = render.heatmap_grid(images[idx], heat, titles, args.out)
    settings = ", ".join(f"{k} {v}" for k, v in kwargs.items()) if kwargs else "no parameters"
    print(f"{args.method} ({settings}) on {source}; wrote {Path(path).resolve()}")


#: the flags of ``explain`` that each method takes (the others ignore them)
METHOD_OPTIONS = {
    "lrp": lambda a: {"rules": a.rules, "max_pool": a.max_pool},
    "integrated_gradients": lambda a: {"baseline": a.baseline, "steps": a.steps},
    "smoothgrad": lambda a: {"noise": a.noise, "samples": a.samples, "squared": a.squared},
    "occlusion": lambda a: {"patch": a.patch, "fill": a.fill},
}


def _window(text: str) -> tuple[int, ...]:
    """An argparse type: '4' (a square patch) or '4,4' / '4x4' -> (4, 4)."""
    try:
        sizes = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected a patch size like 4 or 4,4, got {text!r}")
    return sizes * 2 if len(sizes) == 1 else sizes


def _bench(args) -> None:
    """Time forward, gradient and LRP of the shipped models on 256 digits, then LRP over
    many digits, pixel-flipping, RBM and VAE epochs (and, with --busy, a loaded machine)."""
    images, _, source = data.load_test_digits(args.data)
    bench.run(images[:args.n], source=source, dtypes=args.dtype, folder=args.data,
              quick=args.quick, busy=args.busy)


def _download(args) -> None:
    """Fetch the four official MNIST files into a folder, verifying their checksums."""
    data.download_mnist(args.folder)
    print(f"MNIST is in {Path(args.folder).resolve()}; use --data {args.folder} "
          f"or set HEATMAPPING_DATA={args.folder}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m heatmapping",
        description="Pure-NumPy methods for interpreting and understanding deep neural networks "
                    "(Montavon, Samek & Mueller 2017).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tour", help="the main job: the paper's Sections 3-8 computed on the "
                                     "shipped models, as an HTML page with figures")
    p.add_argument("--out", default="tour", help="folder to write index.html and the figures "
                                                 "into (default tour)")
    p.add_argument("--sections", default=",".join(tour.SECTIONS),
                   help=f"which of the paper's sections, e.g. 3,7 (default all: "
                        f"{','.join(tour.SECTIONS)})")
    p.add_argument("--quick", action="store_true", help="fewer steps and digits (for tests)")
    p.add_argument("--data", help="MNIST folder (default: $HEATMAPPING_DATA or "
                                  "../shared/data/mnist, else the embedded digits)")
    p.add_argument("--force", action="store_true",
                   help="replace a tour already in the --out folder")
    p.set_defaults(run=_tour)

    p = sub.add_parser("predict", help="draw 12 embedded digits with a classifier's predictions")
    p.add_argument("--model", default="cnn", help="model name (mlp, cnn, cnn_max, cnn_strided) or file "
                        "(default cnn)")
    p.add_argument("--out", default="predict.png", help="PNG file to write (default predict.png)")
    p.add_argument("--seed", type=_seed, default=0, help="which digits to draw (default 0)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(run=_predict)

    p = sub.add_parser("train", help="train a reference model (mlp, cnn, rbm, vae) on the "
                                      "5,000 embedded digits")
    p.add_argument("--model", choices=sorted(models.ARCHITECTURES) + sorted(GENERATIVE),
                   required=True, help="classifiers mlp, cnn; the RBM expert and VAE decoder")
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument("--epochs", type=_positive_int, help="classifiers: override the recipe's epochs")
    p.add_argument("--seed", type=_seed, help="classifiers: override the recipe's random_state")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="classifiers: the dtype of training (default float32)")
    p.add_argument("--validation-data", metavar="DIR",
                   help="classifiers: MNIST folder whose first 2,000 test digits are scored "
                        "every epoch")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(run=_train)

    p = sub.add_parser("evaluate", help="accuracy of a model on an MNIST split")
    p.add_argument("--model", default="cnn", help="model name (mlp, cnn, cnn_max, cnn_strided) or file "
                        "(default cnn)")
    p.add_argument("--data", help="MNIST folder (default: $HEATMAPPING_DATA or ../shared/data/mnist)")
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("explain", help="explain digits with a method and draw the heatmaps")
    p.add_argument("--model", default="cnn", help="model name (mlp, cnn, cnn_max, cnn_strided) or file "
                        "(default cnn)")
    p.add_argument("--method", choices=sorted(METHODS), default="lrp", metavar="METHOD",
                   help="lrp (default), sensitivity, simple_taylor, deconvolution, "
                        "guided_backprop (the paper's Sec. 4); or the baselines "
                        "integrated_gradients, smoothgrad, occlusion")
    p.add_argument("--rules", choices=sorted(PRESETS), default="deep_taylor",
                   help="lrp: rule preset (default deep_taylor)")
    p.add_argument("--max-pool", choices=["proportional", "winner"], default="proportional",
                   help="lrp: relevance through max pooling (default proportional)")
    p.add_argument("--steps", type=_positive_int, default=32,
                   help="integrated_gradients: midpoint-rule steps, gradients per digit "
                        "(default 32)")
    p.add_argument("--baseline", type=float, default=0.0,
                   help="integrated_gradients: the baseline image's value (default 0, "
                        "mid-grey; -1 is black)")
    p.add_argument("--noise", type=float, default=0.15,
                   help="smoothgrad: noise sigma relative to each digit's range of values "
                        "(default 0.15)")
    p.add_argument("--samples", type=_positive_int, default=32,
                   help="smoothgrad: noisy copies, gradients per digit (default 32)")
    p.add_argument("--squared", action="store_true",
                   help="smoothgrad: the mean squared gradient (SmoothGrad-squared)")
    p.add_argument("--patch", type=_window, default=(4, 4),
                   help="occlusion: patch size, 4 or 4,4 (default 4,4; it must divide the "
                        "network's input, 32 for the CNNs, 28 for the MLP)")
    p.add_argument("--fill", type=float, default=0.0,
                   help="occlusion: what an occluded pixel becomes (default 0, mid-grey; -1 "
                        "is black)")
    p.add_argument("--index", default="0..11", help="digits to explain: A..B, A or A,B,C")
    p.add_argument("--target", type=int, help="class to explain (default: the predicted class)")
    p.add_argument("--data", help="MNIST folder (default: $HEATMAPPING_DATA or ../shared/data/mnist, else the embedded digits)")
    p.add_argument("--out", default="explain.png", help="PNG file to write")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(run=_explain)

    p = sub.add_parser("bench", help="time forward, gradient and LRP; print the ratios")
    p.add_argument("--data", help="MNIST folder (default: $HEATMAPPING_DATA or ../shared/data/mnist, else the embedded digits)")
    p.add_argument("-n", type=_positive_int, default=256, help="number of digits (default 256)")
    p.add_argument("--dtype", nargs="+", choices=["float32", "float64"],
                   default=["float32", "float64"])
    p.add_argument("--quick", action="store_true", help="fewer runs and digits (for tests)")
    p.add_argument("--busy", action="store_true",
                   help="also time forward and LRP while another process keeps one core busy")
    p.set_defaults(run=_bench)

    p = sub.add_parser("download", help="download the official MNIST files (needs a network)")
    p.add_argument("--folder", required=True, help="folder to download into")
    p.set_defaults(run=_download)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, OSError, data.DownloadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
