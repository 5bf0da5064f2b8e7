"""key -> row look-ups over the row records of an index file."""

import numpy as np

# Rows appended since a sorted look-up was built are kept in a dict until there are this
# many (or a quarter of the rest), then folded into the sorted arrays.
TAIL_FOLD_MIN = 50_000


class RowLookup:
    """key -> newest row for one int64 column of the rows: sorted arrays for the bulk
    (one argsort when a process opens the index), a dict for rows appended since, folded
    in when it grows. A look-up of k keys costs O(k log n), whatever the library."""

    def __init__(self, column: str):
        self.column = column
        self.keys = np.zeros(0, np.int64)
        self.rows = np.zeros(0, np.int64)
        self.tail: dict[int, int] = {}
        self.seen = 0

    def extend(self, rows: np.ndarray, count: int) -> None:
        if count <= self.seen:
            return
        if len(self.tail) + count - self.seen >= max(TAIL_FOLD_MIN, len(self.keys) // 4):
            self._fold(rows, count)
        else:
            new = rows[self.seen : count][self.column].tolist()
            self.tail.update(zip(new, range(self.seen, count)))
        self.seen = count

    def _fold(self, rows: np.ndarray, count: int) -> None:
        keys = np.array(rows[:count][self.column], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        # A key can come back (an image re-extracted; SQLite reusing the highest rowid
        # after a delete): the last row holding it is the current one.
        last = np.r_[ordered[1:] != ordered[:-1], True] if len(ordered) else ordered.astype(bool)
        self.keys, self.rows = ordered[last], order[last].astype(np.int64)
        self.tail = {}

    def find(self, keys) -> np.ndarray:
        wanted = np.asarray(keys, dtype=np.int64)
        found = np.full(len(wanted), -1, dtype=np.int64)
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
            hit = self.keys[at] == wanted
            found[hit] = self.rows[at[hit]]
        if self.tail:
            for i, key in enumerate(wanted.tolist()):
                row = self.tail.get(key)
                if row is not None:
                    found[i] = row
        return found
