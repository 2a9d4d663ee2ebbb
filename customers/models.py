from django.conf import settings
from django.db import models


class Company(models.Model):
    """An organisation customers belong to (a shop's business buyers, a client's staff)."""

    name = models.CharField(max_length=200, unique=True)
    domain = models.CharField(max_length=253, blank=True, help_text="e.g. acme.example: its people's mail domain.")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self):
        return self.name


class Customer(models.Model):
    """One person, however many channels they write from."""

    name = models.CharField(max_length=200, blank=True)
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="people")
    attributes = models.JSONField(default=dict, blank=True)
    # What agents keep about this person (shown in the sidebar, never to the customer).
    notes = models.TextField(blank=True)
    # Set when an agent merged this customer into another: what was theirs is the other's now.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or f"Customer #{self.pk}"


class ContactIdentity(models.Model):
    """An address a customer is reachable at; the normalized address is what we match on."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        MESSENGER = "messenger", "Messenger"
        WEBCHAT = "webchat", "Web chat visitor"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    address = models.CharField(max_length=320, help_text="Normalized, for matching.")
    display = models.CharField(max_length=320, blank=True, help_text="As the customer wrote it.")
    verified = models.BooleanField(default=False)
    # Set from a permanent bounce, for agents to see before they write there again.
    undeliverable_reason = models.CharField(max_length=300, blank=True)
    # The customer texted STOP (or the carrier told us so): nothing may be sent until START.
    opted_out_at = models.DateTimeField(null=True, blank=True)
    # A chat visitor's browser as the widget last saw it: page, referrer, browser, time zone, language.
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "address"], name="identity_unique_kind_address"),
        ]
        verbose_name_plural = "contact identities"

    def __str__(self):
        return f"{self.kind}:{self.display or self.address}"


class CustomerMerge(models.Model):
    """What a merge moved, so that it can be undone: exactly those rows go back."""

    source = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    identity_ids = models.JSONField(default=list)
    conversation_ids = models.JSONField(default=list)
    target_name_before = models.CharField(max_length=200, blank=True)
    target_attributes_before = models.JSONField(default=dict)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    @property
    def target_display_before(self) -> str:
        """The target as agents knew it before the merge (it may have taken the source's name)."""
        return self.target_name_before or f"Customer #{self.target_id}"
