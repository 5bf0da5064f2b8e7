"""Likely label errors on the Egyptian CC0 collection: how many planted label flips confident
learning finds, and what it flags in the real labels.

    .venv/bin/python bench/label_issues.py [--var-dir /tmp/muses-curation] [--seeds 3]
        [--top 50] [--sheet /tmp/label-issues-top50.jpg] [--flagged-out /tmp/flagged.txt]

1. Planted flips: the records of the nearly clean classes (coin, sealing, shabti, painting)
   get 10 % of their labels flipped to another class at random; the share of the flips found
   in the top 10 % of the ranking is printed (target >= 0.8), (a) ranking those four classes
   alone and (b) with the same flips (the same records, the same wrong classes) planted in
   the whole naive dataset, ranking all of it.
2. The real labels: the number flagged, and the top N with their records, also drawn as a
   contact sheet (``--sheet``) to read them by eye; ``--flagged-out`` lists the flagged
   image ids (one per line) for ``bench/naive_quality.py --drop``.

Features come from the project's own extraction, computed once (bench/curation_common.py).
"""

import argparse
import time

import numpy as np
from curation_common import DEFAULT_VAR_DIR, prepared_collection

CLEAN_CLASSES = ("coin", "sealing", "shabti", "painting")
FLIP_SHARE = 0.10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default=str(DEFAULT_VAR_DIR), help="Private state folder.")
    parser.add_argument("--seeds", type=int, default=3, help="Random flip draws.")
    parser.add_argument("--top", type=int, default=50, help="Real issues to print.")
    parser.add_argument("--sheet", default="/tmp/label-issues-top50.jpg", help="Contact sheet.")
    parser.add_argument("--flagged-out", default="", help="Write flagged image ids here.")
    return parser.parse_args()


def naive_dataset():
    """(image ids, class indices, class names, features) of every naively labelled image."""
    from curation.services.label_issue_reports import naive_labelled
    from muses.vision.feature_index.handle import feature_index
    from naive_classification import definitions

    labelled = naive_labelled()
    found, X = feature_index().vectors_of(labelled.image_ids)
    by_id = dict(zip(labelled.image_ids, labelled.labels))
    names = definitions.class_names()
    y = np.array([names.index(by_id[i]) for i in found])
    return found, y, names, X


def flips(y: np.ndarray, among: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """(indices drawn from ``among``, a new label for each from the other classes of
    ``among``): FLIP_SHARE of them, to plant in any dataset that holds those rows."""
    classes = np.unique(y[among])
    chosen = rng.choice(among, size=int(round(FLIP_SHARE * len(among))), replace=False)
    labels = np.array([rng.choice(classes[classes != y[index]]) for index in chosen])
    return chosen, labels


def found_in_top(y_noisy: np.ndarray, X: np.ndarray, flipped: np.ndarray) -> tuple[float, float]:
    """(share of flips in the top 10 % of the ranking, share of flips among the flagged)."""
    from curation.label_issues import multiclass_probabilities, rank_issues

    present = np.unique(y_noisy)
    dense = np.searchsorted(present, y_noisy)
    ranking = rank_issues(dense, multiclass_probabilities(X, dense))
    top = set(ranking.order[: int(round(FLIP_SHARE * len(y_noisy)))].tolist())
    flagged = set(ranking.issues.tolist())
    recall_top = len(top & set(flipped.tolist())) / len(flipped)
    recall_flagged = len(flagged & set(flipped.tolist())) / len(flipped)
    return recall_top, recall_flagged


def planted_flips(ids, y, names, X, seeds: int) -> None:
    """The same flips (rows and new labels) planted twice: in the four classes alone, and in
    the whole naive dataset."""
    clean = np.flatnonzero(np.isin(y, [names.index(c) for c in CLEAN_CLASSES]))
    counts = {c: int((y == names.index(c)).sum()) for c in CLEAN_CLASSES}
    print(f"nearly clean classes: {counts}, {len(clean)} records", flush=True)
    alone, whole = [], []
    for seed in range(seeds):
        rows, labels = flips(y, clean, np.random.default_rng(seed))
        noisy = y.copy()
        noisy[rows] = labels
        at = np.searchsorted(clean, rows)  # the same rows, numbered within the four classes
        alone.append(found_in_top(noisy[clean], X[clean], at))
        whole.append(found_in_top(noisy, X, rows))
        print(
            f"seed {seed}: {len(rows)} flips; four classes alone: {alone[-1][0]:.3f} in the "
            f"top 10 %, {alone[-1][1]:.3f} flagged; the same flips in the whole dataset: "
            f"{whole[-1][0]:.3f} in the top 10 %, {whole[-1][1]:.3f} flagged",
            flush=True,
        )
    alone_mean, whole_mean = np.mean([a for a, _ in alone]), np.mean([w for w, _ in whole])
    print(
        f"mean share of flips in the top 10 %: four classes alone {alone_mean:.3f}, "
        f"the same flips in the whole dataset {whole_mean:.3f} (target >= 0.8)"
    )


def real_issues(args) -> None:
    from curation.services.label_issue_reports import SUBJECT_NAIVE, label_issues_compute
    from muses.collection.models import Image

    start = time.perf_counter()
    report = label_issues_compute(subject=SUBJECT_NAIVE)  # what the job runs, timed here
    took = time.perf_counter() - start
    print(
        f"\nreal labels: {len(report.issues)} of {report.examples} flagged "
        f"({len(report.issues) / report.examples:.1%}), computed in {took:.1f} s; "
        f"left out: {report.left_out_classes}"
    )
    top = report.issues[: args.top]
    images = Image.objects.select_related("item").in_bulk(
        [i["image_id"] for i in top], field_name="image_id"
    )
    for issue in top:
        item = images[issue["image_id"]].item
        print(
            f"{issue['rank']:3d} {issue['image_id']} {item.museum[:10]:10s} "
            f"{issue['given']}->{issue['suggested']} ({issue['given_probability']:.2f}/"
            f"{issue['suggested_probability']:.2f}) word={issue['word']!r} "
            f"title={item.title[:70]!r} type={item.object_type!r}"
        )
    if args.sheet:
        contact_sheet([images[i["image_id"]] for i in top], top, args.sheet)
        print(f"contact sheet: {args.sheet}")
    if args.flagged_out:
        with open(args.flagged_out, "w") as out:
            out.writelines(issue["image_id"] + "\n" for issue in report.issues)
        print(f"flagged ids: {args.flagged_out}")


def contact_sheet(images, issues, path: str, cell: int = 200, columns: int = 5) -> None:
    from PIL import Image as PILImage
    from PIL import ImageDraw

    rows = -(-len(images) // columns)
    sheet = PILImage.new("RGB", (columns * cell, rows * (cell + 30)), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (image, issue) in enumerate(zip(images, issues)):
        x, y = (n % columns) * cell, (n // columns) * (cell + 30)
        with PILImage.open(image.file.path) as picture:
            picture = picture.convert("RGB")
            picture.thumbnail((cell, cell))
            sheet.paste(picture, (x, y))
        text = f"{issue['rank']} {issue['given']}->{issue['suggested']}"
        draw.text((x + 2, y + cell + 2), text, fill="black")
        draw.text((x + 2, y + cell + 15), image.item.title[:32], fill="black")
    sheet.save(path, quality=85)


def main():
    args = parse_args()
    prepared_collection(args.var_dir)
    ids, y, names, X = naive_dataset()
    print(f"naive dataset: {len(ids)} labelled images with features")
    planted_flips(ids, y, names, X, args.seeds)
    real_issues(args)


if __name__ == "__main__":
    main()
