"""Plant known bugs in the learning, scoring, thresholding, state and decoding code, one at
a time, and run the tests that should notice each; fail if any bug goes unnoticed.

Each mutant replaces one exact snippet of one file in a scratch copy of the working tree
(tracked and untracked, not ignored, files; the .venv is linked), so the checkout is never
touched. A snippet that no longer occurs exactly once stops the check: the mutant list
must follow the code. Run it with `make mutation` or

    .venv/bin/python bin/mutation_check.py [--only NAME ...] [--list]

It prints KILLED or SURVIVED per mutant and exits 1 if any survived. Mutants of the queue
worker need REDIS_URL (tests/custom_tagging/test_redis_queue.py); without it they are
reported as NOT RUN and do not count. Takes about 20 minutes on a busy 2-core machine.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]
    needs_redis: bool = False


THRESHOLD_TESTS = ("tests/custom_tagging/test_learned_threshold.py",)
TAG_LEARNING_TESTS = (
    "tests/custom_tagging/test_learning.py",
    "tests/custom_tagging/test_train.py",
)
STATE_TESTS = ("tests/custom_tagging/test_set_state.py", "tests/custom_tagging/test_get_state.py")
DECODE_TESTS = ("tests/collection/test_decode.py",)
JOB_TESTS = (
    "tests/jobs/test_status.py",
    "tests/jobs/test_api_jobs.py",
    "tests/custom_tagging/test_train.py",
)

MUTANTS = [
    # --- learning ---------------------------------------------------------------------
    Mutant(
        "naive training labels all zero",
        "naive_classification/features.py",
        "columns = (np.arange(views.shape[1], dtype=np.int32), labels)",
        "columns = (np.arange(views.shape[1], dtype=np.int32), np.zeros_like(labels))",
        (
            "tests/naive_classification/test_features.py",
            "tests/naive_classification/test_learning.py",
        ),
    ),
    Mutant(
        "naive head trained on the first view only, never the augmented ones",
        "naive_classification/features.py",
        "chosen = tf.random.uniform(tf.shape(index), 0, count, dtype=tf.int32, seed=seed)",
        "chosen = tf.zeros_like(index)",
        ("tests/naive_classification/test_features.py",),
    ),
    Mutant(
        "tag weights not folded back from standardised features",
        "custom_tagging/learning.py",
        "self.coef_ = (coef[:, -1] / scale).astype(np.float32)",
        "self.coef_ = coef[:, -1].astype(np.float32)",
        TAG_LEARNING_TESTS,
    ),
    Mutant(
        "tag classes not balanced",
        "custom_tagging/learning.py",
        "weights[train, fold] = len(train) / (2.0 * counts[y[train]])",
        "weights[train, fold] = 1.0",
        TAG_LEARNING_TESTS,
    ),
    Mutant(
        "BatchNorm folded without its epsilon",
        "muses/vision/efficientnet_lite0.py",
        "scale = gamma / np.sqrt(var + BN_EPSILON)",
        "scale = gamma / np.sqrt(var)",
        ("tests/vision/test_efficientnet_lite0.py",),
    ),
    # --- thresholding and scoring -------------------------------------------------------
    Mutant(
        "learned threshold replaced by 0.5 (one image)",
        "custom_tagging/scoring.py",
        '"prediction": quantized >= cutoff,',
        '"prediction": quantized >= SCORE_SCALE // 2,',
        THRESHOLD_TESTS,
    ),
    Mutant(
        "learned threshold replaced by 0.5 (batch reply)",
        "custom_tagging/scoring.py",
        "suffixes[q >= cutoff]",
        "suffixes[q >= SCORE_SCALE // 2]",
        THRESHOLD_TESTS,
    ),
    Mutant(
        "learned threshold replaced by 0.5 (library CSV)",
        "custom_tagging/scoring.py",
        "pieces[:, j + 1] = _csv_cell_table(cutoff, j == len(models) - 1)[quantized[:, j]]",
        "pieces[:, j + 1] = _csv_cell_table(5000, j == len(models) - 1)[quantized[:, j]]",
        THRESHOLD_TESTS,
    ),
    Mutant(
        "threshold not chosen from the out-of-fold scores",
        "custom_tagging/learning.py",
        "threshold = threshold_floor(_halfway_below(scores, thresholds[best]))",
        "threshold = DEFAULT_THRESHOLD",
        TAG_LEARNING_TESTS,
    ),
    Mutant(
        "scores without the intercept",
        "custom_tagging/scoring.py",
        "return sigmoid(np.asarray(features, np.float32) @ self.weights + self.intercepts)",
        "return sigmoid(np.asarray(features, np.float32) @ self.weights)",
        ("tests/custom_tagging/test_scoring.py",),
    ),
    # --- state ------------------------------------------------------------------------
    Mutant(
        "imported state loses its threshold",
        "custom_tagging/state/apply.py",
        'threshold=model["threshold"],',
        "threshold=0.5,",
        STATE_TESTS,
    ),
    Mutant(
        "imported state loses its intercept",
        "custom_tagging/state/apply.py",
        'intercept=model["intercept"],',
        "intercept=0.0,",
        STATE_TESTS,
    ),
    Mutant(
        "re-imported assignments keep their old label",
        "custom_tagging/state/apply.py",
        "existing[pk].label = label",
        "pass",
        STATE_TESTS,
    ),
    Mutant(
        "a job whose worker died is never reported",
        "muses/jobs/services.py",
        "if job.state != JobState.RUNNING or not _job_is_stale(job):",
        "if True:",
        JOB_TESTS,
    ),
    Mutant(
        "the worker never stamps the heartbeat",
        "muses/jobs/services.py",
        "heartbeat=timezone.now()",
        "state=JobState.RUNNING",
        ("tests/custom_tagging/test_redis_queue.py",),
        needs_redis=True,
    ),
    # --- decoding ---------------------------------------------------------------------
    Mutant(
        "EXIF orientation ignored",
        "muses/collection/decode.py",
        "image = ImageOps.exif_transpose(image)",
        "image = image",
        DECODE_TESTS,
    ),
    Mutant(
        "transparent pixels composed over black",
        "muses/collection/decode.py",
        'background = PILImage.new("RGB", image.size, (255, 255, 255))',
        'background = PILImage.new("RGB", image.size, (0, 0, 0))',
        DECODE_TESTS,
    ),
    Mutant(
        "large JPEGs reduced below the network's input size",
        "muses/collection/decode.py",
        "scale = min_side / min(size)",
        "scale = min_side / max(size)",
        DECODE_TESTS,
    ),
    Mutant(
        "pixel limit not enforced",
        "muses/collection/decode.py",
        "if size[0] * size[1] > limit:",
        "if False:",
        DECODE_TESTS,
    ),  # --- collection fetch (issue 25, F3) ---------------------------------------------
    Mutant(
        "F3: the IIIF download deadline is ignored (a trickling server is waited on)",
        "muses/collection/fetch.py",
        "self.end = time.monotonic() + seconds",
        "self.end = time.monotonic() + 1e6",
        ("tests/collection/test_iiif_fetch_bounds.py",),
    ),
    # --- review lists, duplicates, import, publishing, jobs (issue 25) --------------------
    Mutant(
        "label-issue review lists the least likely errors first",
        "curation/services/label_issue_reports.py",
        "for rank, k in enumerate(ranking.issues, start=1):",
        "for rank, k in enumerate(ranking.issues[::-1], start=1):",
        ("tests/curation/test_api_tag_label_issues.py", "tests/curation/test_label_issues.py"),
    ),
    Mutant(
        "near-duplicate search of new images drops the pairs only the old images see",
        "muses/vision/near_duplicate_signals.py",
        "pairs.update(_reverse_pairs(unit, hashes, wanted, thresholds))",
        "pass",
        ("tests/vision/test_near_duplicate_signals.py", "tests/vision/test_near_duplicates.py"),
    ),
    Mutant(
        "Adlib importer falls back to English when the record's own language tag is asked",
        "muses/collection/importers/adlib_importer.py",
        'for wanted in (_primary(language), "en"):',
        'for wanted in (language.lower(), "en"):',
        ("tests/collection/test_muses_import_exports.py",),
    ),
    Mutant(
        "an object's naive class taken from its least sure image",
        "publishing/records.py",
        "best = max(classified, key=lambda row: row[5] or 0.0) if classified else None",
        "best = min(classified, key=lambda row: row[5] or 0.0) if classified else None",
        ("tests/publishing/test_muses_export_predictions.py",),
    ),
    Mutant(
        "a cancelled job marked successful when its runner finishes afterwards",
        "muses/jobs/services.py",
        "model.objects.filter(pk=pk, state=JobState.RUNNING).update(\n"
        "            state=JobState.SUCCESS,",
        "model.objects.filter(pk=pk).update(\n            state=JobState.SUCCESS,",
        (
            "tests/jobs/test_api_jobs.py",
            "tests/custom_tagging/test_api_predictions.py",
        ),
    ),
    # --- IIIF import ------------------------------------------------------------------------
    Mutant(
        "IIIF canvas object numbers ignored",
        "muses/collection/iiif.py",
        'number = own.get("object_number") or record.fields["object_number"]',
        'number = record.fields["object_number"]',
        ("tests/collection/test_muses_import_iiif_objects.py",),
    ),
    Mutant(
        "IIIF region cut without scaling to the fetched size",
        "muses/collection/iiif_image.py",
        "scale_x, scale_y = (width / full[0], height / full[1]) if full else (1.0, 1.0)",
        "scale_x, scale_y = (1.0, 1.0)",
        ("tests/collection/test_muses_import_iiif_recipes.py",),
    ),
    # --- similar-image search -----------------------------------------------------------
    Mutant(
        "similar search probes the farthest cells",
        "muses/vision/feature_index/cells.py",
        'short[np.argsort(-cosines, kind="stable")]',
        'short[np.argsort(cosines, kind="stable")]',
        ("tests/vision/feature_index/test_similar_cells.py",),
    ),
]


def scratch_copy() -> Path:
    """The working tree's files (tracked and untracked, not ignored) in a temp dir."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    target = Path(tempfile.mkdtemp(prefix="muses-mutation-"))
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    return target


def check_snippets(tree: Path, mutants: list[Mutant]) -> None:
    for mutant in mutants:
        count = (tree / mutant.path).read_text().count(mutant.original)
        if count != 1:
            sys.exit(f"{mutant.path}: {mutant.original!r} occurs {count} times, not once")


def weights_dir() -> Path:
    return Path(os.environ.get("MUSES_TEST_WEIGHTS_DIR", str(ROOT / "var" / "weights")))


def fresh_weights_dir() -> Path:
    """The converted weights without the inference engine's IR cache: an IR compiled from
    the unmutated code would hide a mutant in the code that builds the network."""
    fresh = Path(tempfile.mkdtemp(prefix="muses-mutation-weights-"))
    if weights_dir().is_dir():
        for path in weights_dir().iterdir():
            if path.is_file():
                (fresh / path.name).symlink_to(path.resolve())
    return fresh


def run_tests(
    tree: Path, tests: tuple[str, ...], weights: Path | None = None
) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MUSES_TEST_WEIGHTS_DIR": str(weights or weights_dir())}
    return subprocess.run(
        [str(tree / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-x", *tests],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )


def try_mutant(tree: Path, mutant: Mutant) -> str:
    path = tree / mutant.path
    original = path.read_text()
    path.write_text(original.replace(mutant.original, mutant.mutated))
    weights = fresh_weights_dir()
    try:
        result = run_tests(tree, mutant.tests, weights)
    finally:
        path.write_text(original)
        shutil.rmtree(weights, ignore_errors=True)
    if result.returncode == 1:
        return "KILLED"
    if result.returncode == 0:
        return "SURVIVED"
    tail = result.stdout[-2000:] + result.stderr[-2000:]
    return f"ERROR (pytest exit {result.returncode}):\n{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="run only mutants whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if not args.only or any(o in m.name for o in args.only)]
    if args.list:
        for mutant in mutants:
            print(f"{mutant.name}: {mutant.path} -> {' '.join(mutant.tests)}")
        return 0
    tree = scratch_copy()
    try:
        check_snippets(tree, mutants)
        baseline = run_tests(tree, tuple(sorted({t for m in mutants for t in m.tests})))
        if baseline.returncode != 0:
            print(baseline.stdout[-3000:], baseline.stderr[-3000:])
            sys.exit("the unmutated tree fails its tests: fix that first")
        killed, survived, errors, not_run = [], [], [], []
        for mutant in mutants:
            if mutant.needs_redis and not os.environ.get("REDIS_URL"):
                print(f"NOT RUN   {mutant.name} (needs REDIS_URL)", flush=True)
                not_run.append(mutant.name)
                continue
            started = time.monotonic()
            verdict = try_mutant(tree, mutant)
            print(f"{verdict:9} {mutant.name} ({time.monotonic() - started:.0f} s)", flush=True)
            {"KILLED": killed, "SURVIVED": survived}.get(verdict, errors).append(mutant.name)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    print(
        f"{len(killed)} killed, {len(survived)} survived, {len(errors)} errors, "
        f"{len(not_run)} not run"
    )
    return 1 if survived or errors else 0


if __name__ == "__main__":
    sys.exit(main())
