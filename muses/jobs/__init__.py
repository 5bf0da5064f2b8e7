"""One job mechanism for every background task (training, library prediction, naive export
and training): an abstract job model, the services that start, report, cancel and expire
jobs, heartbeats, and whether a queue worker is there to take them. Imports neither app
built on it: each app defines its concrete job models on :class:`muses.jobs.models.Job`.
"""
