# Two migrations written side by side (the engine and precision of each vector; groups of
# near-duplicate images); neither touches what the other does.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("vision", "0002_feature_engine_precision"),
        ("vision", "0002_near_duplicates"),
    ]

    operations = []
