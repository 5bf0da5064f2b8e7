"""Items and images in the admin. The image list is where curators label: a thumbnail grid
(or list) with a large preview on hover, filters by record, classes, tag labels and features,
and bulk actions that label a whole selection through one intermediate page.

The apps built on the collection (vision, custom tags, the naive classifier) add their
columns, filters, actions and panels through ``muses.admin_site.image_admin_extend``; this
module imports none of them.
"""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from muses.admin_site import image_admin, placed, with_panels
from muses.collection.models import Image, Item

THUMB = "max-height:{}px;max-width:{}px;object-fit:contain;background:#111"
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


class ImageAdminForm(forms.ModelForm):
    class Meta:
        model = Image
        fields = ["item", "curator_class"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, make_field in image_admin.form_fields.items():
            self.fields[name] = make_field(current=getattr(self.instance, name, ""))


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
        "curator_class",
        "predicted",
    )
    list_display_links = ("image_id",)
    list_filter = (
        "item__museum",
        "item__object_type",
        "predicted_class",
        "curator_class",
        "format",
    )
    search_fields = ("image_id", "item__title", "item__object_type", "item__object_number")
    list_select_related = ("item",)
    raw_id_fields = ("item",)
    readonly_fields = (
        "large_preview",
        "image_id",
        "record",
        "predicted_class",
        "predicted_probability",
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
        ("Classes", {"fields": ("predicted_class", "predicted_probability")}),
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

    # The registered extensions are read per request: the apps' admin modules that add them
    # are imported after this one.
    @property
    def actions(self):
        return list(image_admin.actions)

    def get_list_display(self, request):
        return placed(self.list_display, image_admin.columns)

    def get_list_filter(self, request):
        return placed(self.list_filter, image_admin.filters)

    def get_readonly_fields(self, request, obj=None):
        panel_fields = [f for _, fields in image_admin.panels for f in fields]
        return (*self.readonly_fields, *panel_fields)

    def get_fieldsets(self, request, obj=None):
        return with_panels(self.fieldsets, image_admin.panels)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        for extend in image_admin.querysets:
            queryset = extend(queryset)
        return queryset

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

    @admin.display(description="predicted", ordering="predicted_class", empty_value="")
    def predicted(self, obj: Image) -> str:
        if not obj.predicted_class:
            return ""
        if obj.predicted_probability is None:
            return obj.predicted_class
        return f"{obj.predicted_class} ({obj.predicted_probability:.0%})"

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
