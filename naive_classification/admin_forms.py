"""The forms of the naive classifier's admin: the curator's class (a bulk action's and the
image form's field), and the page's training and export forms."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms

from naive_classification import definitions
from naive_classification.persistence import check_model_name


def curator_class_choices() -> list[tuple[str, str]]:
    return [("", "— none: the class words decide —")] + [
        (name, name) for name in definitions.class_names()
    ]


class CuratorClassForm(forms.Form):
    curator_class = forms.ChoiceField(
        label="Curator class",
        choices=curator_class_choices,
        required=False,
        help_text="Wins over the class words of the record in the next dataset export.",
    )


class CuratorClassField(forms.ChoiceField):
    """The classes of the naive classifier, plus a stored value they no longer hold."""

    def __init__(self, *, current: str = "", **kwargs):
        choices = curator_class_choices()
        if current and current not in dict(choices):
            choices.append((current, f"{current} (not in definitions)"))
        super().__init__(choices=choices, required=False, **kwargs)


def curator_class_field(*, current: str = "") -> CuratorClassField:
    return CuratorClassField(
        current=current or "",
        label="Curator class",
        help_text="Wins over the class words of the record in the next dataset export.",
    )


def default_model_name() -> str:
    return f"naive_{datetime.now(UTC):%Y%m%d-%H%M%S}"


class TrainForm(forms.Form):
    model_name = forms.CharField(max_length=100, initial=default_model_name)
    # EfficientNet-Lite0's weights ship with the project; VGG19's are downloaded by Keras.
    model_type = forms.ChoiceField(
        choices=[(n, n) for n in definitions.MODEL_BUILDERS], initial="efficientnet_lite0"
    )
    weights = forms.ChoiceField(
        choices=[("imagenet", "ImageNet"), ("none", "none (random; for quick trials)")]
    )
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=10)
    fine_tuning = forms.BooleanField(required=False, initial=True)
    target_size = forms.IntegerField(min_value=32, max_value=1024, initial=128)
    plot_performance = forms.BooleanField(required=False, initial=True)

    def clean_model_name(self) -> str:
        try:
            return check_model_name(self.cleaned_data["model_name"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc))

    def clean(self):
        data = super().clean()
        if data.get("fine_tuning") and data.get("epochs") == 1:
            raise forms.ValidationError("Fine-tuning needs at least 2 epochs.")
        return data

    def job(self) -> dict:
        data = dict(self.cleaned_data)
        data["weights"] = None if data["weights"] == "none" else data["weights"]
        return data


class ExportForm(forms.Form):
    max_images = forms.IntegerField(
        min_value=1, required=False, help_text="At most this many images per class."
    )
