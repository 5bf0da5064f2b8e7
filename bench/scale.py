"""Scale: the shared feature index and the tagging paths at 10k, 100k and 1M images.

Fills PostgreSQL with N synthetic 1280-d feature rows (non-negative, clustered like pooled
EfficientNet-Lite0 features) through the real tables, then measures in fresh processes:
index rebuild and check, open time, memory per process (and what is shared), predict_batch
20 ids x 20 tags (warm, and right after 100 new rows), similar images, suggestions,
training a tag with 10,000 labels, the library-wide job; then compact vectors' accuracy.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/muses_scale \\
        .venv/bin/python bench/scale.py fill --rows 100000      # top up to N rows (COPY)
    ... bench/scale.py rebuild --rows 100000                      # index rebuild + check
    ... bench/scale.py measure --rows 100000                      # figures for the N stored
    ... bench/scale.py accuracy                                   # float16 / int8 vs float32
    ... bench/scale.py paths                                      # changed steps, old vs new
    ... bench/scale.py report                                     # every N measured, growth
    ... bench/scale.py drop                                       # remove the bench's rows

    ... bench/scale.py run --rows 10000 100000 1000000            # all of it, every N

`run` gives each N a database of its own (DATABASE_URL's name + _10k, _100k, _1m: created
and migrated when missing, kept filled between runs; `drop` on each removes them) and an
index directory of its own, then prints the report of every N of this run.

Targets at 1M (issue 13): open <= 2 s; <= 1.5 GiB per process above baseline;
predict_batch 20x20 <= 10 ms also after new rows; similar <= 50 ms; suggest <= 300 ms;
training 10k labels <= 2 s; library job 1M x 20 tags <= 60 s.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUSES_VAR_DIR", str(ROOT / "var" / "bench-scale"))
os.environ["MUSES_LOG_LEVEL"] = "WARNING"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from scale_common import CLUSTERS, DIM, centres, vectors_for  # noqa: E402

BACKBONE = "efficientnet_lite0"
PREFIX = "s"  # image ids s0000000, s0000001, ...
FILL_CHUNK = 20_000
TAGS = 20
LABELS = 10_000
RESULTS = Path(os.environ.get("MUSES_SCALE_RESULTS", Path(settings.MUSES_VAR_DIR) / "results"))
# The predict right after new rows, each round after 100 more rows from another process.
AFTER_NEW_ROUNDS = 5
TARGETS_1M = {
    "open_s": 2.0,
    "anon_mib": 1536,
    "predict_warm_ms": 10,
    "predict_after_new_ms": 10,
    "similar_ms": 50,
    "suggest_ms": 300,
    "train_s": 2.0,
    "library_s": 60,
}


# --- synthetic features -----------------------------------------------------------------


def is_positive(numbers: np.ndarray) -> np.ndarray:
    """The bench tag: a tenth of the clusters, with 10 % of the labels flipped."""
    flip = np.random.default_rng(3).random(int(numbers.max()) + 1)[numbers] < 0.1
    return ((numbers % CLUSTERS) < CLUSTERS // 10) ^ flip


# --- fill ---------------------------------------------------------------------------------


def stored_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM vision_imagefeature WHERE backbone = %s", [BACKBONE])
        return cursor.fetchone()[0]


def fill(rows: int) -> None:
    from tqdm import tqdm

    have = stored_rows()
    table = centres()
    bar = tqdm(total=max(rows - have, 0), unit="row", desc=f"fill to {rows:,}")
    start = time.perf_counter()
    while have < rows:
        numbers = np.arange(have, min(have + FILL_CHUNK, rows))
        _copy_chunk(numbers, vectors_for(numbers, table))
        have += len(numbers)
        bar.update(len(numbers))
    bar.close()
    print(f"filled to {have:,} rows in {time.perf_counter() - start:.1f} s")


def _copy_chunk(numbers: np.ndarray, vectors: np.ndarray) -> None:
    """Images and their vectors of one chunk, in one transaction (an interrupted fill
    resumes at the next chunk)."""
    from django.db import transaction

    ids = [f"{PREFIX}{n:07d}" for n in numbers.tolist()]
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        columns, template = _image_row_template()
        slot = columns.index("image_id")
        with raw.copy(f"COPY collection_image ({', '.join(columns)}) FROM STDIN") as copy:
            for image_id in ids:
                template[slot] = image_id
                copy.write_row(template)
        cursor.execute("SELECT id, image_id FROM collection_image WHERE image_id = ANY(%s)", [ids])
        pk_of = dict((image_id, pk) for pk, image_id in cursor.fetchall())
        now = datetime.now(UTC)
        with raw.copy(
            "COPY vision_imagefeature (image_id, backbone, weights_digest, dim, dtype, engine, "
            "precision, vector, created) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                ["int8", "text", "text", "int4", "text", "text", "text", "bytea", "timestamptz"]
            )
            for image_id, vector in zip(ids, vectors):
                copy.write_row(
                    (pk_of[image_id], BACKBONE, "bench", DIM, "float32", "openvino", "fp32")
                    + (vector.tobytes(), now)
                )


def _image_row_template() -> tuple[list[str], list]:
    """Every column of the real Image model with its default, so that a field added to the
    model never breaks the COPY (a 224 x 224 JPEG with no file)."""
    from muses.collection.models import Image

    given = {"width": 224, "height": 224, "format": "JPEG", "created": datetime.now(UTC)}
    columns, values = [], []
    for field in Image._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        values.append(given.get(field.name, None if field.null else field.get_default()))
    return columns, values


def drop(sizes: list[int] | None = None) -> None:
    """Remove the bench's rows; with sizes, the databases and indexes `run` made for them."""
    if sizes:
        return _drop_databases(sizes)
    from custom_tagging.models import CustomTag

    CustomTag.objects.filter(name__startswith="scale-").delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM vision_imagefeature WHERE image_id IN "
            "(SELECT id FROM collection_image WHERE image_id LIKE %s)",
            [PREFIX + "%"],
        )
        cursor.execute("DELETE FROM collection_image WHERE image_id LIKE %s", [PREFIX + "%"])
    print("bench rows dropped")


def _drop_databases(sizes: list[int]) -> None:
    import shutil

    import psycopg

    base = settings.DATABASES["default"]
    with psycopg.connect(_database_url(base, base["NAME"]), autocommit=True) as admin:
        for rows in sizes:
            admin.execute(f'DROP DATABASE IF EXISTS "{base["NAME"]}_{label(rows)}"')
            shutil.rmtree(Path(settings.MUSES_VAR_DIR) / f"n{label(rows)}", ignore_errors=True)
            print(f"dropped {base['NAME']}_{label(rows)} and its index")


# --- measure ------------------------------------------------------------------------------


def rebuild(rows: int) -> None:
    """Index rebuild from the database and check, timed; kept for `measure`."""
    from muses.vision.feature_index.maintenance import index_check, index_rebuild

    assert stored_rows() >= rows, f"fill first: {stored_rows():,} rows stored"
    result = {"rows": stored_rows()}
    start = time.perf_counter()
    index_rebuild(backbone=BACKBONE)
    result["rebuild_s"] = time.perf_counter() - start
    start = time.perf_counter()
    report = index_check(backbone=BACKBONE)
    result["check_s"] = time.perf_counter() - start
    assert report.ok, report
    _save(result)


def measure(rows: int) -> None:
    """Every request-path figure in fresh processes, then compaction; the index must have
    been rebuilt for this N (the `rebuild` action)."""
    from muses.vision.feature_index.handle import feature_index

    result = {"rows": stored_rows(), "date": datetime.now(UTC).isoformat()}
    assert result["rows"] >= rows, f"fill first: {result['rows']:,} rows stored"
    _prepare_tags()
    result.update(_in_fresh_process("probe"))
    # This process maps every page first: the second process's pages are then shared.
    handle = feature_index(BACKBONE).file()
    for _ in handle.chunks(50_000):
        pass
    result.update(_in_fresh_process("share"))
    _print(_save(result))  # kept even if the compaction below is cut short
    result["compact_s"], waits = _compact_beside_a_writer()
    result["compact_store_max_ms"] = 1000 * max(waits)
    result["compact_store_median_ms"] = 1000 * statistics.median(waits)
    _print(_save(result))


def _compact_beside_a_writer() -> tuple[float, list[float]]:
    """`manage.py muses_index compact` in a process of its own while this one stores a new
    image every 50 ms the way uploads do: (the command's seconds, each store's seconds)."""
    from muses.collection.models import Image

    start = time.perf_counter()
    command = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "muses_index", "compact", "-v0"]
        + ["--backbone", BACKBONE],
        env=os.environ.copy(),
    )
    waits, ids = [], []
    while command.poll() is None:
        began = time.perf_counter()
        ids += _add_rows(1)
        waits.append(time.perf_counter() - began)
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if command.returncode != 0:
        raise SystemExit(f"compaction failed with exit status {command.returncode}")
    Image.objects.filter(image_id__in=ids).delete()
    return elapsed, waits


def _save(result: dict) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{result['rows']}.json"
    merged = {**(json.loads(path.read_text()) if path.exists() else {}), **result}
    path.write_text(json.dumps(merged, indent=1))
    return merged


def _in_fresh_process(kind: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, kind], capture_output=True, text=True, env=os.environ.copy()
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _prepare_tags() -> None:
    """Tag 0 gets 10,000 labels (trained in the probe); tags 1-19 get versions derived from
    it so that predict_batch scores 20 real active versions."""
    from custom_tagging.models import Assignment, CustomTag, TagVersion

    CustomTag.objects.filter(name__startswith="scale-").delete()
    tag = CustomTag.objects.create(name="scale-0")
    numbers = np.linspace(0, stored_rows() - 1, LABELS).astype(np.int64)
    ids = [f"{PREFIX}{n:07d}" for n in numbers.tolist()]
    from muses.collection.models import Image

    pk_of = dict(Image.objects.filter(image_id__in=ids).values_list("image_id", "pk"))
    labels = is_positive(numbers)
    Assignment.objects.bulk_create(
        [
            Assignment(tag=tag, image_id=pk_of[i], label="positive" if p else "negative")
            for i, p in zip(ids, labels.tolist())
        ],
        batch_size=5_000,
    )
    rng = np.random.default_rng(0)
    for t in range(1, TAGS):
        other = CustomTag.objects.create(name=f"scale-{t}")
        TagVersion.objects.create(
            tag=other,
            number=1,
            is_active=True,
            backbone=BACKBONE,
            weights_digest="bench",
            feature_dim=DIM,
            coef=rng.normal(0, 0.05, DIM).astype("<f4").tobytes(),
            intercept=-1.0,
            threshold=0.5,
        )


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def _memory() -> dict:
    """This process's resident memory in MiB: anonymous (its own heap: what each process
    costs) and file-backed (the index's pages, which live in the page cache once for every
    process mapping them; smaps' "private" would count them to a process that happens to be
    the only one mapping them at the moment)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[name] = int(value.split()[0]) / 1024
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0]) / 1024
    return {
        "rss": fields["VmRSS"],
        "anon": fields["RssAnon"],
        "file": fields["RssFile"],
        # Proportional: each shared page divided among the processes mapping it.
        "pss": fields["Pss"],
        "shared": fields["Shared_Clean"] + fields["Shared_Dirty"],
    }


def probe() -> dict:
    """Run in a fresh process: every request-path figure."""
    from custom_tagging.models import CustomTag
    from custom_tagging.services.predictions import batch_predict, image_similar, tag_suggest
    from custom_tagging.services.training import tag_train, training_data_get
    from muses.collection.models import Image
    from muses.vision.feature_index.handle import feature_index

    baseline = _memory()
    start = time.perf_counter()
    index = feature_index(BACKBONE)
    index.file()
    figures = {"open_s": time.perf_counter() - start}
    tag = CustomTag.objects.get(name="scale-0")
    figures["train_imports_s"] = _first_fit_s()
    start = time.perf_counter()
    tag_train(tag=tag)
    figures["train_s"] = time.perf_counter() - start
    start = time.perf_counter()
    training_data_get(tag=tag)
    figures["train_read_s"] = time.perf_counter() - start
    tags = [f"scale-{t}" for t in range(TAGS)]
    count = index.live_count()
    rng = np.random.default_rng(5)
    ids = [f"{PREFIX}{n:07d}" for n in rng.choice(count, 20, replace=False).tolist()]
    batch_predict(image_ids=ids, tag_names=tags)
    figures["predict_warm_ms"] = (
        1000 * _timed(lambda: batch_predict(image_ids=ids, tag_names=tags), 20)[0]
    )
    new_ids, after_new = [], []
    for _ in range(AFTER_NEW_ROUNDS):
        new = _add_rows_elsewhere(100)  # stored by another process: this one catches up
        start = time.perf_counter()
        answer = batch_predict(image_ids=new[:10] + ids[:10], tag_names=tags)
        after_new.append(1000 * (time.perf_counter() - start))
        assert len(answer.image_ids) == 20, answer.unknown_image_ids
        new_ids += new
    figures["predict_after_new_ms"] = statistics.median(after_new)
    figures["predict_after_new_max_ms"] = max(after_new)
    query = Image.objects.get(image_id=ids[0])
    figures["similar_ms"] = 1000 * _timed(lambda: image_similar(image=query, n=10), 5)[0]
    figures["suggest_ms"] = 1000 * _timed(lambda: tag_suggest(tag=tag, n=20), 5)[0]
    figures["similar_recall"] = _similar_recall(index)
    figures["library_s"] = _library_job(tags)
    Image.objects.filter(image_id__in=new_ids).delete()  # back to N rows (tombstones)
    memory = _memory()
    figures["rss_mib"] = memory["rss"]
    figures["above_baseline_mib"] = memory["rss"] - baseline["rss"]
    figures["anon_mib"] = memory["anon"] - baseline["anon"]
    figures["file_mib"] = memory["file"] - baseline["file"]
    figures["pss_mib"] = memory["pss"] - baseline["pss"]
    return figures


def _first_fit_s() -> float:
    """A process's first fit imports scikit-learn and SciPy (a queue worker pays that once,
    not per training): a fit of 20 rows, timed apart so that training is timed warm."""
    from custom_tagging.learning import TagClassifier

    rows = np.random.default_rng(0).random((20, DIM), dtype=np.float32)
    start = time.perf_counter()
    TagClassifier().fit(rows, np.arange(20) % 2)
    return time.perf_counter() - start


def _similar_recall(index, queries: int = 100) -> float:
    """recall@10 of the search requests use (cells past MUSES_INDEX_CELLS_MIN_ROWS) against
    one exact pass over the same float16 rows, on a sample of the library's own rows, each
    query's own row left out (what `muses_index check` reports)."""
    from muses.vision.feature_index.recall import sampled_recall

    return sampled_recall(index.file(), probe=settings.MUSES_SIMILAR_PROBE, sample=queries).mean


def _add_rows(n: int) -> list[str]:
    """n new images stored the way an upload stores them (row, then append)."""
    from muses.collection.models import Image
    from muses.vision.backbones import Backbone
    from muses.vision.feature_index.hooks import index_append_features
    from muses.vision.store import feature_row

    backbone = Backbone(
        name=BACKBONE,
        input_size=224,
        feature_dim=DIM,
        weights_digest="bench",
        model=None,
        preprocess_fn=None,
    )
    stamp = int(time.time() * 1000) % 10**9
    vectors = vectors_for(np.arange(n) + 10**8, centres())
    ids = []
    for i, vector in enumerate(vectors):
        image = Image.objects.create(image_id=f"new{stamp}-{i}", width=1, height=1, format="JPEG")
        # As image_features_store stores an upload's vector (the bench has no network).
        row = feature_row(image, backbone, vector, numerics=("openvino", "fp32"))
        row.save()
        index_append_features([row])
        ids.append(image.image_id)
    return ids


def _add_rows_elsewhere(n: int) -> list[str]:
    """n new images stored by a process of their own (as an upload worker would)."""
    out = subprocess.run(
        [sys.executable, __file__, "add", "--rows", str(n)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _library_job(tags: list[str]) -> float:
    from custom_tagging.jobs import library_prediction_run
    from custom_tagging.models import PredictionJob

    job = PredictionJob.objects.create(tag_names=tags)
    start = time.perf_counter()
    job = library_prediction_run(job_pk=job.pk)
    elapsed = time.perf_counter() - start
    assert job.state == "success", job.error
    job.result.storage.delete(job.result.name)
    return elapsed


def share() -> dict:
    """A second fresh process that touches every page of the index (one exact pass):
    its private memory stays small, the index is shared."""
    from muses.vision.feature_index.handle import feature_index

    baseline = _memory()
    handle = feature_index(BACKBONE).file()
    for _ in handle.chunks(50_000):
        pass
    memory = _memory()
    return {
        "second_anon_mib": memory["anon"] - baseline["anon"],
        "second_file_mib": memory["file"] - baseline["file"],
        "second_shared_mib": memory["shared"] - baseline["shared"],
        "index_file_mib": handle.path.stat().st_size / 2**20,
    }


# --- accuracy of compact vectors ----------------------------------------------------------


def accuracy(rows: int = 100_000, queries: int = 200) -> None:
    """float16 and int8 (per-vector scale) against float32: tag AP and accuracy on a held
    out half, and recall@10 of exact cosine search."""
    from sklearn.metrics import average_precision_score

    from custom_tagging.learning import TagClassifier

    numbers = np.arange(rows)
    X = np.concatenate(
        [vectors_for(numbers[s : s + 20_000], centres()) for s in range(0, rows, 20_000)]
    )
    y = is_positive(numbers).astype(np.int8)
    train = np.random.default_rng(0).random(rows) < 0.1  # 10,000 labels
    test = ~train
    forms = {"float32": X, "float16": X.astype(np.float16).astype(np.float32), "int8": _int8(X)}
    exact = _top10(X, X[:queries])
    for name, data in forms.items():
        model = TagClassifier().fit(data[train], y[train])
        scores = model.predict_proba(data[test])
        ap = 100 * average_precision_score(y[test], scores)
        acc = 100 * float(np.mean(model.predict(data[test]) == y[test]))
        found = _top10(data, data[:queries])
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)])
        print(
            f"  {name:8s} {BYTES_PER_VALUE[name]} B/value  tag AP {ap:6.2f}  "
            f"accuracy {acc:6.2f}  similar recall@10 vs float32 {recall:.4f}"
        )


BYTES_PER_VALUE = {"float32": 4, "float16": 2, "int8": 1}


def _int8(X: np.ndarray) -> np.ndarray:
    scale = X.max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return (np.rint(X / scale).astype(np.int8).astype(np.float32)) * scale


def _top10(matrix: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1
    sims = (queries @ matrix.T) / norms[None] / np.linalg.norm(queries, axis=1)[:, None]
    return [list(np.argsort(-row, kind="stable")[1:11]) for row in sims]


# --- our path against the one it replaced, in one run ---------------------------------------


def paths() -> None:
    """At the filled N, in one process: resolving every live row's image id by one ordered
    read against a look-up of each chunk's scattered pks (what the library job did before),
    and float16 widened by numpy's cast against the shifts of as_float32 (bit-identical),
    on the index's own rows."""
    from muses.vision.feature_index.handle import feature_index
    from muses.vision.feature_index.selectors import ImageNames, image_ids_of
    from muses.vision.feature_index.widen import as_float32

    handle = feature_index(BACKBONE).file()
    rows = handle.rows()
    chunks = [rows[s : s + 10_000] for s in range(0, len(rows), 10_000)]
    start = time.perf_counter()
    names = ImageNames.read()
    resolved = sum(len(names.of(c["image"], live=c["dead"] == 0)[1]) for c in chunks)
    ordered = time.perf_counter() - start
    start = time.perf_counter()
    looked_up = sum(len(image_ids_of(c["image"][c["dead"] == 0])) for c in chunks)
    scattered = time.perf_counter() - start
    assert resolved == looked_up, (resolved, looked_up)
    print(
        f"  image ids of {resolved:,} rows: one ordered read {ordered:.2f} s, "
        f"per-chunk look-ups {scattered:.2f} s ({scattered / ordered:.1f}x)"
    )
    block = handle.matrix()[:50_000]
    widenings = {"numpy's cast": lambda b: b.astype(np.float32), "as_float32 (shifts)": as_float32}
    dense = np.random.default_rng(0).random(block.shape, dtype=np.float32).astype(np.float16)
    for sample, kind in ((block, "index rows"), (dense, "dense random rows")):
        for name, widen in widenings.items():
            best = min(_timed(lambda w=widen, s=sample: w(s), 1)[0] for _ in range(5))
            print(f"  widen {len(sample):,} x {handle.dim} {kind}: {name} {1000 * best:.1f} ms")


# --- report -------------------------------------------------------------------------------

COLUMNS = [
    ("rebuild_s", "rebuild s"),
    ("check_s", "check s"),
    ("compact_s", "compact s"),
    ("compact_store_max_ms", "store during it, max ms"),
    ("compact_store_median_ms", "store during it, med ms"),
    ("open_s", "open s"),
    ("above_baseline_mib", "RSS+ MiB"),
    ("anon_mib", "anon+ MiB (own heap)"),
    ("file_mib", "file+ MiB (index pages)"),
    ("second_anon_mib", "2nd proc anon+ MiB"),
    ("second_file_mib", "2nd proc file+ MiB"),
    ("second_shared_mib", "2nd proc shared+ MiB"),
    ("pss_mib", "PSS+ MiB (1st proc)"),
    ("predict_warm_ms", "predict 20x20 ms"),
    ("predict_after_new_ms", "after 100 new ms"),
    ("predict_after_new_max_ms", "  worst of 5 rounds"),
    ("similar_ms", "similar ms"),
    ("similar_recall", "similar recall@10"),
    ("suggest_ms", "suggest ms"),
    ("train_imports_s", "first fit, imports s"),
    ("train_s", "train 10k s"),
    ("train_read_s", "of which read s"),
    ("library_s", "library job s"),
]


def _print(result: dict) -> None:
    for key, label in COLUMNS:
        if key in result:
            print(f"  {label:22s} {result[key]:10.3f}")


def report() -> None:
    results = sorted(
        (json.loads(p.read_text()) for p in RESULTS.glob("*.json")), key=lambda r: r["rows"]
    )
    if not results:
        raise SystemExit("nothing measured yet: run measure first")
    print(f"{'':24s}" + "".join(f"{r['rows']:>12,}" for r in results) + "   growth   target@1M")
    for key, label in COLUMNS:
        values = [r.get(key, float("nan")) for r in results]
        growth = f"x{values[-1] / values[0]:.1f}" if len(values) > 1 and values[0] > 0 else ""
        target = TARGETS_1M.get(key, "")
        print(
            f"  {label:22s}" + "".join(f"{v:12.3f}" for v in values) + f"   {growth:7s}  {target}"
        )


# --- every N in one run ------------------------------------------------------------------


def label(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


def run(sizes: list[int]) -> None:
    """fill, rebuild and measure each N in a database and index directory of its own,
    then the report over this run's N."""
    base = settings.DATABASES["default"]
    if base["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("run needs PostgreSQL: set DATABASE_URL")
    results = Path(settings.MUSES_VAR_DIR) / "results" / datetime.now(UTC).strftime("%Y%m%dT%H%M")
    for rows in sizes:
        name = f"{base['NAME']}_{label(rows)}"
        _database_ensure(name)
        env = os.environ | {
            "DATABASE_URL": _database_url(base, name),
            "MUSES_VAR_DIR": str(Path(settings.MUSES_VAR_DIR) / f"n{label(rows)}"),
            "MUSES_SCALE_RESULTS": str(results),
        }
        for action in ("fill", "rebuild", "measure"):
            print(f"--- {label(rows)}: {action}", flush=True)
            subprocess.run(
                [sys.executable, __file__, action, "--rows", str(rows)], env=env, check=True
            )
    subprocess.run(
        [sys.executable, __file__, "report"], env=os.environ | {"MUSES_SCALE_RESULTS": str(results)}
    )


def _database_url(base: dict, name: str) -> str:
    host = f"{base.get('HOST') or '127.0.0.1'}:{base.get('PORT') or 5432}"
    password = f":{base['PASSWORD']}" if base.get("PASSWORD") else ""
    return f"postgres://{base.get('USER') or 'postgres'}{password}@{host}/{name}"


def _database_ensure(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cursor.fetchone() is not None
    if not exists:
        import psycopg

        base = settings.DATABASES["default"]
        with psycopg.connect(_database_url(base, base["NAME"]), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    env = os.environ | {"DATABASE_URL": _database_url(settings.DATABASES["default"], name)}
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "action",
        choices=[
            "fill",
            "rebuild",
            "measure",
            "accuracy",
            "report",
            "drop",
            "probe",
            "share",
            "run",
            "paths",
            "add",
        ],
        help="what to do (probe, share and add run inside fresh processes of measure)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        help="N: rows to fill or measure (default 10,000); run and drop take several",
    )
    args = parser.parse_args()
    if args.action == "add":
        print(json.dumps(_add_rows(args.rows[0])))
        return
    if args.action in ("probe", "share"):
        figures = probe() if args.action == "probe" else share()
        print(json.dumps(figures))
        return
    if args.action in ("run", "drop"):
        if args.action == "run":
            return run(args.rows or [10_000, 100_000, 1_000_000])
        return drop(args.rows)
    args.rows = (args.rows or [10_000])[0]
    if args.action == "fill":
        fill(args.rows)
    elif args.action == "rebuild":
        rebuild(args.rows)
    elif args.action == "measure":
        measure(args.rows)
    elif args.action == "accuracy":
        accuracy()
    elif args.action == "paths":
        paths()
    else:
        report()


if __name__ == "__main__":
    main()
