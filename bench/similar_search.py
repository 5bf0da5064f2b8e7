"""Similar-image search on realistic rows: recall and latency of the feature index's cells
against exact search, beside usearch (HNSW) and FAISS (IVFFlat, HNSWFlat), in one run.

    nice .venv/bin/python bench/similar_search.py --rows 100000 --seed 0 [--libraries]
        [--before] [--generator realistic|synthetic] [--probes 8 16 24 32]
        [--work /tmp/similar-work]

Rows (``realistic``, the default) are built from the real EfficientNet-Lite0 features of
the 2,129 Egyptian CC0 images, computed once by the project's own extraction
(bench/curation_common.py) and cached as an .npy beside the work folder: each row is a
convex mixture of 2 or 3 of them (Dirichlet weights) with small multiplicative and
additive noise, non-negative like the pooled ReLU6 features. It keeps what synthetic
clusters lack: the real features' directions, sparsity and spread of norms, and
neighbourhoods that overlap (a library holds many pictures of like objects) instead of
well-separated blobs. ``synthetic`` is the Gaussian-cluster generator of bench/scale.py.

Queries are fresh rows of the same generator (another seed), never in the index, so no
row is its own neighbour. Truth is exact cosine top-100 over the float32 rows. Each method
answers every query: recall@10 and @100 (mean; the worst query; queries below 0.5),
p50 / p95 of one query at a time (k=10), build time. Our index is the product's own file
(index_create + index_partition, searched by
muses.vision.feature_index.search.file_nearest); ``--before`` adds cells trained on the raw
vectors, as they were before they were normalised.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DIM = 1280
CHUNK = 20_000
FEATURES = "lite0-egyptian.npy"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="Index rows.")
    parser.add_argument("--queries", type=int, default=1_000, help="Queries (not indexed).")
    parser.add_argument("--seed", type=int, default=0, help="Generator seed.")
    parser.add_argument("--generator", choices=("realistic", "synthetic"), default="realistic")
    parser.add_argument("--probes", type=int, nargs="+", default=[8, 16, 24, 32])
    parser.add_argument("--libraries", action="store_true", help="Also usearch and FAISS.")
    parser.add_argument("--before", action="store_true", help="Also cells of raw vectors.")
    parser.add_argument("--work", default="/tmp/similar-work", help="Scratch folder.")
    return parser.parse_args()


# --- rows ----------------------------------------------------------------------------------


def real_features(work: Path) -> np.ndarray:
    """The Lite0 features of the shared collection (extracted once, then read from cache)."""
    cache = work.parent / FEATURES
    if not cache.exists():
        var_dir = work.parent / "similar-features"
        # Both steps on that folder (the bench's own MUSES_VAR_DIR is already set by now).
        env = os.environ | {"MUSES_VAR_DIR": str(var_dir)}
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "curation_common.py"), "--var-dir", var_dir],
            env=env,
            check=True,
        )
        code = (
            "import numpy as np; from muses.vision.feature_index.handle import feature_index; "
            f"np.save({str(cache)!r}, feature_index().library()[2])"
        )
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code], env=env, check=True
        )
    return np.load(cache).astype(np.float32)


class Realistic:
    """Convex mixtures of 2-3 real feature vectors, with noise; deterministic per chunk."""

    def __init__(self, bases: np.ndarray, seed: int):
        self.bases, self.seed = bases, seed
        self.noise = 0.05 * bases.std(axis=0)

    def rows(self, start: int, count: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, start])
        picks = rng.integers(0, len(self.bases), (count, 3))
        weights = rng.dirichlet(np.ones(3), count)
        weights[rng.random(count) < 0.5, 2] = 0  # half of them mix two
        weights /= weights.sum(axis=1, keepdims=True)
        out = np.zeros((count, self.bases.shape[1]), np.float32)
        for part in range(3):
            out += weights[:, part, None] * self.bases[picks[:, part]]
        out *= rng.lognormal(0, 0.1, out.shape).astype(np.float32)
        out += rng.normal(0, 1, out.shape).astype(np.float32) * self.noise
        return np.clip(out, 0, 6)


class Synthetic:
    """bench/scale.py's clusters (what the earlier scale figures used)."""

    def __init__(self, seed: int):
        from scale_common import centres, vectors_for

        self.table, self.vectors_for, self.offset = centres(), vectors_for, seed * 10**7

    def rows(self, start: int, count: int) -> np.ndarray:
        return self.vectors_for(self.offset + np.arange(start, start + count), self.table)


def chunks(generator, rows: int):
    for start in range(0, rows, CHUNK):
        yield start, generator.rows(start, min(CHUNK, rows - start))


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


class ExactTop:
    """Each query's k nearest row numbers by cosine over the float32 rows, fed block by
    block (the rows are generated once, for the truth and the index alike)."""

    def __init__(self, queries: np.ndarray, k: int = 100):
        self.units, self.k = unit(queries), k
        self.ids = np.zeros((len(queries), 0), np.int64)
        self.sims = np.zeros((len(queries), 0), np.float32)

    def add(self, start: int, block: np.ndarray) -> None:
        sims = self.units @ unit(block).T
        ids = np.broadcast_to(np.arange(start, start + len(block)), sims.shape)
        sims, ids = np.hstack([self.sims, sims]), np.hstack([self.ids, ids])
        keep = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]
        self.sims = np.take_along_axis(sims, keep, 1)
        self.ids = np.take_along_axis(ids, keep, 1)

    def top(self) -> np.ndarray:
        order = np.argsort(-self.sims, axis=1, kind="stable")
        return np.take_along_axis(self.ids, order, 1)


# --- methods -------------------------------------------------------------------------------


def recall(found: list[list[int]], truth: np.ndarray, k: int) -> np.ndarray:
    return np.array([len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth)])


def measure(name: str, setting: str, search, queries, truth, build_s: float) -> dict:
    """search(query, k) -> row numbers; every query at k=100 for recall, then timed at
    k=10 (what the similar-images request asks)."""
    found = [search(q, 100) for q in queries]
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q, 10)
        times.append(1000 * (time.perf_counter() - start))
    r10, r100 = recall(found, truth, 10), recall(found, truth, 100)
    result = {
        "method": name,
        "setting": setting,
        "recall10": r10.mean(),
        "worst10": r10.min(),
        "below_half": int((r10 < 0.5).sum()),
        "recall100": r100.mean(),
        "p50_ms": statistics.median(times),
        "p95_ms": float(np.percentile(times, 95)),
        "build_s": build_s,
    }
    print(
        f"  {name:28s} {setting:16s} r@10 {result['recall10']:.3f} (worst "
        f"{result['worst10']:.1f}, {result['below_half']:3d} < 0.5)  r@100 "
        f"{result['recall100']:.3f}  p50 {result['p50_ms']:6.1f} ms  p95 "
        f"{result['p95_ms']:6.1f} ms  build {build_s:6.1f} s",
        flush=True,
    )
    return result


def our_index(work: Path, name: str, generator, rows: int, *, normalise: bool, truth=None):
    """The product's index file of the rows, grouped into cells (the truth fed the same
    rows on the way when given); (handle, build seconds of the cells)."""
    from muses.vision.feature_index import rewrite, swap
    from muses.vision.feature_index.file import FeatureIndexFile

    def batches():
        for start, block in chunks(generator, rows):
            if truth is not None:
                truth.add(start, block)
            numbers = np.arange(start, start + len(block), dtype=np.int64) + 1
            yield numbers, numbers, block

    swap.index_create(work, name, dim=DIM, dtype="float16", batches=batches())
    trained = rewrite.cells_train
    if not normalise:  # the cells as they were made before (for the comparison only)
        rewrite.cells_train = lambda m: trained(m, normalise=False)
    start = time.perf_counter()
    try:
        rewrite.index_partition(work, name)
    finally:
        rewrite.cells_train = trained
    return FeatureIndexFile(work, name), time.perf_counter() - start


def run_ours(work, generator, rows, queries, exact: ExactTop, probes, before: bool):
    from muses.vision.feature_index.search import file_nearest

    results, truth = [], None
    variants = [("cells of unit vectors", True)] + ([("cells of raw vectors", False)] * before)
    for label, normalise in variants:
        handle, build_s = our_index(
            work,
            f"bench.{int(normalise)}",
            generator,
            rows,
            normalise=normalise,
            truth=exact if truth is None else None,
        )
        truth = exact.top()
        for _ in handle.chunks(50_000):  # pages in the cache, as a serving machine has them
            pass
        for probe in probes:

            def search(q, k, probe=probe, handle=handle):
                return [pk - 1 for pk, _ in file_nearest(handle, q, k, probe=probe)]

            results.append(
                measure(f"IVF ({label})", f"probe {probe}", search, queries, truth, build_s)
            )
        handle.close()
    return results, truth


def run_faiss(matrix, queries, truth, probes) -> list[dict]:
    import faiss

    faiss.omp_set_num_threads(2)
    results, q = [], unit(queries)
    start = time.perf_counter()
    nlist = max(1, int(4 * np.sqrt(len(matrix))))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(len(matrix), min(len(matrix), 100_000), False)
    ivf.train(matrix[np.sort(sample)])
    ivf.add(matrix)
    ivf_s = time.perf_counter() - start
    start = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(matrix)
    hnsw_s = time.perf_counter() - start
    faiss.omp_set_num_threads(1)  # one request, one thread (as ours)
    for probe in probes:
        ivf.nprobe = probe

        def search(x, k):
            return ivf.search(x[None], k)[1][0].tolist()

        results.append(measure("FAISS IndexIVFFlat", f"nprobe {probe}", search, q, truth, ivf_s))
    for ef in (64, 128, 256):
        hnsw.hnsw.efSearch = ef

        def search(x, k):
            return hnsw.search(x[None], k)[1][0].tolist()

        results.append(
            measure("FAISS IndexHNSWFlat M32", f"efSearch {ef}", search, q, truth, hnsw_s)
        )
    return results


def run_usearch(work: Path, matrix, queries, truth) -> list[dict]:
    from usearch.index import Index

    start = time.perf_counter()
    index = Index(ndim=DIM, metric="cos", dtype="f16", connectivity=16)
    index.add(np.arange(len(matrix)), matrix, threads=2)
    path = work / "usearch.f16"
    index.save(str(path))
    build_s = time.perf_counter() - start
    del index
    view = Index.restore(str(path), view=True)  # memory-mapped: shared by processes
    results = []
    for ef in (64, 128, 256):
        view.expansion_search = ef

        def search(x, k):
            return view.search(x, k, threads=1).keys.tolist()

        results.append(
            measure("usearch HNSW f16 (view)", f"ef {ef}", search, queries, truth, build_s)
        )
    return results


def main():
    args = parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MUSES_VAR_DIR", str(work / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    os.environ["MUSES_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.generator == "realistic":
        generator = Realistic(real_features(work), args.seed)
        asked = Realistic(generator.bases, args.seed + 1000)
    else:
        generator, asked = Synthetic(args.seed), Synthetic(args.seed + 1)
    queries = asked.rows(0, args.queries)
    print(f"{args.generator} rows {args.rows:,}, seed {args.seed}, {args.queries} queries")
    exact = ExactTop(queries)
    _, truth = run_ours(work, generator, args.rows, queries, exact, args.probes, args.before)
    if args.libraries:
        matrix = unit(np.concatenate([block for _, block in chunks(generator, args.rows)]))
        run_faiss(matrix, queries, truth, args.probes)
        run_usearch(work, matrix, queries, truth)
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
