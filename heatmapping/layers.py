"""Layers of a feed-forward network, each a small class with ``forward`` and ``backward``.

Conventions used everywhere in ``heatmapping``:

* images are ``(N, C, H, W)``, vectors ``(N, D)``; the first axis is always the batch;
* ``Linear`` weights have shape ``(D_in, D_out)``, so ``z = a @ W + b`` reads as the paper's
  ``z_k = sum_j a_j w_jk + b_k`` (Sec. 5.1);
* ``Conv2d`` weights have shape ``(C_out, C_in, kh, kw)`` (the PyTorch/ONNX layout), bias
  ``(C_out,)``;
* the dtype of a result follows ``numpy.result_type`` of the input and the parameters, so a
  float32 network fed float32 input computes in float32, and float64 anywhere gives float64.

A layer holds its parameters and hyper-parameters only; it keeps nothing between calls.
``forward(a)`` maps the layer input ``a`` to its output.  ``backward(a, grad_out)`` returns the
gradient of ``sum(forward(a) * grad_out)`` with respect to ``a``.  For the linear-type layers
(``Linear``, ``Conv2d`` and the sum and average pools) ``backward`` is the exact transpose of the
linear part of ``forward`` and does not depend on ``a``: this is the operation ``c = W s`` of the
paper's Eq. (6) that layer-wise relevance propagation calls (Sec. 6.3).  Layers with parameters
also have ``parameter_gradients(a, grad_out)``, used for training.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import checks

__all__ = [
    "Layer", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "MaxPool2d", "LpPool2d",
    "ReLU", "Flatten", "Dropout", "Multiply", "BatchNorm", "LAYER_TYPES",
]


# --------------------------------------------------------------------------------------------
# input checks shared by all layers

def _check_float(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{what}: expected a floating-point array, got dtype {a.dtype}")
    if checks.has_nan_or_inf(a):
        raise ValueError(f"{what}: input contains NaN or Inf; expected finite values")
    return a


def _check_image(a: np.ndarray, channels: int | None, what: str) -> np.ndarray:
    a = _check_float(a, what)
    if a.ndim != 4:
        raise ValueError(f"{what}: expected images of shape (N, C, H, W), got shape {a.shape}")
    if channels is not None and a.shape[1] != channels:
        raise ValueError(f"{what}: expected {channels} input channels, got shape {a.shape}")
    return a


def _weights_and_bias(W, b, what: str, layout: str, out_axis: int):
    """Check that W has the ``layout`` (its number of axes) and b one entry per output."""
    W, b = np.asarray(W), np.asarray(b)
    for name, value in (("W", W), ("b", b)):
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"{what} {name}: expected a real floating-point array, got dtype {value.dtype}")
        if checks.has_nan_or_inf(value):
            raise ValueError(f"{what} {name}: expected finite parameters, got an array containing NaN or Inf")
    if W.ndim != layout.count(",") + 1:
        raise ValueError(f"{what} W: expected shape {layout}, got shape {W.shape}")
    if b.shape != (W.shape[out_axis],):
        raise ValueError(f"{what} b: expected shape ({W.shape[out_axis]},) to match W {W.shape}, "
                         f"got shape {b.shape}")
    return W, b


def _pair(v, name: str, minimum: int) -> tuple[int, int]:
    """Read an int or a pair of ints (height, width), each at least ``minimum``."""
    pair = (v, v) if np.ndim(v) == 0 else tuple(np.ravel(v))
    if (len(pair) != 2 or not all(isinstance(p, numbers.Integral) and not isinstance(p, (bool, np.bool_))
                                  for p in pair)):
        raise TypeError(f"{name}: expected an integer or a pair of integers, got {checks.given(v)}")
    if any(p < minimum for p in pair):
        raise ValueError(f"{name}: expected integers >= {minimum}, got {v!r}")
    return int(pair[0]), int(pair[1])


# --------------------------------------------------------------------------------------------
# windows: the one piece of index arithmetic shared by convolution and pooling

def _output_size(size: int, k: int, stride: int, pad: int, what: str) -> int:
    if size + 2 * pad < k:
        raise ValueError(f"{what}: window {k} is larger than the (padded) input size {size + 2 * pad}")
    return (size + 2 * pad - k) // stride + 1


def _windows(a: np.ndarray, k, stride, pad, fill: float = 0.0) -> np.ndarray:
    """Read-only view of all windows of ``a``.

    ``a`` (N, C, H, W) -> (N, C, Ho, Wo, kh, kw), where ``[:, :, i, j]`` is the window whose
    top-left corner is at ``(i*sh - ph, j*sw - pw)`` of the unpadded input.
    """
    (kh, kw), (sh, sw) = k, stride
    return sliding_window_view(_padded(a, pad, fill), (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _padded(a: np.ndarray, pad, fill: float = 0.0) -> np.ndarray:
    """Images (N, C, H, W) with ``pad`` = (ph, pw) rows and columns of ``fill`` on each side."""
    ph, pw = pad
    if not (ph or pw):
        return a
    return np.pad(a, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def _reduce_windows(a: np.ndarray, k, stride, pad, fill: float, op) -> np.ndarray:
    """``op`` (``np.add`` or ``np.maximum``) over every window of ``a``: (N, C, H, W) ->
    (N, C, Ho, Wo), e.g. the window sums sum_{i<kh, j<kw} a_pad[n, c, y*sh + i, x*sw + j].

    The reduction is separable: first over the kw columns of every row, then over the kh rows
    of those, kh + kw - 2 element-wise ``op`` calls on strided views instead of kh * kw.  (A
    reduction over the two short window axes of the ``_windows`` view, or over the axes of a
    reshape when the windows tile the input, measured 10-15x slower in NumPy.)
    """
    (kh, kw), (sh, sw) = k, stride
    a = _padded(a, pad, fill)
    Ho, Wo = (a.shape[2] - kh) // sh + 1, (a.shape[3] - kw) // sw + 1
    rows = _combined([a[..., j:j + sw * Wo:sw] for j in range(kw)], op)       # (N, C, H_pad, Wo)
    return _combined([rows[:, :, i:i + sh * Ho:sh] for i in range(kh)], op)  # (N, C, Ho, Wo)


def _combined(views: list[np.ndarray], op) -> np.ndarray:
    """op(...op(op(v0, v1), v2)..., v_last) of arrays of one shape, into a new array: the first
    two combined directly rather than v0 copied first, one pass less over the result."""
    out = op(views[0], views[1]) if len(views) > 1 else views[0].copy()
    for view in views[2:]:
        op(out, view, out=out)
    return out


def _batch_last(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> contiguous (C, H, W, N)."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0))


def _batch_last_windows(windows: np.ndarray) -> np.ndarray:
    """Window entries (N, C, Ho, Wo, kh, kw) -> contiguous (C, kh, kw, Ho, Wo, N), the layout
    :func:`_scatter_windows` adds back."""
    return np.ascontiguousarray(windows.transpose(1, 4, 5, 2, 3, 0))


def _scatter_windows(blocks, shape, k, stride, pad) -> np.ndarray:
    """Adjoint of :func:`_windows`: add every window entry back to the pixel it was read from.

    ``blocks`` yields pairs ``(y0, cols)``: ``cols`` (C, kh, kw, rows, Wo, N) holds the
    entries of the windows of output rows y0, y0 + 1, ... in batch-last layout, cols[:, i, j]
    those at kernel offset (i, j).  The result has the input's ``shape`` (N, C, H, W), with N
    taken from the blocks (the layer input may be one sample broadcast over the batch).  Loops
    over the kh*kw kernel offsets (and the row blocks) only.  The accumulation runs batch-last
    so that each addition moves contiguous runs of Wo*N numbers instead of rows of Wo: about
    twice as fast on MNIST sizes.  A block of one output row adds a whole kernel column at
    once (its kh kernel rows reach kh different input rows): kw additions instead of kh*kw,
    and each NumPy call holds the interpreter lock while it starts (see ``_matmul_in_pieces``).
    """
    (kh, kw), (sh, sw), (ph, pw) = k, stride, pad
    _, C, H, W = shape
    out = None
    for y0, cols in blocks:
        if out is None:
            out = np.zeros((C, H + 2 * ph, W + 2 * pw, cols.shape[-1]), dtype=cols.dtype)
        rows, Wo = cols.shape[3:5]
        if rows == 1:
            for j in range(kw):
                out[:, y0 * sh:y0 * sh + kh, j:j + sw * (Wo - 1) + 1:sw] += cols[:, :, j, 0]
            continue
        for i in range(kh):
            for j in range(kw):
                top = y0 * sh + i
                out[:, top:top + sh * (rows - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += cols[:, i, j]
    return np.ascontiguousarray(out[:, ph:ph + H, pw:pw + W].transpose(3, 0, 1, 2))


#: Conv2d.products forms the im2col matrix of a block of samples of at most this size, so
#: that it is still in the (per-core, 1 MB here) L2 cache when the BLAS products read it: on
#: the reference CNN at 1024 digits, the first convolution 2x and the second 1.1-1.3x faster
#: than with blocks of 32 MB, which went to main memory and back (blocks of 256 KB to 2 MB
#: measured within a few percent of each other)
_IM2COL_BYTES = 512 << 10

#: ...in a workspace allocated at the size of the whole batch's im2col matrix, but at most this
#: many bytes, of which only the first _IM2COL_BYTES are used.  The size is for glibc's malloc:
#: it serves an array above its mmap threshold with fresh pages from the system (a page fault
#: per 4 KB touched) and, when such an array is freed, raises the threshold to its size (up to
#: 32 MB).  A workspace larger than the layers' activations lets them reuse the heap: on the
#: reference CNN at 256 digits, 0 instead of 4,900 page faults per LRP call, and LRP 56 instead
#: of 67 ms.  Pages of the workspace that are never touched cost nothing
_WORKSPACE_BYTES = 24 << 20

#: Conv2d.backward forms the columns W^T g for this many bytes of output rows at a time, so
#: that each block is added back into the image while it is still in the cache (measured on
#: the reference CNN: 40% faster than one block of 25 MB for its second convolution)
_COLUMN_BLOCK_BYTES = 1 << 20

#: OpenBLAS may split a product of more than 4 * 65536 multiply-adds (m*n*k) across its
#: threads; a smaller one always runs on the calling thread.  Where other processes hold the
#: cores, a split product waits for a descheduled thread: measured at 2 threads on a loaded
#: machine, 14 ms instead of 46 us for m*n*k = 2e6, and the deep-Taylor LRP of 256 digits with
#: the reference CNN took 8-13x its 1-thread time.  The convolutions cut their products into
#: pieces of at most this size: LRP at 2 threads then took 1.0-1.5x its 1-thread time on the
#: same machine; at 1 thread the pieces cost 5% on the second convolution
_SMALL_PRODUCT = 4 * 65536


def _matmul_in_pieces(A: np.ndarray, B: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = A @ B for A (m, k) and B (..., k, n) (stacked as in ``np.matmul``), computed over
    pieces of B's columns of equal widths so that each BLAS product has at most
    _SMALL_PRODUCT multiply-adds (a layer so wide that one column exceeds it gets one product).

    A single matrix B (the transposed convolution's columns, cut into dozens of pieces) goes
    to NumPy as one stacked product over a view of its pieces (:func:`_column_pieces`, no
    copy) and one for the rest, instead of one call per piece: each call holds the interpreter
    lock while it starts, and with two threads it waits there for the other thread's calls.
    (The backward pass of the reference CNN's second convolution made 32 calls per output row
    instead of 2, and the products ran 8-15% faster on one thread.)  A stack of matrices (the
    forward pass's block of samples) is cut into a few pieces, one call each, which measured
    faster than a stacked view of them."""
    (m, k), n = A.shape, B.shape[-1]
    if out.size == 0:                            # an empty batch: nothing to compute
        return out
    width = max(1, min(n, _SMALL_PRODUCT // (m * k) or n))  # n if one column alone is larger
    width = -(-n // -(-n // width))              # the same number of pieces, of equal widths
    start = 0
    if B.ndim == 2:
        start = n - n % width
        np.matmul(A, _column_pieces(B[:, :start], width), out=_column_pieces(out[:, :start], width))
    for c in range(start, n, width):
        np.matmul(A, B[..., c:c + width], out=out[..., c:c + width])
    return out


def _column_pieces(M: np.ndarray, width: int) -> np.ndarray:
    """The columns of a matrix M (r, n), n a multiple of ``width``, as a stack of matrices
    (n // width, r, width): a view."""
    r, n = M.shape
    return M.reshape(r, n // width, width).transpose(1, 0, 2)


# --------------------------------------------------------------------------------------------

class Layer:
    """Base class: a stateless map with ``forward`` and ``backward``.

    Subclasses list their array parameters in ``param_names`` and their hyper-parameters
    (plain JSON values) in ``config()``, which is what saving a network needs.
    """

    param_names: tuple[str, ...] = ()
    #: True for layers whose forward pass is linear in ``a`` (up to the bias) and whose
    #: ``backward`` is its transpose: these are the layers LRP propagates through with Eq. (4)-(7).
    linear = False
    #: True for linear-type layers with learned weights W of either sign (``Linear``, ``Conv2d``);
    #: a pool's fixed weights are all positive, so its contributions have no negative part.
    weighted = False

    def forward(self, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, a: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
        """Gradient w.r.t. the input, a new array (LRP may write into it)."""
        raise NotImplementedError

    def parameter_gradients(self, a: np.ndarray, grad_out: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def params(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.param_names}

    def config(self) -> dict:
        return {}

    def replace(self, **params) -> "Layer":
        """A new layer of the same kind and hyper-parameters with some parameters replaced.

        This is how LRP builds the modified layer ``rho(layer)`` of a rule (Sec. 6.3).
        """
        unknown = set(params) - set(self.param_names)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameters {sorted(unknown)}")
        return type(self)(**{**self.params(), **params}, **self.config())

    def map_weights(self, rho, bias=None) -> "Layer":
        """The modified layer rho(layer) of an LRP rule (Sec. 6.3): every weight array mapped by
        ``rho``, the bias by ``bias`` (``None``: a zero bias)."""
        params = {name: (np.zeros_like(v) if bias is None else bias(v)) if name == "b" else rho(v)
                  for name, v in self.params().items()}
        return self.replace(**params)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one output sample for one input sample of ``input_shape`` (no batch axis)."""
        dummy = np.zeros((1, *input_shape))
        return self.forward(dummy).shape[1:]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params().items())
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({', '.join(s for s in (shapes, cfg) if s)})"


class Linear(Layer):
    """Fully connected layer, z_k = sum_j a_j w_jk + b_k (Sec. 5.1).

    Parameters
    ----------
    W : array (D_in, D_out)
    b : array (D_out,)

    ``forward``: (N, D_in) -> (N, D_out).  ``backward`` is ``grad_out @ W.T``: the paper's
    ``c = W s`` (Eq. 6) with ``s`` on the rows.
    """

    param_names = ("W", "b")
    linear = True
    weighted = True

    def __init__(self, W, b):
        self.W, self.b = _weights_and_bias(W, b, "Linear", "(D_in, D_out)", out_axis=1)

    @classmethod
    def init(cls, d_in: int, d_out: int, *, rng: np.random.Generator, dtype=np.float64):
        """He-initialised weights (std sqrt(2 / d_in), suited to ReLU) and zero bias."""
        W = checks.generator(rng).standard_normal((d_in, d_out)) * np.sqrt(2.0 / d_in)
        return cls(W.astype(dtype), np.zeros(d_out, dtype=dtype))

    def _check(self, a):
        a = _check_float(a, "Linear")
        if a.ndim != 2 or a.shape[1] != self.W.shape[0]:
            raise ValueError(f"Linear: expected input of shape (N, {self.W.shape[0]}), "
                             f"got shape {a.shape}")
        return a

    def forward(self, a):
        return self._check(a) @ self.W + self.b

    def products(self, a, weights) -> list[np.ndarray]:
        """a @ W_t for each weight array W_t of ``weights`` (each of W's shape), no bias:
        the products of Eq. (4) for several modified weights of this layer."""
        a = self._check(a)
        return [a @ W_t for W_t in weights]

    def backward(self, a, grad_out):
        return grad_out @ self.W.T

    def parameter_gradients(self, a, grad_out):
        return {"W": a.T @ grad_out, "b": grad_out.sum(axis=0)}


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as in every deep learning library).

    z[n, o, y, x] = sum_{c, i, j} a_pad[n, c, y*s + i, x*s + j] W[o, c, i, j] + b[o]

    with ``a_pad`` the input zero-padded by ``padding`` on each side.  This is the paper's
    z_k = sum_j a_j w_jk with a sparse, weight-shared matrix w_jk.

    Parameters
    ----------
    W : array (C_out, C_in, kh, kw)
    b : array (C_out,)
    stride, padding : int or (int, int)

    ``forward``: (N, C_in, H, W) -> (N, C_out, Ho, Wo), Ho = (H + 2 ph - kh) // sh + 1.
    Implemented as im2col (the windows of a block of samples copied into a matrix) followed by
    a BLAS product per sample; ``backward`` is the transpose: a product with W^T, then the
    windows added back in place, a block of output rows at a time.
    """

    param_names = ("W", "b")
    linear = True
    weighted = True

    def __init__(self, W, b, *, stride=1, padding=0):
        self.W, self.b = _weights_and_bias(W, b, "Conv2d", "(C_out, C_in, kh, kw)", out_axis=0)
        self.stride = _pair(stride, "Conv2d stride", 1)
        self.padding = _pair(padding, "Conv2d padding", 0)

    @classmethod
    def init(cls, c_in: int, c_out: int, kernel_size, *, rng: np.random.Generator,
             stride=1, padding=0, dtype=np.float64):
        """He-initialised kernels (std sqrt(2 / fan_in)) and zero bias."""
        kh, kw = _pair(kernel_size, "Conv2d kernel_size", 1)
        W = checks.generator(rng).standard_normal((c_out, c_in, kh, kw)) * np.sqrt(2.0 / (c_in * kh * kw))
        return cls(W.astype(dtype), np.zeros(c_out, dtype=dtype), stride=stride, padding=padding)

    def config(self):
        return {"stride": list(self.stride), "padding": list(self.padding)}

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.W.shape[2], self.W.shape[3]

    def _cols(self, a):
        a = _check_image(a, self.W.shape[1], "Conv2d")
        for size, k, p in zip(a.shape[2:], self.kernel_size, self.padding):
            _output_size(size, k, 1, p, "Conv2d")
        return _windows(a, self.kernel_size, self.stride, self.padding)

    def _im2col(self, windows, out=None) -> np.ndarray:
        """The windows (a view from ``_cols``) as one matrix per sample: (N, C*kh*kw, Ho*Wo),
        C-contiguous, written into ``out`` (N, C, kh, kw, Ho, Wo) if given.

        Ordering the rows (c, i, j) and the columns (y, x) makes the convolution one BLAS
        product per sample, W (C_out, C*kh*kw) @ cols, whose result is already (N, C_out,
        Ho, Wo) in memory: no transpose of the output is needed.
        """
        N, C, Ho, Wo, kh, kw = windows.shape
        cols = windows.transpose(0, 1, 4, 5, 2, 3)              # (N, C, kh, kw, Ho, Wo)
        if out is None:
            out = np.ascontiguousarray(cols)
        else:
            out[...] = cols
        return out.reshape(N, C * kh * kw, Ho * Wo)

    def forward(self, a):
        return self.products(a, [self.W], self.b)[0]

    def products(self, a, weights, bias=None) -> list[np.ndarray]:
        """z_t[n, o, y, x] = sum_{c,i,j} a_pad[n, c, y*sh + i, x*sw + j] W_t[o, c, i, j] (+ b[o])
        for each W_t of ``weights`` (each of W's shape): (N, C_in, H, W) -> a list of (N, C_out,
        Ho, Wo).  Without ``bias``, the products of Eq. (4) for several modified weights of
        this layer, sharing one im2col of ``a``.  One product per weight array rather than one
        with the arrays stacked: small products run on one thread, which measured as fast here
        and steadier when the second core is busy.

        The im2col matrix of a block of samples at a time (at most _IM2COL_BYTES, so that it
        is read from the cache; for the workspace's size see _WORKSPACE_BYTES), then one BLAS
        product per sample, W_t (C_out, C*kh*kw) @ cols (C*kh*kw, Ho*Wo), whose result is
        already in the output's layout.  Each product is cut into pieces small enough to run
        on the calling thread (see _SMALL_PRODUCT).
        The weights are cast once to the result dtype (float64 input to a float32 layer
        computes in float64, as ``numpy.result_type`` says), and the bias is added to a block
        of the output while it is still in the cache.
        """
        windows = self._cols(a)                                  # (N, C, Ho, Wo, kh, kw)
        N, C, Ho, Wo, kh, kw = windows.shape
        dtype = np.result_type(windows, *weights)
        mats = [W_t.reshape(len(W_t), -1).astype(dtype, copy=False) for W_t in weights]
        outs = [np.empty((N, len(m), Ho * Wo), dtype=dtype) for m in mats]
        b = None if bias is None or not bias.any() else bias.astype(dtype)[:, None]
        sample = C * kh * kw * Ho * Wo * windows.itemsize        # one sample's im2col matrix
        step = max(1, _IM2COL_BYTES // sample)
        workspace = np.empty((min(N, max(step, _WORKSPACE_BYTES // sample)), C, kh, kw, Ho, Wo),
                             dtype=windows.dtype)
        for n in range(0, N, step):
            block = windows[n:n + step]
            cols = self._im2col(block, out=workspace[:len(block)])  # (n, C*kh*kw, Ho*Wo)
            for m, out in zip(mats, outs):
                _matmul_in_pieces(m, cols, out[n:n + step])      # (n, C_out, Ho*Wo)
                if b is not None:
                    out[n:n + step] += b
        return [out.reshape(N, len(m), Ho, Wo) for out, m in zip(outs, mats)]

    def backward(self, a, grad_out):
        N, C_out, Ho, Wo = grad_out.shape
        # BLAS products W^T (C_in*kh*kw, C_out) @ g (C_out, rows*Wo*N), batch-last for the
        # scatter, over blocks of output rows, each in pieces that run on the calling thread
        g = _batch_last(grad_out)
        dtype = np.result_type(self.W, g)
        W_T = self.W.reshape(C_out, -1).T.astype(dtype, copy=False)
        step = max(1, _COLUMN_BLOCK_BYTES // (W_T.shape[0] * Wo * max(N, 1) * g.itemsize))

        def blocks():
            for y0 in range(0, Ho, step):
                rows = g[:, y0:y0 + step]
                cols = np.empty((len(W_T), rows[0].size), dtype)
                _matmul_in_pieces(W_T, rows.reshape(C_out, -1), cols)
                yield y0, cols.reshape(self.W.shape[1], *self.kernel_size, rows.shape[1], Wo, N)
        return _scatter_windows(blocks(), a.shape, self.kernel_size, self.stride, self.padding)

    def parameter_gradients(self, a, grad_out):
        cols = self._im2col(self._cols(a))
        N, C_out = grad_out.shape[:2]
        dW = np.tensordot(grad_out.reshape(N, C_out, -1), cols, axes=((0, 2), (0, 2)))
        return {"W": dW.reshape(self.W.shape), "b": grad_out.sum(axis=(0, 2, 3))}


class _Pool2d(Layer):
    """Shared hyper-parameters of the pooling layers: window, stride (default = window), padding.

    Pooling acts on each channel separately: (N, C, H, W) -> (N, C, Ho, Wo).
    """

    #: value the pooling input is padded with (a pad value that never wins or counts)
    _fill = 0.0

    def __init__(self, window, stride=None, padding=0):
        self.window = _pair(window, f"{type(self).__name__} window", 1)
        self.stride = _pair(self.window if stride is None else stride,
                            f"{type(self).__name__} stride", 1)
        self.padding = _pair(padding, f"{type(self).__name__} padding", 0)

    def config(self):
        return {"window": list(self.window), "stride": list(self.stride),
                "padding": list(self.padding)}

    def _checked(self, a):
        name = type(self).__name__
        a = _check_image(a, None, name)
        for size, k, p in zip(a.shape[2:], self.window, self.padding):
            _output_size(size, k, 1, p, name)
        return a

    def _cols(self, a):
        return _windows(self._checked(a), self.window, self.stride, self.padding, fill=self._fill)

    def _scatter(self, cols, shape):
        """The adjoint of the windows for the entries ``cols`` (C, kh, kw, Ho, Wo, N) of all
        windows in batch-last layout (see ``_scatter_windows``)."""
        return _scatter_windows([(0, cols)], shape, self.window, self.stride, self.padding)


class SumPool2d(_Pool2d):
    """Sum pooling, a_k = w sum_{j in window k} a_j: a linear layer whose weights all equal
    one number ``weight`` (w = 1, the sum pooling of Sec. 6.1, by default).

    The single weight is what an LRP rule maps (``map_weights``): w^+ = w, w^- = 0 here.
    """

    linear = True

    def __init__(self, window, stride=None, padding=0, *, weight: float = 1.0):
        super().__init__(window, stride, padding)
        self.weight = checks.number(weight, f"{type(self).__name__} weight")

    def config(self):
        return {**super().config(), "weight": self.weight}

    def forward(self, a):
        total = _reduce_windows(self._checked(a), self.window, self.stride, self.padding, 0.0, np.add)
        if self.weight != 1:
            total *= np.asarray(self.weight, total.dtype)
        return total

    def backward(self, a, grad_out):
        g = grad_out if self.weight == 1 else grad_out * np.asarray(self.weight, grad_out.dtype)
        (kh, kw), (N, C, Ho, Wo), (H, W) = self.window, g.shape, a.shape[2:]
        if self.stride == self.window and self.padding == (0, 0):
            # windows tile the input: every pixel of a window gets its window's value, one
            # strided copy of g per window offset (np.repeat, 15% faster alone, holds the
            # interpreter lock: two threads ran it slower than one); pixels beyond the last
            # whole window get 0
            tiles = np.empty((N, C, Ho, kh, Wo, kw), dtype=g.dtype)
            for i in range(kh):
                for j in range(kw):
                    tiles[:, :, :, i, :, j] = g
            tiles = tiles.reshape(N, C, Ho * kh, Wo * kw)
            if (H, W) == tiles.shape[2:]:
                return tiles
            out = np.zeros((N, C, H, W), dtype=g.dtype)
            out[:, :, :Ho * kh, :Wo * kw] = tiles
            return out
        # every window entry is its window's g: a view that repeats g over the kernel offsets
        return self._scatter(np.broadcast_to(_batch_last(g)[:, None, None], (C, kh, kw, Ho, Wo, N)),
                             a.shape)

    def map_weights(self, rho, bias=None) -> "SumPool2d":
        return type(self)(self.window, self.stride, self.padding,
                          weight=float(rho(np.asarray(self.weight))))


class AvgPool2d(SumPool2d):
    """Average pooling, a_k = (1 / |window|) sum_{j in window k} a_j (zero padding counts):
    a sum pool with weight 1 / |window|."""

    def __init__(self, window, stride=None, padding=0, *, weight: float | None = None):
        super().__init__(window, stride, padding)
        self.weight = (1.0 / (self.window[0] * self.window[1]) if weight is None
                       else checks.number(weight, "AvgPool2d weight"))


class MaxPool2d(_Pool2d):
    """Max pooling, a_k = max_{j in window k} a_j.

    The gradient goes to the first maximal entry of each window (row-major order), which is
    what winner-take-all relevance redistribution (Bach et al., Sec. 5.3) also uses.
    """

    _fill = -np.inf

    def forward(self, a):
        return _reduce_windows(self._checked(a), self.window, self.stride, self.padding,
                               self._fill, np.maximum)

    def winners(self, a) -> np.ndarray:
        """One-hot mask (N, C, Ho, Wo, kh, kw) of the first maximal entry of each window."""
        cols = self._cols(a)
        N, C, Ho, Wo, kh, kw = cols.shape
        flat_argmax = cols.reshape(N, C, Ho, Wo, kh * kw).argmax(axis=-1)
        return (np.arange(kh * kw) == flat_argmax[..., None]).reshape(cols.shape)

    def backward(self, a, grad_out):
        winners = self.winners(a)
        return self._scatter(_batch_last_windows(winners) * _batch_last(grad_out)[:, None, None],
                             a.shape)


class LpPool2d(_Pool2d):
    """l_p pooling, a_k = (sum_{j in window k} |a_j|^p)^(1/p), p >= 1 (Sec. 5.3).

    p = 1 on non-negative inputs is sum pooling; p -> inf tends to max pooling.  The gradient is
    sign(a_j) |a_j|^(p-1) / a_k^(p-1), set to 0 where a window is all zero (where the
    function is not differentiable for p > 1, and 0 is a valid subgradient for p = 1).
    """

    def __init__(self, window, stride=None, padding=0, *, p: float = 2.0):
        super().__init__(window, stride, padding)
        self.p = checks.number(p, "LpPool2d p", low=1)

    def config(self):
        return {**super().config(), "p": self.p}

    def forward(self, a):
        powers = np.abs(self._checked(a)) ** self.p            # the padding's 0 adds nothing
        return _reduce_windows(powers, self.window, self.stride, self.padding, 0.0, np.add) \
            ** (1.0 / self.p)

    def backward(self, a, grad_out):
        cols = self._cols(a)
        norm = self.forward(a)[..., None, None]
        safe = np.where(norm > 0, norm, 1.0)
        d = np.sign(cols) * (np.abs(cols) / safe) ** (self.p - 1.0)
        d = np.where(norm > 0, d, 0.0) * grad_out[..., None, None]
        return self._scatter(_batch_last_windows(d), a.shape)


class ReLU(Layer):
    """Rectified linear unit, a_k = max(0, z_k); the gradient at z = 0 is taken as 0."""

    def forward(self, a):
        return np.maximum(_check_float(a, "ReLU"), 0)

    def backward(self, a, grad_out):
        return grad_out * (a > 0)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), in C order."""

    def forward(self, a):
        a = _check_float(a, "Flatten")
        return a.reshape(a.shape[0], int(np.prod(a.shape[1:])))

    def backward(self, a, grad_out):
        return grad_out.reshape((len(grad_out),) + a.shape[1:])


class Multiply(Layer):
    """Element-wise product with a fixed array ``m`` broadcast over the batch: a * m.

    It is what a ``Dropout`` layer becomes during one training step (a random diagonal map).
    """

    param_names = ("m",)
    linear = True

    def __init__(self, m):
        self.m = checks.floats(m, "Multiply m", allow_int=True)

    def forward(self, a):
        return _check_float(a, "Multiply") * self.m

    def backward(self, a, grad_out):
        return grad_out * self.m


class Dropout(Layer):
    """Dropout (Srivastava et al. 2014), recommended for fully connected layers (Sec. 6.1).

    Outside training it is the identity.  In training, :meth:`sample` draws a fresh mask that
    keeps each unit with probability 1 - rate and scales kept units by 1 / (1 - rate)
    ("inverted dropout"), so nothing changes at test time.
    """

    def __init__(self, rate: float = 0.5):
        self.rate = checks.number(rate, "Dropout rate", low=0)
        if self.rate >= 1:
            raise ValueError(f"Dropout rate: expected a number in [0, 1), got {rate!r}")

    def config(self):
        return {"rate": self.rate}

    def forward(self, a):
        return _check_float(a, "Dropout")

    def backward(self, a, grad_out):
        return grad_out

    def sample(self, shape, rng: np.random.Generator, dtype=np.float64) -> Multiply:
        """The layer used for one training batch of input ``shape``: a ``Multiply`` by a random mask."""
        keep = rng.random(shape) >= self.rate
        return Multiply((keep / (1.0 - self.rate)).astype(dtype))


class BatchNorm(Layer):
    """Batch normalization in its inference form (Ioffe & Szegedy 2015), per feature:

        y = gamma * (a - mean) / sqrt(var + eps) + beta

    over axis 1 (the features of (N, D) or the channels of (N, C, H, W)).  An affine map of
    each feature on its own.  LRP either ignores it (relevance passes unchanged, Bach et al.)
    or first merges it into the preceding linear layer (``heatmapping.canonize``), Sec. 5.3.
    """

    param_names = ("gamma", "beta", "mean", "var")

    def __init__(self, gamma, beta, mean, var, *, eps: float = 1e-5):
        names = ("gamma", "beta", "mean", "var")
        arrays = [checks.floats(v, f"BatchNorm {name}", ndim=1) for name, v in zip(names, (gamma, beta, mean, var))]
        for name, v in zip(names, arrays):
            if v.shape != arrays[0].shape:
                raise ValueError(f"BatchNorm {name}: expected the shape of gamma {arrays[0].shape}, got {v.shape}")
        if np.any(arrays[3] < 0):
            raise ValueError(f"BatchNorm var: expected variances >= 0, got a minimum of {float(arrays[3].min())!r}")
        self.gamma, self.beta, self.mean, self.var = arrays
        self.eps = checks.number(eps, "BatchNorm eps", low=0, open_low=True)

    def config(self):
        return {"eps": self.eps}

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift) with y = scale * a + shift, each (D,)."""
        scale = self.gamma / np.sqrt(self.var + self.eps)
        return scale, self.beta - scale * self.mean

    def _broadcast(self, v, a):
        return v.reshape((1, -1) + (1,) * (a.ndim - 2))

    def forward(self, a):
        a = _check_float(a, "BatchNorm")
        if a.ndim < 2 or a.shape[1] != len(self.gamma):
            raise ValueError(f"BatchNorm: expected {len(self.gamma)} features on axis 1, got shape {a.shape}")
        scale, shift = self.scale_shift()
        return a * self._broadcast(scale, a) + self._broadcast(shift, a)

    def backward(self, a, grad_out):
        return grad_out * self._broadcast(self.scale_shift()[0], a)


#: name -> class, for loading saved networks
LAYER_TYPES = {cls.__name__: cls for cls in (
    Linear, Conv2d, SumPool2d, AvgPool2d, MaxPool2d, LpPool2d, ReLU, Flatten, Dropout, Multiply,
    BatchNorm)}
