"""The map's 2-D layout on the Egyptian CC0 collection: PCA + t-SNE against PCA + UMAP.

    .venv/bin/python bench/map_layout.py [--var-dir /tmp/muses-curation]

For each method: seconds to lay out the 2,129 images; trustworthiness at 10 neighbours (how
well 2-D neighbours were neighbours in feature space, 1 is best); the share of each labelled
image's 10 nearest map neighbours with its naive class (classes kept together); and, for
placing new images without recomputing, the same class share for 200 images held out of the
layout and placed by ``curation.layout.place``.
"""

import argparse
import time

import numpy as np
from curation_common import DEFAULT_VAR_DIR, prepared_collection
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

HELD_OUT = 200


def class_share(xy: np.ndarray, labels: np.ndarray, query=None, k: int = 10) -> float:
    """Mean share of the k nearest (laid-out) neighbours with the same label, among labelled."""
    known = labels >= 0
    index = NearestNeighbors(n_neighbors=k + (query is None)).fit(xy[known])
    points = xy[known] if query is None else query[0]
    own = labels[known] if query is None else query[1]
    _, found = index.kneighbors(points)
    found = found[:, 1:] if query is None else found
    neighbours = labels[known][found]
    keep = own >= 0
    return float((neighbours[keep] == own[keep, None]).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default=str(DEFAULT_VAR_DIR), help="Private state folder.")
    args = parser.parse_args()
    prepared_collection(args.var_dir)
    from curation.layout import layout, place, reduced
    from curation.services.label_issue_reports import naive_labelled
    from muses.vision.feature_index.handle import feature_index

    _, ids, X = feature_index().library()
    labelled = naive_labelled()
    names = sorted(set(labelled.labels))
    by_id = dict(zip(labelled.image_ids, labelled.labels))
    labels = np.array([names.index(by_id[i]) if i in by_id else -1 for i in ids])
    rng = np.random.default_rng(0)
    held = rng.choice(len(ids), HELD_OUT, replace=False)
    rest = np.setdiff1d(np.arange(len(ids)), held)
    high = reduced(X)
    for method in ("tsne", "umap"):
        start = time.perf_counter()
        xy = layout(X, method=method)
        took = time.perf_counter() - start
        trust = trustworthiness(high, xy, n_neighbors=10)
        share = class_share(xy, labels)
        part = layout(X[rest], method=method)
        placed = place(X[rest], part, X[held])
        placed_share = class_share(part, labels[rest], query=(placed, labels[held]))
        print(
            f"{method}: {took:.1f} s for {len(ids)} images, trustworthiness@10 {trust:.3f}, "
            f"same class among 10 map neighbours {share:.3f}; {HELD_OUT} placed afterwards: "
            f"same class among their 10 neighbours {placed_share:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
