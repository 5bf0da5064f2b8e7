"""The state tar: trained tags (and optionally features) moved between installations.

Layout::

    manifest.json           format, format_version, backbone, weights_digest, feature_dim,
                            created, tags (paths of the tag files), files (sha256 of each)
    tags/00000.json         name, target_precision, assignments by image_id, model (or null)
    tags/00000.coef.npy     the active version's weights (float32, feature_dim)
    features/image_ids.json, features/vectors.npy   only with include_features

Loading reads every member into memory (nothing is extracted to disk), checks all of it —
member types and paths, sizes, checksums, JSON shapes, arrays loaded with
``allow_pickle=False``, the backbone — and only then changes the database, in one
transaction: all or nothing.
"""
