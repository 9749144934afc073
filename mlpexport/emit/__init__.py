"""Targets: Network -> files. One module per target, none imports scikit-learn.

A target is any module (or object) that satisfies `Target` below, registered by one
entry in TARGETS: `--to` choices and `all` come from that registry. It renders
`Network.program()`, the typed op list, through its own table from op type to syntax;
what a model means is decided once, in network.py. Its options are the fields of its
`Options` dataclass (named after the target, e.g. matlab_inline); an option that no
registered target declares is a UsageError. See docs/architecture.md.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import keyword
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from .. import __version__
from ..errors import ExportError, OutputExistsError, UsageError
from ..network import Network
from ..targets import TARGETS  # the registry lives apart so --help can list it cheaply

DTYPES = ("float64", "float32")
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
# Names a NAME.py must not take: it would shadow the module for code next to it.
PYTHON_MODULES = frozenset(sys.stdlib_module_names) | {
    "numpy", "scipy", "sklearn", "pandas", "onnx", "onnxruntime", "joblib", "skops",
    "mlpexport", "pytest", "matplotlib"}
# Characters of model-file text (versions, file names, class names) that may stand in a
# comment or docstring of generated code: no quotes, backslashes, line breaks, braces.
PLAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        " ._-+()[],:;=/@#<>*!?&^~|")


# Options every target may read: (X, {"predict": ..., "predict_proba": ...}) of
# scikit-learn on test rows, which convert hands to the exports that store them.
COMMON_OPTIONS = ("golden",)


@runtime_checkable
class Target(Protocol):
    """What a target offers. Modules satisfy it (module attributes are its members)."""

    FILES: tuple[str, ...]  # suffixes it writes after NAME, e.g. (".py", ".npz")
    Options: type  # a dataclass: the target's options, each with a default

    def render(self, net: Network, name: str, *, dtype: str = "float64",
               **options: Any) -> dict[str, bytes]:
        """{file name: bytes}, pure and in memory. `options` are the whole export set's
        (they go into its export id); the target reads its own through target_options."""

    def runner(self, directory: str, name: str) -> Callable[[Any], dict]:
        """X -> {"predict": ..., "predict_proba": ...} of the files in directory."""

    def stamp(self, directory: str, name: str) -> "Stamp":
        """The fingerprint the files carry and whether their weights still hash to
        what was written; reads the files as data."""


def target(name: str) -> Target:
    entry = TARGETS[name]
    return importlib.import_module(entry) if isinstance(entry, str) else entry


def known_options() -> dict[str, str]:
    """Every option a registered target declares -> the target declaring it."""
    known = {o: "every target" for o in COMMON_OPTIONS}
    for t in TARGETS:
        known.update({f.name: t for f in dataclasses.fields(target(t).Options)})
    return known


def target_options(options_class, options: dict):
    """The typed options of one target from the export set's options. A name no
    registered target declares (a misspelling) is a UsageError, never ignored."""
    known = known_options()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise UsageError(f"unknown export option {', '.join(unknown)}; the registered "
                         f"targets take {', '.join(sorted(known))}.")
    fields = {f.name for f in dataclasses.fields(options_class)}
    return options_class(**{k: v for k, v in options.items() if k in fields})


def parse_targets(text: str | None) -> list[str]:
    """'numpy,onnx' or 'all' -> ['numpy', 'onnx']; unknown names are a usage error."""
    if text is None or text.strip() == "all":
        return list(TARGETS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TARGETS]
    if unknown or not names:
        raise UsageError(
            f"unknown target {', '.join(unknown) or text!r}; choose from "
            f"{', '.join(TARGETS)} or all.")
    return list(dict.fromkeys(names))


def reserved(name: str, targets=None) -> str | None:
    """Why `name` cannot name an export (a keyword, or a module/function the export or
    its language relies on), or None. Each target lists its own in RESERVED."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "a Python keyword"
    if name in PYTHON_MODULES:
        return f"a Python module ({name}.py next to it would shadow it)"
    for t in (TARGETS if targets is None else targets):
        why = getattr(target(t), "RESERVED", {}).get(name.lower())
        if why:
            return why
    return None


def check_name(name: str, targets=None) -> str:
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"--name {name!r} is not a valid identifier: use letters, digits and _, start "
            f"with a letter, at most 63 characters.")
    why = reserved(name, targets)
    if why:
        raise UsageError(f"--name {name} is {why}; choose another name, e.g. {name}_model.")
    return name


def default_name(model_path: str, targets=None) -> str:
    """The model file's stem made into a valid identifier that no target reserves
    (numpy.pkl -> numpy_model)."""
    stem = os.path.splitext(os.path.basename(model_path))[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    if not name or not name[0].isalpha():
        name = "model_" + name
    name = name[:63]
    if reserved(name, targets):
        name = name[:57] + "_model"
    return name


def plain(text, limit: int = 120) -> str:
    """Model-file text (a version, a file name) made safe for a comment or docstring of
    any generated language: characters outside PLAIN_CHARS become '?', at most `limit`
    of them. The exact text is kept only as data (the .npz/.mat/.onnx metadata)."""
    text = "".join(c if c in PLAIN_CHARS else "?" for c in str(text))
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class Stamp:
    file: str
    fingerprint: str | None
    intact: bool  # the weights still hash to the digest written beside them
    dtype: str = "float64"  # the arithmetic the export was written in
    same_export: bool = True  # every file of the set carries the same export_id


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


def refuse_nul_labels(net: Network, target: str, why: str, trailing_only: bool = False) -> None:
    """A class label with a NUL character, named, for a target whose strings cannot hold
    it (C strings end at NUL; a .npz string array drops trailing ones)."""
    if net.classes is None:
        return
    for c in net.classes:
        if isinstance(c, str) and (c.endswith("\0") if trailing_only else "\0" in c):
            raise ExportError(f"class label {c!r} holds a NUL character, which {why}; the "
                              f"{target} export refuses it (rename the class).")


def export_id(net: Network, name: str, dtype: str, options: dict | None = None) -> str:
    """What one export was made from: model, name, arithmetic, mlpexport version and
    target options. Every file of an export carries it, so a set mixed from two
    different exports (a kill between renames, files copied by hand) is detected;
    the same inputs give the same id, so re-exporting changes nothing."""
    import hashlib
    opts = sorted((k, repr(v)) for k, v in (options or {}).items() if k != "golden")
    text = json.dumps([net.fingerprint, name, dtype, __version__, opts])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def meta_record(net: Network, name: str, dtype: str, arrays: dict, options: dict | None = None,
                texts: dict | None = None) -> dict:
    """What every export records about itself (also written into file headers). Its
    digest covers the weights and every string the export stores (texts: default
    net.texts(); a target that stores fewer, e.g. no feature names, passes its own), so
    an edited name, label or vocabulary in a committed export is found by its stamp."""
    from ..network import digest

    _, kind = classes_for_storage(net)
    return {
        "producer": "mlpexport",
        "producer_version": __version__,
        "export_id": export_id(net, name, dtype, options),
        "name": name,
        "source": net.meta.get("source", ""),
        "model_file": net.meta.get("model_file", ""),
        "sklearn_version": net.meta.get("sklearn_version", ""),
        "fingerprint": net.fingerprint,
        "digest": digest(arrays | (net.texts() if texts is None else texts)),
        "dtype": dtype,
        "n_features": net.n_features,
        "n_outputs": net.n_outputs,
        "head": net.head.kind,
        "activations": [layer.activation for layer in net.layers[:-1]],
        "classes_kind": kind,
        "classes": None if net.classes is None else [
            v.item() if hasattr(v, "item") else v for v in net.classes],
        "outputs": net.outputs(),  # scikit-learn's names of what the export computes
    }


def column_names(net: Network) -> list[str]:
    """The names of X's columns: the model's feature names, else x0, x1, ... (how the ONNX
    inputs and MATLAB struct fields of a model with text columns are named without them)."""
    names = net.meta.get("feature_names") or [f"x{j}" for j in range(net.n_features)]
    return [str(n) for n in names]


def cast_arrays(net: Network, dtype: str) -> dict[str, np.ndarray]:
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be float64 or float32, not {dtype!r}.")
    return {k: v.astype(dtype) for k, v in net.arrays().items()}


def header(net: Network, name: str, dtype: str) -> list[str]:
    """Lines every generated file starts with: what it is and how to re-check it."""
    m = {k: plain(v) for k, v in net.meta.items() if isinstance(v, str)}
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
        *_nan_note(net),
    ]


def _nan_note(net: Network) -> list[str]:
    ok = net.nan_columns()
    if not ok.any():
        return []
    cols = ", ".join(str(int(j)) for j in np.flatnonzero(ok))
    return [f"NaN is accepted in input columns {cols} (0-based): an imputer fills them (or",
            "no step reads them); elsewhere it is refused, naming the column (an ONNX graph",
            "cannot refuse: there a NaN elsewhere gives that row meaningless, usually NaN, outputs)."]


def check_outdir(outdir: str, flag: str = "-o") -> list[str]:
    """Make sure files can be written in `outdir`, creating it (and missing parents)
    if needed: every problem a user can cause is one plain UsageError, before any work.
    Returns the directories it created, outermost first, for `remove_created`."""
    if not outdir:
        raise UsageError(f"{flag} is empty; give a directory (. for the current one).")
    missing, probe = [], os.path.abspath(outdir)
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        what = "is not a directory" if probe == os.path.abspath(outdir) else f"is below {probe}, which is not a directory"
        raise UsageError(f"{flag} {outdir} {what}.")
    created = []
    try:
        for d in reversed(missing):
            os.mkdir(d)
            created.append(d)
        fd, tmp = tempfile.mkstemp(prefix=".mlpexport-probe-", dir=outdir)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        remove_created(created)
        raise UsageError(f"{flag} {outdir}: cannot write there ({exc.strerror or exc}).") from None
    return created


def remove_created(created: list[str]):
    """Remove directories check_outdir created, if nothing was written into them."""
    for d in reversed(created):
        try:
            os.rmdir(d)
        except OSError:
            return


_TEMP = re.compile(r"\.(?P<file>.+)\.(?P<pid>\d+)\.[^.]+\.tmp")


def _remove_stale_temps(outdir, names):
    """Temp files an earlier, killed mlpexport left for these names (its pid is gone)."""
    for entry in os.listdir(outdir):
        m = _TEMP.fullmatch(entry)
        if not m or m["file"] not in names:
            continue
        try:
            os.kill(int(m["pid"]), 0)
            continue  # that process is still running: its file, not ours to touch
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            os.unlink(os.path.join(outdir, entry))
        except OSError:
            pass


@contextlib.contextmanager
def _locked(outdir):
    """Hold an exclusive lock on the directory while names are checked and files moved
    in, so two mlpexport processes writing the same names there cannot interleave."""
    fd = os.open(outdir, os.O_RDONLY)
    try:
        try:
            import fcntl
            fcntl.flock(fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            pass  # no flock here (Windows, some network file systems): best effort
        yield
    finally:
        os.close(fd)


SIGNALS = tuple(getattr(signal, s) for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s))


@contextlib.contextmanager
def _signals_held():
    """Catchable signals wait until every file is in place (a kill -9 cannot be held:
    then the export_id in each file tells check --against that the set is mixed)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_all(files: dict[str, bytes], outdir: str, *, force: bool,
              written: list | None = None) -> list[str]:
    """Write every file or none: refuse to overwrite without force (a dangling symlink
    counts as existing), stage to temp files in outdir, then move them all into place
    under a directory lock with catchable signals held. `written`, if given, receives
    the paths before any signal can be handled (so an interrupt reports them)."""
    check_outdir(outdir)
    paths = {fn: os.path.join(outdir, fn) for fn in files}
    staged, moved = {}, []
    umask = os.umask(0)
    os.umask(umask)
    with _locked(outdir):
        _remove_stale_temps(outdir, set(files))
        dirs = [p for p in paths.values() if os.path.isdir(p) and not os.path.islink(p)]
        if dirs:
            raise UsageError(f"{', '.join(dirs)} {'is a directory' if len(dirs) == 1 else 'are directories'}; "
                             f"mlpexport does not replace directories, even with --force.")
        same = [fn for fn, p in paths.items() if _holds(p, files[fn])]
        paths = {fn: p for fn, p in paths.items() if fn not in same}  # already there: keep
        existing = [p for p in paths.values() if os.path.lexists(p)]
        if existing and not force:
            raise OutputExistsError(
                f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                f"use --force to overwrite.")
        try:
            for fn in paths:
                data = files[fn]
                where = os.path.dirname(paths[fn])  # a file in a subfolder (ONNX test data)
                os.makedirs(where, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(fn)}.{os.getpid()}.",
                                           suffix=".tmp", dir=where)
                staged[fn] = tmp
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; exports are ordinary files
            with _signals_held():
                for fn in list(staged):
                    os.replace(staged[fn], paths[fn])
                    moved.append(paths[fn])
                    del staged[fn]
                if written is not None:
                    written.extend(moved)
        except OSError as exc:
            if not existing:  # nothing was there before: take the new files back out
                for path in moved:
                    os.unlink(path)
                moved.clear()
            done = f"already replaced: {', '.join(moved)}" if moved else "no files were written"
            raise ExportError(f"writing to {outdir} failed ({exc.strerror or exc}); {done}.") from None
        finally:
            for tmp in staged.values():
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return [os.path.join(outdir, fn) for fn in files]


def _holds(path, data: bytes) -> bool:
    """A regular file (not a link) at path already holds exactly these bytes (e.g. the
    shared mlpexport_verify.m written by an earlier export into the same folder)."""
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def render_all(net: Network, name: str, targets: list[str], dtype: str, **options) -> dict[str, bytes]:
    """Every target's files; `options` belong to the set (see target_options)."""
    files = {}
    for t in targets:
        files.update(target(t).render(net, name, dtype=dtype, **options))
    return files

