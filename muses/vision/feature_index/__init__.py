"""The per-machine feature index: one memory-mapped file pair per feature space, shared by
every process on the machine and kept in step with the database rows (the source of truth).

- ``format``: the bytes on disk (headers, row records, file names);
- ``file``: one process's view of a file pair (maps, look-ups, appends, tombstones),
  with ``lookup`` (key -> row) and ``widen`` (float16 -> float32);
- ``writing``: the one writer of vectors and row records, and of tombstones;
- ``swap``: whole files written aside and swapped in (create, remove, leftovers);
- ``rewrite``: an index rewritten from itself while writers go on (compaction, cells);
- ``cells``: the coarse cells of similar-image search; ``search``: the search itself;
  ``recall``: how much of the true neighbourhood the probed cells find;
- ``space``: naming a feature space's index; ``selectors``: its database rows;
- ``handle``: this process's handle, kept in step with the database;
- ``maintenance``: rebuild, check, compact, status; ``hooks``: the store's calls.
"""
