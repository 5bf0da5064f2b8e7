from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "muses.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django.core import checks
        from django_q.signals import post_execute_in_worker, post_spawn, pre_execute

        from muses.jobs import workers
        from muses.jobs.checks import waiting_jobs_check

        post_spawn.connect(workers.worker_started, dispatch_uid="muses-worker-started")
        pre_execute.connect(workers.task_started, dispatch_uid="muses-task-started")
        post_execute_in_worker.connect(workers.task_finished, dispatch_uid="muses-task-finished")
        checks.register(waiting_jobs_check, "muses")
