"""The forms of the custom-tag admin: a tag to pick (or name) for a bulk action, and the
tag's own form."""

from __future__ import annotations

from django import forms

from custom_tagging import exceptions as errors
from custom_tagging.models import TAG_NAME_MAX_LENGTH, CustomTag
from custom_tagging.services.tags import tag_get_or_create, tag_name_validate


class TagChoiceForm(forms.Form):
    """Pick a tag, or (when labelling) name a new one."""

    tag = forms.ModelChoiceField(
        queryset=CustomTag.objects.order_by("name"),
        required=False,
        empty_label="— choose a tag —",
    )
    new_tag = forms.CharField(label="or a new tag", required=False, max_length=TAG_NAME_MAX_LENGTH)

    def __init__(self, *args, allow_new: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not allow_new:
            del self.fields["new_tag"]
            self.fields["tag"].required = True

    def clean_new_tag(self) -> str:
        name = self.cleaned_data.get("new_tag", "")
        if not name:
            return ""
        try:
            return tag_name_validate(name=name)
        except errors.InvalidTagName as exc:
            raise forms.ValidationError(str(exc.detail))

    def clean(self):
        data = super().clean()
        if data.get("tag") and data.get("new_tag"):
            raise forms.ValidationError("Choose a tag or name a new one, not both.")
        if "new_tag" in self.fields and not (data.get("tag") or data.get("new_tag")):
            raise forms.ValidationError("Choose a tag or name a new one.")
        return data

    def chosen_tag(self) -> CustomTag:
        if self.cleaned_data.get("tag"):
            return self.cleaned_data["tag"]
        return tag_get_or_create(name=self.cleaned_data["new_tag"])


class CustomTagForm(forms.ModelForm):
    class Meta:
        model = CustomTag
        fields = ["name", "target_precision"]

    def clean_name(self) -> str:
        try:
            return tag_name_validate(name=self.cleaned_data["name"])
        except errors.InvalidTagName as exc:
            raise forms.ValidationError(str(exc.detail))

    def clean_target_precision(self):
        value = self.cleaned_data["target_precision"]
        if value is not None and not 0 < value <= 1:
            raise forms.ValidationError("A target precision is between 0 and 1.")
        return value
