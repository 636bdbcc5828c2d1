"""Write the LRP conformance vectors: data/conformance/*.safetensors, SPEC.md and SHA256SUMS.

Usage::

    python data/make_conformance.py            # into data/conformance/, beside this script
    python data/make_conformance.py --out DIR  # elsewhere
    python data/make_conformance.py --force    # replace existing files

The cases, settings and numbers are defined in ``heatmapping/conformance.py``; this script
writes one ``.safetensors`` file per case (``conformance.reproduce``), renders ``SPEC.md`` from
the same definitions, lists every file's SHA-256 in ``SHA256SUMS`` and finally checks the
folder with ``conformance.check``.  The relevances are computed in 80-bit extended precision
(NumPy's long double on x86-64) and rounded to float64, so the script refuses to run where the
long double is no wider than a float64; there, and on any x86-64 machine, a re-run gives
byte-identical files.  It refuses to overwrite existing files unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# Let the script run from a checkout that is not installed: the package sits one folder up.
sys.path.insert(0, str(HERE.parent))

from heatmapping import conformance, safetensors  # noqa: E402
from heatmapping.conformance import CASES, CHECKSUMS, CONVENTIONS, RTOL  # noqa: E402
from heatmapping.files import atomic_write, staged_folder  # noqa: E402

SPEC = "SPEC.md"
#: headings of the conventions whose key does not capitalize into one
TITLES = {"zero_denominator": "Zero denominators", "alpha_beta": "Alpha-beta",
          "batchnorm": "BatchNorm", "relu_flatten": "ReLU and Flatten"}

# --------------------------------------------------------------------------------------------
# SPEC.md: the conventions in prose, then one section per case rendered from its spec


def _rule(entry: dict) -> str:
    """A rule's JSON entry as a short name: LRP-0, eps=0.125, alpha2beta1 split, zB[0, 1], ..."""
    rule = entry["rule"]
    if rule == "Epsilon":
        return "LRP-0" if entry["eps"] == 0 else f"eps={entry['eps']:g}"
    if rule == "AlphaBeta":
        name = f"alpha{entry['alpha']:g}beta{entry['beta']:g}"
        return name + (" split" if entry["bias"] == "split" else "")
    if rule == "ZBox":
        return f"zB[{entry['low']:g}, {entry['high']:g}]"
    if rule == "Gamma":
        return f"gamma={entry['gamma']:g}"
    return {"ZPlus": "z+", "WSquare": "w^2", "Flat": "flat", "pass": "pass",
            "reshape": "reshape", "max_pool_proportional": "proportional",
            "max_pool_winner": "winner"}[rule]


def _hyper(layer: dict) -> str:
    keys = [k for k in ("in_features", "out_features", "in_channels", "out_channels",
                        "kernel_size", "stride", "padding", "num_features", "eps") if k in layer]
    return ", ".join(f"{k}={layer[k]}" for k in keys) or "-"


def _case_section(spec: dict, tensors: dict) -> list[str]:
    L = len(spec["layers"])
    lines = [f"### `{spec['case']}.safetensors`", "", spec["about"][0].upper() + spec["about"][1:]
             + (f" (derived from `{spec['derived_from']}`)." if spec["derived_from"] else "."),
             f"Input shape {tuple(spec['input_shape'])}, domain {spec['input_domain']}, "
             f"seed {spec['seed']}.", "",
             "| layer | type | hyper-parameters | input -> output | tensors (PyTorch layout) |",
             "| --- | --- | --- | --- | --- |"]
    for layer in spec["layers"]:
        names = ", ".join(f"`{name}` {list(tensors[name].shape)}"
                          for name in layer["tensors"].values()) or "-"
        lines.append(f"| {layer['index']} | {layer['type']} | {_hyper(layer)} | "
                     f"{tuple(layer['input_shape'])} -> {tuple(layer['output_shape'])} | {names} |")
    logits = tensors[f"activation/{L}"]
    lines += ["", "| sample | logits | predicted | given | dead ReLU units (per ReLU layer) |",
              "| --- | --- | --- | --- | --- |"]
    relus = [layer["index"] for layer in spec["layers"] if layer["type"] == "ReLU"]
    for n, name in enumerate(spec["samples"]):
        dead = ", ".join(f"{int((tensors[f'activation/{i + 1}'][n] == 0).sum())}/"
                         f"{tensors[f'activation/{i + 1}'][n].size}" for i in relus)
        lines.append(f"| {n} {name} | {', '.join(f'{v:g}' for v in logits[n])} | "
                     f"{tensors['target/predicted'][n]} | {tensors['target/given'][n]} | {dead} |")
    linear = [layer["index"] for layer in spec["layers"]
              if layer["type"] in ("Linear", "Conv2d", "SumPool2d", "AvgPool2d")]
    pools = [layer["index"] for layer in spec["layers"] if layer["type"] == "MaxPool2d"]
    header = " | ".join(f"{i} {spec['layers'][i]['type']}" for i in linear + pools)
    lines += ["", f"| setting | target | {header} |",
              "| --- | --- | " + " | ".join("---" for _ in linear + pools) + " |"]
    for name, setting in spec["settings"].items():
        rules = " | ".join(_rule(setting["propagation"][i]) for i in linear + pools)
        preset = f" (preset `{setting['preset']}`)" if setting["preset"] else ""
        lines.append(f"| `{name}`{preset} | {setting['target']} | {rules} |")
    return lines + [""]


def render_spec(specs: list[dict], files: dict[str, dict]) -> str:
    """SPEC.md for the cases' specs and their tensors ({case: tensors})."""
    settings = sum(len(s["settings"]) for s in specs)
    vectors = sum(len(s["settings"]) * (len(s["layers"]) + 1) for s in specs)
    c = CONVENTIONS
    text = [
        "# LRP conformance vectors",
        "",
        "<!-- Written by data/make_conformance.py from heatmapping/conformance.py: edit those, "
        "not this file. -->",
        "",
        f"{len(specs)} tiny networks with fixed parameters and inputs, and the relevance that "
        f"layer-wise relevance propagation (Montavon, Samek & Mueller 2017, Sec. 5 and 6.3) gives "
        f"at every layer boundary of them: {settings} settings (rule per layer, max-pool rule, "
        f"target) and {vectors} relevance vectors in all, float64, to check an implementation of "
        f"LRP against to a relative error of {RTOL:g}.",
        "",
        "## Checking an implementation",
        "",
        f"1. `sha256sum -c {CHECKSUMS}` in this folder.",
        "2. Read each `.safetensors` file with any safetensors reader; its metadata `spec` is "
        "JSON: `layers` (the architecture, with the tensor names of each layer), `settings` "
        "(for each setting the target and the propagation rule of every layer, "
        "`propagation[i]`), `conventions`.",
        "3. Build the network from `layers` and the `model.*` tensors, run it on `input` and "
        "compare `activation/{l}`; these are exact (below).",
        "4. For every setting, explain the class `target/predicted` or `target/given` with the "
        "rule `propagation[i]` at layer i and compare `relevance/{setting}/{l}` for "
        "l = 0..L.",
        "",
        "**Tolerance.** Per tensor and per sample n: max|a_n - b_n| <= 1e-12 max|b_n|; where "
        "the expected sample is all zero, the result must be all zero. "
        "`heatmapping.conformance.relative_error` computes it; "
        "`heatmapping.conformance.check(folder)` runs all of the above with this package.",
        "",
        "## Files",
        "",
        "| tensor | dtype, shape | meaning |",
        "| --- | --- | --- |",
        "| `model.{i}.weight`, `model.{i}.bias` | F64 | layer i's parameters under PyTorch's "
        "state-dict names and layouts (strip `model.` to load them into an `nn.Sequential`) |",
        "| `model.{i}.running_mean`, `model.{i}.running_var` | F64 | BatchNorm's statistics; "
        "`weight` is gamma, `bias` beta |",
        "| `input` | F64 (3, ...) | the samples: 0 generic, 1 zero, 2 sparse |",
        "| `activation/{l}` | F64 (3, ...) | A[l], the output of layer l-1, l = 1..L (A[0] is "
        "`input`, A[L] the logits) |",
        "| `target/predicted` | I64 (3,) | argmax of the logits |",
        "| `target/given` | I64 (3,) | (predicted + 1) mod K: a class that was not predicted |",
        "| `relevance/{setting}/{l}` | F64, the shape of A[l] | R[l], the relevance of A[l], "
        "l = 0..L; R[L] is the top relevance |",
        "",
        "Layouts: `Linear` weight (out_features, in_features), z = a W^T + b (the package's own "
        "`Linear.W` is the transpose, (in, out)); `Conv2d` weight (C_out, C_in, kh, kw), a "
        "cross-correlation with zero padding, as in PyTorch; images (N, C, H, W); `Flatten` "
        "keeps C order (c, y, x); `SumPool2d` adds each window (an `nn.LPPool2d(1, k)` or "
        "`k*k * nn.AvgPool2d(k)` on non-negative inputs); `AvgPool2d` and `MaxPool2d` as "
        "PyTorch's, no padding; `BatchNorm` is y = gamma (a - mean) / sqrt(var + eps) + beta "
        "over axis 1 (`nn.BatchNorm1d`/`2d` in eval mode, with the file's eps = 2^-16).",
        "",
        "## Conventions",
        "",
        *(f"- **{TITLES.get(key, key.capitalize())}.** {value[0].upper() + value[1:]}."
          for key, value in c.items()),
        "",
        "| rule (JSON) | R_j = sum_k ... R_k | bias in the denominator | conserves (sum R_in = "
        "sum R_out) |",
        "| --- | --- | --- | --- |",
        "| `Epsilon` eps | a_j w_jk / (z_k + eps sign z_k), z_k = sum_j a_j w_jk + b_k | b | "
        "no: the bias and eps absorb |",
        "| `Gamma` gamma | a_j (w_jk + gamma w+_jk) / (sum_j a_j (w_jk + gamma w+_jk) + b_k + "
        "gamma b+_k) | b + gamma b+ | no: the bias absorbs |",
        "| `AlphaBeta` alpha, beta, bias | alpha (aw)+_jk / z+_k - beta (aw)-_jk / z-_k "
        "(Eq. 1) | none ('ignore') or b+ to z+, b- to z- ('split') | 'ignore': yes where z+ "
        "and z- are both non-zero |",
        "| `ZPlus` | a_j w+_jk / sum_j a_j w+_jk (Eq. 2; needs a >= 0) | none | yes |",
        "| `ZBox` low, high | (x_j w_jk - l w+_jk - h w-_jk) / sum_j (same) | none | yes |",
        "| `WSquare` | w_jk^2 / sum_j w_jk^2 | none | yes |",
        "| `Flat` | 1 / (number of inputs of k; padding does not count) | none | yes |",
        "",
        "No rule conserves at a neuron whose denominator is 0 (its relevance is absorbed), "
        "and alpha-beta passes alpha R_k (or -beta R_k) at a neuron that has only one of its "
        "two parts. ReLU, Flatten, BatchNorm and both max-pool rules conserve.",
        "",
        "## How the numbers were made",
        "",
        "- Every weight is k/8 with k in -8..8 (some are 0), every bias a non-zero multiple of "
        "1/8 in [-1/2, 1/2] of random sign (negative before max pools, so that the zero sample "
        "creates no ties; one exception in `batchnorm`, below; `batchnorm_merged` has "
        "b scale + shift), every input a multiple of 1/16 in the case's domain; BatchNorm has "
        "gamma = k/4 of both signs, eps = 2^-16 and var = s^2 - eps with s in {1/2, 1, 2}. So every "
        "activation and every denominator z is exact in float64 in any order of summation: a "
        "correct implementation sees the same z, the same predicted class and the same dead "
        "neurons. (The script checks this, and that no two logits and no two positive "
        "entries of a max-pool window tie.)",
        "- The relevances are computed by `heatmapping.lrp.lrp` in 80-bit extended precision "
        "and rounded to float64, so they are accurate to about one unit in the last place; "
        "the package's own float64 run agrees to about 1e-15 (the script refuses vectors "
        "where it does worse than 1e-14).",
        "- In `batchnorm`, the bias of the first convolution's map 0 is chosen so that sample 0 "
        "has z = 0 exactly at one position whose BatchNorm output is positive: an active "
        "neuron with a zero denominator. LRP-0 absorbs its relevance; LRP-epsilon divides "
        "by +eps there (sign(0) = +1); an implementation with sign(0) = 0 gets a division by "
        "zero, one with sign(0) = -1 the opposite sign.",
        "- The zero sample has an input relevance of exactly 0 under every rule that multiplies "
        "by the input; w^2, flat and zB still spread relevance over it.",
        "",
        "## Cases",
        "",
        "| file | about | settings | vectors |",
        "| --- | --- | --- | --- |",
        *(f"| `{s['case']}.safetensors` | {s['about']} | {len(s['settings'])} | "
          f"{len(s['settings']) * (len(s['layers']) + 1)} |" for s in specs),
        "",
        "Settings (the rule of each linear-type layer and max pool; every other layer passes "
        "relevance unchanged):",
        "",
        *(f"- `{s.name}`: {s.about}" + (" (not on signed inputs)" if s.needs else "")
          for s in conformance.SETTINGS),
        "- `{setting}_winner` (only where there are max pools): the same with winner-take-all "
        "max pooling; `{setting}` itself pools proportionally.",
        "",
    ]
    for spec in specs:
        text += _case_section(spec, files[spec["case"]])
    return "\n".join(text)


# --------------------------------------------------------------------------------------------

def write(folder: Path) -> list[Path]:
    """Write every case file, SPEC.md and SHA256SUMS into ``folder`` (created if missing), each
    atomically, SHA256SUMS last; returns the paths written."""
    specs, files = [], {}
    with staged_folder(folder, last=CHECKSUMS) as tmp:
        for name, case in CASES.items():
            tensors, metadata = conformance.reproduce(case)
            safetensors.save(tmp / f"{name}.safetensors", tensors, metadata=metadata)
            specs.append(json.loads(metadata["spec"]))
            files[name] = tensors
        with atomic_write(tmp / SPEC) as f:
            f.write(render_spec(specs, files).encode("utf-8"))
        with atomic_write(tmp / CHECKSUMS) as f:
            f.write(conformance.sha256_sums(tmp).encode("utf-8"))
        written = sorted(p.name for p in tmp.iterdir())
    return [folder / name for name in written]


def outputs() -> list[str]:
    return [f"{name}.safetensors" for name in CASES] + [SPEC, CHECKSUMS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "conformance",
                        help="output folder (default: data/conformance beside this script)")
    parser.add_argument("--force", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)

    if np.finfo(np.longdouble).nmant < 63:
        parser.error(f"NumPy's long double has a {np.finfo(np.longdouble).nmant}-bit mantissa "
                     f"here; the vectors are computed in 80-bit extended precision (x86-64)")
    existing = [name for name in outputs() if (args.out / name).exists()]
    if existing and not args.force:
        parser.error(f"{args.out} already holds {', '.join(existing)}; pass --force to replace")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out: {args.out} is not a folder")
    for path in write(args.out):
        print(f"{path.name:28} {path.stat().st_size:>9,} bytes")
    report = conformance.check(args.out)
    print(f"checked {report.files} files, {report.vectors} relevance vectors: worst relative "
          f"error of this package in float64 {report.worst:.2g}")
    for problem in report.problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
