"""The admin base of every job model: filter by state, cancel the selected jobs, say when
jobs wait for a queue worker that is not there; read-only otherwise. Each app registers its
job models with a subclass (list columns, its own fields), from its own admin module."""

from django.contrib import admin, messages
from rest_framework.exceptions import APIException

from muses.jobs import workers
from muses.jobs.services import job_cancel


@admin.action(description="Cancel the selected jobs", permissions=["change"])
def cancel_jobs(modeladmin, request, queryset):
    cancelled = 0
    for job in queryset:
        try:
            job_cancel(task_id=job.task_id)
            cancelled += 1
        except APIException:
            pass
    modeladmin.message_user(request, f"{cancelled} jobs cancelled.", messages.SUCCESS)


class JobAdmin(admin.ModelAdmin):
    list_display = ("task_id", "kind", "state", "progress", "created", "finished")
    search_fields = ("task_id",)
    actions = [cancel_jobs]

    def get_list_filter(self, request):
        kinds = any(field.name == "kind" for field in self.model._meta.fields)
        return ("kind", "state") if kinds else ("state",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name != "id"]

    def changelist_view(self, request, extra_context=None):
        if problem := workers.waiting_jobs_problem():
            self.message_user(request, f"Jobs are waiting: {problem}.", messages.WARNING)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        if job is not None and (problem := workers.job_waiting_problem(job)):
            self.message_user(request, f"This job is waiting: {problem}.", messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Only the cancel action changes a job; the form stays read-only.
        return obj is None and super().has_change_permission(request, obj)
