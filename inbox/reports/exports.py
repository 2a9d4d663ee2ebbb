"""The row-per-conversation export's columns: everything the reports know of one conversation, times in
the report's time zone, durations in seconds (calendar and business hours)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from conversations.models import ConversationFact
from inbox import csv_stream

CONVERSATION_COLUMNS = [
    "conversation",
    "customer",
    "inbox",
    "channel",
    "customer_first_channel",
    "team",
    "assignee",
    "labels",
    "opened_at",
    "first_customer_message_at",
    "first_response_at",
    "first_response_seconds",
    "first_response_business_seconds",
    "first_response_by",
    "first_resolved_at",
    "first_resolution_seconds",
    "first_resolution_business_seconds",
    "resolved_at",
    "full_resolution_seconds",
    "full_resolution_business_seconds",
    "resolutions",
    "reopens",
    "messages_in",
    "messages_out",
    "sla_first_response",
    "sla_resolution",
    "csat_asked_at",
    "csat_rating",
]


def _name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


def conversation_row(fact: ConversationFact, zone: ZoneInfo) -> list[str]:
    def when(value):
        return value.astimezone(zone).isoformat() if value else ""

    return csv_stream.row(
        [
            fact.conversation_id,
            fact.conversation.customer.display_name,
            fact.inbox.name,
            fact.channel,
            fact.customer_first_channel,
            fact.team.name if fact.team else "",
            _name(fact.assignee),
            "; ".join(label.name for label in fact.conversation.labels.all()),
            when(fact.opened_at),
            when(fact.first_customer_at),
            when(fact.first_response_at),
            fact.first_response_seconds,
            fact.first_response_business_seconds,
            _name(fact.first_response_agent),
            when(fact.first_resolved_at),
            fact.first_resolution_seconds,
            fact.first_resolution_business_seconds,
            when(fact.resolved_at),
            fact.resolution_seconds,
            fact.resolution_business_seconds,
            fact.resolutions,
            fact.reopens,
            fact.messages_in,
            fact.messages_out,
            fact.sla_first_response,
            fact.sla_resolution,
            when(fact.csat_asked_at),
            fact.csat_rating,
        ]
    )
