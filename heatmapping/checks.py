"""Argument checks at the public boundary: a wrong call gets a ``TypeError`` (wrong kind of
value) or ``ValueError`` (right kind, wrong value) whose message names the argument, says what
was expected and shows what was given::

    name: expected <what>, got <given>

Every check is O(1) in the data except :func:`floats`' finiteness test, which is one cheap
reduction (``sum``) in the common case and an element-wise pass only to confirm.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["given", "number", "integer", "index", "choice", "floats", "batch", "finite",
           "generator", "function", "network", "bounds", "flag", "has_nan_or_inf"]


#: what an error message shows of a value, at most
GIVEN_WIDTH = 60


def given(value) -> str:
    """A short description of what the user passed, for error messages."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.item()  # 0.5, not np.float64(0.5)
        return repr(value)
    text = repr(value)
    if len(text) > GIVEN_WIDTH:
        text = text[:GIVEN_WIDTH - 3] + "..."
    plain = isinstance(value, (str, bool, numbers.Number)) or value is None
    return text if plain else f"{text} ({type(value).__name__})"


def _is_real(value) -> bool:
    # a bool is not a number here: True would silently read as 1
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            or isinstance(value, np.ndarray) and value.ndim == 0
            and (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)))


def number(value, name: str, *, low=None, high=None, open_low: bool = False) -> float:
    """A finite real number (not a string, bool, array or complex) in [low, high] (or
    (low, high] with ``open_low``)."""
    if not _is_real(value):
        raise TypeError(f"{name}: expected a real number, got {given(value)}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {given(value)}")
    if low is not None and (v <= low if open_low else v < low):
        raise ValueError(f"{name}: expected a number {'>' if open_low else '>='} {low}, got {given(value)}")
    if high is not None and v > high:
        raise ValueError(f"{name}: expected a number <= {high}, got {given(value)}")
    return v


def integer(value, name: str, *, low=None, high=None) -> int:
    """An integer (Python or NumPy, not a bool or a float) in [low, high]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {given(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f">= {low}" if high is None else f"<= {high}" if low is None
                  else f"in {low}..{high}")
        raise ValueError(f"{name}: expected an integer {bounds}, got {given(value)}")
    return int(value)


def index(value, name: str, n: int) -> int:
    """An index into n things, 0..n-1 (negative indices are refused: they hide off-by-ones)."""
    return integer(value, name, low=0, high=n - 1)


def choice(value, name: str, choices) -> str:
    """One of a fixed set of names."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {given(value)}")
    return value


def has_nan_or_inf(x: np.ndarray) -> bool:
    """Whether an entry of x is NaN or Inf.  The sum is non-finite whenever an entry is (or,
    rarely, when it overflows): one reduction in the common case, the element-wise test only
    to confirm."""
    return not np.isfinite(x.sum()) and not np.all(np.isfinite(x))


def finite(x: np.ndarray, name: str) -> np.ndarray:
    """Refuse NaN and Inf."""
    if has_nan_or_inf(x):
        raise ValueError(f"{name}: expected finite values, got an array containing NaN or Inf")
    return x


def floats(x, name: str, *, ndim: int | None = None, min_ndim: int | None = None,
           shape: tuple | None = None, allow_int: bool = False) -> np.ndarray:
    """A finite real floating-point array (integers too if ``allow_int``, as float64)."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise ValueError(f"{name}: expected an array of numbers, got {given(x)} ({e})") from None
    if allow_int and (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        a = a.astype(np.float64)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name}: expected a real floating-point array"
                        f"{' (or integers)' if allow_int else ''}, got dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected an array with {ndim} axes, got shape {a.shape}")
    if min_ndim is not None and a.ndim < min_ndim:
        raise ValueError(f"{name}: expected an array with at least {min_ndim} axes, got shape {a.shape}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got shape {a.shape}")
    return finite(a, name)


def batch(x, name: str, *, allow_int: bool = False) -> np.ndarray:
    """A non-empty batch (N, ...) of finite floats: the first axis counts samples."""
    a = floats(x, name, allow_int=allow_int)
    if a.ndim < 2:
        raise ValueError(f"{name}: expected a batch (N, ...) with a leading sample axis, got shape {a.shape}")
    if len(a) == 0:
        raise ValueError(f"{name}: expected at least one sample, got an empty batch of shape {a.shape}")
    return a


def generator(rng, name: str = "rng") -> np.random.Generator:
    """A NumPy ``Generator`` (``np.random.default_rng(seed)``): explicit, never global state."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name}: expected a numpy.random.Generator such as np.random.default_rng(0), "
                        f"got {given(rng)}")
    return rng


def function(f, name: str):
    """Something callable (an explanation method, an objective, a decoder)."""
    if not callable(f):
        raise TypeError(f"{name}: expected a callable, got {given(f)}")
    return f


def network(net, name: str = "net"):
    """A ``Sequential`` network, e.g. ``models.load_model('cnn')`` (not its name)."""
    from .network import Sequential  # here, not at the top: network.py imports this module
    if not isinstance(net, Sequential):
        raise TypeError(f"{name}: expected a Sequential network (e.g. models.load_model('cnn')), "
                        f"got {given(net)}")
    return net


def bounds(value, name: str) -> tuple[float, float]:
    """A pair (low, high) of finite numbers with low < high."""
    if not (isinstance(value, (tuple, list, np.ndarray)) and np.shape(value) == (2,)):
        raise TypeError(f"{name}: expected a pair (low, high), got {given(value)}")
    low, high = (number(v, name) for v in value)
    if not low < high:
        raise ValueError(f"{name}: expected low < high, got {tuple(value)!r}")
    return low, high


def flag(value, name: str) -> bool:
    """A yes/no switch: True or False (not 0, 1 or a string, which would hide a misplaced
    positional argument)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {given(value)}")
    return bool(value)
