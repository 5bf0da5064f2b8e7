"""What the collection tells the apps built on it, which it does not import."""

from django.dispatch import Signal

# Sent by `muses_import` once its rows are stored, with ``report`` (the import's
# ImportReport), ``queue_features`` (False under --no-features) and ``say`` (writes one line
# of the command's output). The vision app queues features and looks for near-duplicates.
images_imported = Signal()
