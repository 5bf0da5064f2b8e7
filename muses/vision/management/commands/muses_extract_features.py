from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from muses.vision.backbones import BackboneUnavailable, backbone_names, get_backbone
from muses.vision.store import features_extract, images_missing_features
from muses.vision.tasks import features_enqueue


class Command(BaseCommand):
    help = "Compute and store backbone features for every image that has none yet."

    def add_arguments(self, parser):
        parser.add_argument(
            "--backbone",
            default=None,
            help=f"One of {', '.join(backbone_names())} (default MUSES_BACKBONE).",
        )
        parser.add_argument("--batch-size", type=int, default=32, help="Images per forward pass.")
        parser.add_argument("--limit", type=int, default=None, help="Process at most N images.")
        parser.add_argument(
            "--queue", action="store_true", help="Queue django-q2 tasks instead of running here."
        )
        parser.add_argument(
            "--chunk", type=int, default=256, help="Images per queued task (with --queue)."
        )

    def handle(self, *args, **options):
        name = options["backbone"] or settings.MUSES_BACKBONE
        if name not in backbone_names():
            raise CommandError(
                f"Unknown backbone {name!r}; choose one of: {', '.join(backbone_names())}"
            )
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        todo = images_missing_features(name)
        if options["limit"] is not None:
            todo = todo[: options["limit"]]
        if options["queue"]:
            jobs = features_enqueue(
                image_pks=list(todo.values_list("pk", flat=True)),
                backbone_name=name,
                chunk=max(1, options["chunk"]),
            )
            self.stdout.write(f"queued {jobs} extraction task(s)")
            return
        try:
            backbone = get_backbone(name)
        except BackboneUnavailable as exc:
            raise CommandError(str(exc)) from None
        report = features_extract(
            images=todo,
            backbone=backbone,
            batch_size=options["batch_size"],
            progress=options["verbosity"] > 0,
        )
        self.stdout.write(f"{report.extracted} images extracted, {report.failed} failed to decode")
