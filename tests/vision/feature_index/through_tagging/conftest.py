"""The feature index seen through the tagging endpoints: the tagging tests' backbone, users
and images (tests/custom_tagging/conftest.py)."""

from tests.custom_tagging.conftest import (  # noqa: F401 (fixtures, found by name)
    add_image,
    api,
    fresh_throttles,
    labelled_tag,
    tagging_backbone,
    trained_tag,
    user,
)
