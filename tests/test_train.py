"""Training: the loss and its gradient, shift augmentation against a per-sample oracle, the
optimizers, the bias projection of Sec. 6.1, and determinism."""

import numpy as np
import pytest

from heatmapping import Conv2d, Dropout, Flatten, Linear, ReLU, Sequential, SumPool2d
from heatmapping.testing import check_gradient
from heatmapping.train import (SGD, Adam, Trainer, accuracy, cross_entropy, log_softmax,
                               random_shift, softmax)


def test_cross_entropy_gradient_matches_finite_differences(rng):
    logits, y = rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, 5)
    check_gradient(lambda z: np.array(cross_entropy(z, y)[0]),
                   lambda z, u: u * cross_entropy(z, y)[1], logits, rng=rng)


def test_log_softmax_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(log_softmax(z), [[0.0, -1000.0, -2000.0]])
    np.testing.assert_allclose(softmax(z).sum(), 1.0)


def shift_oracle(image, dy, dx, fill):
    """The image moved by (dy, dx), written pixel by pixel."""
    C, H, W = image.shape
    out = np.full_like(image, fill)
    for y in range(H):
        for x in range(W):
            if 0 <= y - dy < H and 0 <= x - dx < W:
                out[:, y, x] = image[:, y - dy, x - dx]
    return out


def test_random_shift_moves_each_image_with_background_fill(rng):
    x = rng.standard_normal((20, 2, 6, 5))
    shifted = random_shift(x, 2, np.random.default_rng(7), fill=-1.0)
    # the same generator draws the same offsets: (dy, dx) index the padded window, 0..4
    dy, dx = np.random.default_rng(7).integers(0, 5, size=(2, 20))
    for n in range(20):
        # window (dy, dx) of the 2-padded image shows the image moved by (2 - dy, 2 - dx)
        np.testing.assert_array_equal(shifted[n], shift_oracle(x[n], 2 - dy[n], 2 - dx[n], -1.0))
    assert np.array_equal(random_shift(x, 0, rng), x)


def separable_problem(rng, n=400):
    """Two classes of 1x6x6 images: a bright blob at the left or at the right."""
    y = rng.integers(0, 2, n)
    x = np.full((n, 1, 6, 6), -1.0) + 0.1 * rng.standard_normal((n, 1, 6, 6))
    x[y == 0, :, 2:4, 0:2] += 1.5
    x[y == 1, :, 2:4, 4:6] += 1.5
    return x, y


def tiny_cnn(rng):
    return Sequential([Conv2d.init(1, 4, 3, rng=rng, padding=1), ReLU(), SumPool2d(2),
                       Flatten(), Dropout(0.2), Linear.init(36, 2, rng=rng)], input_shape=(1, 6, 6))


# --------------------------------------------------------------------------------------------
# the optimizers: the formulas, in the parameters' dtype

def sgd_written_out(p, g, velocity, lr, momentum):
    """v <- mu v - lr g; p <- p + v, with Python-float factors (they keep the arrays' dtype)."""
    velocity = momentum * velocity - lr * g
    return p + velocity, velocity


def adam_written_out(p, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba's step t: the moments, then p - lr_t m / (sqrt(v) + eps)."""
    m = m + (1 - b1) * (g - m)
    v = v + (1 - b2) * (g * g - v)
    lr_t = float(lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t))
    return p - lr_t * m / (np.sqrt(v) + eps), m, v


#: what the Trainer's cosine schedule passes: an np.float64, which must not promote float32
COSINE_SCALES = [np.float64(0.5 * (1 + np.cos(np.pi * s / 3))) for s in range(3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_steps_are_the_formulas_in_the_parameters_dtype(dtype, rng):
    params = [rng.standard_normal((30, 20)).astype(dtype), rng.standard_normal(20).astype(dtype)]
    expected = [p.copy() for p in params]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    adam = Adam(1e-2)
    for t, scale in enumerate(COSINE_SCALES, start=1):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        adam.step(params, grads, scale)
        for i, g in enumerate(grads):
            m, v = moments[i]
            expected[i], m, v = adam_written_out(expected[i], g, m, v, t, 1e-2 * scale)
            moments[i] = m, v
        for p, e in zip(params, expected):
            assert p.dtype == dtype, f"Adam turned {np.dtype(dtype)} parameters into {p.dtype}"
            np.testing.assert_array_equal(p, e, err_msg=f"Adam step {t} is not the formula "
                                                        f"computed in {np.dtype(dtype)}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_steps_are_the_formulas_in_the_parameters_dtype(dtype, rng):
    params = [rng.standard_normal((30, 20)).astype(dtype), rng.standard_normal(20).astype(dtype)]
    expected = [p.copy() for p in params]
    velocities = [np.zeros_like(p) for p in params]
    sgd = SGD(1e-2, momentum=0.5)
    for t, scale in enumerate(COSINE_SCALES, start=1):
        sgd.momentum = np.float64(0.5 + 0.1 * t)       # as a caller may set it between epochs
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        sgd.step(params, grads, scale)
        for i, g in enumerate(grads):
            expected[i], velocities[i] = sgd_written_out(expected[i], g, velocities[i],
                                                         float(1e-2 * scale), 0.5 + 0.1 * t)
        for p, e in zip(params, expected):
            assert p.dtype == dtype, f"SGD turned {np.dtype(dtype)} parameters into {p.dtype}"
            np.testing.assert_array_equal(p, e, err_msg=f"SGD step {t} is not the formula "
                                                        f"computed in {np.dtype(dtype)}")


def test_float32_steps_are_not_computed_in_float64(rng):
    """The two tests above would also pass for a step computed in float64 and rounded back if
    the data could not tell the two apart: check that they can."""
    p, g = rng.standard_normal(600).astype(np.float32), rng.standard_normal(600).astype(np.float32)
    zero = np.zeros_like(p)
    in32 = adam_written_out(p, g, zero, zero, 1, 1e-2 * COSINE_SCALES[1])[0]
    in64 = adam_written_out(*(a.astype(np.float64) for a in (p, g, zero, zero)), 1,
                            1e-2 * COSINE_SCALES[1])[0]
    assert not np.array_equal(in32, in64.astype(np.float32))
    in32 = sgd_written_out(p, g, g, 1e-2, 0.9)[0]
    in64 = sgd_written_out(*(a.astype(np.float64) for a in (p, g, g)), 1e-2, 0.9)[0]
    assert not np.array_equal(in32, in64.astype(np.float32))


# --------------------------------------------------------------------------------------------
# training

@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_training_learns_a_separable_problem_and_keeps_biases_nonpositive(optimizer, rng):
    x, y = separable_problem(rng)
    net = tiny_cnn(rng)
    for layer in net.layers:        # start from positive biases: the projection must fix them
        if hasattr(layer, "b"):
            layer.b = np.full_like(layer.b, 0.5)
    trainer = Trainer(optimizer=optimizer, learning_rate=1e-2, epochs=8, batch_size=32,
                      max_shift=1, weight_decay=1e-4, verbose=False).fit(net, x, y)
    assert trainer.history_[-1]["loss"] < trainer.history_[0]["loss"]
    assert accuracy(trainer.net_, x, y) > 0.95
    for layer in trainer.net_.layers:
        if hasattr(layer, "b"):
            assert np.all(layer.b <= 0), "biases must be projected to b <= 0 (Sec. 6.1)"
    assert np.all(net.layers[0].b == 0.5), "fit must not modify the network it was given"


def test_training_is_deterministic_for_a_seed(rng):
    x, y = separable_problem(rng, 100)
    runs = [Trainer(epochs=2, random_state=3, max_shift=1, verbose=False).fit(
        tiny_cnn(np.random.default_rng(0)), x, y).net_ for _ in range(2)]
    for a, b in zip(*[r.layers for r in runs]):
        for k in a.params():
            np.testing.assert_array_equal(a.params()[k], b.params()[k])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_float32_training_stays_float32_whatever_the_hyper_parameters_type(optimizer, rng):
    """NumPy scalars as hyper-parameters and the cosine schedule's np.float64 factor must not
    turn float32 updates into float64 ones: the same network, bit for bit, as Python floats."""
    x, y = separable_problem(rng, 64)
    floats = dict(learning_rate=1e-2, momentum=0.9, weight_decay=1e-3)
    nets = []
    for kind in (float, np.float64):
        net = tiny_cnn(np.random.default_rng(0)).astype(np.float32)
        nets.append(Trainer(optimizer=optimizer, epochs=2, batch_size=16, verbose=False,
                            **{k: kind(v) for k, v in floats.items()})
                    .fit(net, x.astype(np.float32), y).net_)
    for i, (plain, numpy) in enumerate(zip(*[n.layers for n in nets])):
        for name in plain.param_names:
            p, q = getattr(numpy, name), getattr(plain, name)
            assert p.dtype == np.float32, f"layer {i} {name} became {p.dtype}"
            np.testing.assert_array_equal(p, q, err_msg=f"layer {i} {name}: NumPy scalars "
                                                        f"trained another network")


def test_bias_projection_can_be_switched_off(rng):
    x, y = separable_problem(rng, 100)
    net = tiny_cnn(rng)
    net.layers[0].b = np.full(4, 0.5)
    trained = Trainer(epochs=1, nonpositive_bias=False, verbose=False).fit(net, x, y).net_
    assert np.any(trained.layers[0].b > 0)


def test_progress_is_printed_per_epoch(rng, capsys):
    x, y = separable_problem(rng, 64)
    Trainer(epochs=2, verbose=True).fit(tiny_cnn(rng), x, y, X_val=x, y_val=y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "loss" in lines[0] and "val acc" in lines[1]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(optimizer="rmsprop"), ValueError, "optimizer: expected 'adam' or 'sgd', got 'rmsprop'"),
    (dict(batch_size=0), ValueError, "batch_size: expected an integer >= 1, got 0"),
    (dict(batch_size=-1), ValueError, "batch_size: expected an integer >= 1, got -1"),
    (dict(epochs=1.5), TypeError, "epochs: expected an integer, got 1.5"),
    (dict(max_shift=-1), ValueError, "max_shift: expected an integer >= 0, got -1"),
    (dict(max_shift=1.5), TypeError, "max_shift: expected an integer, got 1.5"),
    (dict(learning_rate=float("nan")), ValueError, "learning_rate: expected a finite number, got nan"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay: expected a number >= 0, got -1.0"),
], ids=["optimizer", "batch-0", "batch-negative", "epochs-fraction", "shift-negative",
        "shift-fraction", "lr-nan", "decay-negative"])
def test_bad_trainer_settings_are_refused_when_the_trainer_is_made(kwargs, error, message):
    with pytest.raises(error, match=message):
        Trainer(verbose=False, **kwargs)


def test_labels_must_match_the_inputs(rng):
    x, y = separable_problem(rng, 10)
    net = tiny_cnn(rng)
    K = net.forward(x[:1]).shape[1]
    with pytest.raises(ValueError, match=r"y: expected integer labels of shape \(10,\)"):
        Trainer(verbose=False).fit(net, x, y[:5])
    for bad in (-1, K):
        with pytest.raises(ValueError, match=rf"y: expected labels in 0..{K - 1}"):
            Trainer(verbose=False).fit(net, x, np.where(np.arange(10) == 3, bad, y))
    with pytest.raises(ValueError, match="give both X_val and y_val, or neither"):
        Trainer(verbose=False).fit(net, x, y, X_val=x)
    with pytest.raises(ValueError, match=r"y_val: expected integer labels of shape \(10,\)"):
        Trainer(verbose=False).fit(net, x, y, X_val=x, y_val=y[:4])
    with pytest.raises(ValueError, match="empty batch"):
        Trainer(verbose=False).fit(net, x[:0], y[:0])
