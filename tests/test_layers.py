"""The layers drawn in ARCHITECTURE.md depend one way (the import contracts in setup.cfg
hold), and no module imports one that imports it back, lazy imports included."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
APPS = ("muses", "exporters", "naive_classification", "custom_tagging", "curation", "publishing")


def test_the_lower_layers_import_no_layer_built_on_them():
    result = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "setup.cfg"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _import_graph():
    import grimp

    sys.path.insert(0, str(ROOT))
    return grimp.build_graph(*APPS, cache_dir=None)


def test_no_module_imports_one_that_imports_it_back_even_lazily():
    graph = _import_graph()
    circles = sorted(
        f"{importer} -> {imported} -> ... -> {importer}"
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert circles == [], "\n".join(circles)
