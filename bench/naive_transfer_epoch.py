"""Seconds per transfer-learning epoch: MUSES (head trained on cached base features) against a
plain ``model.fit`` that runs the frozen base on every image every epoch, on the same data;
and seconds per fine-tuning epoch.

    .venv/bin/python bench/naive_transfer_epoch.py [--rows 420] [--size 128] [--views 4]
        [--model-type vgg] [--weights none] [--epochs 5] [--var-dir /tmp/naive-bench]

Random VGG19 weights by default: the timing does not depend on the weights.
"""

import argparse
import json
import time

from naive_common import populate_collection, setup_django


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="/tmp/naive-bench", help="Private state folder.")
    parser.add_argument("--rows", type=int, default=420, help="Collection rows to import.")
    parser.add_argument("--model-type", default="vgg", help="vgg or efficientnet_lite0.")
    parser.add_argument("--weights", default="none", help="imagenet or none.")
    parser.add_argument("--size", type=int, default=128, help="Target size in pixels.")
    parser.add_argument("--views", type=int, default=4, help="Cached views per image.")
    parser.add_argument("--epochs", type=int, default=5, help="Timed head epochs.")
    return parser.parse_args()


def seconds(func, *args, **kwargs) -> float:
    start = time.perf_counter()
    func(*args, **kwargs)
    return time.perf_counter() - start


def ours(c, epochs: int) -> dict:
    """Cache the views once, then time head epochs (after one warm-up epoch that traces)."""
    cache = seconds(c._cached, "train", views=c.views) + seconds(c._cached, "validation")
    warm_up = seconds(c._fit_head, c.splits, 1, c.weights)
    timed = seconds(c._fit_head, c.splits, epochs, c.weights)
    return {"cache_s": cache, "first_epoch_s": warm_up, "epoch_s": timed / epochs}


def full_model_epochs(c, fit) -> dict:
    """One warm-up epoch (tracing), then one timed epoch of ``fit``."""
    first = seconds(fit, c.splits, 1, c.weights)
    return {"first_epoch_s": first, "epoch_s": seconds(fit, c.splits, 1, c.weights)}


def main():
    args = parse_args()
    setup_django(args.var_dir)
    import os

    from exporters.naive.muses_exporter_plugin import do_export
    from naive_classification.definitions import FINE_TUNE_LAYERS
    from naive_classification.helpers import setup_classifier

    populate_collection(limit=args.rows)
    do_export(progress=False)
    weights = None if args.weights == "none" else args.weights
    c = setup_classifier(
        (args.size, args.size),
        model_type=args.model_type,
        weights=weights,
        views=args.views,
        progress=False,
    )
    counts = {split: len(data) for split, data in c.splits.items()}
    print(f"images: {counts}, {args.model_type} at {args.size} px, {args.views} views", flush=True)

    transfer = ours(c, args.epochs)
    print(f"ours: {json.dumps(transfer)}", flush=True)
    # The plain way: the whole model, base frozen, fed augmented images every epoch.
    plain = full_model_epochs(c, c._fit_full)
    print(f"plain model.fit, frozen base: {json.dumps(plain)}", flush=True)
    c.unfreeze_layers(FINE_TUNE_LAYERS[args.model_type])
    c.set_optimizer(lr=5e-5)
    fine = full_model_epochs(c, c._fit_full)
    print(f"fine-tuning ({c.unfrozen_layers_} layers): {json.dumps(fine)}", flush=True)

    result = {
        "machine_cpus": os.cpu_count(),
        "images": counts,
        "transfer_epoch_ours_s": round(transfer["epoch_s"], 3),
        "transfer_cache_once_s": round(transfer["cache_s"], 1),
        "transfer_epoch_plain_fit_s": round(plain["epoch_s"], 2),
        "speed_up_per_epoch": round(plain["epoch_s"] / transfer["epoch_s"], 1),
        "speed_up_30_epochs_with_cache": round(
            30 * plain["epoch_s"] / (transfer["cache_s"] + 30 * transfer["epoch_s"]), 1
        ),
        "fine_tuning_epoch_s": round(fine["epoch_s"], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
