"""Custom-tagging workflows, one module per concern.

Views, tasks and commands import the module of their concern; every function is keyword-only
and raises the API exceptions of :mod:`custom_tagging.exceptions` for anything a caller can
get wrong.
"""
