"""The naive classifier in the admin: its jobs, the "Dataset and models" page
(naive_classification.admin_views), and its label, filter, curator's class and action on the
image list (naive_classification.admin_image_list)."""

from django.contrib import admin

from muses.admin_site import AdminPage, admin_page_register, image_admin_extend
from muses.jobs.admin_base import JobAdmin
from naive_classification.admin_forms import curator_class_field
from naive_classification.admin_image_list import (
    NaiveClassFilter,
    naive_class,
    naive_label_display,
    set_curator_class,
)
from naive_classification.admin_views import naive_urls
from naive_classification.models import NaiveJob

admin.site.register(NaiveJob, JobAdmin)

image_admin_extend(
    columns=[("museum", naive_class)],
    filters=[("item__object_type", NaiveClassFilter)],
    actions=[set_curator_class],
    panels=[("Classes", (naive_label_display,))],
    form_fields={"curator_class": curator_class_field},
)


admin_page_register(
    AdminPage(
        app_label="naive_classification",
        app_name="Naive classification",
        name="Dataset and models",
        url_name="naive_classification",
        urls=naive_urls,
    )
)
