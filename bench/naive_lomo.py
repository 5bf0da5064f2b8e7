"""Leave one museum out: does the naive classifier carry to another museum's photographs?

For each museum of the Egyptian CC0 collection (the Met, Cleveland, the Art Institute of
Chicago) a recipe trains on the other two and is scored on that one; per museum and on average:
accuracy, macro-F1 and the confusion matrix. The same recipe trained on the exporter's train
split and scored on its test split gives the in-domain figure beside it. Labels are the
product's own: the naive exporter's keywords on the shared records.

    nice -n 10 .venv/bin/python bench/naive_lomo.py [--var-dir /tmp/lomo-var]
        [--cache /tmp/lomo-cache] [--candidates "shipped;lr, plain+mirror"] [--seeds 0,1]
        [--fine-tune Met,Cleveland,Chicago,in-domain] [--lite2] [--json-out FILE]

The base (EfficientNet-Lite0 at 224 px, ImageNet weights) is frozen in the transfer phase, so
its features of every labelled image are computed once, with their mirror image and augmented
views (``geometric`` and ``photographic`` augmentation, with and without the letterbox bars
repainted), and cached under --cache; every candidate trains its head on those cached views,
as the product's transfer phase does (Lite2 features, --lite2, are taken at 224 px too); only
the features the chosen candidates read are computed. Besides the heads, views and labels,
candidates try adapting to the held-out museum with its own unlabelled images: its features
centred or standardised by its own statistics (ALIGNMENTS) and its class priors re-estimated
by EM; prediction over a library may use both, since a museum classifies it all at once.
``--fine-tune`` runs, instead of the candidates, the product's own classifier with its
defaults, transfer learning then fine-tuning of the base's top, on the folds named (about
20 minutes per fold on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from naive_common import populate_collection, setup_django

SIZE = 224
AUGMENTED_VIEWS = 4


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="/tmp/lomo-var", help="Private state folder.")
    parser.add_argument("--cache", default="/tmp/lomo-cache", help="Cached features folder.")
    parser.add_argument(
        "--candidates",
        default="",
        help="Semicolon-separated candidate name prefixes (default: all).",
    )
    parser.add_argument("--seeds", default="0", help="Comma-separated seeds of the heads.")
    parser.add_argument("--epochs", type=int, default=30, help="Head epochs (the product's).")
    parser.add_argument("--lite2", action="store_true", help="Cache and try Lite2 features.")
    parser.add_argument(
        "--fine-tune",
        default="",
        help="Instead of the candidates: the product's whole recipe (transfer + fine-tuning) "
        "on these folds (comma-separated: Met,Cleveland,Chicago,in-domain; 'all').",
    )
    parser.add_argument(
        "--ft-lr", type=float, default=None, help="Fine-tuning learning rate (the product's)."
    )
    parser.add_argument(
        "--ft-layers", type=int, default=None, help="Layers unfrozen to fine-tune (the product's)."
    )
    parser.add_argument("--json-out", default="", help="Write every figure to this file.")
    parser.add_argument("--matrices", action="store_true", help="Print every confusion matrix.")
    return parser.parse_args()


# --- the data: the product's labels, museums, cached features -----------------------------


@dataclass
class Dataset:
    ids: list[str]
    paths: list[str]
    labels: np.ndarray
    splits: np.ndarray  # the exporter's split of each image
    museums: np.ndarray
    class_names: list[str]


def exported_dataset() -> Dataset:
    """The naive exporter's dataset of the shared collection, with each image's museum."""
    from django.conf import settings

    from exporters.dataset import read_manifest
    from exporters.naive.muses_exporter_plugin import do_export
    from muses.collection.models import Image
    from naive_classification import definitions

    do_export(progress=False, out=open(os.devnull, "w"))
    root = Path(settings.MUSES_DATASET_DIR)
    rows = read_manifest(root)
    museum = dict(Image.objects.values_list("image_id", "item__museum"))
    return Dataset(
        ids=[row["image_id"] for row in rows],
        paths=[str(root / row["path"]) for row in rows],
        labels=np.array([definitions.classes[row["class"]] for row in rows], np.int32),
        splits=np.array([row["split"] for row in rows]),
        museums=np.array([museum[row["image_id"]] for row in rows]),
        class_names=definitions.class_names(),
    )


def feature_model(backbone: str):
    """An assembled model (preprocess, base, head) whose base gives the features."""
    from naive_classification import definitions

    if backbone == "lite0":
        return definitions.create_efficientnet_lite0_model(SIZE, 10)
    import keras

    from muses.vision import efficientnet_lite0

    features = efficientnet_lite0.build_base(
        input_size=SIZE, weights="imagenet", variant=efficientnet_lite0.LITE2
    )
    base = keras.Model(features.input, features.output, name="base")
    preprocess = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="preprocess")
    return definitions.assemble((SIZE, SIZE), preprocess, base, 10, "lite2")


def view_kinds(backbone: str) -> list[str]:
    if backbone == "lite2":
        return ["plain", "mirror"]
    augmented = [f"{kind}{i}" for kind in ("geometric", "photographic") for i in range(4)]
    return ["plain", "mirror", *augmented]


def cached_features(data: Dataset, cache: Path, backbone: str, trim: bool) -> dict:
    """{view kind: (N, D) features}, computed once and kept in ``cache``."""
    path = cache / f"{backbone}{'_trim' if trim else ''}.npz"
    if path.exists():
        stored = np.load(path)
        if list(stored["ids"]) == data.ids:
            return {kind: stored[kind] for kind in view_kinds(backbone)}
    start = time.perf_counter()
    views = extract(data, backbone, trim)
    print(f"features {path.name}: {time.perf_counter() - start:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array(data.ids), **views)
    return views


def extract(data: Dataset, backbone: str, trim: bool) -> dict:
    import tensorflow as tf

    from naive_classification.data import SplitData, build_augmenter, image_stream
    from naive_classification.features import feature_function

    features_of = feature_function(feature_model(backbone))
    augmenters = {
        kind: augmenting(build_augmenter(0, kind)) for kind in ("geometric", "photographic")
    }
    kinds = view_kinds(backbone)
    chunks: dict[str, list] = {kind: [] for kind in kinds}
    stream = image_stream(SplitData(data.paths, data.labels), SIZE, 32, trim=trim)
    for pixels, _labels in stream:
        for kind in kinds:
            if kind == "plain":
                batch = pixels
            elif kind == "mirror":
                batch = tf.reverse(pixels, axis=[2])
            else:
                batch = augmenters[kind.rstrip("0123456789")](pixels)
            chunks[kind].append(np.asarray(features_of(batch), np.float32))
    return {kind: np.concatenate(chunk) for kind, chunk in chunks.items()}


# --- recipes: how a head is trained on the cached views, and how it predicts -------------


@dataclass(frozen=True)
class Recipe:
    """One candidate. ``train_views`` and ``test_views`` name cached view kinds (the test
    probabilities are averaged over them); ``blend`` lists (head, weight) pairs."""

    train_views: tuple[str, ...] = ("plain", "geometric0", "geometric1", "geometric2")
    test_views: tuple[str, ...] = ("plain", "mirror")
    trim: bool = False
    blend: tuple[tuple[str, float], ...] = (("mlp", 1.0),)
    label_smoothing: float = 0.1
    weighted: bool = True
    clean: bool = False
    backbone: str = "lite0"
    align: str = ""  # "", or a key of ALIGNMENTS: per-collection feature alignment
    priors: bool = False  # the target collection's class priors re-estimated (EM)


GEO = tuple(f"geometric{i}" for i in range(4))
PHOTO = tuple(f"photographic{i}" for i in range(4))
FLIP = ("plain", "mirror")
TODAY = Recipe()  # the transfer phase before: 4 views (plain + 3 geometric), flip TTA
SHIPPED = Recipe(train_views=FLIP)  # augmentation "mirror": the image and its mirror image
CANDIDATES = {
    "lr-plain (issue baseline)": Recipe(("plain",), ("plain",), blend=(("lr", 1.0),)),
    "before (mlp, plain + 3 geometric views, flip TTA)": TODAY,
    "shipped (mlp, plain + mirror views, flip TTA)": SHIPPED,
    "before, no flip TTA": Recipe(test_views=("plain",)),
    "before, TTA over plain+mirror+4 geometric": Recipe(test_views=FLIP + GEO),
    "before, no label smoothing": Recipe(label_smoothing=0.0),
    "before, label smoothing 0.2": Recipe(label_smoothing=0.2),
    "before, no class weights": Recipe(weighted=False),
    "mlp, plain + 3 photographic views": Recipe(train_views=("plain",) + PHOTO[:3]),
    "mlp, plain+mirror+4 photographic": Recipe(train_views=FLIP + PHOTO),
    "mlp, plain+mirror+4 geometric+4 photographic": Recipe(train_views=FLIP + GEO + PHOTO),
    "mlp, letterbox repainted, plain+mirror+4 photographic": Recipe(
        train_views=FLIP + PHOTO, trim=True
    ),
    "shipped, letterbox repainted": Recipe(train_views=FLIP, trim=True),
    "shipped, plain view only in training": Recipe(train_views=("plain",)),
    "shipped, no label smoothing": Recipe(train_views=FLIP, label_smoothing=0.0),
    "shipped, TTA over plain+mirror+4 photographic": Recipe(
        train_views=FLIP, test_views=FLIP + PHOTO
    ),
    "shipped, cleaned labels": Recipe(train_views=FLIP, clean=True),
    "lr, plain + 3 geometric views": Recipe(blend=(("lr", 1.0),)),
    "lr, plain+mirror+4 photographic": Recipe(train_views=FLIP + PHOTO, blend=(("lr", 1.0),)),
    "lr, plain+mirror": Recipe(train_views=FLIP, blend=(("lr", 1.0),)),
    "knn, plain+mirror+4 photographic": Recipe(train_views=FLIP + PHOTO, blend=(("knn", 1.0),)),
    "mlp+lr blend, plain+mirror+4 photographic": Recipe(
        train_views=FLIP + PHOTO, blend=(("mlp", 0.5), ("lr", 0.5))
    ),
    "mlp+knn blend, plain+mirror+4 photographic": Recipe(
        train_views=FLIP + PHOTO, blend=(("mlp", 0.5), ("knn", 0.5))
    ),
    "mlp+lr blend, plain+mirror": Recipe(train_views=FLIP, blend=(("mlp", 0.5), ("lr", 0.5))),
    "mlp, photographic, cleaned labels": Recipe(train_views=FLIP + PHOTO, clean=True),
    "lite2 mlp (plain+mirror)": Recipe(train_views=FLIP, backbone="lite2"),
    "lite0+lite2 ensemble (plain+mirror)": Recipe(train_views=FLIP, backbone="lite0+lite2"),
}
# Per-collection alignment of the features, from each collection's own unlabelled images (a
# museum predicts over its whole library at once, so the library's feature mean is known at
# prediction time): "pooled" takes the training images as one collection and the held-out
# museum as another (in-domain: one collection, nothing to align); "museum" takes each
# museum as its own collection, in training too; "std" also divides by the collection's
# per-feature standard deviation.
ALIGNMENTS = ("pooled", "museum", "museum-std", "pooled-std")
ALIGNED = {
    "pooled": "centred (training images by their mean, target by its own)",
    "museum": "centred per museum",
    "museum-std": "standardised per museum",
    "pooled-std": "standardised (training images by theirs, target by its own)",
}
for _align, _words in ALIGNED.items():
    CANDIDATES[f"{_words}, shipped mlp"] = Recipe(train_views=FLIP, align=_align)
    CANDIDATES[f"{_words}, lr plain+mirror"] = Recipe(
        train_views=FLIP, blend=(("lr", 1.0),), align=_align
    )
    CANDIDATES[f"{_words}, knn plain+mirror"] = Recipe(
        train_views=FLIP, blend=(("knn", 1.0),), align=_align
    )
    CANDIDATES[f"{_words}, mlp+lr blend plain+mirror"] = Recipe(
        train_views=FLIP, blend=(("mlp", 0.5), ("lr", 0.5)), align=_align
    )
    CANDIDATES[f"{_words}, mlp+knn blend plain+mirror"] = Recipe(
        train_views=FLIP, blend=(("mlp", 0.5), ("knn", 0.5)), align=_align
    )
    CANDIDATES[f"{_words}, shipped mlp, cleaned labels"] = Recipe(
        train_views=FLIP, clean=True, align=_align
    )
    CANDIDATES[f"{_words}, lr plain+mirror, cleaned labels"] = Recipe(
        train_views=FLIP, blend=(("lr", 1.0),), clean=True, align=_align
    )
    CANDIDATES[f"{_words}, lite0+lite2 mlp"] = Recipe(
        train_views=FLIP, backbone="lite0+lite2", align=_align
    )
    CANDIDATES[f"{_words}, lite0+lite2 lr"] = Recipe(
        train_views=FLIP, backbone="lite0+lite2", blend=(("lr", 1.0),), align=_align
    )
CANDIDATES["lr plain+mirror, no class weights"] = Recipe(
    train_views=FLIP, blend=(("lr", 1.0),), weighted=False
)
CANDIDATES["lr plain+mirror, cleaned labels"] = Recipe(
    train_views=FLIP, blend=(("lr", 1.0),), clean=True
)
CANDIDATES["lr plain+mirror, TTA plain+mirror+4 photographic"] = Recipe(
    train_views=FLIP, test_views=FLIP + PHOTO, blend=(("lr", 1.0),)
)
CANDIDATES["lr+knn blend plain+mirror"] = Recipe(
    train_views=FLIP, blend=(("lr", 0.5), ("knn", 0.5))
)
CANDIDATES["lite0+lite2 lr plain+mirror"] = Recipe(
    train_views=FLIP, backbone="lite0+lite2", blend=(("lr", 1.0),)
)
CANDIDATES["priors re-estimated (EM), shipped mlp"] = Recipe(train_views=FLIP, priors=True)
CANDIDATES["priors re-estimated (EM), lr plain+mirror"] = Recipe(
    train_views=FLIP, blend=(("lr", 1.0),), priors=True
)
CANDIDATES["priors re-estimated (EM), mlp+lr blend plain+mirror"] = Recipe(
    train_views=FLIP, blend=(("mlp", 0.5), ("lr", 0.5)), priors=True
)
CANDIDATES["priors re-estimated (EM), lite0+lite2 mlp"] = Recipe(
    train_views=FLIP, backbone="lite0+lite2", priors=True
)
CANDIDATES["priors re-estimated (EM), unweighted mlp"] = Recipe(
    train_views=FLIP, weighted=False, priors=True
)
# For comparison, normalisations of each image's own features (no collection statistics).
PER_IMAGE = ("l2", "sqrt-l2")
for _align in PER_IMAGE:
    CANDIDATES[f"{_align}-normalised features, shipped mlp"] = Recipe(
        train_views=FLIP, align=_align
    )
    CANDIDATES[f"{_align}-normalised features, lr plain+mirror"] = Recipe(
        train_views=FLIP, blend=(("lr", 1.0),), align=_align
    )
MATRICES_OF = (
    "before (mlp, plain + 3 geometric views, flip TTA)",
    "shipped (mlp, plain + mirror views, flip TTA)",
)


def features_for(recipe: Recipe, store: dict, kinds: tuple[str, ...]) -> np.ndarray:
    """(views, N, D) of the recipe's backbone(s); an ensemble concatenates them."""
    backbones = recipe.backbone.split("+")
    tables = [store[(b, recipe.trim)] for b in backbones]
    return np.stack([np.concatenate([t[k] for t in tables], axis=1) for k in kinds])


def train_mlp(views, labels, recipe: Recipe, seed: int, epochs: int, k: int):
    """The product's transfer phase on cached views: its head, loss, weights and stream."""
    import keras

    from naive_classification.data import balanced_class_weights, sample_weights
    from naive_classification.definitions import build_head
    from naive_classification.features import view_stream
    from naive_classification.losses import SmoothedSparseCrossentropy
    from naive_classification.muses_cnn import BATCH_SIZE, TRANSFER_LEARNING_RATE

    keras.utils.set_random_seed(seed)
    head = build_head(views.shape[-1], k)
    head.compile(
        optimizer=keras.optimizers.Adam(TRANSFER_LEARNING_RATE),
        loss=SmoothedSparseCrossentropy(k, recipe.label_smoothing),
    )
    weights = balanced_class_weights(labels, k) if recipe.weighted else None
    stream = view_stream(
        views, labels, BATCH_SIZE, weights=sample_weights(labels, weights), seed=seed
    )
    head.fit(stream, epochs=epochs, verbose=0)
    return lambda x: np.asarray(head.predict(x, batch_size=256, verbose=0))


def train_lr(views, labels, recipe: Recipe, seed: int, epochs: int, k: int):
    """Class-balanced multinomial logistic regression on standardised features (every view
    a row), the label-issue review's head."""
    from sklearn.linear_model import LogisticRegression

    from curation.label_issues import REGULARIZATION_C

    X = views.reshape(-1, views.shape[-1])
    y = np.tile(labels, views.shape[0])
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale < 1e-6] = 1.0
    head = LogisticRegression(
        C=REGULARIZATION_C,
        class_weight="balanced" if recipe.weighted else None,
        max_iter=300,
        tol=1e-3,
    )
    head.fit((X - mean) / scale, y)
    return lambda x: full_probabilities(head, head.predict_proba((x - mean) / scale), k)


KNN_NEIGHBOURS = 10


def train_knn(views, labels, recipe: Recipe, seed: int, epochs: int, k: int):
    """Cosine k nearest neighbours over every training view, votes weighted by similarity
    and by the class weights."""
    from naive_classification.data import balanced_class_weights

    bank = unit(views.reshape(-1, views.shape[-1]))
    bank_labels = np.tile(labels, views.shape[0])
    class_weight = balanced_class_weights(labels, k) if recipe.weighted else {}
    vote = np.array([class_weight.get(i, 1.0) for i in range(k)], np.float32)

    def predict(x):
        similarity = unit(x) @ bank.T
        nearest = np.argpartition(-similarity, KNN_NEIGHBOURS, axis=1)[:, :KNN_NEIGHBOURS]
        scores = np.zeros((len(x), k), np.float32)
        for row, columns in enumerate(nearest):
            chosen = bank_labels[columns]
            np.add.at(scores[row], chosen, np.exp(similarity[row, columns] * 10) * vote[chosen])
        return scores / scores.sum(axis=1, keepdims=True)

    return predict


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def full_probabilities(head, probabilities: np.ndarray, k: int) -> np.ndarray:
    """(n, k) columns for every class, also those absent from a fold's training images."""
    full = np.zeros((len(probabilities), k), np.float32)
    full[:, head.classes_] = probabilities
    return full


HEADS = {"mlp": train_mlp, "lr": train_lr, "knn": train_knn}


def cleaned(train: np.ndarray, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``train`` without the examples the product's label-issue review flags (out-of-fold
    logistic probabilities on the plain features, confident learning)."""
    from curation.label_issues import FOLDS, multiclass_probabilities, rank_issues

    # Classes with fewer examples than folds cannot be reviewed: they are kept as they are.
    counts = np.bincount(labels[train], minlength=labels.max() + 1)
    reviewed = train[counts[labels[train]] >= FOLDS]
    present = np.unique(labels[reviewed])
    remap = np.searchsorted(present, labels[reviewed])
    probabilities = multiclass_probabilities(features[reviewed], remap)
    flagged = set(reviewed[rank_issues(remap, probabilities).flagged].tolist())
    return np.array([i for i in train if i not in flagged])


def collections_of(align: str, museums: np.ndarray, test: np.ndarray, lomo: bool) -> np.ndarray:
    """The collection each image is aligned within (see ALIGNMENTS)."""
    if align.startswith("museum"):
        return museums
    groups = np.zeros(len(museums), np.int32)
    if lomo:
        groups[test] = 1
    return groups


def aligned(views: np.ndarray, plain: np.ndarray, groups: np.ndarray, align: str) -> np.ndarray:
    """(views, N, D) with each collection's mean plain feature subtracted (and divided by its
    standard deviation with "-std"): statistics of every image of the collection, labels
    unused."""
    if not align:
        return views
    if align in PER_IMAGE:  # each image on its own, no collection statistics
        signed = np.sqrt(views) if align == "sqrt-l2" else views  # the features are >= 0
        return signed / np.maximum(np.linalg.norm(signed, axis=-1, keepdims=True), 1e-12)
    out = np.empty_like(views)
    for group in np.unique(groups):
        members = groups == group
        mean = plain[members].mean(axis=0)
        scale = plain[members].std(axis=0) + 1e-3 if align.endswith("-std") else 1.0
        out[:, members] = (views[:, members] - mean) / scale
    return out


def fold_probabilities(recipe, store, data, train, test, lomo, seed, epochs, k) -> np.ndarray:
    labels = data.labels
    groups = collections_of(recipe.align, data.museums, test, lomo)
    plain = features_for(recipe, store, ("plain",))[0]
    if recipe.clean:
        plain_aligned = aligned(plain[None], plain, groups, recipe.align)[0]
        train = cleaned(train, plain_aligned, labels)
    train_views = aligned(
        features_for(recipe, store, recipe.train_views), plain, groups, recipe.align
    )[:, train]
    test_views = aligned(
        features_for(recipe, store, recipe.test_views), plain, groups, recipe.align
    )[:, test]
    total = np.zeros((len(test), k), np.float32)
    for head_name, weight in recipe.blend:
        predict = HEADS[head_name](train_views, labels[train], recipe, seed, epochs, k)
        total += weight * np.mean([predict(v) for v in test_views], axis=0)
    if recipe.priors:
        trained = np.bincount(labels[train], minlength=k).astype(np.float64)
        trained = np.ones(k) if recipe.weighted else trained
        total = adapted_to_priors(total, trained / trained.sum())
    return total


PRIOR_ITERATIONS = 100


def adapted_to_priors(probabilities: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """Posteriors adjusted to the target collection's own class frequencies, estimated from
    its unlabelled images by expectation-maximisation (Saerens et al. 2002); ``trained`` is
    the class prior the head learned (uniform under balanced class weights)."""
    present = trained > 0
    target = trained.copy()
    adjusted = probabilities
    for _ in range(PRIOR_ITERATIONS):
        ratio = np.where(present, target / np.where(present, trained, 1.0), 0.0)
        adjusted = probabilities * ratio
        adjusted /= np.maximum(adjusted.sum(axis=1, keepdims=True), 1e-12)
        updated = adjusted.mean(axis=0)
        if np.abs(updated - target).max() < 1e-6:
            break
        target = updated
    return adjusted.astype(np.float32)


# --- scoring ------------------------------------------------------------------------------


def scores(labels: np.ndarray, probabilities: np.ndarray, k: int) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score

    predicted = probabilities.argmax(axis=1)
    present = sorted(set(labels.tolist()) | set(predicted.tolist()))
    return {
        "images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(f1_score(labels, predicted, labels=present, average="macro")),
        "confusion": confusion_matrix(labels, predicted, labels=list(range(k))).tolist(),
    }


# --- the whole product recipe, fine-tuning included (minutes per fold) --------------------

TRANSFER_EPOCHS, FINE_TUNING_EPOCHS = 30, 6
HELD_OUT = "held_out"


def fine_tuned_fold(
    data: Dataset, train, test, seed: int, lr: float | None = None, layers: int | None = None
) -> dict:
    """The product's classifier with its defaults (what ``muses_train_model --fine-tuning
    --model-type efficientnet_lite0 --target-size 224`` does) on one fold: scores after the
    transfer phase, after fine-tuning, and of the two networks' probabilities averaged (the
    fine-tuned network blended with the frozen-feature head it started from), and the
    training time. ``lr`` and ``layers`` replace the fine-tuning defaults."""
    from naive_classification.data import SplitData, balanced_class_weights
    from naive_classification.definitions import FINE_TUNE_LAYERS
    from naive_classification.muses_cnn import FINE_TUNING_LEARNING_RATE, MusesClassifier

    def part(indices) -> SplitData:
        return SplitData([data.paths[i] for i in indices], data.labels[indices])

    def scored(probabilities: np.ndarray) -> dict:
        return scores(data.labels[test], probabilities, len(data.class_names))

    c = MusesClassifier((SIZE, SIZE), "efficientnet_lite0", progress=False, seed=seed)
    # The held-out museum is a split of its own, scored here once per phase: with an empty
    # "test" split, training does not run its own evaluation of the same images again.
    c.splits = {
        "train": part(train),
        "validation": part([]),
        "test": part([]),
        HELD_OUT: part(test),
    }
    c.weights = balanced_class_weights(data.labels[train], len(data.class_names))
    start = time.perf_counter()
    c.create_model().unfreeze_layers(0)
    c.train_model(TRANSFER_EPOCHS, weighted=True, model_name="lomo")
    before = c.split_probabilities(HELD_OUT)
    c.unfreeze_layers(FINE_TUNE_LAYERS["efficientnet_lite0"] if layers is None else layers)
    c.set_optimizer(lr=FINE_TUNING_LEARNING_RATE if lr is None else lr, decay=0)
    c.train_model(FINE_TUNING_EPOCHS, weighted=True, model_name="lomo")
    seconds = time.perf_counter() - start
    after = c.split_probabilities(HELD_OUT)
    return {
        "transfer": scored(before),
        "fine-tuned": scored(after),
        "blend": scored((before + after) / 2),
        "seconds": seconds,
        "recipe": c.recipe(),
    }


def run_fine_tuned(data: Dataset, seed: int, only: list[str], **fine_tuning) -> dict:
    result = {}
    for fold, (train, test) in folds(data).items():
        if only and short(fold) not in only:
            continue
        scored = fine_tuned_fold(data, train, test, seed, **fine_tuning)
        result[short(fold)] = scored
        phases = ", ".join(
            f"{phase} {scored[phase]['accuracy']:.1%} / {scored[phase]['macro_f1']:.3f}"
            for phase in ("transfer", "fine-tuned", "blend")
        )
        print(
            f"fine-tuning recipe, {short(fold)}: {phases}, training {scored['seconds']:.0f} s;"
            f" recipe {json.dumps(scored['recipe'])}",
            flush=True,
        )
        print_matrix(
            f"fine-tuned, {short(fold)}", scored["fine-tuned"]["confusion"], data.class_names
        )
    return result


def folds(data: Dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Held-out museum -> (train, test) indices; "in-domain" is the exporter's split (its
    train split against its test split, as the product trains and scores)."""
    chosen = {}
    for museum in sorted(set(data.museums)):
        chosen[museum] = (
            np.flatnonzero(data.museums != museum),
            np.flatnonzero(data.museums == museum),
        )
    chosen["in-domain"] = (
        np.flatnonzero(data.splits == "train"),
        np.flatnonzero(data.splits == "test"),
    )
    return chosen


def short(museum: str) -> str:
    return {
        "Met Museum": "Met",
        "Cleveland Museum of Art": "Cleveland",
        "Art Institute of Chicago": "Chicago",
    }.get(museum, museum)


def run_candidate(name, recipe, store, data, seed, epochs) -> dict:
    k = len(data.class_names)
    start = time.perf_counter()
    result = {}
    for fold, (train, test) in folds(data).items():
        lomo = fold != "in-domain"
        probabilities = fold_probabilities(recipe, store, data, train, test, lomo, seed, epochs, k)
        result[short(fold)] = scores(data.labels[test], probabilities, k)
    museums = [short(m) for m in sorted(set(data.museums))]
    result["mean"] = {
        metric: float(np.mean([result[m][metric] for m in museums]))
        for metric in ("accuracy", "macro_f1")
    }
    result["seconds"] = time.perf_counter() - start
    return result


def table_row(name: str, seed: int, result: dict) -> str:
    cells = [
        f"{result[m]['accuracy']:.1%} / {result[m]['macro_f1']:.3f}"
        for m in ("Met", "Cleveland", "Chicago")
    ]
    mean = f"**{result['mean']['accuracy']:.1%}** / {result['mean']['macro_f1']:.3f}"
    domain = f"{result['in-domain']['accuracy']:.1%}"
    return (
        f"| {name} | {seed} | "
        + " | ".join(cells)
        + f" | {mean} | {domain} | {result['seconds']:.0f} s |"
    )


def print_matrix(title: str, confusion: list, class_names: list[str]) -> None:
    print(f"confusion ({title}; rows: keyword label, columns: predicted)")
    print("            " + " ".join(f"{n[:6]:>6}" for n in class_names))
    for name, row in zip(class_names, confusion):
        print(f"{name[:10]:>10}  " + " ".join(f"{v:>6}" for v in row))


def augmenting(augmenter):
    import tensorflow as tf

    return tf.function(lambda x: augmenter(x, training=True))


def main():
    args = parse_args()
    setup_django(args.var_dir)
    print(f"collection images: {populate_collection()}", flush=True)
    data = exported_dataset()
    print(f"labelled images: {len(data.ids)}", flush=True)
    cache = Path(args.cache)
    if args.fine_tune:
        only = [] if args.fine_tune == "all" else args.fine_tune.split(",")
        result = run_fine_tuned(
            data, int(args.seeds.split(",")[0]), only, lr=args.ft_lr, layers=args.ft_layers
        )
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result, indent=1))
        return
    chosen = [n.strip() for n in args.candidates.split(";") if n.strip()] or list(CANDIDATES)
    unknown = [n for n in chosen if not any(c.startswith(n) for c in CANDIDATES)]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; there are {list(CANDIDATES)}")
    names = [c for c in CANDIDATES if any(c.startswith(n) for n in chosen)]
    if not args.lite2:
        names = [n for n in names if "lite2" not in CANDIDATES[n].backbone]
    # Only the features the chosen candidates read are computed (each takes minutes).
    needed = {
        (backbone, CANDIDATES[n].trim)
        for n in names
        for backbone in CANDIDATES[n].backbone.split("+")
    }
    store = {key: cached_features(data, cache, *key) for key in sorted(needed)}
    results = []
    print("| candidate | seed | Met acc / F1 | Cleveland | Chicago | mean | in-domain | time |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in names:
            result = run_candidate(name, CANDIDATES[name], store, data, seed, args.epochs)
            results.append({"candidate": name, "seed": seed, **result})
            print(table_row(name, seed, result), flush=True)
            if args.matrices or name in MATRICES_OF:
                for fold in ("Met", "Cleveland", "Chicago"):
                    print_matrix(
                        f"{name}, {fold} held out", result[fold]["confusion"], data.class_names
                    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
