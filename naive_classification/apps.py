from django.apps import AppConfig


class NaiveClassificationConfig(AppConfig):
    name = "naive_classification"
    verbose_name = "Naive classification"
