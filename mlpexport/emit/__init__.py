"""Targets: Network -> files. One module per target, none imports scikit-learn.

Every target module offers:
    FILES                       suffixes it writes, e.g. (".py", ".npz")
    render(net, name, dtype, **options) -> {file name: bytes}    (pure, in memory)
    run(directory, name, X) -> {"predict": ..., "predict_proba": ...}
    runner(directory, name) -> function X -> {"predict": ..., "predict_proba": ...}
    stamp(directory, name) -> Stamp    (fingerprint the files carry, and whether
                                        their weights still hash to what was written)
Adding a target is one new module and one line in TARGETS.
"""
from __future__ import annotations

import importlib
import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..errors import ExportError, OutputExistsError, UsageError
from ..network import Network

TARGETS = {
    "numpy": "mlpexport.emit.numpy",
    "onnx": "mlpexport.emit.onnx",
    "matlab": "mlpexport.emit.matlab",
}
DTYPES = ("float64", "float32")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


def target(name: str):
    return importlib.import_module(TARGETS[name])


def parse_targets(text: str | None) -> list[str]:
    """'numpy,onnx' or 'all' -> ['numpy', 'onnx']; unknown names are a usage error."""
    if not text or text.strip() == "all":
        return list(TARGETS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TARGETS]
    if unknown or not names:
        raise UsageError(
            f"unknown target {', '.join(unknown) or text!r}; choose from "
            f"{', '.join(TARGETS)} or all.")
    return list(dict.fromkeys(names))


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UsageError(
            f"--name {name!r} is not a valid identifier: use letters, digits and _, start "
            f"with a letter, at most 63 characters.")
    return name


def default_name(model_path: str) -> str:
    """The model file's stem made into a valid identifier."""
    stem = os.path.splitext(os.path.basename(model_path))[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    if not name or not name[0].isalpha():
        name = "model_" + name
    return name[:63]


@dataclass
class Stamp:
    file: str
    fingerprint: str | None
    intact: bool  # the weights still hash to the digest written beside them


def classes_for_storage(net: Network):
    """(array, kind): classes as a plain array a file format can hold.

    kind: "number" (int/float/bool, kept as is) or "str" (object or unicode labels,
    stored as unicode; the export hands them back in the original kind).
    """
    if net.classes is None:
        return None, None
    c = np.asarray(net.classes)
    if c.dtype.kind in "biuf":
        return c, "number"
    if c.dtype.kind == "U" or all(isinstance(v, str) for v in c):
        return c.astype(str), ("object" if c.dtype.kind == "O" else "str")
    raise ExportError(
        f"the model's classes have types mlpexport cannot export "
        f"({sorted({type(v).__name__ for v in c})}); use numbers or strings.")


def meta_record(net: Network, name: str, dtype: str, arrays: dict) -> dict:
    """What every export records about itself (also written into file headers)."""
    from ..network import digest

    _, kind = classes_for_storage(net)
    return {
        "producer": "mlpexport",
        "producer_version": __version__,
        "name": name,
        "source": net.meta.get("source", ""),
        "model_file": net.meta.get("model_file", ""),
        "sklearn_version": net.meta.get("sklearn_version", ""),
        "fingerprint": net.fingerprint,
        "digest": digest(arrays),
        "dtype": dtype,
        "n_features": net.n_features,
        "n_outputs": net.n_outputs,
        "head": net.head.kind,
        "activations": [layer.activation for layer in net.layers[:-1]],
        "classes_kind": kind,
        "classes": None if net.classes is None else [
            v.item() if hasattr(v, "item") else v for v in net.classes],
    }


def cast_arrays(net: Network, dtype: str) -> dict[str, np.ndarray]:
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be float64 or float32, not {dtype!r}.")
    return {k: v.astype(dtype) for k, v in net.arrays().items()}


def header(net: Network, name: str, dtype: str) -> list[str]:
    """Lines every generated file starts with: what it is and how to re-check it."""
    m = net.meta
    layers = " -> ".join([str(net.n_features)] + [
        f"{layer.W.shape[1]} {layer.activation}" for layer in net.layers[:-1]] + [
        f"{net.n_outputs} {net.head.kind}"])
    return [
        f"{name}: forward pass of {m.get('source', 'a scikit-learn model')}, exported by "
        f"mlpexport {__version__}.",
        f"Source model: {m.get('model_file') or '(in memory)'}, scikit-learn "
        f"{m.get('sklearn_version', '?')}, fingerprint {net.fingerprint}.",
        f"Layers: {layers}. Arithmetic: {dtype}.",
        "Checked against scikit-learn's own predict when exported; re-check with",
        "    mlpexport check MODEL --against DIR",
    ]


def write_all(files: dict[str, bytes], outdir: str, *, force: bool) -> list[str]:
    """Write every file or none: refuse to overwrite without force, stage to temp
    files in outdir, then move them into place."""
    os.makedirs(outdir, exist_ok=True)
    paths = {fn: os.path.join(outdir, fn) for fn in files}
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not force:
        raise OutputExistsError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            f"use --force to overwrite.")
    staged = {}
    umask = os.umask(0)
    os.umask(umask)
    try:
        for fn, data in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{fn}.", suffix=".tmp", dir=outdir)
            staged[fn] = tmp
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; exports are ordinary files
        for fn, tmp in staged.items():
            os.replace(tmp, paths[fn])
        staged.clear()
    finally:
        for tmp in staged.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
    return list(paths.values())


def render_all(net: Network, name: str, targets: list[str], dtype: str, **options) -> dict[str, bytes]:
    files = {}
    for t in targets:
        files.update(target(t).render(net, name, dtype=dtype, **options))
    return files

