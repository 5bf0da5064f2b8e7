"""What the feature index refuses with."""


class FeatureIndexError(RuntimeError):
    """Base of the feature index file's errors."""


class IndexMissing(FeatureIndexError):
    pass


class IndexCorrupt(FeatureIndexError):
    """The file is not a MUSES index of this feature space, or it is damaged: refused."""


class IndexUnavailable(RuntimeError):
    """The index cannot be read now (refused or missing on a large library); a rebuild has
    been asked for."""
