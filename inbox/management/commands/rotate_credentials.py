from django.core.management.base import BaseCommand, CommandError

from inbox.secrets.rotation import UnreadableCredentials, credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential under the current SECRET_KEY, after which the old key can "
        "leave SECRET_KEY_FALLBACKS. --check only reports what still needs an old key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Change nothing; fail if any value is not under the current key."
        )

    def handle(self, *args, check: bool, **options):
        try:
            report = credentials_rotate(check=check)
        except UnreadableCredentials as exc:
            raise CommandError(str(exc)) from exc
        if check:
            if report.stale:
                stale = "; ".join(f"{len(pks)} {name} ({', '.join(map(str, pks))})" for name, pks in report.stale)
                raise CommandError(f"still under an old key: {stale}. Run rotate_credentials.")
            self.stdout.write("Every credential is under the current SECRET_KEY.")
            return
        done = "; ".join(f"{len(pks)} {name}" for name, pks in report.models) or "nothing"
        self.stdout.write(
            f"Re-encrypted under the current SECRET_KEY: {done}. Old keys can now leave SECRET_KEY_FALLBACKS."
        )
