"""The shipped reference models: architecture as specified, biases <= 0 (Sec. 6.1), and
accuracy on the real MNIST test set."""

import numpy as np
import pytest

from heatmapping import Conv2d, Linear, SumPool2d, data, models
from heatmapping.train import accuracy


@pytest.fixture(scope="module")
def test_set(mnist_folder):
    return data.load_mnist(mnist_folder)


def test_mlp_is_784_300_100_10():
    net = models.load_model("mlp")
    dims = [l.W.shape for l in net.layers if isinstance(l, Linear)]
    assert dims == [(784, 300), (300, 100), (100, 10)]
    assert net.input_shape == (1, 28, 28)


def test_cnn_has_the_recommended_shape():
    net = models.load_model("cnn")
    convs = [l.W.shape for l in net.layers if isinstance(l, Conv2d)]
    assert convs == [(10, 1, 5, 5), (25, 10, 5, 5), (100, 25, 4, 4), (10, 100, 1, 1)]
    assert sum(isinstance(l, SumPool2d) for l in net.layers) == 3
    assert net.input_shape == (1, 32, 32)


def test_cnn_max_is_the_cnn_with_max_pooling():
    layers = [type(l).__name__ for l in models.load_model("cnn_max").layers]
    assert layers == [type(l).__name__.replace("SumPool2d", "MaxPool2d")
                      for l in models.load_model("cnn").layers]


def test_cnn_strided_has_a_stride_4_first_layer():
    first = models.load_model("cnn_strided").layers[0]
    assert isinstance(first, Conv2d) and first.stride == (4, 4) and first.W.shape == (16, 1, 4, 4)


@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_max", "cnn_strided"])
def test_shipped_biases_are_zero_or_negative(name):
    for layer in models.load_model(name).layers:
        if "b" in layer.param_names:
            assert np.all(layer.b <= 0), f"{name}: a bias is positive, against Sec. 6.1"


@pytest.mark.parametrize("name, minimum", [("mlp", 0.955), ("cnn", 0.980), ("cnn_max", 0.980),
                                            ("cnn_strided", 0.960)])
def test_shipped_model_accuracy_on_the_real_test_set(name, minimum, test_set):
    images, labels = test_set
    net = models.load_model(name)
    acc = accuracy(net, models.inputs_for(net, images), labels)
    assert acc >= minimum, f"{name}: accuracy {acc:.4f} on the 10,000 test digits < {minimum}"


def test_inputs_for_pads_digits_with_the_background():
    net = models.load_model("cnn")
    x = models.inputs_for(net, np.full((2, 28, 28), 255, dtype=np.uint8))
    assert x.shape == (2, 1, 32, 32)
    assert np.all(x[:, :, 2:30, 2:30] == 1.0) and np.all(x[:, :, :2] == -1.0)


def test_unknown_model_name_is_refused():
    with pytest.raises(ValueError, match=r"name: expected one of \['cnn', 'cnn_max', 'cnn_strided', 'mlp'\], got 'vgg'"):
        models.model_path("vgg")


@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_max", "cnn_strided"])
def test_shipped_model_matches_the_checksum_in_data_readme(name):
    from conftest import assert_matches_data_readme
    assert_matches_data_readme(f"{name}.npz")
