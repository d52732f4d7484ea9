"""Argument checks shared by every part of course_lib, with one phrasing of errors:

    NAME must be WHAT WAS EXPECTED, got WHAT CAME IN

Each check returns the value it accepted (converted where that helps: an int, a float, a numpy
array), so a caller validates and normalises in one line: `steps = integer(steps, "steps", lo=1)`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import torch

Lim = tuple[float, float, float, float]


def invalid(name: str, expected: str, got: Any, hint: str = "") -> ValueError:
    """The ValueError of every check here: "{name} must be {expected}, got {got}{hint}"."""
    return ValueError(f"{name} must be {expected}, got {got}{hint}")


def _range(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False, ints: bool = False) -> str:
    if lo is not None and hi is not None:
        if ints:
            return f" in {lo} .. {hi}"
        return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi:g}"
    return ""


# ----------------------------------------------------------------------------- scalars
def is_integer(value: Any) -> bool:
    """True for Python and numpy integers, not for bools."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer(value: Any, name: str, lo: int | None = None, hi: int | None = None, what: str = "an integer",
            hint: str = "") -> int:
    """An integer in lo .. hi (either bound may be None), returned as int.

    `what` names the kind ("an integer step", "an integer index"); with only lo = 1 or lo = 0 and the
    default `what`, the message says "a positive integer" / "a non-negative integer".
    """
    if is_integer(value) and (lo is None or value >= lo) and (hi is None or value <= hi):
        return int(value)
    if what == "an integer" and hi is None and lo in (0, 1):
        expected = "a positive integer" if lo == 1 else "a non-negative integer"
    else:
        expected = what + _range(lo, hi, ints=True)
    raise invalid(name, expected, repr(value), hint)


def number(value: Any, name: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False, hint: str = "") -> float:
    """A finite real number within the bounds (closed unless lo_open / hi_open), returned as float."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = np.isfinite(v) and (lo is None or (v > lo if lo_open else v >= lo)) \
            and (hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        raise invalid(name, "a number" + _range(lo, hi, lo_open, hi_open), repr(value), hint)
    return float(value)


def choice(value: Any, name: str, options: Collection) -> Any:
    """One of `options` (shown as a tuple in the message)."""
    if value not in options:
        raise invalid(name, f"one of {tuple(options)}", repr(value))
    return value


# ----------------------------------------------------------------------------- tensors and arrays
def shape_of(x: Any) -> str:
    """A value's shape for a message: "(2, 3)", or its type when it has none."""
    return str(tuple(x.shape)) if hasattr(x, "shape") else type(x).__name__


def check_shape(x: Any, name: str, expected: str, ok: bool) -> None:
    """Fail unless `ok`: "{name} must be of shape {expected}, got {x's shape}"."""
    if not ok:
        raise invalid(name, f"of shape {expected}", shape_of(x))


def same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    """Fail unless a and b have the same shape; `names` reads like "x0 and noise"."""
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def to_numpy(x: Any, name: str) -> np.ndarray:
    """A tensor (any device) or array-like as a float32 numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise invalid(name, "a tensor or array of numbers", type(x).__name__) from err


def points(z: Any, name: str = "z") -> np.ndarray:
    """2-D points (N, 2) as numpy."""
    z = to_numpy(z, name)
    if z.ndim != 2 or z.shape[1] != 2:
        hint = "; project it to 2-D first (e.g. PCA)" if z.ndim == 2 and z.shape[1] > 2 else ""
        raise invalid(name, "of shape (N, 2)", f"shape {tuple(z.shape)}", hint)
    return z


def labels(values: Any, n: int, name: str = "labels") -> np.ndarray:
    """One label per point (n,) as numpy."""
    values = to_numpy(values, name)
    if values.shape != (n,):
        raise invalid(name, f"of shape ({n},), one per point", f"shape {tuple(values.shape)}")
    return values


def vector(z: Any, name: str, d: int | None = None) -> torch.Tensor:
    """One latent vector (d,) as a CPU float32 tensor."""
    z = torch.as_tensor(to_numpy(z, name))
    if z.ndim != 1 or (d is not None and z.shape[0] != d):
        raise invalid(name, f"one latent vector of shape {f'({d},)' if d is not None else '(d,)'}", f"shape {tuple(z.shape)}")
    return z


def codes(z: Any, name: str = "z") -> torch.Tensor:
    """Latent codes (M, d) as a CPU float32 tensor."""
    z = torch.as_tensor(to_numpy(z, name))
    if z.ndim != 2:
        raise invalid(name, "latent codes of shape (M, d)", f"shape {tuple(z.shape)}")
    return z


def lim(box: Sequence[float], name: str = "lim") -> Lim:
    """A box (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax."""
    try:
        xmin, xmax, ymin, ymax = (float(v) for v in box)
    except (TypeError, ValueError) as err:
        raise invalid(name, "four numbers (xmin, xmax, ymin, ymax)", repr(box)) from err
    if not (xmin < xmax and ymin < ymax):
        raise invalid(name, "a box with xmin < xmax and ymin < ymax", (xmin, xmax, ymin, ymax))
    return xmin, xmax, ymin, ymax
