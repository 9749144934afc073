"""`--matlab-inline` is the variant for MATLAB Coder and Simulink: a static scan of every
inline export of the zoo for what code generation refuses, built from the rules MathWorks
documents (MATLAB Coder itself is not available here; the scan is what can be checked
without it). Octave parity of the same files is in tests/test_emit_matlab.py
(test_inline_variant_gives_the_same_numbers: identical to the .mat export's outputs).

Sources (MathWorks documentation, MATLAB Coder):
- "Functions and Objects Supported for C/C++ Code Generation"
  (https://mathworks.com/help/coder/ug/functions-and-objects-supported-for-cc-code-generation.html):
  only the functions listed there generate code; an unlisted one fails with
  "Resolve Error: Function Is Not Supported for Code Generation"
  (https://uk.mathworks.com/help/coder/ug/function-is-not-supported-for-code-generation.html).
  Not supported, used by the .mat variant: mfilename, exist, which, fullfile/fileparts
  (file system: MATLAB Coder targets systems without one), table2struct, str2func, feval,
  eval, evalin, cellfun; load "only when generating MEX or code for Simulink simulation;
  to load compile-time constants, use coder.load"
  (https://mathworks.com/help/coder/ref/coder.load.html); mat2str builds text whose size
  depends on the data (variable-size char: dynamic memory).
- "MATLAB Language Features Supported for C/C++ Code Generation"
  (https://mathworks.com/help/coder/ug/matlab-language-features-supported-for-code-generation.html):
  not supported: scripts, try/catch statements, import statements, Java, map containers.
- "Variables Definition for Code Generation" and "Reuse the Same Variable with Different
  Properties" (https://uk.mathworks.com/help/coder/ug/why-define-variables-differently-for-code-generation.html,
  https://uk.mathworks.com/help/coder/ug/reusing-the-same-variable-with-different-properties.html):
  the class, size and complexity of a variable must be determinable at compile time; a
  variable reassigned on one path only (X = reshape(X, ...) inside an if) is not. The
  inline export therefore never assigns its input X, and its main function assigns no
  variable whole inside an if (the scan checks both; straight-line reassignments with
  another width, Z of each layer, are what that page allows: each occurrence has one type).
- The `%#codegen` directive marks a file for code generation (the code analyzer then
  reports code-generation issues while editing).

Project rules on top of MathWorks' (the issue that asked for this variant): weights are
constants of the function (no `persistent` struct filled on the first call: RAM, a copy,
not reentrant), and nothing is read from a file.
"""
import re

import pytest

from conftest import AVAILABLE, case
from mlpexport.emit import matlab
from test_emit_matlab import NUMERIC_LABELS, _big_labels_model

NOT_FOR_CODEGEN = ("mfilename", "exist", "which", "fullfile", "fileparts", "table2struct",
                   "istable", "str2func", "feval", "eval", "evalin", "cellfun", "load", "save",
                   "mat2str", "inputParser", "input", "disp", "fprintf")
NOT_SUPPORTED_STATEMENTS = ("try", "catch", "import", "persistent", "global")


def _code(text):
    """The .m without comments (a '%' outside a string) and with strings emptied."""
    lines = []
    for line in text.splitlines():
        code = re.sub(r"'[^'\n]*'", "''", line)
        lines.append(code.split("%", 1)[0])
    return lines


def blockers(text) -> list[str]:
    """What MATLAB Coder would refuse (see the module doc), as readable findings."""
    found = []
    if not re.search(r"^%#codegen\s*$", text, re.M):
        found.append("no %#codegen directive")
    code = _code(text)
    for n, line in enumerate(code, start=1):
        for fn in NOT_FOR_CODEGEN:
            if re.search(rf"(?<![\w.]){fn}\s*\(", line):
                found.append(f"line {n}: {fn}() is not supported for code generation")
        for word in NOT_SUPPORTED_STATEMENTS:
            if re.match(rf"\s*{word}\b", line):
                found.append(f"line {n}: {word} (not for code generation / not constant weights)")
        if re.match(r"\s*X\s*(\(.*\))?\s*=[^=]", line):
            found.append(f"line {n}: the input X is reassigned (its class or size would change)")
        if re.search(r"\bw\.\w", line):
            found.append(f"line {n}: weights read from a struct, not constants")
    depth = 0  # the main function: no variable is assigned whole on one path only
    for n, line in enumerate(code[1:], start=2):
        if re.match(r"\s*function\b", line):
            break
        if re.match(r"\s*(if|switch|while|for)\b", line):
            depth += 1
        elif re.match(r"\s*end\b", line):
            depth -= 1
        elif depth > 0 and re.match(r"\s*\w+\s*=[^=]", line):
            found.append(f"line {n}: {line.split('=')[0].strip()} is assigned on one path only "
                         "(its size or class would not be known at compile time)")
    return found


def _inline(name, dtype="float64"):
    _, net, _ = case(name)
    return matlab.render(net, "m", dtype=dtype, matlab_inline=True)["m.m"].decode()


@pytest.mark.parametrize("name", NUMERIC_LABELS)
def test_inline_export_has_no_code_generation_blockers(name):
    for dtype in ("float64", "float32"):
        assert blockers(_inline(name, dtype)) == [], (name, dtype)


def test_inline_int64_labels_have_no_blockers():
    _, net, _ = _big_labels_model()
    assert blockers(matlab.render(net, "big", matlab_inline=True)["big.m"].decode()) == []


def test_the_scan_finds_what_the_mat_export_uses():
    """The .mat variant is for MATLAB and Octave, not Coder: the scan must flag it (a scan
    that flags nothing proves nothing)."""
    _, net, _ = case("clf_multi_str")
    found = "\n".join(blockers(matlab.render(net, "m")["m.m"].decode()))
    for what in ("no %#codegen", "mfilename()", "load()", "mat2str()", "persistent",
                 "X is reassigned", "weights read from a struct", "X is assigned on one path only"):
        assert what in found, what
    named = [n for n in AVAILABLE if case(n)[1].meta.get("feature_names") and n in NUMERIC_LABELS]
    text = matlab.render(case(named[0])[1], "m")["m.m"].decode()
    assert "exist() is not supported" in "\n".join(blockers(text))
    assert "table2struct() is not supported" in "\n".join(blockers(text))


def test_inline_weights_are_constant_literals_of_the_function():
    text = _inline("reg_classic")
    body = text.split("\nfunction ")[0]  # the main function, up to any subfunction
    assert re.search(r"^w_W1 = \[", body, re.M) and "persistent" not in text
    assert "function w = weights()" not in text
