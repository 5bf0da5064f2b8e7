"""Bench scripts stand alone: each one imports only the shared helper modules of bench/
(those named *common*), never another script, so editing one bench cannot break another."""

import ast
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
# A bench module named in a string, e.g. code handed to ``python -c``.
NAMED_IN_TEXT = re.compile(r"\bbench\.(\w+)")


def bench_modules() -> set[str]:
    return {path.stem for path in BENCH.glob("*.py") if path.stem != "__init__"}


def imported_bench_modules(path: Path) -> set[str]:
    """Every bench module that a script imports: ``bench.x`` or plain ``x`` (bench/ is the
    script's own folder on sys.path), and ``bench.x`` named in its strings."""
    names = bench_modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "bench" and len(parts) > 1:
                found.add(parts[1])
            elif parts[0] in names and len(parts) == 1:
                found.add(parts[0])
    found |= set(NAMED_IN_TEXT.findall(path.read_text(encoding="utf-8"))) & names
    return found - {path.stem}


def forbidden_imports(path: Path) -> set[str]:
    return {name for name in imported_bench_modules(path) if "common" not in name}


def test_no_bench_script_imports_another_bench_script():
    offenders = {
        path.name: sorted(forbidden_imports(path))
        for path in sorted(BENCH.glob("*.py"))
        if forbidden_imports(path)
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("from bench.engine_quality import tag_quality\n", {"engine_quality"}),
        ("import tagging_quality\n", {"tagging_quality"}),
        ("code = 'import bench.bulk_extraction as b'\n", {"bulk_extraction"}),
        ("from bench.common import ROOT\nfrom bench.engine_common import raw_rate\n", set()),
        ("from curation_common import prepared_collection\n", set()),
    ],
)
def test_the_check_catches_a_script_importing_another(tmp_path, source, forbidden):
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    assert forbidden_imports(probe) == forbidden
