from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CustomTaggingConfig(AppConfig):
    name = "custom_tagging"
    verbose_name = "Custom tagging"

    def ready(self) -> None:
        # The role groups come back after every migrate, and after a flush (which empties
        # auth_group but re-sends post_migrate), not only from the migration that first made them.
        post_migrate.connect(_role_groups_ensure, sender=self)


def _role_groups_ensure(sender, using="default", **kwargs) -> None:
    from muses.roles import role_groups_ensure

    role_groups_ensure(using=using)
