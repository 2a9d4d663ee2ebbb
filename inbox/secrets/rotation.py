"""Re-encrypting every stored credential under the current SECRET_KEY (and the first FIELD_ENCRYPTION_SALT).

The encrypted fields decrypt with SECRET_KEY and every key in SECRET_KEY_FALLBACKS, but write only
under SECRET_KEY: what was saved under an old key stays under it until it is saved again. So a key
rotation is: put the new key in SECRET_KEY and the old one in SECRET_KEY_FALLBACKS, deploy, run
``manage.py rotate_credentials``, then drop the old key; ``--check`` says whether anything still needs an old key.
"""

from __future__ import annotations

import dataclasses
import json

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.db import connection, transaction
from encrypted_fields.fields import EncryptedFieldMixin, EncryptedJSONField


class UnreadableCredentials(Exception):
    """Some stored value decrypts under no configured key: nothing was changed."""


@dataclasses.dataclass
class RotationReport:
    # For each model with encrypted fields: its name for that many rows, and the primary keys of the
    # rows that were (or, checking, are) under an old key.
    models: list[tuple[str, list]] = dataclasses.field(default_factory=list)

    @property
    def stale(self) -> list[tuple[str, list]]:
        return [(name, pks) for name, pks in self.models if pks]


def credentials_rotate(*, check: bool = False) -> RotationReport:
    """Re-encrypt under the current key every row not wholly under it (``check``: only report them),
    in one transaction; raise ``UnreadableCredentials`` before changing anything if a row is lost."""
    report = RotationReport()
    with transaction.atomic():
        for model, fields in _encrypted_models():
            stale, unreadable = _examine(model, fields)
            if unreadable:
                raise UnreadableCredentials(
                    f"cannot decrypt the {', '.join(f.name for f in fields)} of {model._meta.verbose_name_plural} "
                    f"{', '.join(map(str, unreadable))} with SECRET_KEY or any of SECRET_KEY_FALLBACKS: put back "
                    "the key they were saved under. Nothing was changed."
                )
            report.models.append((_plural(model, len(stale)), stale))
            if check:
                continue
            for obj in model._default_manager.select_for_update().filter(pk__in=stale):
                # Read through every key, written under the first: SECRET_KEY with the first salt.
                model._default_manager.filter(pk=obj.pk).update(**{f.name: getattr(obj, f.name) for f in fields})
    return report


def _encrypted_models():
    return [
        (model, fields)
        for model in apps.get_models()
        if (fields := [f for f in model._meta.concrete_fields if isinstance(f, EncryptedFieldMixin)])
    ]


def _plural(model, count: int) -> str:
    return str(model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural)


def _examine(model, fields) -> tuple[list, list]:
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
        tokens = [(field, token) for field, raw in zip(fields, values, strict=True) for token in _tokens(field, raw)]
        if not all(_readable(field.f, token) for field, token in tokens):
            unreadable.append(pk)
        elif not all(_readable(Fernet(field.keys[0]), token) for field, token in tokens):
            stale.append(pk)
    return stale, unreadable


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
