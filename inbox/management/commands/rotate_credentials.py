"""Re-encrypt every stored credential under the current SECRET_KEY (and the first FIELD_ENCRYPTION_SALT).

The encrypted fields decrypt with SECRET_KEY and every key in SECRET_KEY_FALLBACKS, but write only
under SECRET_KEY: what was saved under an old key stays under it until it is saved again. So a key
rotation is: put the new key in SECRET_KEY and the old one in SECRET_KEY_FALLBACKS, deploy, run this
command, then drop the old key. ``--check`` says whether anything still needs an old key.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from encrypted_fields.fields import EncryptedFieldMixin, EncryptedJSONField


def _tokens(field, raw) -> list[str]:
    """The Fernet tokens a stored value holds: one, or one per leaf of an encrypted JSON field."""
    if raw in (None, ""):
        return []
    if not isinstance(field, EncryptedJSONField):
        return [str(raw)]
    data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    leaves, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None:
            leaves.append(str(item))
    return leaves


def _readable(fernet, token: str) -> bool:
    try:
        fernet.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


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
        models = [
            (model, fields)
            for model in apps.get_models()
            if (fields := [f for f in model._meta.concrete_fields if isinstance(f, EncryptedFieldMixin)])
        ]
        with transaction.atomic():
            report = []
            for model, fields in models:
                stale, unreadable = self._examine(model, fields)
                if unreadable:
                    raise CommandError(
                        f"cannot decrypt the {', '.join(f.name for f in fields)} of {model._meta.verbose_name_plural} "
                        f"{', '.join(map(str, unreadable))} with SECRET_KEY or any of SECRET_KEY_FALLBACKS: put back "
                        "the key they were saved under. Nothing was changed."
                    )
                if check:
                    if stale:
                        report.append(f"{len(stale)} {self._plural(model, len(stale))} ({', '.join(map(str, stale))})")
                    continue
                for obj in model._default_manager.select_for_update().filter(pk__in=stale):
                    # Read through every key, written under the first: SECRET_KEY with the first salt.
                    model._default_manager.filter(pk=obj.pk).update(**{f.name: getattr(obj, f.name) for f in fields})
                report.append(f"{len(stale)} {self._plural(model, len(stale))}")
        if check:
            if report:
                raise CommandError(f"still under an old key: {'; '.join(report)}. Run rotate_credentials.")
            self.stdout.write("Every credential is under the current SECRET_KEY.")
            return
        done = "; ".join(report) or "nothing"
        self.stdout.write(
            f"Re-encrypted under the current SECRET_KEY: {done}. Old keys can now leave SECRET_KEY_FALLBACKS."
        )

    @staticmethod
    def _plural(model, count: int) -> str:
        return str(model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural)

    def _examine(self, model, fields) -> tuple[list, list]:
        """The rows not wholly under the current key, and those no configured key can read, as
        stored (the fields' own reading would hide an undecryptable value: the library then passes
        the ciphertext through as if it were the value)."""
        table, quote = model._meta.db_table, connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote(model._meta.pk.column)}, {columns} FROM {quote(table)} "
                f"ORDER BY {quote(model._meta.pk.column)}"
            )
            rows = cursor.fetchall()
        stale, unreadable = [], []
        for pk, *values in rows:
            tokens = [
                (field, token) for field, raw in zip(fields, values, strict=True) for token in _tokens(field, raw)
            ]
            if not all(_readable(field.f, token) for field, token in tokens):
                unreadable.append(pk)
            elif not all(_readable(Fernet(field.keys[0]), token) for field, token in tokens):
                stale.append(pk)
        return stale, unreadable
