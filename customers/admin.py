from django.contrib import admin

from customers.models import ContactIdentity, Customer


class IdentityInline(admin.TabularInline):
    model = ContactIdentity
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["display_name", "created_at"]
    search_fields = ["name", "identities__address"]
    inlines = [IdentityInline]


@admin.register(ContactIdentity)
class ContactIdentityAdmin(admin.ModelAdmin):
    list_display = ["kind", "display", "address", "customer", "verified"]
    list_filter = ["kind", "verified"]
    search_fields = ["address", "display"]
    raw_id_fields = ["customer"]
