"""Training: the loss and its gradient, shift augmentation against a per-sample oracle, the
optimizers, the bias projection of Sec. 6.1, and determinism."""

import numpy as np
import pytest

from heatmapping import Conv2d, Dropout, Flatten, Linear, ReLU, Sequential, SumPool2d
from heatmapping.testing import check_gradient
from heatmapping.train import Trainer, accuracy, cross_entropy, log_softmax, random_shift, softmax


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
