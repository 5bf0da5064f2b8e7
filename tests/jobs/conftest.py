"""Job tests use custom tagging's fixtures: the numpy backbone, token clients and a
labelled tag whose training is the job followed."""

from tests.custom_tagging.conftest import (  # noqa: F401  (fixtures)
    add_image,
    anonymous,
    api,
    fresh_throttles,
    labelled_tag,
    tagging_backbone,
    user,
)
