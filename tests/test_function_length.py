"""No function in rnnppo/ is longer than 80 lines unless its docstring says why (issue 27).

A function's length is read from the source: from its `def` line to its last line, docstring and
comments included (decorators not). A function that must stay long (a hot loop whose pieces would cost
speed, say) keeps its length by stating the reason in its docstring, on a line that starts with
"One function because"."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import rnnppo

PACKAGE = Path(rnnppo.__file__).parent
MAX_LINES = 80
REASON = "One function because"


def long_functions(source: str, filename: str) -> list[str]:
    """`file:line name (N lines)` for each function over MAX_LINES whose docstring gives no reason."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        docstring = ast.get_docstring(node) or ""
        gives_reason = any(line.strip().startswith(REASON) for line in docstring.splitlines())
        if length > MAX_LINES and not gives_reason:
            found.append(f"{filename}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_the_package_is_over_80_lines_without_a_reason_in_its_docstring():
    found = [
        problem
        for path in sorted(PACKAGE.rglob("*.py"))
        for problem in long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    ]
    assert not found, (
        f"functions over {MAX_LINES} lines: {'; '.join(found)}. Split them into named steps, or say in the "
        f"docstring why one must stay whole, on a line starting {REASON!r}"
    )


def _function(lines: int, docstring: str) -> str:
    """Source of a function of exactly `lines` lines with the given one-line or multi-line docstring."""
    head = ["def long_one():", *textwrap.indent(f'"""{docstring}"""', "    ").splitlines()]
    return "\n".join(head + ["    x = 1"] * (lines - len(head))) + "\n"


def test_the_length_check_refuses_81_lines_and_accepts_80_or_a_stated_reason():
    assert long_functions(_function(80, "Short enough."), "m.py") == []
    assert long_functions(_function(81, "Too long."), "m.py") == ["m.py:1 long_one (81 lines)"]
    reason = "The hot loop.\n\nOne function because splitting the loop costs a call per step."
    assert long_functions(_function(200, reason), "m.py") == []
    # the reason must open a line of the docstring, not merely appear in it
    assert long_functions(_function(81, "Not: one function because."), "m.py") == ["m.py:1 long_one (81 lines)"]
    nested = "def outer():\n" + textwrap.indent(_function(81, "Inner."), "    ")
    assert long_functions(nested, "m.py") == ["m.py:1 outer (82 lines)", "m.py:2 long_one (81 lines)"]
