"""Rows to check on: read from --data (.npy / .csv) or drawn from what the model knows."""
from __future__ import annotations

import os

import numpy as np

from .errors import InputError
from .network import Network

EXTREME = 1e3  # extreme rows sit this many spreads away from the inputs' centre


class NpyRows:
    """The rows of a 2-D C-order .npy file, read on demand: X[a:b] reads just those rows.

    Unlike a memory map, rows already read do not stay in the process's memory, so a
    check over a file of any size runs in the memory of one chunk."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f".npy format {version}")
            self.offset = f.tell()
        if fortran or dtype.hasobject:
            raise ValueError("not a plain C-order numeric array")
        self.shape, self.dtype, self.ndim = shape, dtype, len(shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        width = int(np.prod(self.shape[1:]))
        out = np.empty((max(stop - start, 0),) + self.shape[1:], self.dtype)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * width * self.dtype.itemsize)
            f.readinto(memoryview(out).cast("B"))
        return out


def read_data(path: str, n_features: int | None = None, *, stream: bool = False):
    """A 2-D float array from a .npy or .csv file (numeric, optional header row).

    stream: a .npy file is not read at once but row range by row range (NpyRows);
    NaN and infinity are then checked chunk by chunk by whoever reads it."""
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such data file.")
    try:
        if ext == ".npy" and stream:
            try:
                X = NpyRows(path)
            except ValueError:
                X = np.load(path, allow_pickle=False)
        elif ext == ".npy":
            X = np.load(path, allow_pickle=False)
        elif ext == ".csv":
            X = _read_csv(path)
        else:
            raise InputError(f"{path}: data must be a .npy or .csv file.")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path} is not a readable {ext} file ({type(exc).__name__}: {exc}).") from None
    if X.dtype.kind not in "biuf":
        raise InputError(f"{path} holds {X.dtype} values; it must be numeric.")
    if X.ndim != 2:
        raise InputError(f"{path} holds a {X.ndim}-D array of shape {X.shape}; it must be 2-D.")
    if X.shape[0] == 0:
        raise InputError(f"{path} has no rows.")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(
            f"{path} has {X.shape[1]} columns but the model expects {n_features} features.")
    if isinstance(X, np.ndarray) and not np.isfinite(X).all():
        raise InputError(f"{path} contains NaN or infinite values.")
    return X


def _read_csv(path):
    with open(path, encoding="utf-8-sig") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{path} is empty.")
    first = [c.strip() for c in lines[0].split(",")]
    try:
        [float(c) for c in first]
        body = lines
    except ValueError:
        body = lines[1:]  # a header row
    rows = []
    for i, line in enumerate(body, start=len(lines) - len(body) + 1):
        cells = [c.strip() for c in line.split(",")]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            bad = next(c for c in cells if not is_number(c))
            raise InputError(f"{path} line {i}: {bad!r} is not a number.") from None
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise InputError(f"{path}: rows have different numbers of columns ({sorted(widths)}).")
    return np.array(rows, dtype=np.float64)


def is_number(text) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def draw_rows(net: Network, n: int = 256, seed: int = 0) -> np.ndarray:
    """In-distribution rows (from the first scaler's statistics when there is one),
    a row of zeros, and extreme rows far outside the training range (exp, logistic
    and softmax overflow there)."""
    rng = np.random.default_rng(seed)
    f = net.n_features
    loc = net.input_loc if net.input_loc is not None else np.zeros(f)
    spread = net.input_spread if net.input_spread is not None else np.ones(f)
    typical = loc + spread * rng.standard_normal((n, f))
    signs = rng.choice([-1.0, 1.0], size=(16, f))
    corners = loc + EXTREME * spread * signs
    axes = np.repeat(loc[None, :], 2 * min(f, 16), axis=0)
    for i in range(min(f, 16)):
        axes[2 * i, i] += EXTREME * spread[i]
        axes[2 * i + 1, i] -= EXTREME * spread[i]
    return np.vstack([typical, np.zeros((1, f)), loc[None, :], corners, axes])
