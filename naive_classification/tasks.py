"""django-q2 tasks of the naive classifier (queued by dotted path)."""

from naive_classification.services import classifier_train


def train_model_task(
    model_name: str,
    epochs: int,
    fine_tuning: bool = False,
    model_type: str = "vgg",
    target_size: int = 128,
    weights: str | None = "imagenet",
    plot_performance: bool = False,
) -> str:
    """Train and save a model; returns the saved model's path."""
    result = classifier_train(
        model_name=model_name,
        epochs=epochs,
        fine_tuning=fine_tuning,
        model_type=model_type,
        target_size=target_size,
        weights=weights,
        plot_performance=plot_performance,
        progress=False,
    )
    return str(result.model_path)
