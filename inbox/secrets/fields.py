"""Model fields the libraries almost provide."""

import json

from encrypted_fields.fields import EncryptedJSONField, EncryptedTextField

# Marks a leaf stored as JSON by this field; a leaf without it was stored the library's way.
TYPED = "json:"


class CiphertextInDumps:
    """``dumpdata`` writes what the database holds, the ciphertext, not the decrypted value (the
    library's fields leave Django's default, which wrote every credential out in plain text);
    ``loaddata`` reads it back through ``to_python``, which decrypts."""

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


class EncryptedSecretField(CiphertextInDumps, EncryptedTextField):
    """The library's text field, dumped as ciphertext."""

    def deconstruct(self):
        # Stored exactly as the library's field: migrations need not tell the two apart.
        name, _, args, kwargs = super().deconstruct()
        return name, "encrypted_fields.fields.EncryptedTextField", args, kwargs


class EncryptedTypedJSONField(CiphertextInDumps, EncryptedJSONField):
    """django-fernet-encrypted-fields' JSON field encrypts each leaf as ``str(value)``, so a port
    of 993 comes back as "993" and ``False`` as the (truthy) "False". This one encrypts each leaf's
    JSON, marked, so types survive; leaves stored the old way still read as the strings they were."""

    def _encrypt_values(self, value):
        if isinstance(value, dict):
            return {key: self._encrypt_values(data) for key, data in value.items()}
        if isinstance(value, list):
            return [self._encrypt_values(data) for data in value]
        return self.f.encrypt((TYPED + json.dumps(value)).encode()).decode()

    def _decrypt_values(self, value):
        if value is None:
            return None
        if isinstance(value, dict):
            return {key: self._decrypt_values(data) for key, data in value.items()}
        if isinstance(value, list):
            return [self._decrypt_values(data) for data in value]
        plain = self.f.decrypt(str(value).encode()).decode()
        return json.loads(plain.removeprefix(TYPED)) if plain.startswith(TYPED) else plain
