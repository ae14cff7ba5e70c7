"""Data flows one way (design.md): no package imports one above it; modules stay small.

data -> features -> bundle -> {training, serving}; training writes bundles and serving runs them,
so the two never import each other. Every import is checked, lazy ones inside functions too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALLOWED = {
    "data": {"data"},
    "features": {"data", "features"},
    "bundle": {"data", "features", "bundle"},
    "training": {"data", "features", "bundle", "training"},
    "serving": {"data", "features", "bundle", "serving"},
}


def _imported_packages(path: Path) -> set[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, a.name.split(".")[0]) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return {(line, top) for line, top in found if top in ALLOWED}


def _crossings(package: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {top}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, top in sorted(_imported_packages(path))
        if top not in ALLOWED[package]
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_one_above_it(package: str) -> None:
    assert _crossings(package) == []


def test_the_check_sees_a_crossing(tmp_path: Path) -> None:
    # The rule must be able to fail: a lazy import inside a function is found.
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from training.models import X\n    import serving.app\n")
    assert _imported_packages(bad) == {(2, "training"), (3, "serving")}


MAX_LINES = 400


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_module_over_400_lines_says_why_at_its_top(package: str) -> None:
    long = [
        f"{path.relative_to(ROOT)} ({len(lines)} lines)"
        for path in sorted((ROOT / package).rglob("*.py"))
        if len(lines := path.read_text(encoding="utf-8").splitlines()) > MAX_LINES
        and not lines[0].startswith("# Over 400 lines: ")
    ]
    assert long == []
