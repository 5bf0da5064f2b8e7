"""Items and images in the admin. The image list is where curators label: a thumbnail grid
(or list) with a large preview on hover, filters by record, classes, tag labels and features,
and bulk actions that label a whole selection through one intermediate page."""

from django import forms
from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from custom_tagging.admin import TAG_ACTIONS, TagAssignmentFilter, image_tag_table
from custom_tagging.models import Assignment
from muses.collection.models import Image, Item
from muses.vision.admin import DuplicateGroupFilter, HasFeaturesFilter
from naive_classification.admin import (
    NaiveClassFilter,
    curator_class_choices,
    naive_label,
    set_curator_class,
)

THUMB = "max-height:{}px;max-width:{}px;object-fit:contain;background:#111"
LABEL_SIGNS = {Assignment.Label.POSITIVE: "+", Assignment.Label.NEGATIVE: "−"}
RECORD_FIELDS = ("museum", "object_number", "title", "object_type", "medium", "period", "culture")


def thumbnail(image: Image, size: int = 80) -> str:
    """An <img> of the stored file; the list's hover preview shows ``data-preview``."""
    if not image.file:
        return "—"
    style = THUMB.format(size, size)
    return format_html(
        '<img src="{}" alt="{}" style="{}" class="muses-thumb" data-preview="{}" loading="lazy">',
        image.file.url,
        image.image_id,
        style,
        image.file.url,
    )


class ImageInline(admin.TabularInline):
    model = Image
    extra = 0
    fields = (
        "preview",
        "image_id",
        "width",
        "height",
        "format",
        "curator_class",
        "predicted_class",
    )
    readonly_fields = ("preview", "image_id", "width", "height", "format", "predicted_class")
    show_change_link = True

    @admin.display(description="image")
    def preview(self, obj: Image) -> str:
        return thumbnail(obj, 120)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("first_thumbnail", "object_number", "title", "object_type", "museum")
    list_display_links = ("first_thumbnail", "object_number")
    list_filter = ("museum", "object_type", "language")
    search_fields = ("title", "object_type", "object_number")
    readonly_fields = ("created", "updated")
    inlines = [ImageInline]
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("images")

    @admin.display(description="image")
    def first_thumbnail(self, obj: Item) -> str:
        images = list(obj.images.all())
        return thumbnail(images[0]) if images else "—"


class CuratorClassField(forms.ChoiceField):
    """The classes of the naive classifier, plus a stored value they no longer hold."""

    def __init__(self, *, current: str = "", **kwargs):
        choices = curator_class_choices()
        if current and current not in dict(choices):
            choices.append((current, f"{current} (not in definitions)"))
        super().__init__(choices=choices, required=False, **kwargs)


class ImageAdminForm(forms.ModelForm):
    class Meta:
        model = Image
        fields = ["item", "curator_class"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.curator_class if self.instance else ""
        self.fields["curator_class"] = CuratorClassField(
            current=current,
            label="Curator class",
            help_text="Wins over the class words of the record in the next dataset export.",
        )


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    form = ImageAdminForm
    change_list_template = "admin/collection/image/change_list.html"
    list_display = (
        "list_thumbnail",
        "image_id",
        "item_title",
        "item_object_type",
        "museum",
        "naive_class",
        "curator_class",
        "predicted",
        "tag_labels",
    )
    list_display_links = ("image_id",)
    list_filter = (
        "item__museum",
        "item__object_type",
        NaiveClassFilter,
        "predicted_class",
        "curator_class",
        TagAssignmentFilter,
        HasFeaturesFilter,
        DuplicateGroupFilter,
        "format",
    )
    search_fields = ("image_id", "item__title", "item__object_type", "item__object_number")
    list_select_related = ("item",)
    raw_id_fields = ("item",)
    actions = [*TAG_ACTIONS, set_curator_class]
    readonly_fields = (
        "large_preview",
        "image_id",
        "record",
        "naive_label_display",
        "predicted_class",
        "predicted_probability",
        "tag_scores",
        "file",
        "sha256",
        "width",
        "height",
        "format",
        "original_name",
        "created",
    )
    fieldsets = (
        (None, {"fields": ("large_preview", "image_id", "item", "curator_class")}),
        ("Record", {"fields": ("record",)}),
        (
            "Classes",
            {"fields": ("naive_label_display", "predicted_class", "predicted_probability")},
        ),
        ("Custom tags", {"fields": ("tag_scores",)}),
        (
            "File",
            {
                "classes": ("collapse",),
                "fields": (
                    "file",
                    "sha256",
                    "width",
                    "height",
                    "format",
                    "original_name",
                    "created",
                ),
            },
        ),
    )
    list_per_page = 100
    list_max_show_all = 1000

    def get_queryset(self, request):
        assignments = Assignment.objects.select_related("tag").order_by("tag__name")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("tag_assignments", queryset=assignments))
        )

    @admin.display(description="image")
    def list_thumbnail(self, obj: Image) -> str:
        return thumbnail(obj)

    @admin.display(description="preview")
    def large_preview(self, obj: Image) -> str:
        return thumbnail(obj, 512)

    @admin.display(description="title", ordering="item__title")
    def item_title(self, obj: Image) -> str:
        return obj.item.title if obj.item else ""

    @admin.display(description="object type", ordering="item__object_type")
    def item_object_type(self, obj: Image) -> str:
        return obj.item.object_type if obj.item else ""

    @admin.display(description="museum", ordering="item__museum")
    def museum(self, obj: Image) -> str:
        return obj.item.museum if obj.item else ""

    @admin.display(description="naive class")
    def naive_class(self, obj: Image) -> str:
        label = naive_label(obj)
        if label.class_name is None:
            return format_html('<span class="muses-muted">{}</span>', label.skipped)
        return format_html('{} <span class="muses-muted">“{}”</span>', label.class_name, label.word)

    @admin.display(description="predicted", ordering="predicted_class", empty_value="")
    def predicted(self, obj: Image) -> str:
        if not obj.predicted_class:
            return ""
        if obj.predicted_probability is None:
            return obj.predicted_class
        return f"{obj.predicted_class} ({obj.predicted_probability:.0%})"

    @admin.display(description="tags", empty_value="")
    def tag_labels(self, obj: Image) -> str:
        return format_html_join(
            " ",
            '<span class="muses-label muses-label-{}">{} {}</span>',
            ((a.label, a.tag.name, LABEL_SIGNS[a.label]) for a in obj.tag_assignments.all()),
        )

    @admin.display(description="record")
    def record(self, obj: Image) -> str:
        if obj.item is None:
            return "No collection record: an uploaded image."
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            ((name.replace("_", " "), getattr(obj.item, name) or "—") for name in RECORD_FIELDS),
        )
        url = reverse("admin:collection_item_change", args=[obj.item.pk])
        return format_html(
            '<table class="muses-record">{}</table><p><a href="{}">Open the item</a></p>',
            rows,
            url,
        )

    @admin.display(description="naive label")
    def naive_label_display(self, obj: Image) -> str:
        label = naive_label(obj)
        if label.class_name is None:
            return f"none ({label.skipped})"
        if label.field == "curator_class":
            return format_html("<strong>{}</strong>, set by a curator", label.class_name)
        return format_html(
            "<strong>{}</strong>, decided by the word “{}” in the {}",
            label.class_name,
            label.word,
            label.field.replace("_", " "),
        )

    @admin.display(description="score per custom tag")
    def tag_scores(self, obj: Image) -> str:
        return image_tag_table(obj)
