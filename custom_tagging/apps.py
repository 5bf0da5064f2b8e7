from django.apps import AppConfig


class CustomTaggingConfig(AppConfig):
    name = "custom_tagging"
    verbose_name = "Custom tagging"
