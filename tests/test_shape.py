"""The package stays a size one can hold in mind (issue 25's targets): no Python module
over 600 lines, no function over 80, no JS source module over 400 (the committed
bundle, view/dashboard.js, is built from js/src and exempt)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_python_module_over_600_lines_nor_function_over_80():
    big, long = [], []
    for p in sorted((ROOT / "tfhist_magic").rglob("*.py")):
        src = p.read_text(encoding="utf-8")
        if src.count("\n") > 600:
            big.append(f"{p.relative_to(ROOT)}: {src.count(chr(10))} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not big and not long, big + long


def test_no_js_source_module_over_400_lines():
    big = [f"{p.relative_to(ROOT)}: {n}" for p in sorted((ROOT / "js" / "src").rglob("*.js")) if (n := p.read_text(encoding="utf-8").count("\n")) > 400]
    assert not big, big
