from django.core.management.base import BaseCommand

from muses.vision.models import DuplicateGroup
from muses.vision.near_duplicates import duplicates_find


class Command(BaseCommand):
    help = "Group near-duplicate images (same photograph re-encoded or cropped, same object twice)."

    def handle(self, *args, **options):
        report = duplicates_find(progress=options["verbosity"] >= 1)
        open_groups = DuplicateGroup.objects.filter(state=DuplicateGroup.State.OPEN).count()
        self.stdout.write(
            f"{report.pairs} near-duplicate pairs: {report.groups_created} new groups, "
            f"{report.groups_grown} grown; {open_groups} groups wait for review in the admin "
            "(Vision › Near-duplicates)"
        )
