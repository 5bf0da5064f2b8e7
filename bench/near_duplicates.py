"""Near-duplicate detection on the Egyptian CC0 collection: plant near-duplicates made from
200 collection images among the 2,129 and report recall and precision at the shipped
thresholds (muses.vision.near_duplicate_signals).

    .venv/bin/python bench/near_duplicates.py [--var-dir /tmp/muses-curation] [--seed 0]
        [--copies 200] [--sweep]

Each planted copy is one of five edits of its source, in turn (40 of each): JPEG quality 50,
half size, an 80 % centre crop, a rotation of 3-6 degrees, added black borders. A found pair
is right when it joins a copy and its source; pairs between two of the 2,129 originals are
counted apart (the collection has real near-duplicates of its own: they are neither planted
hits nor necessarily mistakes) and the first ones printed to read. The same rules on raw
cosines (features not centred) are scored too. ``--sweep`` prints recall and precision over
other thresholds (choose them with another --seed than the one reported).

Features come from the project's own backbone (the same pixels + extract path as
features_extract); the collection's features are computed once (bench/curation_common.py).
"""

import argparse
import io
import time
from dataclasses import replace

import numpy as np
from curation_common import DEFAULT_VAR_DIR, prepared_collection
from PIL import Image as PILImage
from PIL import ImageOps

EDITS = ("jpeg50", "half", "crop80", "rotate", "borders")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default=str(DEFAULT_VAR_DIR), help="Private state folder.")
    parser.add_argument("--seed", type=int, default=0, help="Which 200 images are copied.")
    parser.add_argument("--copies", type=int, default=200, help="Images copied.")
    parser.add_argument("--sweep", action="store_true", help="Also try other thresholds.")
    parser.add_argument("--sheet", default="", help="Draw 20 pairs among the originals here.")
    return parser.parse_args()


def edited(picture: PILImage.Image, edit: str, rng) -> bytes:
    picture = picture.convert("RGB")
    width, height = picture.size
    quality = 90
    if edit == "jpeg50":
        quality = 50
    elif edit == "half":
        picture = picture.resize((width // 2, height // 2), PILImage.BICUBIC)
    elif edit == "crop80":
        dx, dy = int(width * 0.1), int(height * 0.1)
        picture = picture.crop((dx, dy, width - dx, height - dy))
    elif edit == "rotate":
        angle = float(rng.uniform(3, 6)) * rng.choice([-1, 1])
        picture = picture.rotate(angle, resample=PILImage.BICUBIC, fillcolor=(0, 0, 0))
    elif edit == "borders":
        picture = ImageOps.expand(picture, border=(20, 30), fill=(0, 0, 0))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def collection_signals():
    """(image ids, features, perceptual hashes) of the stored collection."""
    from muses.collection.models import Image
    from muses.vision.feature_index.handle import feature_index
    from muses.vision.near_duplicate_signals import perceptual_hash

    _, ids, X = feature_index().library()
    files = dict(Image.objects.values_list("image_id", "file"))
    from django.conf import settings

    hashes = []
    for image_id in ids:
        with PILImage.open(settings.MEDIA_ROOT / files[image_id]) as picture:
            hashes.append(perceptual_hash(picture))
    return ids, X, np.array(hashes, np.int64), files


def planted(ids, files, copies: int, seed: int):
    """(source row, edit, bytes) of each planted copy."""
    from django.conf import settings

    rng = np.random.default_rng(seed)
    sources = rng.choice(len(ids), size=copies, replace=False)
    made = []
    for n, row in enumerate(sources):
        with PILImage.open(settings.MEDIA_ROOT / files[ids[row]]) as picture:
            edit = EDITS[n % len(EDITS)]
            made.append((int(row), edit, edited(picture, edit, rng)))
    return made


def copy_signals(made):
    from muses.vision.backbones import get_backbone
    from muses.vision.near_duplicate_signals import perceptual_hash

    backbone = get_backbone()
    pixels = np.stack(
        [backbone.pixels(data, name=f"copy-{n}") for n, (_, _, data) in enumerate(made)]
    )
    features = backbone.extract(pixels, batch_size=32)
    hashes = [perceptual_hash(PILImage.open(io.BytesIO(data))) for _, _, data in made]
    return features, np.array(hashes, np.int64)


def score(pairs, originals: int, made) -> dict:
    truth = {(row, originals + n) for n, (row, _, _) in enumerate(made)}
    found = {(i, j) for i, j, _ in pairs}
    planted_found = {p for p in found if p[1] >= originals}
    right = planted_found & truth
    among_originals = [p for p in pairs if p[1] < originals]
    per_edit = {
        edit: np.mean(
            [(row, originals + n) in found for n, (row, e, _) in enumerate(made) if e == edit]
        )
        for edit in EDITS
    }
    return {
        "recall": len(right) / len(truth),
        "precision": len(right) / len(planted_found) if planted_found else 1.0,
        "planted_pairs_found": len(planted_found),
        "pairs_among_originals": len(among_originals),
        "per_edit": per_edit,
        "originals": among_originals,
    }


def pair_sheet(ids, files, pairs, path: str, cell: int = 160) -> None:
    """Every len/20-th pair among the originals side by side, to read by eye."""
    from django.conf import settings

    chosen = pairs[:: max(1, len(pairs) // 20)][:20]
    sheet = PILImage.new("RGB", (4 * cell, 10 * cell), "white")
    for n, (i, j, _) in enumerate(chosen):
        for k, row in enumerate((i, j)):
            with PILImage.open(settings.MEDIA_ROOT / files[ids[row]]) as picture:
                picture = picture.convert("RGB")
                picture.thumbnail((cell, cell))
                sheet.paste(picture, ((n % 2) * 2 * cell + k * cell, (n // 2) * cell))
    sheet.save(path)


def raw(features, hashes, thresholds, originals: int, made) -> None:
    """The same rules on raw cosines (features not centred): why the shipped ones centre."""
    from muses.vision.near_duplicate_signals import near_duplicate_pairs

    origin = np.zeros(features.shape[1], np.float32)
    pairs = near_duplicate_pairs(features, hashes, thresholds=thresholds, center=origin)
    result = score(pairs, originals, made)
    print(
        f"raw cosines (not centred), shipped thresholds: recall {result['recall']:.3f}, "
        f"precision {result['precision']:.3f} ({result['planted_pairs_found']} pairs with a "
        f"copy), pairs among the originals themselves: {result['pairs_among_originals']}"
    )


def main():
    args = parse_args()
    prepared_collection(args.var_dir)
    from muses.vision.near_duplicate_signals import (
        Thresholds,
        connected_groups,
        near_duplicate_pairs,
    )

    ids, X, hashes, files = collection_signals()
    made = planted(ids, files, args.copies, args.seed)
    copy_features, copy_hashes = copy_signals(made)
    features = np.vstack([X, copy_features])
    all_hashes = np.concatenate([hashes, copy_hashes])
    shipped = Thresholds()
    start = time.perf_counter()
    pairs = near_duplicate_pairs(features, all_hashes, thresholds=shipped)
    took = time.perf_counter() - start
    groups = connected_groups(len(features), pairs)
    result = score(pairs, len(ids), made)
    print(f"{len(ids)} originals + {len(made)} planted copies; pairs in {took:.2f} s")
    print(f"shipped thresholds {shipped}:")
    print(
        f"  recall {result['recall']:.3f}, precision {result['precision']:.3f} "
        f"({result['planted_pairs_found']} pairs with a copy), per edit: "
        + ", ".join(f"{e} {r:.2f}" for e, r in result["per_edit"].items())
    )
    print(
        f"  pairs among the originals themselves: {result['pairs_among_originals']}; "
        f"groups {len(groups)}"
    )
    for i, j, similarity in result["originals"][:: max(1, len(result["originals"]) // 15)]:
        print(f"    {ids[i]} ~ {ids[j]} cosine {similarity}")
    raw(features, all_hashes, shipped, len(ids), made)
    if args.sheet:
        pair_sheet(ids, files, result["originals"], args.sheet)
        print(f"  sheet of pairs among the originals: {args.sheet}")
    if args.sweep:
        for similarity, margin in ((0.6, 0.05), (0.7, 0.08), (0.8, 0.12)):
            for with_hash in (0.5, 0.65, 0.75):
                for distance in (4, 6, 8):
                    trial = replace(
                        shipped,
                        similarity=similarity,
                        margin=margin,
                        similarity_with_hash=with_hash,
                        hash_distance=distance,
                    )
                    trial_pairs = near_duplicate_pairs(features, all_hashes, thresholds=trial)
                    r = score(trial_pairs, len(ids), made)
                    print(
                        f"  sweep similarity {similarity} margin {margin} with hash {with_hash} "
                        f"bits {distance}: "
                        f"recall {r['recall']:.3f} precision {r['precision']:.3f} "
                        f"among originals {r['pairs_among_originals']}"
                    )


if __name__ == "__main__":
    main()
