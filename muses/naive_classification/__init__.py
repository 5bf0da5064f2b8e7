"""Alias of the top-level ``naive_classification`` package, so that the seed's imports
(``from muses.naive_classification.helpers import setup_classifier``) work as written."""
