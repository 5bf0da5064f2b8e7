from django.apps import AppConfig
from django.db.models.signals import post_delete


class VisionConfig(AppConfig):
    name = "muses.vision"
    label = "vision"
    verbose_name = "Vision (features)"

    def ready(self) -> None:
        from muses.collection.signals import images_imported
        from muses.vision.models import ImageFeature
        from muses.vision.receivers import images_imported_follow_up

        # A cache invalidation, not a workflow: however a feature row goes (an image
        # deleted in the admin, a cascade, a queryset delete), the shared index must stop
        # scoring it at once. Every other change to the index goes through the store.
        post_delete.connect(
            _feature_deleted, sender=ImageFeature, dispatch_uid="vision-index-tombstone"
        )
        images_imported.connect(images_imported_follow_up, dispatch_uid="vision-after-import")


def _feature_deleted(sender, instance, **kwargs) -> None:
    from muses.vision.feature_index.hooks import index_tombstone_feature

    index_tombstone_feature(backbone=instance.backbone, feature_pk=instance.pk)
