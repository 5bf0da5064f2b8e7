from django.contrib import admin
from django.utils.html import format_html

from muses.collection.models import Image, Item

THUMB = "max-height:{}px;max-width:{}px;object-fit:contain;background:#111"


def thumbnail(image: Image, size: int = 80) -> str:
    if not image.file:
        return "—"
    style = THUMB.format(size, size)
    return format_html(
        '<img src="{}" alt="{}" style="{}" loading="lazy">', image.file.url, image.image_id, style
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


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = (
        "list_thumbnail",
        "image_id",
        "item_title",
        "item_object_type",
        "museum",
        "curator_class",
        "predicted_class",
        "created",
    )
    list_display_links = ("list_thumbnail", "image_id")
    list_filter = (
        "item__museum",
        "item__object_type",
        "curator_class",
        "predicted_class",
        "format",
    )
    search_fields = ("image_id", "item__title", "item__object_type", "item__object_number")
    list_select_related = ("item",)
    raw_id_fields = ("item",)
    readonly_fields = (
        "large_preview",
        "image_id",
        "file",
        "sha256",
        "width",
        "height",
        "format",
        "original_name",
        "predicted_class",
        "predicted_probability",
        "created",
    )
    fields = (
        "large_preview",
        "image_id",
        "item",
        "curator_class",
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
    list_per_page = 60

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
