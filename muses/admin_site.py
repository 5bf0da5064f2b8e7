"""What the MUSES admin modules share: pages that belong to no model (added to the default
admin site, so they get its login, URLs, index and sidebar), intermediate pages of actions, and
what the apps above ``muses.collection`` add to its image admin (columns, filters, actions,
panels), registered from their own admin modules so that the collection never imports them.

The project keeps ``django.contrib.admin``'s default site; ``admin_page_register`` extends that
one instance instead of asking settings for a custom AdminSite class.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse

# --- pages without a model --------------------------------------------------------------


def _staff(request) -> bool:
    return request.user.is_active and request.user.is_staff


@dataclass(frozen=True)
class AdminPage:
    """One page listed in the admin index as if it were a model of ``app_label``."""

    app_label: str
    app_name: str
    name: str
    url_name: str  # reversed as "admin:<url_name>"
    urls: Callable[[admin.AdminSite], list[URLPattern]]
    # Who sees the page in the index; the views check their own permissions.
    visible: Callable = _staff


_pages: dict[str, AdminPage] = {}


def admin_page_register(page: AdminPage, site: admin.AdminSite = admin.site) -> None:
    _pages[page.url_name] = page
    if not getattr(site, "_muses_pages_installed", False):
        _install(site)


def _install(site: admin.AdminSite) -> None:
    original_urls, original_app_list = site.get_urls, site.get_app_list

    def get_urls():
        # Ours go first: the admin's own patterns end in a catch-all.
        return [u for page in _pages.values() for u in page.urls(site)] + original_urls()

    def get_app_list(request, app_label=None):
        apps = original_app_list(request, app_label)
        for page in _pages.values():
            if app_label in (None, page.app_label) and page.visible(request):
                _add_page(apps, page)
        return sorted(apps, key=lambda app: app["name"].lower())

    site.get_urls = get_urls
    site.get_app_list = get_app_list
    site._muses_pages_installed = True


def _add_page(apps: list[dict], page: AdminPage) -> None:
    url = reverse(f"admin:{page.url_name}")
    entry = {
        "model": None,
        "name": page.name,
        "object_name": page.url_name,
        "perms": {"add": False, "change": False, "delete": False, "view": True},
        "admin_url": url,
        "add_url": None,
        "view_only": True,
    }
    for app in apps:
        if app["app_label"] == page.app_label:
            app["models"].append(entry)
            return
    apps.append(
        {
            "name": page.app_name,
            "app_label": page.app_label,
            "app_url": url,
            "has_module_perms": True,
            "models": [entry],
        }
    )


# --- intermediate pages of actions -------------------------------------------------------

APPLY_FIELD = "apply"
PREVIEW_COUNT = 24


def action_form(request, form_class: type[forms.Form], **kwargs) -> forms.Form:
    """The action's form, bound once the intermediate page was submitted."""
    if APPLY_FIELD in request.POST:
        return form_class(request.POST, **kwargs)
    return form_class(**kwargs)


def action_form_page(
    modeladmin: admin.ModelAdmin,
    request,
    queryset,
    *,
    form: forms.Form,
    title: str,
    submit: str,
    intro: str = "",
) -> TemplateResponse:
    """Ask for the action's parameters, then post the selection back to the changelist (same
    filters, same 'select all' choice), where the action runs again with the form bound."""
    select_across = request.POST.get("select_across", "0") == "1"
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "submit": submit,
        "form": form,
        "opts": modeladmin.model._meta,
        "count": queryset.count(),
        "previews": list(queryset[:PREVIEW_COUNT]),
        "action": request.POST.get("action", ""),
        "select_across": "1" if select_across else "0",
        # Sent back even with "select all": the changelist ignores an empty selection.
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "apply_field": APPLY_FIELD,
        "changelist_url": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/muses/action_form.html", context)


# --- what upper apps add to the image admin ---------------------------------------------

Placed = tuple[str, Any]  # (the base entry it follows, the entry)


@dataclass
class ImageAdminExtensions:
    columns: list[Placed] = field(default_factory=list)
    filters: list[Placed] = field(default_factory=list)
    actions: list[Callable] = field(default_factory=list)
    # (fieldset title, readonly callables): merged into a base fieldset of that title, or new.
    panels: list[tuple[str, tuple[Callable, ...]]] = field(default_factory=list)
    querysets: list[Callable] = field(default_factory=list)
    # form field name -> factory(current=<stored value>) -> forms.Field
    form_fields: dict[str, Callable[..., forms.Field]] = field(default_factory=dict)


image_admin = ImageAdminExtensions()


def image_admin_extend(
    *,
    columns: Iterable[Placed] = (),
    filters: Iterable[Placed] = (),
    actions: Iterable[Callable] = (),
    panels: Iterable[tuple[str, tuple[Callable, ...]]] = (),
    queryset: Callable | None = None,
    form_fields: dict[str, Callable[..., forms.Field]] | None = None,
) -> None:
    """Add to the image admin; an app calls this once, from its own admin module."""
    image_admin.columns.extend(columns)
    image_admin.filters.extend(filters)
    image_admin.actions.extend(a for a in actions if a not in image_admin.actions)
    image_admin.panels.extend(panels)
    if queryset is not None:
        image_admin.querysets.append(queryset)
    image_admin.form_fields.update(form_fields or {})


def entry_name(entry) -> str:
    return entry if isinstance(entry, str) else entry.__name__


def placed(base: Iterable, additions: Iterable[Placed]) -> list:
    """``base`` with each addition right after the entry it names (at the end if none)."""
    result = list(base)
    for after, entry in additions:
        names = [entry_name(e) for e in result]
        index = names.index(after) + 1 if after in names else len(result)
        result.insert(index, entry)
    return result


def with_panels(fieldsets: Iterable, panels: Iterable[tuple[str, tuple]]) -> list:
    """Base fieldsets with each panel's fields put first in the fieldset of its title, or
    added as a fieldset of its own before the last (collapsed) one."""
    result = [
        (title, {**options, "fields": tuple(options["fields"])}) for title, options in fieldsets
    ]
    for title, fields in panels:
        match = [i for i, (t, _) in enumerate(result) if t == title]
        if match:
            name, options = result[match[0]]
            result[match[0]] = (name, {**options, "fields": (*fields, *options["fields"])})
        else:
            result.insert(max(len(result) - 1, 1), (title, {"fields": tuple(fields)}))
    return result
