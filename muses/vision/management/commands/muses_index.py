from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from muses.vision.backbones import backbone_names
from muses.vision.feature_index.errors import IndexCorrupt, IndexMissing
from muses.vision.feature_index.maintenance import (
    IndexReport,
    index_check,
    index_compact,
    index_rebuild,
)
from muses.vision.feature_index.recall import index_recall
from muses.vision.feature_index.selectors import space_features

ACTIONS = ("rebuild", "check", "compact")


class Command(BaseCommand):
    help = "Rebuild this machine's feature index from the database, check it, or compact it."

    def add_arguments(self, parser):
        parser.add_argument(
            "action",
            choices=ACTIONS,
            help="rebuild: write it afresh from the database; check: report how it and the "
            "database disagree (exit 1 if they do); compact: drop deleted rows.",
        )
        parser.add_argument(
            "--backbone",
            default=None,
            help=f"One of {', '.join(backbone_names())} (default MUSES_BACKBONE).",
        )
        parser.add_argument(
            "--recall-sample",
            type=int,
            default=100,
            help="check: rows of the library asked as similar-image queries to measure the "
            "recall of MUSES_SIMILAR_PROBE against exact search (0: skip).",
        )

    def handle(self, *args, **options):
        backbone = options["backbone"] or settings.MUSES_BACKBONE
        if backbone not in backbone_names():
            raise CommandError(
                f"Unknown backbone {backbone!r}; choose one of: {', '.join(backbone_names())}"
            )
        action = options["action"]
        if action == "compact":
            return self._compact(backbone)
        total = space_features(backbone).count()
        with tqdm(
            total=total, unit="row", disable=options["verbosity"] < 1, desc=f"{action} {backbone}"
        ) as bar:
            if action == "rebuild":
                rows = index_rebuild(backbone=backbone, progress=bar.update)
                bar.close()
                self.stdout.write(f"index of {backbone} rebuilt: {rows} rows")
                return
            report = index_check(backbone=backbone, progress=bar.update)
        self._report(report)
        if options["recall_sample"] > 0:
            self._recall(backbone, options["recall_sample"])
        self.stdout.write("index and database agree")

    def _compact(self, backbone: str) -> None:
        try:
            kept, dropped = index_compact(backbone=backbone)
        except (IndexMissing, IndexCorrupt) as exc:
            raise CommandError(f"{exc} Run: manage.py muses_index rebuild") from None
        self.stdout.write(f"index of {backbone} compacted: {kept} rows kept, {dropped} dropped")

    def _report(self, report: IndexReport) -> None:
        lines = [
            f"index of {report.backbone}: {report.index_rows} rows "
            f"({report.tombstones} deleted, generation {report.generation}); "
            f"database: {report.database_rows} rows"
        ]
        if report.problem:
            lines.append(f"refused: {report.problem}")
        for label, value in (
            ("rows in the database, not in the index", report.missing),
            ("rows in the index whose database row is gone", report.orphans),
            ("rows in the index naming another image than the database", report.wrong_image),
            ("features held by more than one live row", report.duplicates),
        ):
            if value:
                lines.append(f"{value} {label}")
        if report.torn_tail_bytes:
            lines.append(
                f"an interrupted append left {report.torn_tail_bytes} bytes past the last "
                "committed row: ignored by readers, cut off by the next append"
            )
        self.stdout.write("\n".join(lines))
        if not report.ok:
            raise CommandError("The index and the database disagree: run muses_index rebuild.")

    def _recall(self, backbone: str, sample: int) -> None:
        recall = index_recall(backbone=backbone, sample=sample)
        if recall is None:
            self.stdout.write("similar images: exact search (the index has no cells)")
            return
        self.stdout.write(
            f"similar images: recall@10 {recall.mean:.3f} at MUSES_SIMILAR_PROBE="
            f"{settings.MUSES_SIMILAR_PROBE} on {recall.queries} of the library's own rows "
            f"(exact search as truth; worst query {recall.worst:.1f}, "
            f"{recall.below_half} below 0.5)"
        )
