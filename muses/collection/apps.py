from django.apps import AppConfig


class CollectionConfig(AppConfig):
    name = "muses.collection"
    label = "collection"
    verbose_name = "Collection"
