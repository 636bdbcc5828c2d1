"""heatmapping: a pure-NumPy reference implementation of Montavon, Samek & Mueller (2017),
"Methods for Interpreting and Understanding Deep Neural Networks", Digital Signal Processing 73.

Modules, one idea each:

* ``layers``, ``network``: layers with explicit forward/backward, ``Sequential``, save/load;
* ``train``: softmax cross-entropy training (SGD with momentum, Adam, shifts, b <= 0);
* ``data``: MNIST IDX files, download, the embedded 5,000 digits, the pixel convention;
* ``models``: the reference MLP and CNN, the Figure 6 max network;
* ``testing``: finite-difference and adjoint checks of backward passes;
* ``explain``: sensitivity, simple Taylor, LRP, deconvolution, guided backprop (Sec. 4);
* ``rules``, ``lrp``: LRP rules as data and the one generic four-step propagation (Sec. 5, 6.3);
* ``deep_taylor``: root points of the z+, zB and w^2 rules (Sec. 5.2);
* ``relevance``: relevance pooling and filtering (Sec. 4.4);
* ``canonize``: merging batch normalization into linear layers (Sec. 5.3);
* ``tricks``: translation trick, sliding window, relevant pattern, rule selection (Sec. 6);
* ``metrics``: continuity and pixel-flipping selectivity (Sec. 7);
* ``am``, ``rbm``, ``decoder``: activation maximization with its expert and decoder (Sec. 3);
* ``clever_hans``, ``synthetic``: the applications of Sec. 8 with planted truths (a tagged
  classifier and SpRAy; EEG-like and DNA-like data);
* ``notebook``, ``exercises``: running the course as scripts and notebooks, its exercises;
* ``render``: figures; ``bench``: the benchmark.
"""

from .layers import (AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, Linear, LpPool2d,
                     MaxPool2d, ReLU, SumPool2d)
from .network import Sequential, load, save

__version__ = "0.1.0"

__all__ = ["Linear", "Conv2d", "SumPool2d", "AvgPool2d", "MaxPool2d", "LpPool2d", "ReLU",
           "Flatten", "Dropout", "BatchNorm", "Sequential", "save", "load"]
