"""Canonization: rewrite a network into an equivalent one that LRP handles better (Sec. 5.3).

A batch-normalization layer that follows a linear layer is an affine map of each output
feature, y = scale * z + shift, so it can be merged into that layer:

    w'_jk = w_jk scale_k,    b'_k = b_k scale_k + shift_k .

The merged network computes exactly the same function, and LRP then sees one linear layer
whose weights and bias include the normalization, instead of ignoring it.
"""

from __future__ import annotations


from . import checks
from .layers import BatchNorm, Conv2d, Linear
from .network import Sequential

__all__ = ["merge_batchnorm"]


def merge_batchnorm(net: Sequential) -> Sequential:
    """A new network with every ``BatchNorm`` merged into the ``Linear``/``Conv2d`` before it.

    Raises ``ValueError`` for a ``BatchNorm`` that does not directly follow such a layer.
    The given network is not modified.
    """
    checks.network(net)
    layers = []
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, BatchNorm):
            layers.append(layer)
            continue
        previous = layers[-1] if layers else None
        if not isinstance(previous, (Linear, Conv2d)):
            raise ValueError(f"merge_batchnorm: BatchNorm at layer {i} does not follow a Linear "
                             f"or Conv2d layer (it follows {type(previous).__name__})")
        scale, shift = layer.scale_shift()
        if isinstance(previous, Linear):
            W = previous.W * scale                          # (D_in, D_out) * (D_out,)
        else:
            W = previous.W * scale[:, None, None, None]     # (C_out, C_in, kh, kw)
        layers[-1] = previous.replace(W=W, b=previous.b * scale + shift)
    return Sequential(layers, input_shape=net.input_shape)
