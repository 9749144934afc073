"""Command line: parse, call the library, map its typed errors to exit codes.

Exit codes: 0 success; 1 `check` (or the check `convert` runs before writing) found a
disagreement beyond tolerance; 2 usage errors, unreadable/unsafe/unsupported model
files, bad data. Errors are one plain line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings

from . import __version__
from . import supported
from .errors import MlpexportError, RuntimeFailed, UsageError
from .targets import TARGETS

TARGET_HELP = f"comma-separated from {', '.join(TARGETS)}, or all (default)"


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        raise UsageError(f"{message} (see mlpexport {self.prog.split()[-1]} --help)"
                         if " " in self.prog else f"{message} (see mlpexport --help)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlpexport", description=(
        "Export a trained scikit-learn MLP or linear model to a numpy module, an ONNX "
        "graph, a MATLAB function and C source, and prove each gives scikit-learn's answers."))
    p.add_argument("--version", action="version", version=f"mlpexport {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    c = sub.add_parser("convert", help="export a model to numpy / ONNX / MATLAB / C files",
                       description="Export MODEL; every export is checked against "
                                   "scikit-learn before any file is written.")
    c.add_argument("model", metavar="MODEL", help=".skops, .pkl, .pickle, .sav or .joblib file")
    c.add_argument("--to", default="all", metavar="TARGETS", help=TARGET_HELP)
    c.add_argument("-o", "--outdir", default=".", metavar="OUTDIR", help="output directory (default: .)")
    c.add_argument("--name", help="base name of the files (default: the model file's stem)")
    c.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                   help="arithmetic of the exports (default float64)")
    c.add_argument("--force", action="store_true", help="overwrite existing files")
    _trust_option(c)
    c.add_argument("--prune-dead", action="store_true",
                   help="drop ReLU units never active on --data (proven on that data only)")
    c.add_argument("--data", metavar="FILE",
                   help="your own rows (.npy, or .csv or .parquet matched to the model's feature names by "
                        "its header) to prove parity on, besides drawn extremes; also the rows "
                        "--prune-dead judges units on")
    _export_options(c)
    _runtimes_option(c, "none: onnxruntime only")

    k = sub.add_parser("check", help="run exports and scikit-learn on the same rows and compare",
                       description="Exit 0 when every export agrees with scikit-learn within "
                                   "tolerance, 1 when one does not (for any of the MODELs), "
                                   "2 on errors.")
    k.add_argument("model", metavar="MODEL", nargs="+",
                   help="model file(s); several models are checked one after the other, each "
                        "against exports named after its own file")
    k.add_argument("--data", metavar="FILE", help=".npy (2-D), .csv or .parquet rows (default: drawn from the model)")
    k.add_argument("--to", default="all", metavar="TARGETS", help=TARGET_HELP)
    k.add_argument("--against", metavar="DIR", help="run the exports already in DIR instead of fresh ones")
    k.add_argument("--name", help="base name of the exports in DIR (default: the model file's "
                   "stem; only with one MODEL)")
    k.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                   help="arithmetic of fresh exports (default float64)")
    k.add_argument("--rtol", type=tolerance, help="relative tolerance (default: 1e-9 for float64 "
                   "exports, 1e-4 for float32 ones)")
    k.add_argument("--atol", type=tolerance, default=0.0, help="absolute tolerance (default 0)")
    k.add_argument("--json", action="store_true", help="print the report as JSON on stdout "
                   "(non-finite errors as the strings \"inf\"/\"nan\")")
    k.add_argument("--junit", metavar="FILE", help="also write the report as JUnit XML (one "
                   "testsuite per model, one testcase per export and output); an existing "
                   "report is replaced, as pytest's --junitxml does")
    k.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    _trust_option(k)
    _plot_options(k, "scatter of each export against scikit-learn, and the distribution of "
                     "absolute errors")
    _export_options(k)
    _runtimes_option(k, "every one installed, SKIP for the others")

    i = sub.add_parser("inspect", help="what the network computes: layers, formulas, dead units",
                       description="Architecture, the forward pass in numpy and MATLAB syntax, and "
                                   "per-unit activity on data (dead ReLUs, saturation), with warnings.")
    i.add_argument("model", metavar="MODEL")
    i.add_argument("--data", metavar="FILE", help=".npy, .csv or .parquet rows (default: drawn from the model)")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    _plot_options(i, "one input: fitted curve and unit contributions; more: unit activity heatmap")
    i.add_argument("--force", action="store_true", help="overwrite an existing plot file")
    _trust_option(i)

    t = sub.add_parser("train", help="train an MLP or logistic model (toy puzzles, bundled data, CSV)",
                       description="Train a Pipeline(scaler, model) and save it; prints train and "
                                   "held-out scores and whether the optimizer converged.")
    t.add_argument("dataset", metavar="DATASET",
                   help="sine, relu, identity, cubic, quadratic, diabetes, linnerud, iris, wine, "
                        "breast_cancer, digits, or a .csv file (with --target)")
    t.add_argument("--model", choices=supported.train_models(),
                   help="default: chosen from the target as scikit-learn's type_of_target does "
                        "(classes: mlp-classifier, numbers: mlp-regressor); printed when chosen")
    t.add_argument("--hidden", default="100", help="hidden layer widths, e.g. 11,10 (default: %(default)s)")
    t.add_argument("--activation", default="relu", choices=("identity", "logistic", "tanh", "relu"),
                   help="hidden units' activation (default: %(default)s)")
    t.add_argument("--scaler", default="standard", choices=("standard", "minmax", "maxabs", "robust", "none"),
                   help="input scaler in front of the model (default: %(default)s)")
    t.add_argument("--target-scaler", default="none", choices=("standard", "minmax", "maxabs", "robust", "none"),
                   help="regressors: scale the target too, a TransformedTargetRegressor (default: %(default)s)")
    t.add_argument("--max-iter", type=int, default=200, help="training epochs at most (default: %(default)s)")
    t.add_argument("--seed", type=int, default=0,
                   help="seed of data generation, split and weights, 0..2**32-1 (default: %(default)s)")
    t.add_argument("--test-size", type=float, default=0.25,
                   help="held-out share, between 0 and 1 (default: %(default)s)")
    t.add_argument("--target", help="CSV only: target column name(s), comma-separated")
    t.add_argument("-o", "--output", metavar="MODEL", help="model file (default DATASET.skops)")
    t.add_argument("--force", action="store_true", help="overwrite an existing model file")
    t.add_argument("--quiet", action="store_true", help="no progress display")
    return p


def tolerance(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def _trust_option(p):
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a .pkl/.joblib/.sav file with plain pickle, without the allowlist: "
                        "this runs any code the file contains, so use it only for files you "
                        "wrote yourself")


def _plot_options(p, what):
    p.add_argument("--plot", metavar="FILE.png", help=what)
    p.add_argument("--plot-size", default="900x600", metavar="WxH", help="plot size in pixels")


def _runtimes_option(p, default):
    p.add_argument("--onnx-runtimes", metavar="RUNTIMES",
                   help="ONNX runtimes to run the ONNX export in besides onnxruntime, each its "
                        "own rows: comma-separated from openvino, tract, opencv, node "
                        f"(onnxruntime-node), web (onnxruntime-web, wasm), all, or onnxruntime for none (default: {default}, "
                        "or MLPEXPORT_ONNX_RUNTIMES); a runtime named here must be installed")


def _export_options(p):
    p.add_argument("--matlab-inline", action="store_true",
                   help="MATLAB: write the weights into the .m file (no .mat; for MATLAB Coder)")
    p.add_argument("--onnx-no-label", action="store_true",
                   help="ONNX: leave out the label output (MATLAB's importer cannot take string tensors)")
    p.add_argument("--onnx-opset", type=int, metavar="N",
                   help="ONNX: write the graph at opset N (default: the lowest its ops need, "
                        "13 for numbers, 19 with text columns; MATLAB's importer wants <= 14)")
    p.add_argument("--onnx-text", choices=("strings", "codes"),
                   help="ONNX: text columns as string inputs (default) or as int64 codes, "
                        "the vocabulary in the metadata and NAME.codes.json (for runtimes "
                        "without string tensors: OpenVINO, tract, OpenCV, MATLAB)")
    p.add_argument("--onnx-test-data", action="store_true",
                   help="ONNX: also write NAME/test_data_set_0/input_*.pb and output_*.pb, "
                        "proven rows and scikit-learn's outputs in ONNX's test-data layout")
    p.add_argument("--matlab-verify", action="store_true",
                   help="MATLAB: also write mlpexport_verify.m, which re-checks the export in MATLAB")


def _options(args) -> dict:
    out = {"matlab_inline": args.matlab_inline, "onnx_no_label": args.onnx_no_label,
           "matlab_verify": args.matlab_verify, "onnx_test_data": args.onnx_test_data}
    if args.onnx_opset is not None:
        out["onnx_opset"] = args.onnx_opset
    if args.onnx_text is not None:
        out["onnx_text"] = args.onnx_text
    return out


def cmd_convert(args) -> int:
    from . import api

    report = api._convert(args.model, args.outdir, to=args.to, name=args.name, dtype=args.dtype,
                          data=args.data, force=args.force, prune_dead=args.prune_dead,
                          trust_pickle=args.trust_pickle, options=_options(args), note=_note,
                          written=WRITTEN, onnx_runtimes=args.onnx_runtimes)
    if not report.passed:
        print(report.table(unrun="written but not run"))
        print("mlpexport: error: an export disagrees with scikit-learn; no files were written.",
              file=sys.stderr)
        return 1
    print(f"{report.estimator} -> {', '.join(os.path.basename(p) for p in report.files)} in {args.outdir}")
    print(report.table(unrun="written but not run"))
    return 0


def cmd_check(args) -> int:
    models = args.model
    if args.name is not None and len(models) > 1:
        raise UsageError("--name names the exports of one model; with several models each "
                         "model's exports are named after its file.")
    if args.plot and len(models) > 1:
        raise UsageError("--plot draws one model; give one MODEL with --plot.")
    created = _plot_target(args) + _output_target(args.junit, "--junit", force=True)
    try:
        return _check_models(args, models)
    finally:
        if not WRITTEN:  # an error before the report was written: no new empty folders
            from .emit import remove_created
            remove_created(created)


def _check_models(args, models) -> int:
    from . import api
    from .emit import write_all

    if args.plot:  # imported before any export runs (emit/sandbox.py: seal_parent)
        from .plot import _pyplot
        _pyplot()
        import matplotlib.backends.backend_agg  # noqa: F401
    reports = []
    for model in models:
        try:
            reports.append(api._check(model, data=args.data, against=args.against,
                                      name=args.name, to=args.to, rtol=args.rtol,
                                      atol=args.atol, dtype=args.dtype,
                                      trust_pickle=args.trust_pickle, options=_options(args),
                                      note=_note, onnx_runtimes=args.onnx_runtimes))
        except MlpexportError as exc:
            if len(models) > 1 and not str(exc).startswith(model):
                exc.args = (f"{model}: {exc}",)  # which of the models it is about
            if isinstance(exc, RuntimeFailed) and getattr(exc, "report", None) is not None:
                # an export's runtime crashed: exit 2 with its one line, and the reports
                # (JUnit, JSON) still say so, with the rows checked before it
                exc.report.error = str(exc)
                _reports(args, reports + [exc.report], table=False)
            raise
    _reports(args, reports)
    if args.plot:
        from .plot import parity_png, parse_size
        size = parse_size(args.plot_size)
        write_all({os.path.basename(args.plot): parity_png(reports[0].samples, size)},
                  os.path.dirname(args.plot) or ".", force=args.force, written=WRITTEN)
    return 0 if all(r.passed for r in reports) else 1


def _reports(args, reports, table=True):
    """The report on stdout (--json, else the table: not after a runtime error, whose one
    line on stderr says it all) and --junit FILE."""
    from .check import group_json, group_table, junit_xml
    from .emit import write_all
    if args.json:
        print(json.dumps(group_json(reports), indent=2))
    elif table:
        print(group_table(reports))
    if args.junit:
        write_all({os.path.basename(args.junit): junit_xml(reports)},
                  os.path.dirname(args.junit) or ".", force=True,  # a build artefact: replaced,
                  written=WRITTEN)  # as pytest's --junitxml does


def cmd_inspect(args) -> int:
    from . import api
    from .inspection import text

    _plot_target(args)
    size = None
    if args.plot:
        from .plot import parse_size
        size = parse_size(args.plot_size)
    rep, net, X = api._inspect(args.model, data=args.data, trust_pickle=args.trust_pickle,
                               note=_note)
    print(json.dumps(rep, indent=2) if args.json else text(rep))
    if args.plot:
        from .emit import write_all
        from .plot import units_png
        write_all({os.path.basename(args.plot): units_png(net, X, size)},
                  os.path.dirname(args.plot) or ".", force=args.force, written=WRITTEN)
    return 0


def cmd_train(args) -> int:
    from . import train as tr
    from .emit import write_all

    hidden = tr.parse_hidden(args.hidden)
    if args.max_iter < 1:
        raise UsageError("--max-iter must be at least 1.")
    tr.check_options(args.seed, args.test_size)  # before any data is read
    data = tr.load_dataset(args.dataset, seed=args.seed, target=args.target)
    kind = args.model or ("mlp-classifier" if data.task == "classification" else "mlp-regressor")
    if data.note and not args.model:
        print(data.note)
    if tr.names_note(data):
        print(tr.names_note(data))
    stem = os.path.splitext(os.path.basename(args.dataset))[0]
    output = args.output or f"{stem}.skops"
    from .load import MODEL_SUFFIXES
    if not output.lower().endswith(MODEL_SUFFIXES):
        raise UsageError(f"-o {output}: the model file must end in {', '.join(MODEL_SUFFIXES)}.")
    if os.path.exists(output) and not args.force:
        raise UsageError(f"{output} already exists; use --force to overwrite.")
    progress = tr.progress_for(quiet=args.quiet, max_iter=args.max_iter)
    result = tr.train(data, kind, hidden=hidden, activation=args.activation, scaler=args.scaler,
                      max_iter=args.max_iter, seed=args.seed, test_size=args.test_size,
                      target_scaler=args.target_scaler, progress=progress)
    write_all({os.path.basename(output): tr.model_bytes(result.estimator, output)},
              os.path.dirname(output) or ".", force=True)
    from .extract import describe
    print(f"{describe(result.estimator)} on {args.dataset} ({len(data.X)} rows, "
          f"{data.X.shape[1]} feature{'s' if data.X.shape[1] != 1 else ''}): train {result.metric} {result.train_score:.4f}, "
          f"held-out {result.metric} {result.test_score:.4f}, "
          f"{'converged' if result.converged else 'did NOT converge'} after {result.n_iter} "
          f"iterations -> {output}")
    return 0


COMMANDS = {"convert": cmd_convert, "check": cmd_check, "inspect": cmd_inspect, "train": cmd_train}


def _output_target(path, flag, force):
    """A report file (--junit, --plot): refused before any work when its folder cannot be
    made or written, or when it exists and force is false (--plot without --force; a
    --junit report is always replaced). Returns the folders it made (remove_created)."""
    if path is None:
        return []
    if not path.strip():
        raise UsageError(f"{flag} needs a file name (it was given an empty one).")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a directory; give a file name.")
    if os.path.lexists(path) and not force:
        raise UsageError(f"{path} already exists; use --force to overwrite.")
    from .emit import check_outdir
    return check_outdir(os.path.dirname(path) or ".", flag)


def _plot_target(args):
    """--plot FILE: refused before any work when it cannot be written or made; the rest
    as for any report file (_output_target)."""
    if args.plot is None:
        return []
    if not args.plot.lower().endswith(".png"):
        raise UsageError(f"--plot {args.plot}: the plot file must end in .png.")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed: pip install "
                         "matplotlib (from a clone: pip install -e '.[plot]').") from None
    return _output_target(args.plot, "--plot", args.force)


def _note(text):
    print(f"mlpexport: note: {text}", file=sys.stderr)


WRITTEN: list[str] = []  # files this run has put in place, for an honest interrupt message


class Interrupted(BaseException):
    def __init__(self, signum):
        self.signum = signum


def _on_signal(signum, frame):
    raise Interrupted(signum)  # unwinds, so staged files and temp folders are removed


def _safe_path():
    """The program itself (not main(argv) called from Python): drop the script's
    directory or the current directory from the front of sys.path, as `python -P` does.
    mlpexport imports nothing from there, and an export that check runs could write a
    module there (emit/sandbox.py)."""
    if sys.flags.safe_path or not sys.path:
        return
    first = sys.path[0]
    script = os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else ""
    if first == "" or os.path.abspath(first) in (os.getcwd(), script):
        del sys.path[0]


def main(argv=None) -> int:
    if argv is None:
        _safe_path()
    WRITTEN.clear()
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _on_signal)
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = COMMANDS[args.command](args)
        for w in caught:
            if w.category.__name__ in ("LegacyModelWarning", "DataNote"):
                _note(str(w.message))
        return code
    except MlpexportError as exc:
        print(f"mlpexport: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (Interrupted, KeyboardInterrupt) as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        done = (f"{len(WRITTEN)} file{'s' if len(WRITTEN) != 1 else ''} had been written "
                f"({', '.join(WRITTEN)})" if WRITTEN else "no files were written")
        print(f"mlpexport: interrupted by {signal.Signals(signum).name}; {done}.", file=sys.stderr)
        return 128 + signum
    except Exception as exc:  # a bug of ours: still one line, traceback on request
        if os.environ.get("MLPEXPORT_DEBUG"):
            raise
        print(f"mlpexport: internal error: {type(exc).__name__}: {exc} "
              f"(set MLPEXPORT_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
