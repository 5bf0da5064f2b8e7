import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the local admin user once and print its login (reused on later runs)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="Admin user name (default admin).")

    def handle(self, *args, **options):
        username = options["username"]
        secret_file = settings.MUSES_VAR_DIR / f"{username}_password"
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None or not secret_file.exists():
            password = secrets.token_urlsafe(12)
            user = user or user_model(username=username, is_staff=True, is_superuser=True)
            user.set_password(password)
            user.save()
            secret_file.write_text(password)
            secret_file.chmod(0o600)
        password = secret_file.read_text().strip()
        self.stdout.write(f"Admin login: {username} / {password}  (kept in {secret_file})")
