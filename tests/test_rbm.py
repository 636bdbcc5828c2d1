"""The Gaussian-Bernoulli RBM expert (Sec. 3.2): free energy, partition function and
conditionals against brute force on tiny models, the pixel-space gradient against finite
differences, training, files, and the shipped expert."""

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_matches_data_readme, data_readme_row
from heatmapping import data
from heatmapping.rbm import (HELDOUT, RECIPE, GaussianRBM, heldout_split, load_rbm, save_rbm)
from heatmapping.testing import check_gradient

DATA = Path(__file__).resolve().parents[1] / "data"
#: brute-force sums and the closed form agree to rounding
EXACT_RTOL = 1e-10
#: a 2-D quadrature on a fine grid against the closed-form partition function
QUADRATURE_RTOL = 1e-6


def tiny_rbm(seed: int, D: int = 3, H: int = 5) -> GaussianRBM:
    """An RBM with random parameters set by hand (no training), D visible and H hidden units."""
    rng = np.random.default_rng(seed)
    rbm = GaussianRBM(n_hidden=H)
    rbm.mean_ = rng.normal(0, 0.3, D)
    rbm.scale_ = rng.uniform(0.3, 1.5, D)
    rbm.W_ = rng.normal(0, 0.6, (D, H))
    rbm.a_ = rng.normal(0, 0.5, D)
    rbm.b_ = rng.normal(0, 0.5, H)
    return rbm


def energy_slowly(rbm, x, h):
    """E(x, h) = 1/2 sum_i (v_i - a_i)^2 - sum_j b_j h_j - sum_ij v_i w_ij h_j, one sample."""
    v = [(x[i] - rbm.mean_[i]) / rbm.scale_[i] for i in range(len(x))]
    e = 0.5 * sum((v[i] - rbm.a_[i]) ** 2 for i in range(len(v)))
    e -= sum(rbm.b_[j] * h[j] for j in range(len(h)))
    e -= sum(v[i] * rbm.W_[i, j] * h[j] for i in range(len(v)) for j in range(len(h)))
    return e


def hidden_states(H):
    return [np.array(h, dtype=float) for h in itertools.product((0, 1), repeat=H)]


# --------------------------------------------------------------------------------------------
# the model against brute force

@given(seed=st.integers(0, 2**31), H=st.integers(1, 6))
@settings(max_examples=25)
def test_free_energy_is_minus_log_sum_over_all_hidden_states(seed, H):
    rbm = tiny_rbm(seed, D=3, H=H)
    x = np.random.default_rng(seed + 1).normal(0, 1, (2, 3))
    for n in range(2):
        brute = -np.logaddexp.reduce([-energy_slowly(rbm, x[n], h) for h in hidden_states(H)])
        assert rbm.free_energy(x[n:n + 1])[0] == pytest.approx(brute, rel=EXACT_RTOL), \
            "F(x) differs from -log sum_h exp(-E(x, h))"


def test_energy_method_matches_the_energy_written_out():
    rbm = tiny_rbm(0, D=3, H=4)
    x = np.random.default_rng(1).normal(0, 1, (16, 3))
    hs = np.array(hidden_states(4))
    expected = [energy_slowly(rbm, x[i], hs[i]) for i in range(16)]
    np.testing.assert_allclose(rbm.energy(x, hs), expected, rtol=EXACT_RTOL)


def test_hidden_conditional_is_the_brute_force_marginal():
    """p(h_j = 1 | x) = sum_{h: h_j = 1} exp(-E(x, h)) / sum_h exp(-E(x, h))."""
    rbm = tiny_rbm(2, D=3, H=4)
    x = np.random.default_rng(3).normal(0, 1, (1, 3))
    hs = hidden_states(4)
    weights = np.exp([-energy_slowly(rbm, x[0], h) for h in hs])
    brute = sum(w * h for w, h in zip(weights, hs)) / weights.sum()
    np.testing.assert_allclose(rbm.hidden_probability(x)[0], brute, rtol=EXACT_RTOL)


def test_visible_mean_is_the_mean_of_the_gaussian_conditional():
    """x | h ~ N(mean_ + scale_ (a + W h), diag(scale_^2)): the energy is quadratic in x with
    that minimiser, so the x-gradient of E(x, h) vanishes there."""
    rbm = tiny_rbm(4, D=3, H=4)
    h = np.array(hidden_states(4))
    m = rbm.visible_mean(h)
    step = 1e-6
    for i in range(3):
        e = np.zeros(3)
        e[i] = step
        slope = (rbm.energy(m + e, h) - rbm.energy(m - e, h)) / (2 * step)
        np.testing.assert_allclose(slope, 0, atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_partition_equals_the_brute_force_sum_with_gaussian_integrals(seed):
    """Z = sum_h integral exp(-E(x, h)) dx; for a fixed h the integrand is a Gaussian in x,
    integral = exp(b.h + 1/2 |a + W h|^2 - 1/2 |a|^2) (2 pi)^(D/2) prod_i scale_i."""
    rbm = tiny_rbm(seed, D=3, H=5)
    D = 3
    Z = 0.0
    for h in hidden_states(5):
        m = rbm.a_ + rbm.W_ @ h
        Z += (np.exp(rbm.b_ @ h + 0.5 * m @ m - 0.5 * rbm.a_ @ rbm.a_)
              * (2 * np.pi) ** (D / 2) * np.prod(rbm.scale_))
    assert rbm.exact_log_partition() == pytest.approx(np.log(Z), rel=EXACT_RTOL)


def test_density_integrates_to_one_over_a_two_pixel_grid():
    """exp(-F(x) - log Z) integrated numerically over x in R^2 is 1: checks the closed form
    independently of the derivation above."""
    rbm = tiny_rbm(5, D=2, H=3)
    grid = np.linspace(-12, 12, 1201)
    X1, X2 = np.meshgrid(grid, grid, indexing="ij")
    p = np.exp(-rbm.free_energy(np.stack([X1.ravel(), X2.ravel()], 1)) - rbm.exact_log_partition())
    total = np.trapz(np.trapz(p.reshape(X1.shape), grid, axis=1), grid) if hasattr(np, "trapz") \
        else np.trapezoid(np.trapezoid(p.reshape(X1.shape), grid, axis=1), grid)
    assert total == pytest.approx(1.0, rel=QUADRATURE_RTOL)


def test_exact_log_partition_refuses_many_hidden_units():
    rbm = tiny_rbm(0, D=2, H=21)
    with pytest.raises(ValueError, match="2\\^H terms; H = 21"):
        rbm.exact_log_partition()


@given(seed=st.integers(0, 2**31))
@settings(max_examples=20)
def test_log_density_gradient_matches_finite_differences(seed):
    rbm = tiny_rbm(seed, D=4, H=6)
    x = np.random.default_rng(seed).normal(0, 1, (3, 4))
    check_gradient(rbm.log_density, lambda x, u: u[:, None] * rbm.log_density_gradient(x), x,
                   rng=np.random.default_rng(seed), what="GaussianRBM.log_density_gradient")


def test_log_density_is_the_papers_formula_in_pixel_space():
    """log p(x) + log Z = sum_j softplus(w'_j^T x + b'_j) - 1/2 (x - a')^T Sigma^-1 (x - a')
    with Sigma = diag(scale^2), w'_j = w_j / scale, a' = mean + scale a, b'_j = b_j - w'_j^T mean."""
    rbm = tiny_rbm(6, D=3, H=4)
    x = np.random.default_rng(7).normal(0, 1, (5, 3))
    Wp = rbm.W_ / rbm.scale_[:, None]
    ap = rbm.mean_ + rbm.scale_ * rbm.a_
    bp = rbm.b_ - rbm.mean_ @ Wp
    expected = (np.logaddexp(0, x @ Wp + bp).sum(1)
                - 0.5 * (((x - ap) / rbm.scale_) ** 2).sum(1))
    np.testing.assert_allclose(rbm.log_density(x), expected, rtol=EXACT_RTOL)


# --------------------------------------------------------------------------------------------
# training

def two_blob_data(n, rng):
    """4-pixel data: two prototypes plus a little noise."""
    protos = np.array([[1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]])
    return protos[rng.integers(0, 2, n)] + 0.2 * rng.standard_normal((n, 4))


def exact_mean_log_likelihood(rbm, x):
    return float(np.mean(rbm.log_density(x)) - rbm.exact_log_partition())


@pytest.mark.parametrize("k", [1, 3], ids=["CD-1", "CD-3"])
def test_cd_training_raises_the_exact_likelihood_of_held_out_data(k):
    rng = np.random.default_rng(0)
    x, x_val = two_blob_data(400, rng), two_blob_data(200, rng)
    options = dict(n_hidden=4, learning_rate=1e-2, batch_size=20, cd_steps=k)
    short = GaussianRBM(n_epochs=1, **options).fit(x)
    long = GaussianRBM(n_epochs=30, **options).fit(x, X_val=x_val)
    before, after = exact_mean_log_likelihood(short, x_val), exact_mean_log_likelihood(long, x_val)
    assert after > before + 0.5, f"held-out log-likelihood {before:.3f} -> {after:.3f}: no learning"
    errors = [r["val_error"] for r in long.history_]
    assert errors[-1] < errors[0], f"held-out reconstruction error rose: {errors[0]} -> {errors[-1]}"


def test_fit_follows_the_estimator_conventions():
    x = two_blob_data(100, np.random.default_rng(0))
    rbm = GaussianRBM(n_hidden=3, n_epochs=2, random_state=5)
    assert rbm.fit(x) is rbm
    assert rbm.get_params()["n_hidden"] == 3 and rbm.random_state == 5
    assert rbm.W_.shape == (4, 3) and rbm.a_.shape == (4,) and rbm.b_.shape == (3,)
    assert len(rbm.history_) == 2
    again = GaussianRBM(n_hidden=3, n_epochs=2, random_state=5).fit(x)
    np.testing.assert_array_equal(rbm.W_, again.W_, err_msg="same random_state, other model")
    other = GaussianRBM(n_hidden=3, n_epochs=2, random_state=6).fit(x)
    assert not np.array_equal(rbm.W_, other.W_), "random_state is ignored"


def cd_training_written_out(x, *, n_hidden, learning_rate, n_epochs, batch_size, cd_steps,
                            momentum, initial_momentum, momentum_switch, weight_decay,
                            min_scale, random_state, dtype):
    """GaussianRBM.fit the slow way, as its docstring and Hinton's guide write CD-k: every
    expectation a fresh product, sigmoid as 1 / (1 + exp(-t)), the same random draws in the
    same order.  Returns W, a, b and the per-epoch training reconstruction errors."""
    rng = np.random.default_rng(random_state)
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), min_scale)
    D = x.shape[1]
    W = (0.01 * rng.standard_normal((D, n_hidden), dtype=dtype)).astype(np.float64)
    a, b = np.zeros(D), np.zeros(n_hidden)
    velocity = [np.zeros_like(W), np.zeros_like(a), np.zeros_like(b)]
    sigmoid = lambda t: 1 / (1 + np.exp(-t))
    v_data, errors = (x - mean) / scale, []
    for epoch in range(1, n_epochs + 1):
        mu = momentum if epoch > momentum_switch else initial_momentum
        order, squared_error = rng.permutation(len(x)), 0.0
        for i in range(0, len(x), batch_size):
            v0 = v_data[order[i:i + batch_size]]
            p0 = sigmoid(v0 @ W + b)
            squared_error += float((((a + p0 @ W.T - v0) * scale) ** 2).sum())
            v, p = v0, p0
            for _ in range(cd_steps):
                h = (rng.random(p.shape, dtype=dtype) < p).astype(float)
                v = a + h @ W.T + rng.standard_normal(v0.shape, dtype=dtype)
                p = sigmoid(v @ W + b)
            ascent = [(v0.T @ p0 - v.T @ p) / len(v0) - weight_decay * W,
                      (v0 - v).mean(axis=0), (p0 - p).mean(axis=0)]
            for param, vel, g in zip((W, a, b), velocity, ascent):
                vel *= mu
                vel += learning_rate * g
                param += vel
        errors.append(squared_error / v_data.size)
    return W, a, b, errors


@pytest.mark.parametrize("k", [1, 3], ids=["CD-1", "CD-3"])
def test_fit_is_cd_with_momentum_written_out(k):
    """A short last batch, a momentum switch and weight decay: fit against the slow oracle."""
    x = two_blob_data(23, np.random.default_rng(1))
    options = dict(n_hidden=5, learning_rate=0.05, n_epochs=3, batch_size=10, cd_steps=k,
                   momentum=0.9, initial_momentum=0.5, momentum_switch=1, weight_decay=0.01,
                   min_scale=0.1, random_state=3)
    rbm = GaussianRBM(**options, dtype="float64").fit(x)
    W, a, b, errors = cd_training_written_out(x, **options, dtype=np.float64)
    for name, mine, slow in (("W", rbm.W_, W), ("a", rbm.a_, a), ("b", rbm.b_, b)):
        np.testing.assert_allclose(mine, slow, rtol=1e-10, atol=1e-13,
                                   err_msg=f"{name} differs from CD-{k} written out")
    np.testing.assert_allclose([r["train_error"] for r in rbm.history_], errors, rtol=1e-10)


def test_float32_training_stays_float32_whatever_the_hyper_parameters_type():
    """NumPy scalars as hyper-parameters (np.float64 under NumPy 2's promotion rules) must not
    turn the float32 updates into float64 ones: the same model, bit for bit, as Python floats."""
    x = two_blob_data(60, np.random.default_rng(0))
    options = dict(n_hidden=6, n_epochs=3, batch_size=20, momentum_switch=1, dtype="float32")
    floats = dict(learning_rate=1e-2, weight_decay=1e-3, momentum=0.9, initial_momentum=0.5)
    plain = GaussianRBM(**options, **floats).fit(x)
    numpy = GaussianRBM(**options, **{k: np.float64(v) for k, v in floats.items()}).fit(x)
    for name in ("mean_", "scale_", "W_", "a_", "b_"):
        assert getattr(numpy, name).dtype == np.float32, f"{name} is not float32"
        np.testing.assert_array_equal(getattr(numpy, name), getattr(plain, name),
                                      err_msg=f"{name}: NumPy scalars trained another model")


def test_standardisation_floors_constant_pixels():
    x = two_blob_data(50, np.random.default_rng(0))
    x[:, 0] = -1.0                                   # a border pixel that never changes
    rbm = GaussianRBM(n_hidden=2, n_epochs=1, min_scale=0.1).fit(x)
    assert rbm.scale_[0] == 0.1 and rbm.mean_[0] == -1.0
    assert np.all(np.isfinite(rbm.log_density_gradient(x)))


@pytest.mark.parametrize("bad, error, match", [
    (dict(n_hidden=0), ValueError, "n_hidden: expected an integer >= 1, got 0"),
    (dict(learning_rate=-1.0), ValueError, "learning_rate: expected a number > 0, got -1.0"),
    (dict(weight_decay=-1e-3), ValueError, "weight_decay: expected a number >= 0, got -0.001"),
    (dict(cd_steps=1.5), TypeError, "cd_steps: expected an integer, got 1.5"),
    (dict(momentum=1.0), ValueError, r"momentum: expected a number in \[0, 1\), got 1.0"),
    (dict(momentum_switch=-1), ValueError, "momentum_switch: expected an integer >= 0, got -1"),
], ids=["no-hidden", "negative-lr", "negative-decay", "fractional-k", "momentum-1",
        "negative-switch"])
def test_bad_hyper_parameters_are_refused_when_the_model_is_made(bad, error, match):
    with pytest.raises(error, match=match):
        GaussianRBM(**bad)


def test_unfitted_model_and_wrong_shapes_are_refused():
    with pytest.raises(RuntimeError, match="not fitted"):
        GaussianRBM().free_energy(np.zeros((1, 4)))
    rbm = tiny_rbm(0, D=3, H=2)
    with pytest.raises(ValueError, match=r"expected pixels of shape \(N, 3\), got shape \(2, 4\)"):
        rbm.log_density_gradient(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        rbm.free_energy(np.full((1, 3), np.nan))


def test_heldout_split_is_a_seeded_partition():
    train, held = heldout_split(5000)
    assert len(held) == HELDOUT["n_heldout"] and len(train) == 5000 - HELDOUT["n_heldout"]
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(5000))
    np.testing.assert_array_equal(held, heldout_split(5000)[1])
    with pytest.raises(ValueError, match="0 < n_heldout < n"):
        heldout_split(10, n_heldout=10)


# --------------------------------------------------------------------------------------------
# files

def test_save_and_load_round_trip_gives_the_same_model_and_bytes(tmp_path):
    rbm = GaussianRBM(n_hidden=3, n_epochs=2).fit(two_blob_data(60, np.random.default_rng(0)))
    path = save_rbm(rbm, tmp_path / "r.npz")
    back = load_rbm(path)
    x = two_blob_data(5, np.random.default_rng(1))
    np.testing.assert_array_equal(back.log_density_gradient(x), rbm.log_density_gradient(x))
    assert back.get_params() == {**rbm.get_params(), "verbose": False}
    assert back.history_ == rbm.history_
    again = save_rbm(back, tmp_path / "r2.npz")
    assert again.read_bytes() == path.read_bytes(), "saving the same model gave other bytes"


def test_corrupt_or_foreign_files_are_refused(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable RBM file"):
        load_rbm(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", W=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved RBM"):
        load_rbm(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="not a saved RBM|holds a"):
        load_rbm(DATA / "mlp.npz")
    rbm = tiny_rbm(0)
    path = save_rbm(rbm, tmp_path / "r.npz")
    with np.load(path) as f:
        arrays = dict(f)
    arrays["b_"] = np.zeros(7)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="do not fit together"):
        load_rbm(tmp_path / "bad.npz")


# --------------------------------------------------------------------------------------------
# the shipped expert

def test_shipped_rbm_matches_the_checksum_in_data_readme():
    assert_matches_data_readme("rbm.npz")


def test_shipped_rbm_has_the_recipe_and_its_recorded_held_out_error():
    rbm = load_rbm(DATA / "rbm.npz")
    assert rbm.W_.shape == (784, RECIPE["n_hidden"]) == (784, 900)
    assert {k: rbm.get_params()[k] for k in RECIPE} == RECIPE
    images, _ = data.load_mnist5k()
    held = data.to_input(images[heldout_split(len(images))[1]]).reshape(-1, 784)
    error = rbm.reconstruction_error(held)
    # training measured it with the same float32 arrays, computing in float64 as here
    assert error == pytest.approx(rbm.history_[-1]["val_error"], rel=1e-9)
    cells = [cell.strip() for cell in data_readme_row("rbm.npz").split("|")]
    assert error == pytest.approx(float(cells[4]), abs=5e-6), "data/README.md reports another error"
    assert int(cells[5].replace(",", "")) == (DATA / "rbm.npz").stat().st_size


def test_progress_is_one_line_per_epoch_with_the_held_out_error(capsys):
    rng = np.random.default_rng(0)
    rbm = GaussianRBM(n_hidden=3, n_epochs=3, batch_size=10, verbose=True).fit(
        two_blob_data(20, rng), X_val=two_blob_data(10, rng))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    for epoch, (line, record) in enumerate(zip(lines, rbm.history_), start=1):
        assert line.startswith(f"RBM epoch {epoch:3d}/3"), line
        assert f"{record['val_error']:.4f}" in line, (line, record)
