"""Quality of the naive classifier on the Egyptian CC0 collection: EfficientNet-Lite0 at
224 px with ImageNet weights, transfer learning then fine-tuning, scored on the test split.

    .venv/bin/python bench/naive_quality.py [--var-dir /tmp/naive-quality] [--transfer 30]
        [--fine-tuning 6] [--layers 40] [--size 224] [--model-type efficientnet_lite0]
        [--views 4] [--label-smoothing 0.1] [--unweighted] [--no-test-time-flip]
        [--drop FLAGGED.txt] [--hold-out-museum NAME] [--augmentation geometric]

The defaults are the product's recipe (what ``muses_train_model`` does) and reproduce the
figure in BENCHMARKS.md. Settings are chosen by the validation accuracy printed after each
phase, never by the test split's.

``--drop`` leaves the listed image ids (one per line, e.g. the likely label errors that
``bench/label_issues.py --flagged-out`` writes) out of training and validation; the test
split keeps them, so both runs are scored on the same images. ``--hold-out-museum`` tests on
that museum's images and trains on the others' (leave one museum out: does the model carry
to another collection?); "test accuracy" is then that museum's.

Everything (database, media, dataset, model, plots) lives under --var-dir.
"""

import argparse
import csv
import json
import time
from pathlib import Path

from naive_common import populate_collection, setup_django


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="/tmp/naive-quality", help="Private state folder.")
    parser.add_argument(
        "--model-type", default="efficientnet_lite0", help="vgg or efficientnet_lite0."
    )
    parser.add_argument("--size", type=int, default=224, help="Target size in pixels.")
    parser.add_argument("--transfer", type=int, default=30, help="Transfer-learning epochs.")
    parser.add_argument("--fine-tuning", type=int, default=6, help="Fine-tuning epochs.")
    parser.add_argument("--layers", type=int, default=None, help="Base layers to unfreeze.")
    parser.add_argument("--lr", type=float, default=5e-5, help="Fine-tuning learning rate.")
    parser.add_argument(
        "--views", type=int, default=4, help="Cached views per image (random augmentations)."
    )
    parser.add_argument(
        "--augmentation", default=None, help="mirror (the product's), geometric, photographic."
    )
    parser.add_argument(
        "--label-smoothing", type=float, default=None, help="Default: the product's (0.1)."
    )
    parser.add_argument(
        "--unweighted", action="store_true", help="Train without the balanced class weights."
    )
    parser.add_argument(
        "--no-test-time-flip",
        action="store_true",
        help="Predict on the image alone, not the mean over it and its mirror image.",
    )
    parser.add_argument(
        "--drop", default="", help="File of image ids left out of training and validation."
    )
    parser.add_argument(
        "--hold-out-museum", default="", help="Test on this museum, train on the others."
    )
    return parser.parse_args()


def timed(label, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - start:.1f} s", flush=True)
    return result


def options(args) -> dict:
    """Classifier options that differ from the product's defaults."""
    chosen = {}
    if args.label_smoothing is not None:
        chosen["label_smoothing"] = args.label_smoothing
    if args.no_test_time_flip:
        chosen["test_time_flip"] = False
    if args.augmentation:
        chosen["augmentation"] = args.augmentation
    return chosen


def train_phase(classifier, phase: str, epochs: int, args) -> float:
    """Train one phase, then print the validation accuracy (what settings are chosen by)
    and the test split's table; returns the validation accuracy."""
    timed(phase, classifier.train_model, epochs, weighted=not args.unweighted, model_name="quality")
    validation = classifier.evaluate("validation").accuracy
    print(f"after {phase}: validation accuracy {validation:.3f}", flush=True)
    print(f"after {phase} (test split):\n" + classifier.evaluation_.table(), flush=True)
    return validation


def resplit(root: Path, *, drop: set[str], hold_out: str) -> dict[str, int]:
    """Rewrite the exported manifest's split column (files stay where they are: rows name
    their paths); returns the images per split."""
    from exporters.dataset import MANIFEST_COLUMNS, MANIFEST_NAME, read_manifest
    from muses.collection.models import Image

    rows = read_manifest(root)
    museum = dict(Image.objects.values_list("image_id", "item__museum"))
    if hold_out and hold_out not in set(museum.values()):
        raise SystemExit(f"No museum {hold_out!r}; there are {sorted(set(museum.values()))}")
    kept = []
    for row in rows:
        if hold_out:
            held = museum.get(row["image_id"]) == hold_out
            row["split"] = "test" if held else ("train" if row["split"] == "test" else row["split"])
        if row["split"] != "test" and row["image_id"] in drop:
            continue
        kept.append(row)
    with open(Path(root) / MANIFEST_NAME, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(kept)
    splits = ("train", "validation", "test")
    return {split: sum(r["split"] == split for r in kept) for split in splits}


def main():
    args = parse_args()
    setup_django(args.var_dir)
    from exporters.naive.muses_exporter_plugin import do_export
    from naive_classification.definitions import FINE_TUNE_LAYERS
    from naive_classification.helpers import setup_classifier

    print(f"collection images: {populate_collection()}")
    timed("export", do_export, progress=False)
    if args.drop or args.hold_out_museum:
        from django.conf import settings

        drop = set(Path(args.drop).read_text().split()) if args.drop else set()
        counts = resplit(settings.MUSES_DATASET_DIR, drop=drop, hold_out=args.hold_out_museum)
        print(f"re-split (dropped {len(drop)} listed ids outside test): {counts}", flush=True)
    classifier = timed(
        "setup",
        setup_classifier,
        (args.size, args.size),
        model_type=args.model_type,
        views=args.views,
        **options(args),
    )
    classifier.unfreeze_layers(0)
    validation = train_phase(classifier, "transfer", args.transfer, args)
    if args.fine_tuning:
        classifier.unfreeze_layers(args.layers or FINE_TUNE_LAYERS[args.model_type])
        classifier.set_optimizer(lr=args.lr, decay=0)
        validation = train_phase(classifier, "fine-tuning", args.fine_tuning, args)
    path = classifier.save_model("quality")
    print(f"plot: {classifier.plot_performance()}")
    print(f"saved {path}")
    print(
        json.dumps(
            {"validation_accuracy": validation, "test_accuracy": classifier.evaluation_.accuracy}
        )
    )


if __name__ == "__main__":
    main()
