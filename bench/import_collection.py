"""Import the whole Egyptian CC0 collection (2,129 images) into a fresh database and time it.

.venv/bin/python bench/import_collection.py [PATH_TO_collection.csv]
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "egyptian-cc0" / "collection.csv"


def main() -> None:
    csv_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV
    var = tempfile.mkdtemp(prefix="muses-bench-import-")
    env = {**os.environ, "MUSES_VAR_DIR": var}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    for label in ("first run", "re-run (idempotent)"):
        start = time.perf_counter()
        result = subprocess.run(
            [*manage, "muses_import", str(csv_path), "--no-features", "-v", "0"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        print(f"{label}: {seconds:.1f} s  ({result.stdout.strip()})")


if __name__ == "__main__":
    main()
