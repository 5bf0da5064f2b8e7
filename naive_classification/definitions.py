"""What the naive classifier learns: the classes, the words that label them, and the models.

Class definitions
    ``classes`` maps each class name to its index (0..n-1); ``synonyms_extended`` maps each
    class to the English and Dutch words that label an item with it when they occur in its title
    or object type (whole words, case- and accent-insensitive, simple plurals are found
    automatically: list singulars, plus irregular plurals). ``class_priority`` decides between
    classes when one record names several ("Shawabty Jar": vessel, not shabti); empty it to
    skip such records instead. ``subject_cues`` end the part of a field that names the object:
    after "with", "holding", "in the form of" ... a title says what the object shows or
    carries ("Statuette of a Woman Holding a Jar" is statuary).

    The defaults were picked from the object types and titles of the Egyptian CC0 collection
    (Met, Cleveland, Chicago) so that most of it gets a label, with Dutch words for the
    Rijksmuseum catalogue.

Model definitions
    ``create_vgg_model`` (VGG19, the seed's model) and ``create_efficientnet_lite0_model``
    (offline weights) build the same shape of network: pixel preprocessing, a frozen base that
    ends in pooled features (a nested model named ``base``), and a small classifier on top (a
    nested model named ``head``). Keeping base and head apart is what lets the transfer phase
    train the head on cached base features, and ``unfreeze_layers`` unfreeze the top of the base.

Changing the classes makes older models unloadable: their saved class list no longer matches.
"""

from __future__ import annotations

classes: dict[str, int] = {
    "statuary": 0,
    "shabti": 1,
    "vessel": 2,
    "jewellery": 3,
    "amulet": 4,
    "relief": 5,
    "coin": 6,
    "sealing": 7,
    "painting": 8,
    "tool": 9,
}

# Singular forms (plurals are derived), multi-word phrases allowed. Accents do not matter:
# "relief" also finds Dutch "reliëf". Left out on purpose: Dutch "kom" (bowl; also "to come"
# and the name of Anton de Kom, whose statue is in the Rijksmuseum data), "mes" (knife;
# its plural form "mess" is English), "wapen" (weapon; also "coat of arms"); and the museums'
# catch-all object types "sculpture" (reliefs too) and "implements" (palettes, weights).
# fmt: off
synonyms_extended: dict[str, list[str]] = {
    "statuary": [
        "statue", "statuette", "statuary", "figure", "figurine", "bust", "head", "torso",
        "sphinx", "colossus",
        # Dutch
        "beeld", "beeldje", "standbeeld", "borstbeeld", "figuur", "figuurtje", "buste",
        "hoofd", "sfinx",
    ],
    "shabti": [
        "shabti", "shawabty", "shawabti", "ushabti", "ushebti", "funerary figurine",
        # Dutch
        "oesjebti", "sjabti",
    ],
    "vessel": [
        "vessel", "jar", "vase", "bowl", "cup", "jug", "bottle", "flask", "beaker", "pitcher",
        "amphora", "amphorae", "krater", "kylix", "lekythos", "oinochoe", "alabastron", "pyxis",
        "juglet", "dish", "basin", "goblet", "chalice", "urn", "ewer", "situla", "pot",
        # Dutch
        "vaas", "schaal", "beker", "kruik", "fles", "schotel", "kelkglas", "bokaal", "karaf",
        "pul",
    ],
    "jewellery": [
        "jewellery", "jewelry", "necklace", "bracelet", "ring", "earring", "bead", "pendant",
        "anklet", "collar", "pectoral", "clasp", "brooch", "diadem", "circlet", "bangle",
        "girdle",
        # Dutch
        "sieraad", "sieraden", "halsketting", "ketting", "halssnoer", "armband", "oorbel",
        "kraal", "hanger", "broche",
    ],
    "amulet": [
        "amulet", "scarab", "scaraboid", "wedjat", "eye of horus", "talisman",
        # Dutch
        "scarabee", "skarabee", "oedjat", "horusoog",
    ],
    "relief": [
        "relief", "stela", "stelae", "stele", "talatat", "lintel", "false door", "frieze",
        # Dutch
        "gedenksteen", "grafsteen",
    ],
    "coin": [
        "coin", "aureus", "denarius", "tetradrachm", "drachm", "drachma", "stater", "obol",
        "solidus", "medal",
        # Dutch
        "munt", "penning", "erepenning", "gedenkpenning", "duit",
    ],
    "sealing": [
        "sealing", "seal", "seal impression", "cylinder seal", "bulla",
        # Dutch
        "zegel", "zegelafdruk", "lakzegel", "zegelstempel",
    ],
    "painting": [
        "painting", "drawing", "facsimile", "watercolor", "watercolour", "sketch", "fresco",
        "manuscript", "folio",
        # Dutch
        "schilderij", "schildering", "tekening", "aquarel", "gouache", "schets", "handschrift",
    ],
    "tool": [
        "tool", "ax", "axe", "adze", "chisel", "knife", "knives", "dagger",
        "sword", "spear", "spearhead", "arrowhead", "mace", "bow", "throw stick", "sickle",
        "razor", "awl", "weapon",
        # Dutch
        "gereedschap", "werktuig", "bijl", "beitel", "dolk", "zwaard", "speer", "pijlpunt",
        "sikkel", "scheermes",
    ],
}
# fmt: on

# When one record names several classes, the earliest here wins. A picture (painting) of a
# vase is a painting; a relief showing jars is a relief; a canopic jar with a head lid is a
# vessel; "statuary" words such as "head" and "figure" are the vaguest, so they come last.
class_priority: list[str] = [
    "painting",
    "coin",
    "relief",
    "vessel",
    "shabti",
    "jewellery",
    "amulet",
    "sealing",
    "tool",
    "statuary",
]

# Words after which a title or object type says what the object shows, holds or carries, not
# what it is: class words after them do not count. "Statuette of a Woman Holding a Jar" is
# statuary, "Jar with Relief of a Standing Figure" a vessel, "Cosmetic spoon with duck-head
# handle" and "Weight in the Form of a Hippopotamus Head" no class at all (skipped).
# fmt: off
subject_cues: list[str] = [
    "with", "wearing", "holding", "carrying", "depicting", "showing",
    "in the form of", "in the shape of",
    # Dutch
    "met",
]
# fmt: on

# The VGG19 layers unfrozen for fine-tuning by default: block5_conv1..4, as in the seed.
VGG_FINE_TUNE_LAYERS = 4
# EfficientNet-Lite0's last blocks; its layers are small, so more of them are unfrozen.
# 40 rather than 20: +1.0 and +3.4 points leaving one museum out (two seeds), level in-domain
# (BENCHMARKS.md "Naive classification across museums").
EFFICIENTNET_LITE0_FINE_TUNE_LAYERS = 40
HEAD_UNITS = 256
HEAD_DROPOUT = 0.5
# Label smoothing of the training loss (losses.py), chosen on the validation split of the
# Egyptian CC0 dataset (BENCHMARKS.md).
LABEL_SMOOTHING = 0.1


class DefinitionsError(ValueError):
    """Class definitions that contradict each other; the message says how."""


def check_definitions(
    classes: dict[str, int],
    synonyms: dict[str, list[str]],
    priority: list[str] | None = None,
) -> None:
    """Raise DefinitionsError unless both dicts name the same classes, indices run 0..n-1,
    every class has a word, and the priority names only known classes."""
    if set(classes) != set(synonyms):
        raise DefinitionsError(
            "`classes` and `synonyms_extended` must hold the same classes; "
            f"only in classes: {sorted(set(classes) - set(synonyms))}, "
            f"only in synonyms_extended: {sorted(set(synonyms) - set(classes))}"
        )
    if sorted(classes.values()) != list(range(len(classes))):
        indices = sorted(classes.values())
        raise DefinitionsError(
            f"class indices must be 0..{len(classes) - 1}, each once; got {indices}"
        )
    empty = [name for name, words in synonyms.items() if not words]
    if empty:
        raise DefinitionsError(f"classes without any synonym: {empty}")
    unknown = [name for name in priority or [] if name not in classes]
    if unknown:
        raise DefinitionsError(f"`class_priority` names unknown classes: {unknown}")


def class_names() -> list[str]:
    """Class names ordered by index: the order of the model's outputs."""
    return sorted(classes, key=classes.__getitem__)


check_definitions(classes, synonyms_extended, class_priority)


# --- Model definitions ------------------------------------------------------------------


def _keras():
    # Imported lazily: the exporter reads the class definitions without loading TensorFlow.
    import keras

    return keras


def build_head(feature_dim: int, num_classes: int):
    """The classifier trained on pooled base features."""
    keras = _keras()
    features = keras.Input((feature_dim,), name="features")
    x = keras.layers.Dense(HEAD_UNITS, activation="relu", name="head_dense")(features)
    x = keras.layers.Dropout(HEAD_DROPOUT, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(features, outputs, name="head")


def assemble(target_size: tuple[int, int], preprocess, base, num_classes: int, name: str):
    """pixels (0..255 RGB) -> preprocess -> frozen base -> head, with the base frozen."""
    keras = _keras()
    base.trainable = False
    head = build_head(base.output_shape[-1], num_classes)
    inputs = keras.Input((*target_size, 3), name="image")
    outputs = head(base(preprocess(inputs)))
    return keras.Model(inputs, outputs, name=name)


def square_target_size(target_size) -> tuple[int, int]:
    """(S, S) from S or (S, S): square because images are centre-cropped, and 32..1024 px
    because VGG19 halves the image five times and larger sizes will not fit in memory."""
    size = (target_size, target_size) if isinstance(target_size, int) else tuple(target_size)
    if len(size) != 2 or size[0] != size[1] or not 32 <= int(size[0]) <= 1024:
        raise ValueError(
            f"target_size must be square, 32 to 1024 px, e.g. (128, 128); not {target_size!r}"
        )
    return int(size[0]), int(size[1])


def create_vgg_model(
    target_size: tuple[int, int] | int, num_classes: int, weights: str | None = "imagenet"
):
    """VGG19 without its top, frozen, pooled, with our head: the seed's model."""
    keras = _keras()
    size = square_target_size(target_size)
    conv = keras.applications.VGG19(include_top=False, weights=None, input_shape=(*size, 3))
    if weights == "imagenet":
        from muses.vision.backbones import vgg19_weights_path

        conv.load_weights(str(vgg19_weights_path()))
    elif weights is not None:
        raise ValueError(f"weights must be 'imagenet' or None, not {weights!r}")
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(conv.output)
    base = keras.Model(conv.input, pooled, name="base")
    from naive_classification.layers import CaffePreprocessing

    return assemble(size, CaffePreprocessing(name="preprocess"), base, num_classes, "muses_vgg19")


def create_efficientnet_lite0_model(
    target_size: tuple[int, int] | int, num_classes: int, weights: str | None = "imagenet"
):
    """EfficientNet-Lite0 (ImageNet weights converted offline), frozen, with our head."""
    keras = _keras()
    from muses.vision import efficientnet_lite0

    size = square_target_size(target_size)
    features = efficientnet_lite0.build_base(input_size=size[0], weights=weights)
    base = keras.Model(features.input, features.output, name="base")
    # (x - 127) / 128, the preprocessing Lite0 was trained with.
    preprocess = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="preprocess")
    return assemble(size, preprocess, base, num_classes, "muses_efficientnet_lite0")


MODEL_BUILDERS = {
    "vgg": create_vgg_model,
    "efficientnet_lite0": create_efficientnet_lite0_model,
}
FINE_TUNE_LAYERS = {
    "vgg": VGG_FINE_TUNE_LAYERS,
    "efficientnet_lite0": EFFICIENTNET_LITE0_FINE_TUNE_LAYERS,
}
