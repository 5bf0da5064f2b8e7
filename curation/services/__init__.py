"""Curation workflows, one concern a module: label-issue reports, the one-click fixes,
the map of the collection."""
