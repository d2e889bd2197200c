"""The code base stays shaped like its stages: no module over 400 lines, no function over 60.

A function's length is its code without its docstring (a documented argument list is no reason to split
it); a longer one must say why in its docstring, with the words "Long because".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MODULES = sorted(PIPELINE.rglob("*.py"))


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function, decorators and signature included, its docstring left out."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    lines = node.end_lineno - start + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def long_functions(source: str) -> list[tuple[str, int]]:
    """``(name, lines)`` of the functions over the limit whose docstring gives no reason."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = code_lines(node)
            if lines > MAX_FUNCTION_LINES and "Long because" not in (ast.get_docstring(node) or ""):
                out.append((node.name, lines))
    return out


def test_the_checks_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f'def f():\n    """Doc."""\n{body}\n') == [("f", MAX_FUNCTION_LINES + 1)]
    assert long_functions(f'def f():\n    """Long because it is a table."""\n{body}\n') == []
    shorter = "\n".join(body.splitlines()[1:])  # the signature and 59 lines: at the limit, docstring aside
    assert long_functions(f'def f():\n    """Doc\n\n    more doc.\n    """\n{shorter}\n') == []


def test_the_package_and_its_tools_are_found():
    assert PIPELINE / "medcode" / "coder.py" in MODULES and PIPELINE / "devtools" / "bench.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PIPELINE)))
def test_no_module_over_the_limit_and_no_long_function_without_a_reason(path: Path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it by stage"
    assert long_functions(source) == []
