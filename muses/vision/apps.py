from django.apps import AppConfig


class VisionConfig(AppConfig):
    name = "muses.vision"
    label = "vision"
    verbose_name = "Vision (features)"
