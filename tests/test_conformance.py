"""The LRP conformance vectors of data/conformance: this package reproduces every one of them,
the files match their checksums and their spec, the script regenerates them byte for byte,
a changed value makes the check fail, and the vectors obey the conservation the rules promise.

The agreement asked for, per tensor and per sample n: max|a_n - b_n| <= 1e-12 max|b_n|, and
exact zeros where the expected sample is all zero (``conformance.relative_error``).
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from heatmapping import conformance, safetensors
from heatmapping.canonize import merge_batchnorm
from heatmapping.conformance import CASES, CHECKSUMS, FOLDER, RTOL
from heatmapping.layers import BatchNorm, Conv2d, Linear, MaxPool2d, ReLU
from heatmapping.lrp import resolve_rules
from heatmapping.rules import PRESETS, stabilize
from conftest import PROJECT
from oracles import dense_matrix, lrp_oracle

SCRIPT = PROJECT / "data" / "make_conformance.py"
FILES = sorted(FOLDER.glob("*.safetensors"))
#: sums of relevance are compared to this fraction of the sum of magnitudes they add up
SUM_RTOL = 1e-12


def read(path):
    """(tensors, spec) of a case file."""
    tensors, metadata = safetensors.load(path, with_metadata=True)
    return tensors, json.loads(metadata["spec"])


def relevance_names(spec) -> set:
    return {f"relevance/{name}/{l}" for name in spec["settings"] for l in range(len(spec["layers"]) + 1)}


@pytest.fixture(scope="module")
def shipped():
    """{case: (tensors, spec)} of the shipped files."""
    return {path.stem: read(path) for path in FILES}


# --------------------------------------------------------------------------------------------
# the package reproduces the vectors

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_package_reproduces_every_vector_of_the_file_to_1e_12(path):
    report = conformance.check_file(path)
    assert report.ok, "\n".join(report.problems)
    _, spec = read(path)
    assert report.vectors == len(relevance_names(spec)), "not every relevance vector was compared"
    assert report.worst <= RTOL


def test_the_check_of_the_whole_folder_passes_with_every_case_and_checksum():
    report = conformance.check(FOLDER)
    assert report.ok, "\n".join(report.problems)
    assert report.files == len(CASES) == len(FILES)
    assert report.vectors == sum(len(relevance_names(read(p)[1])) for p in FILES)


def test_relative_error_is_taken_per_sample_and_zero_samples_must_be_exactly_zero():
    expected = np.array([[1000.0, -2000.0], [1e-9, 0.0], [0.0, 0.0]])
    near = expected * (1 + 1e-13)
    assert conformance.relative_error(near, expected) <= RTOL
    # 1e-11 off in the small sample only: invisible against the large sample, seen per sample
    small_off = expected.copy()
    small_off[1, 0] *= 1 + 1e-11
    assert conformance.relative_error(small_off, expected) > RTOL
    tiny_in_zero = expected.copy()
    tiny_in_zero[2, 1] = 1e-300
    assert conformance.relative_error(tiny_in_zero, expected) == np.inf
    assert conformance.relative_error(expected[:, :1], expected) == np.inf, "shapes must agree"


# --------------------------------------------------------------------------------------------
# checksums, spec, determinism

def test_every_file_matches_its_recorded_sha256_and_every_file_is_listed():
    listed = {}
    for line in (FOLDER / CHECKSUMS).read_text().splitlines():
        digest, name = line.split("  ")
        listed[name] = digest
    present = sorted(p.name for p in FOLDER.iterdir() if p.name != CHECKSUMS)
    assert sorted(listed) == present, f"{CHECKSUMS} lists {sorted(listed)}, the folder has {present}"
    for name, digest in listed.items():
        actual = hashlib.sha256((FOLDER / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name}: SHA-256 {actual} differs from {CHECKSUMS}"


def test_each_file_holds_exactly_the_tensors_its_spec_names(shipped):
    assert sorted(shipped) == sorted(CASES), "one file per case"
    for case, (tensors, spec) in shipped.items():
        L = len(spec["layers"])
        parameters = {name for layer in spec["layers"] for name in layer["tensors"].values()}
        expected = (parameters | relevance_names(spec) | {"input", "target/predicted", "target/given"}
                    | {f"activation/{l}" for l in range(1, L + 1)})
        assert set(tensors) == expected, f"{case}: {sorted(set(tensors) ^ expected)[:5]}"
        assert all(t.dtype == np.float64 for k, t in tensors.items() if not k.startswith("target/"))
        assert spec["conventions"] == conformance.CONVENTIONS


def test_spec_md_lists_exactly_the_stored_cases_and_settings(shipped):
    text = (FOLDER / "SPEC.md").read_text()
    table = dict(re.findall(r"^\| `(\w+)\.safetensors` \| .* \| (\d+) \| \d+ \|$", text, re.M))
    assert {case: int(n) for case, n in table.items()} == \
        {case: len(spec["settings"]) for case, (_, spec) in shipped.items()}
    sections = re.split(r"^### `(\w+)\.safetensors`$", text, flags=re.M)[1:]
    listed = {case: re.findall(r"^\| `(\w+)`(?: \(preset `\w+`\))? \| (?:predicted|given) \|", body, re.M)
              for case, body in zip(sections[::2], sections[1::2])}
    assert listed == {case: list(spec["settings"]) for case, (_, spec) in shipped.items()}
    for case, (_, spec) in shipped.items():
        assert spec["settings"].keys() == {s.name for s in conformance.settings_of(CASES[case])}


@pytest.mark.skipif(np.finfo(np.longdouble).nmant != 63,
                    reason="the vectors are computed in x87 80-bit long double, which this "
                           "platform's NumPy does not have: the bytes may differ in the last bit")
def test_the_script_regenerates_byte_identical_files(tmp_path):
    out = tmp_path / "conformance"
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in FOLDER.iterdir())
    for path in FOLDER.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), f"{path.name} differs"


def test_the_definitions_give_the_stored_networks_inputs_and_activations_exactly(shipped):
    for case, (tensors, _) in shipped.items():
        mine, _ = conformance.reproduce(CASES[case])
        for name, value in mine.items():
            if not name.startswith("relevance/"):
                np.testing.assert_array_equal(value, tensors[name], err_msg=f"{case}: {name}")
            else:
                assert conformance.relative_error(value, tensors[name]) <= 1e-15, f"{case}: {name}"


def test_the_script_explains_itself_and_refuses_to_overwrite_without_force(tmp_path):
    help_ = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert help_.returncode == 0 and "--force" in help_.stdout and "--out" in help_.stdout
    out = tmp_path / "conformance"
    shutil.copytree(FOLDER, out)
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True,
                         text=True)
    assert run.returncode == 2 and "--force" in run.stderr
    assert all((out / p.name).read_bytes() == p.read_bytes() for p in FOLDER.iterdir())


# --------------------------------------------------------------------------------------------
# the check can fail

def perturbed_copy(tmp_path, case: str, name: str, index, factor: float):
    """A copy of the folder in which one value of one tensor is multiplied by ``factor``."""
    out = tmp_path / "conformance"
    shutil.copytree(FOLDER, out)
    tensors, metadata = safetensors.load(out / f"{case}.safetensors", with_metadata=True)
    tensors[name][index] *= factor
    safetensors.save(out / f"{case}.safetensors", tensors, metadata=metadata)
    return out


@pytest.mark.parametrize("case, name, index", [
    ("conv_max", "relevance/alpha2beta1_winner/0", (0, 0, 3, 4)),
    ("dense", "relevance/preset_deep_taylor/2", (2, 1)),
    ("batchnorm", "relevance/epsilon/1", (0, 0, 0, 0)),     # the neuron with z = 0
], ids=["conv_max input", "dense hidden", "batchnorm z=0 neuron"])
def test_one_value_changed_by_1e_11_makes_the_check_fail_and_names_it(tmp_path, case, name, index):
    assert safetensors.load(FOLDER / f"{case}.safetensors")[name][index] != 0, "perturb a non-zero value"
    out = perturbed_copy(tmp_path, case, name, index, 1 + 1e-11)
    report = conformance.check(out, checksums=False)
    assert [p for p in report.problems if p.startswith(f"{case}.safetensors: {name}:")], report.problems
    assert len(report.problems) == 1, "only the changed vector fails"
    with_sums = conformance.check(out)
    assert any(p.startswith(f"{case}.safetensors: SHA-256") for p in with_sums.problems)


def test_a_change_of_1e_14_is_within_the_tolerance_and_only_the_checksum_notices(tmp_path):
    out = perturbed_copy(tmp_path, "dense", "relevance/lrp0/0", (0, 3), 1 + 1e-14)
    assert conformance.check(out, checksums=False).ok
    assert not conformance.check(out).ok


def test_a_changed_weight_or_a_dropped_vector_fails_the_check(tmp_path):
    out = perturbed_copy(tmp_path, "conv_sum", "model.3.weight", (1, 0, 1, 1), 1.5)
    report = conformance.check(out, checksums=False)
    assert any("activation/" in p for p in report.problems)
    assert any("relevance/" in p for p in report.problems)
    tensors, metadata = safetensors.load(out / "dense.safetensors", with_metadata=True)
    del tensors["relevance/zbox/0"]
    safetensors.save(out / "dense.safetensors", tensors, metadata=metadata)
    assert "dense.safetensors: relevance/zbox/0 is missing" in conformance.check(out).problems


# --------------------------------------------------------------------------------------------
# the vectors are LRP as the paper writes it

#: the oracle's name and parameters of each rule of a file's spec
ORACLE = {"Epsilon": "epsilon", "ZPlus": "zplus", "AlphaBeta": "alphabeta", "ZBox": "zbox",
          "WSquare": "wsquare", "Flat": "flat", "Gamma": "gamma"}


def oracle_step(layer, entry, a, R):
    """R_in (N, ...) of one layer by tests/oracles.py: a linear-type layer as its dense matrix
    and the rule's per-neuron formula; a max pool by loops over its windows."""
    R_in = np.zeros(a.shape)
    if isinstance(layer, MaxPool2d):
        (kh, kw), (sh, sw) = layer.window, layer.stride
        for n, c, y, x in np.ndindex(R.shape):
            window = a[n, c, y * sh:y * sh + kh, x * sw:x * sw + kw]
            share = np.zeros(window.shape)
            if entry["rule"] == "max_pool_winner":     # all to the first maximum, row-major
                share[np.unravel_index(np.argmax(window), window.shape)] = 1.0
            elif np.maximum(window, 0).sum() > 0:      # proportional to x+
                share = np.maximum(window, 0) / np.maximum(window, 0).sum()
            R_in[n, c, y * sh:y * sh + kh, x * sw:x * sw + kw] += share * R[n, c, y, x]
        return R_in
    if not layer.linear:                                # ReLU, BatchNorm, Flatten
        return R.reshape(a.shape)
    params = {k: v for k, v in entry.items() if k != "rule"}
    M, b = dense_matrix(layer, a.shape[1:])
    if entry["rule"] == "Flat" and isinstance(layer, (Linear, Conv2d)):
        M, _ = dense_matrix(layer.replace(W=np.ones_like(layer.W)), a.shape[1:])  # connectivity
    if entry["rule"] == "ZBox":
        params = {"low": np.full(M.shape[0], params["low"]), "high": np.full(M.shape[0], params["high"])}
    for n in range(len(a)):
        R_in[n] = lrp_oracle(ORACLE[entry["rule"]], a[n].reshape(-1), M, b, R[n].reshape(-1),
                             **params).reshape(a.shape[1:])
    return R_in


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_an_oracle_written_neuron_by_neuron_gives_every_vector(path):
    tensors, spec = read(path)
    net = conformance.build_network(spec, tensors)
    A = net.activations(tensors["input"])
    for name, setting in spec["settings"].items():
        c = tensors[f"target/{setting['target']}"]
        R = np.zeros(A[-1].shape)
        R[np.arange(len(c)), c] = A[-1][np.arange(len(c)), c]          # R_L = f_c(x) e_c
        for l in reversed(range(len(A))):
            err = conformance.relative_error(R, tensors[f"relevance/{name}/{l}"])
            assert err <= RTOL, f"{name}: R[{l}] is {err:.3g} off the oracle"
            if l:
                R = oracle_step(net.layers[l - 1], setting["propagation"][l - 1], A[l - 1], R)


# --------------------------------------------------------------------------------------------
# what the vectors contain

def denominators(layer, rule, a):
    """For each part of ``rule`` on ``layer`` with input ``a``: (coefficient, contributions
    sum_j x_j rho(w_jk) without the bias, the stabilized denominator of Eq. 4)."""
    out = []
    for part in rule.parts(a):
        contributions = sum(layer.map_weights(t.weight, None).forward(t.input) for t in part.terms)
        bias = 0.0
        if part.bias is not None:
            bias = layer.map_weights(part.terms[0].weight, part.bias).forward(np.zeros_like(a[:1]))
        out.append((part.coefficient, contributions, stabilize(contributions + bias, rule.eps)))
    return out


def conserves(entry: dict, layer) -> bool:
    """Whether a rule leaves the bias and any eps out of its denominators on ``layer``."""
    if entry.get("eps", 0.0) != 0.0:
        return False
    if entry["rule"] in ("Epsilon", "Gamma"):
        return "b" not in layer.param_names          # a pool has no bias
    return entry.get("bias", "ignore") == "ignore"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_relevance_is_conserved_where_the_rule_conserves_and_the_bias_absorbs_the_rest(path):
    """At a layer, sum R_in = sum_k sum_p c_p R_k (contributions_pk / z_pk): each part passes
    its share of R_k that the inputs (not the bias, not eps) make of its denominator, and
    nothing where z_pk = 0.  Where the rule ignores the bias and has no eps, that share is 1:
    relevance is conserved but for neurons with a vanishing denominator.  Layers without a
    rule (ReLU, Flatten, BatchNorm, max pools) conserve exactly."""
    tensors, spec = read(path)
    net = conformance.build_network(spec, tensors)
    A = net.activations(tensors["input"])
    conserved = absorbed = 0
    for name, setting in spec["settings"].items():
        R = [tensors[f"relevance/{name}/{l}"] for l in range(len(A))]
        total = [r.reshape(len(r), -1).sum(axis=1) for r in R]
        scale = [np.abs(r).reshape(len(r), -1).sum(axis=1) for r in R]
        for i, (layer, entry) in enumerate(zip(net.layers, setting["propagation"])):
            tol = SUM_RTOL * (scale[i] + scale[i + 1]) + 1e-300
            if not layer.linear:
                assert np.all(np.abs(total[i] - total[i + 1]) <= tol), f"{name}: layer {i} leaks"
                continue
            rule = conformance.rule_from_json(entry)
            passed = 0.0
            for c, contributions, z in denominators(layer, rule, A[i]):
                share = R[i + 1] * contributions / z                # 0 where z is infinite
                passed = passed + c * share.reshape(len(share), -1).sum(axis=1)
            assert np.all(np.abs(total[i] - passed) <= tol), f"{name}: layer {i} ({entry})"
            lost = np.abs(total[i + 1] - total[i]) > tol
            if conserves(entry, layer):
                conserved += np.sum(~lost)
            else:
                absorbed += np.sum(lost)
    assert conserved > 0, "no layer of these vectors shows conservation"
    assert absorbed > 0 or not any(layer.linear and "b" in layer.param_names for layer in net.layers)


def test_the_vectors_cover_every_rule_preset_max_pool_rule_and_target(shipped):
    rules, presets, pools, targets, types = set(), set(), set(), set(), set()
    for tensors, spec in shipped.values():
        types |= {layer["type"] for layer in spec["layers"]}
        for setting in spec["settings"].values():
            presets.add(setting["preset"])
            targets.add(setting["target"])
            pools.add(setting["max_pool"])
            for entry in setting["propagation"]:
                rules.add(json.dumps(entry, sort_keys=True))
    names = {json.loads(r)["rule"] for r in rules}
    assert names >= {"Epsilon", "AlphaBeta", "ZPlus", "ZBox", "WSquare", "Flat", "Gamma",
                     "max_pool_proportional", "max_pool_winner", "pass", "reshape"}
    epsilons = {json.loads(r)["eps"] for r in rules if json.loads(r)["rule"] == "Epsilon"}
    assert 0.0 in epsilons and any(e > 0 for e in epsilons), "LRP-0 and LRP-epsilon"
    alpha_beta = {(e["alpha"], e["beta"], e["bias"]) for e in map(json.loads, rules)
                  if e["rule"] == "AlphaBeta"}
    assert {(2.0, 1.0, "ignore"), (1.0, 0.0, "ignore"), (2.0, 1.0, "split")} <= alpha_beta
    assert presets - {None} == set(PRESETS) and targets == {"predicted", "given"}
    assert {"proportional", "winner"} <= pools
    assert {"Linear", "Conv2d", "SumPool2d", "AvgPool2d", "MaxPool2d", "BatchNorm", "ReLU",
            "Flatten"} <= types
    assert shipped["signed"][0]["input"].min() < 0, "one case has signed first-layer inputs"


def test_the_merged_case_is_the_batchnorm_case_after_merge_batchnorm(shipped):
    raw = conformance.build_network(shipped["batchnorm"][1], shipped["batchnorm"][0])
    merged = conformance.build_network(shipped["batchnorm_merged"][1], shipped["batchnorm_merged"][0])
    assert any(isinstance(layer, BatchNorm) for layer in raw.layers)
    assert not any(isinstance(layer, BatchNorm) for layer in merged.layers)
    for mine, theirs in zip(merge_batchnorm(raw).layers, merged.layers):
        for k, v in mine.params().items():
            np.testing.assert_array_equal(v, getattr(theirs, k))     # dyadic: exact
    np.testing.assert_array_equal(shipped["batchnorm"][0]["input"], shipped["batchnorm_merged"][0]["input"])
    # the merged network computes the same logits, but LRP sees BatchNorm differently
    L_raw, L_merged = len(raw.layers), len(merged.layers)
    np.testing.assert_array_equal(shipped["batchnorm"][0][f"activation/{L_raw}"],
                                  shipped["batchnorm_merged"][0][f"activation/{L_merged}"])
    assert not np.allclose(shipped["batchnorm"][0]["relevance/lrp0/0"],
                           shipped["batchnorm_merged"][0]["relevance/lrp0/0"])


def test_the_edge_cases_that_spec_md_promises_are_in_the_files(shipped):
    for case, (tensors, spec) in shipped.items():
        net = conformance.build_network(spec, tensors)
        x = tensors["input"]
        assert not x[1].any(), f"{case}: sample 1 is the zero input"
        # the zero sample: R[0] = x * c = 0 for rules that multiply by the input
        for name in ("lrp0", "gamma", "alpha2beta1"):
            assert not tensors[f"relevance/{name}/0"][1].any(), f"{case}: {name}"
        relus = [i for i, layer in enumerate(net.layers) if isinstance(layer, ReLU)]
        assert any(0 < (tensors[f"activation/{i + 1}"][2] == 0).mean() < 1 for i in relus), \
            f"{case}: the sparse sample has a layer with some neurons dead"
        # no ties: the predicted class and max pooling are the same in every implementation
        logits = np.sort(tensors[f"activation/{len(net.layers)}"], axis=1)
        assert np.all(logits[:, -1] > logits[:, -2])
        # every denominator is 0 or at least 1e-3 in magnitude, as SPEC.md says
        A = net.activations(x)
        for name, setting in spec["settings"].items():
            for i, entry in enumerate(setting["propagation"]):
                if net.layers[i].linear:
                    for _, _, z in denominators(net.layers[i], conformance.rule_from_json(entry), A[i]):
                        assert np.all(np.isinf(z) | (np.abs(z) >= 1e-3)), f"{case}: {name} layer {i}"
    top = [t[f"activation/{len(s['layers'])}"][np.arange(3), t[f"target/{kind}"]]
           for t, s in shipped.values() for kind in ("predicted", "given")]
    assert min(v.min() for v in top) < 0, "some explained logit is negative"
    # batchnorm: an active neuron (BatchNorm output > 0) whose conv output z is exactly 0
    tensors, _ = shipped["batchnorm"]
    zero = (tensors["activation/1"][0] == 0) & (tensors["activation/2"][0] > 0)
    assert zero.sum() == 1
    for name in ("lrp0", "epsilon", "preset_epsilon"):
        assert tensors[f"relevance/{name}/1"][0][zero] != 0, f"{name}: the neuron carries relevance"


def test_the_files_read_the_same_with_the_reference_safetensors_package():
    reference = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open
    for path in FILES:
        mine, metadata = safetensors.load(path, with_metadata=True)
        theirs = reference.load_file(str(path))
        assert sorted(theirs) == sorted(mine)
        for name, value in mine.items():
            np.testing.assert_array_equal(theirs[name], value, err_msg=f"{path.name}: {name}")
        with safe_open(str(path), framework="numpy") as f:
            assert f.metadata() == metadata


def test_presets_resolve_to_the_rules_the_files_record(shipped):
    for case, (tensors, spec) in shipped.items():
        net = conformance.build_network(spec, tensors)
        for name, setting in spec["settings"].items():
            if setting["preset"]:
                recorded = {i: e for i, e in enumerate(setting["propagation"]) if net.layers[i].linear}
                now = {i: conformance.rule_to_json(r)
                       for i, r in resolve_rules(net, setting["preset"]).items()}
                assert now == recorded, f"{case}: {name}"
