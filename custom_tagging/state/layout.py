"""What names the state tar's format: both its writer and its reader check these."""

FORMAT = "muses-custom-tagging-state"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
