"""Results handed back to museums: tags as W3C Web Annotations for IIIF viewers, and
predictions keyed on museum + object number for re-import into a collection system."""
