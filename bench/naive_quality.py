"""Quality of the naive classifier on the Egyptian CC0 collection: EfficientNet-Lite0 at
224 px with ImageNet weights, transfer learning then fine-tuning, scored on the test split.

    .venv/bin/python bench/naive_quality.py [--var-dir /tmp/naive-quality] [--transfer 30]
        [--fine-tuning 10] [--layers 20] [--size 224] [--model-type efficientnet_lite0]

Everything (database, media, dataset, model, plots) lives under --var-dir.
"""

import argparse
import json
import time

from naive_common import populate_collection, setup_django


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="/tmp/naive-quality", help="Private state folder.")
    parser.add_argument(
        "--model-type", default="efficientnet_lite0", help="vgg or efficientnet_lite0."
    )
    parser.add_argument("--size", type=int, default=224, help="Target size in pixels.")
    parser.add_argument("--transfer", type=int, default=30, help="Transfer-learning epochs.")
    parser.add_argument("--fine-tuning", type=int, default=10, help="Fine-tuning epochs.")
    parser.add_argument("--layers", type=int, default=None, help="Base layers to unfreeze.")
    parser.add_argument("--lr", type=float, default=5e-5, help="Fine-tuning learning rate.")
    parser.add_argument("--views", type=int, default=4, help="Cached views per image.")
    return parser.parse_args()


def timed(label, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - start:.1f} s", flush=True)
    return result


def main():
    args = parse_args()
    setup_django(args.var_dir)
    from exporters.naive.muses_exporter_plugin import do_export
    from naive_classification.definitions import FINE_TUNE_LAYERS
    from naive_classification.helpers import setup_classifier

    print(f"collection images: {populate_collection()}")
    timed("export", do_export, progress=False)
    classifier = timed(
        "setup",
        setup_classifier,
        (args.size, args.size),
        model_type=args.model_type,
        views=args.views,
    )
    classifier.unfreeze_layers(0)
    timed("transfer", classifier.train_model, args.transfer, weighted=True, model_name="quality")
    print("after transfer (test split):\n" + classifier.evaluation_.table(), flush=True)
    if args.fine_tuning:
        classifier.unfreeze_layers(args.layers or FINE_TUNE_LAYERS[args.model_type])
        classifier.set_optimizer(lr=args.lr, decay=0)
        timed(
            "fine-tuning",
            classifier.train_model,
            args.fine_tuning,
            weighted=True,
            model_name="quality",
        )
        print("after fine-tuning (test split):\n" + classifier.evaluation_.table(), flush=True)
    path = classifier.save_model("quality")
    print(f"plot: {classifier.plot_performance()}")
    print(f"saved {path}")
    print(json.dumps({"test_accuracy": classifier.evaluation_.accuracy}))


if __name__ == "__main__":
    main()
