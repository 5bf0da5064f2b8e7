"""The API's roles as permissions on CustomTag and two groups that grant them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {"Labellers": ("label",), "Curators": ("label", "curate")}


def groups_create(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    config = apps.get_app_config("custom_tagging")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.add(
            *permission_model.objects.filter(
                content_type__app_label="custom_tagging", codename__in=codenames
            )
        )


def groups_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("custom_tagging", "0002_job_heartbeat"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="customtag",
            options={
                "ordering": ["name"],
                "permissions": [
                    ("label", "Can add images, assign, train and edit tags"),
                    ("curate", "Can delete or reset tags and replace or download the whole state"),
                ],
            },
        ),
        migrations.RunPython(groups_create, groups_delete),
    ]
