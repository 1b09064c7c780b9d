"""matching/ must stay a pure library: no web, database, network or service imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import matching

FORBIDDEN = {"aiohttp", "asyncpg", "maas", "socket", "requests", "urllib", "http", "httpx"}
PKG = Path(matching.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            roots.add("<dynamic>")
    return roots


def test_no_forbidden_imports() -> None:
    files = sorted(PKG.rglob("*.py"))
    assert len(files) >= 8
    for f in files:
        bad = _imports(f) & (FORBIDDEN | {"<dynamic>"})
        assert not bad, f"{f.name} imports {sorted(bad)}"


def test_no_file_io_calls() -> None:
    for f in sorted(PKG.rglob("*.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open":
                raise AssertionError(f"{f.name} calls open()")


# Third-party dependencies (numpy, protobuf) may pull in stdlib networking
# modules; at runtime we only insist that the service stack is not loaded.
RUNTIME_FORBIDDEN = ["aiohttp", "asyncpg", "maas", "requests", "httpx"]


def test_importable_alone() -> None:
    code = (
        "import sys, matching; "
        f"bad = [m for m in {RUNTIME_FORBIDDEN!r} if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == ""


def test_public_api_is_flat() -> None:
    for name in matching.__all__:
        assert hasattr(matching, name), name
    assert callable(matching.solve)
    assert callable(matching.check)
    assert callable(matching.insert_cheapest)
    assert callable(matching.lilim.parse)
