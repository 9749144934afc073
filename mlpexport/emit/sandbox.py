"""Run a committed NAME.py — untrusted code — so that nothing it does can pass for a result.

`check --against DIR` runs exports a project committed; whoever edited them may have
written anything. In-process, a module could raise SystemExit(0), call os._exit(0), print
a fake report to stdout, change the working directory or monkeypatch numpy under the
check itself. Here the module runs in a child Python (`-I`: no user site, no PYTHON*
variables, no current directory on sys.path) whose only accepted result is arrays:

- the parent writes each chunk of rows to `in-SEQ.npy` in a private temp dir and sends
  `SEQ` on the child's stdin;
- the child answers `done SEQ` on a private pipe (not stdout: the module's prints go to a
  log file) after writing `out-SEQ.npz` there;
- the parent accepts the outputs only after that answer, and only if the file holds
  exactly the expected outputs with one row per input row and a plain numeric or text
  dtype (checked from the .npy headers before anything is loaded, allow_pickle=False).

Everything else — an exit with any code, a signal, a timeout, an error, a malformed
file — is RuntimeFailed naming what happened and the tail of the child's stderr. The
accepted arrays are then compared with scikit-learn like any export's, so a module that
forges them can only pass by being right.

The same runner takes other children: c.runner runs a compiled C export through
c_worker.py, which speaks this protocol (`command`).

The parent keeps the child away from its own code: the child starts in its temp dir
(its working directory), and `seal_parent` imports, before any untrusted code runs,
every module the checking process may still need, so that a module the child plants
on the parent's sys.path (the venv's bin/, the current directory, site-packages) is
never imported by the parent; the command line also drops the script's directory or
the current directory from the front of sys.path (what `python -P` does: cli.main).

Time limit: TIMEOUT seconds for the start (import or library load) and for each call,
MLPEXPORT_TIMEOUT=SECONDS in the environment to change it.

This guards the CI gate's verdict; it is not an OS sandbox: the child runs as the same
user and can read and write what the user can (files the user's next Python process
imports included).
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
import zipfile

import numpy as np

from ..data import rows_as_records
from ..errors import RuntimeFailed, UsageError

TIMEOUT = 300.0  # seconds for the import, and for each call (a chunk of up to 100,000 rows)
TIMEOUT_ENV = "MLPEXPORT_TIMEOUT"  # seconds, overrides TIMEOUT
ALLOWED_KINDS = "biufU"  # bool, integers, floats, text labels: never objects
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}
STDERR_TAIL = 400  # characters of the child's stderr quoted in an error

# The child: imports only numpy and the export. Kept as source so the child never
# imports mlpexport (or scikit-learn) and stays small; run with `python -I -c WORKER`.
WORKER = r'''
import os, sys
path, work, reply_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
reply = os.fdopen(reply_fd, "w", buffering=1)
os.dup2(2, 1)  # the export's prints land in the log, never on a channel the parent reads
try:
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file
except Exception:
    pass
import importlib.util
import numpy as np

spec = importlib.util.spec_from_file_location("_mlpexport_export", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
reply.write("ready\n")
for line in sys.stdin:
    seq = line.strip()
    try:
        X = np.load(os.path.join(work, "in-" + seq + ".npy"), allow_pickle=False)
        if X.dtype.names == ("number", "text", "kind"):  # rows with text columns (data.py)
            rows = X["number"].astype(object)
            rows[X["kind"] == 1] = X["text"][X["kind"] == 1]
            rows[X["kind"] == 2] = None
            X = rows
        out = {"predict": module.predict(X)}
        if hasattr(module, "predict_proba"):
            out["predict_proba"] = module.predict_proba(X)
        if hasattr(module, "decision_function"):
            out["decision_function"] = module.decision_function(X)
        out = {k: np.asarray(v) for k, v in out.items()}
        for k, v in out.items():
            if v.dtype.kind == "O":  # text labels (classes_ kept as objects): store as text
                out[k] = v.astype(str)
        tmp = os.path.join(work, "out-" + seq + ".tmp.npz")
        np.savez(tmp, allow_pickle=False, **out)
        os.replace(tmp, os.path.join(work, "out-" + seq + ".npz"))
        reply.write("done " + seq + "\n")
    except Exception as exc:
        message = (type(exc).__name__ + ": " + str(exc)).replace("\n", " ")
        reply.write("error " + seq + " " + message[:500] + "\n")
'''


def time_limit() -> float:
    """The time limit in seconds: MLPEXPORT_TIMEOUT when set, else TIMEOUT."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise UsageError(f"{TIMEOUT_ENV}={text[:40]!r} must be a number of seconds > 0.")
    return value


# What the checking process may still import once an untrusted export has run (the
# MATLAB runner's .mat reader, the report writers, the progress bar, what a warning or
# an error message loads). Imported up front by seal_parent; the runtimes an in-process
# runner imports are imported when it is made, before check starts any child.
PARENT_MODULES = ("json", "zipfile", "zlib", "linecache", "tokenize", "traceback",
                  "xml.etree.ElementTree", "scipy.io", "tqdm")


def seal_parent(extra=()):
    """Import, before any untrusted export runs, every module this process may still
    import afterwards (PARENT_MODULES and `extra`): a module the child plants on our
    sys.path can then never be the one we import. One that is not installed is marked
    absent in sys.modules, so that a later import fails as not installed instead of
    finding a planted file."""
    import importlib
    for name in (*PARENT_MODULES, *extra):
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = None
        except Exception:  # an installed module that does not import: leave it be
            pass


def _plain(text: str) -> str:
    """Child output quoted in an error: printable characters only, one line."""
    return "".join(c if c.isprintable() else " " for c in text).strip()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _exit_status(proc: subprocess.Popen, wait: float) -> int | None:
    """How the child ended, as a Popen returncode (-N for signal N), or None if it is still
    running after `wait` seconds. The child is left unreaped (a zombie), so its pid and
    process group id stay reserved until _cleanup stops whatever it started."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # already reaped
            return proc.returncode
        if info is not None:
            return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _cleanup(proc: subprocess.Popen, work: str, reply_fd: int, log=None):
    """Stop the child and anything it started (it leads its own process group), reap it
    and remove the temp dir."""
    if proc.returncode is None:  # not reaped yet: the group id is still the child's
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    try:
        proc.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        os.close(reply_fd)
    except OSError:
        pass
    if log is not None:
        log.close()
    shutil.rmtree(work, ignore_errors=True)


class IsolatedRunner:
    """X -> {"predict": ..., "predict_proba": ...} of the module at `path`, run in one
    child process for all calls (the import is paid once).

    expected: the outputs the module must return (e.g. ("predict", "predict_proba"));
    object_labels: hand text labels back as an object array, as the module's own
    classes_ are (the .npz records it); max_width: the most columns an output may have;
    max_text: the most characters a text label may have (None: any).
    command: the child's argv before WORK and REPLY_FD (default: the numpy WORKER on
    `path`); label: the export's name in messages (default: path's file name);
    starting: what the child does before it is ready, for messages.
    timeout: seconds (default: time_limit(), i.e. MLPEXPORT_TIMEOUT or TIMEOUT).
    """

    def __init__(self, path, *, expected=("predict",), object_labels=False, max_width=None,
                 max_text=None, timeout=None, command=None, label=None,
                 starting="while being imported"):
        self.path = os.path.abspath(path)
        self.label = label or os.path.basename(path)
        self.expected = tuple(expected)
        self.object_labels = object_labels
        self.max_width = max_width
        self.max_text = max_text
        self.timeout = time_limit() if timeout is None else timeout
        self.seq = 0
        self._lock = threading.Lock()  # one call at a time: the protocol is a sequence
        command = command or [sys.executable, "-I", "-c", WORKER, self.path]
        self.work = tempfile.mkdtemp(prefix="mlpexport-sandbox-")  # mode 0700
        self.log_path = os.path.join(self.work, "stderr.log")
        reply_r, reply_w = os.pipe()
        # the log is read back through this descriptor, never by its name: the child may
        # rename it or put a FIFO in its place
        self._log = open(self.log_path, "w+b")
        try:
            self.proc = subprocess.Popen(
                [*command, self.work, str(reply_w)],
                stdin=subprocess.PIPE, stdout=self._log, stderr=self._log, pass_fds=(reply_w,),
                cwd=self.work, start_new_session=True)
        except OSError as exc:
            os.close(reply_r)
            self._log.close()
            shutil.rmtree(self.work, ignore_errors=True)
            raise RuntimeFailed(f"could not start Python to run {self.label}: {exc}.") from None
        finally:
            os.close(reply_w)  # only the child holds the write end: its exit reads as EOF
        self.reply_fd = reply_r
        self._pending = b""
        self.timed_out = False
        self._finalizer = weakref.finalize(self, _cleanup, self.proc, self.work, reply_r, self._log)
        self._expect("ready", starting)

    # -- protocol ------------------------------------------------------------------

    def _read_line(self, deadline):
        """The child's next reply line, or None at EOF / timeout (then .timed_out is set)."""
        self.timed_out = False
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return None
            ready, _, _ = select.select([self.reply_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.reply_fd, 65536)
            if not chunk:
                return None
            self._pending += chunk
            if len(self._pending) > 1 << 20:  # replies are one short line
                return None
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode("utf-8", errors="replace")

    def _expect(self, want, when):
        line = self._read_line(time.monotonic() + self.timeout)
        if line == want:
            return
        if line is not None and line.startswith(f"error {self.seq} "):
            raise RuntimeFailed(f"{self.label} failed {when}: {_plain(line.split(' ', 2)[2])}")
        self._fail(when, line)

    def _fail(self, when, line=None):
        """Stop the child and raise RuntimeFailed saying what it did instead of answering."""
        # Its reply channel closed: it is exiting, learn how. Otherwise it is None when
        # still running (we stop it below).
        code = _exit_status(self.proc, 5 if line is None and not self.timed_out else 0)
        tail = self._stderr_tail()
        self._finalizer()  # kill, reap, clean up (the log too)
        if code is not None and code < 0:
            what = f"was killed by signal {_signal_name(-code)}"
        elif code is not None:
            what = f"exited with code {code} without returning results"
        elif self.timed_out:
            what = f"did not finish within {self.timeout:g} s (stopped)"
        elif line is not None:
            what = f"answered {_plain(line)[:80]!r} instead of its results (stopped)"
        else:
            what = "closed its reply channel without returning results (stopped)"
        raise RuntimeFailed(f"{self.label} {what} {when}.{tail}")

    def _stderr_tail(self):
        try:
            fd = self._log.fileno()
            end = os.fstat(fd).st_size
            text = os.pread(fd, 4 * STDERR_TAIL, max(0, end - 4 * STDERR_TAIL))
            text = text.decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""
        lines = [_plain(x) for x in text.splitlines() if _plain(x)]
        tail = " | ".join(lines[-3:])[-STDERR_TAIL:]
        return f" Its output ends: {tail}" if tail else ""

    # -- calls ---------------------------------------------------------------------

    def __call__(self, X) -> dict[str, np.ndarray]:
        with self._lock:
            return self._call(X)

    def _call(self, X) -> dict[str, np.ndarray]:
        if not self._finalizer.alive:
            raise RuntimeFailed(f"{self.label} is no longer running (an earlier call failed).")
        X = np.asarray(X)
        self.seq += 1
        seq = str(self.seq)
        try:  # a new file: never through a FIFO or a link the child put there
            fd = os.open(os.path.join(self.work, f"in-{seq}.npy"),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                np.save(f, rows_as_records(X), allow_pickle=False)
        except OSError as exc:
            self._finalizer()
            raise RuntimeFailed(f"{self.label}'s folder was tampered with: the rows could "
                                f"not be written ({exc.strerror}).") from None
        out_path = os.path.join(self.work, f"out-{seq}.npz")
        try:
            self.proc.stdin.write(f"{seq}\n".encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._fail(f"on {len(X)} rows")
        self._expect(f"done {seq}", f"on {len(X)} rows")
        try:
            return self._accept(out_path, len(X))
        except RuntimeFailed:
            self._finalizer()  # a child that forged its answer is not asked again
            raise
        finally:
            for p in (out_path, os.path.join(self.work, f"in-{seq}.npy")):
                try:
                    os.unlink(p)
                except OSError:
                    pass

    def _accept(self, path, n_rows):
        """The outputs in `path` if they are exactly what was asked for, else RuntimeFailed.
        Shapes and dtypes are read from the .npy headers before any array is loaded."""
        def bad(why):
            return RuntimeFailed(f"{self.label} returned {why}.")

        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise bad(f"no readable result file ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            return self._read_result(f, n_rows, bad)

    def _read_result(self, f, n_rows, bad):
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise bad("a result that is not a plain file")
        widest = max(self._item_limit(np.dtype("U1")), 8)
        most = len(self.expected) * n_rows * max(self.max_width or 1, 1) * widest + (1 << 20)
        if info.st_size > most:
            raise bad(f"a result file of {info.st_size} bytes, more than its outputs take")
        try:
            with zipfile.ZipFile(f) as z:
                members = z.namelist()
                keys = sorted(m[:-4] for m in members if m.endswith(".npy"))
                if len(keys) != len(members) or keys != sorted(self.expected):
                    raise bad(f"outputs {keys}, expected {sorted(self.expected)}")
                for key in keys:
                    with z.open(key + ".npy") as member:
                        read_header = HEADER_READERS.get(np.lib.format.read_magic(member))
                        if read_header is None:
                            raise bad(f"{key} in an unexpected .npy format")
                        shape, _, dtype = read_header(member)
                    if dtype.kind not in ALLOWED_KINDS or dtype.hasobject:
                        raise bad(f"{key} of dtype {dtype}, not numbers or text")
                    if len(shape) not in (1, 2) or shape[0] != n_rows:
                        raise bad(f"{key} of shape {shape} for {n_rows} rows")
                    if len(shape) == 2 and self.max_width is not None and shape[1] > self.max_width:
                        raise bad(f"{key} of shape {shape}; the export has at most "
                                  f"{self.max_width} columns")
                    limit = self._item_limit(dtype)
                    if dtype.itemsize > limit:
                        raise bad(f"{key} of dtype {dtype}, wider than any output of the "
                                  f"export ({limit} bytes an element)")
                    size = dtype.itemsize * int(np.prod(shape))
                    stored = z.getinfo(key + ".npy").file_size
                    if size > stored:  # zipfile reads no more than file_size
                        raise bad(f"{key} of {size} bytes in a member of {stored}")
            f.seek(0)
            with np.load(f, allow_pickle=False) as w:
                out = {k: w[k] for k in self.expected}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise bad(f"an unreadable result ({type(exc).__name__}: {_plain(str(exc))[:200]})") from None
        if self.object_labels and out["predict"].dtype.kind == "U":
            out["predict"] = out["predict"].astype(object)  # as the module's classes_ are
        return out

    def _item_limit(self, dtype) -> int:
        """The widest element an output may have: 8 bytes for numbers, 4 bytes a
        character of the longest label for text (so that a result cannot ask for more
        memory than the export's own outputs take)."""
        if dtype.kind != "U":
            return 8
        return 4 * max(self.max_text if self.max_text is not None else 1 << 16, 1)

    def close(self):
        """Stop the child and remove its temp dir (also done when the runner is collected)."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
