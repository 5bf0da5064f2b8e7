"""Curation in the admin: its jobs, "Review likely errors" and the map of the collection."""

from django.contrib import admin

from curation.admin_label_issue_views import label_issue_urls
from curation.admin_map_views import map_urls
from curation.models import CurationJob
from muses.admin_site import AdminPage, admin_page_register
from muses.jobs.admin_base import JobAdmin

admin.site.register(CurationJob, JobAdmin)

admin_page_register(
    AdminPage(
        app_label="curation",
        app_name="Curation",
        name="Review likely errors",
        url_name="curation_label_issues",
        urls=label_issue_urls,
    )
)
admin_page_register(
    AdminPage(
        app_label="curation",
        app_name="Curation",
        name="Map of the collection",
        url_name="curation_map",
        urls=map_urls,
    )
)
