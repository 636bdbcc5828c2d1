"""heatmapping: a pure-NumPy reference implementation of Montavon, Samek & Mueller (2017),
"Methods for Interpreting and Understanding Deep Neural Networks", Digital Signal Processing 73.

Modules: ``layers`` (forward/backward layers), ``network`` (Sequential, save/load),
``train`` (softmax cross-entropy training), ``data`` (MNIST IDX files, embedded sample),
``models`` (the reference MLP and CNN), ``testing`` (gradient checkers).
"""

from .layers import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LpPool2d, MaxPool2d,
                     ReLU, SumPool2d)
from .network import Sequential, load, save

__version__ = "0.1.0"

__all__ = ["Linear", "Conv2d", "SumPool2d", "AvgPool2d", "MaxPool2d", "LpPool2d", "ReLU",
           "Flatten", "Dropout", "Sequential", "save", "load"]
