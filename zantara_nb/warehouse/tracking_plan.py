"""The tracking plan in code: events, their properties and types, naming rules.

This is the single source of truth for what zantara-nb expects from the ZANTARA
app (see ``shared/TRACKING_PLAN.md``). The loader uses it to validate rows and to
fill the typed columns of the ``events`` table; the demo generator uses it to
emit valid events; tests use it to check both.

Types are JSON-level types: ``str``, ``int``, ``float`` (an int is accepted where
a float is expected), ``bool``, ``json`` (anything).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------
# Naming rules (seed section 3: events `object_action` past tense, properties snake_case)
# --------------------------------------------------------------------------------------

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
#: `object_action`: at least two snake_case words, last one a past-tense verb.
#: Irregular past tenses used by the plan are listed; regular ones end in "ed".
_IRREGULAR_PAST = {"sent", "given", "made", "built", "paid", "won", "lost", "set", "read", "seen"}


def is_snake_case(name: str) -> bool:
    """True when ``name`` is lower snake_case (``query_length``, not ``queryLength``)."""
    return bool(SNAKE_CASE.match(name))


def event_name_problem(name: str) -> str | None:
    """Why an event name breaks the naming rules, or None when it follows them.

    PostHog's own events (``$identify``, ``$pageview``...) are exempt.
    """
    if name.startswith("$"):
        return None
    if not is_snake_case(name):
        return "event name is not snake_case"
    if name in EVENTS:
        return None  # the plan's own names (``slow_request`` predates the rule)
    parts = name.split("_")
    if len(parts) < 2:
        return "event name is not object_action"
    # the action may be a phrasal verb: user_signed_up, user_logged_in
    if not any(w.endswith("ed") or w in _IRREGULAR_PAST for w in parts[1:]):
        return "event action is not in the past tense"
    return None


# --------------------------------------------------------------------------------------
# Events and properties
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prop:
    """One tracked property: its JSON type and, optionally, the values it may take."""

    type: str
    allowed: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class EventSpec:
    name: str
    props: dict[str, Prop] = field(default_factory=dict)
    description: str = ""


S, I, F, B = Prop("str"), Prop("int"), Prop("float"), Prop("bool")  # noqa: E741

EVENTS: dict[str, EventSpec] = {
    e.name: e
    for e in [
        EventSpec("page_viewed", {"path": S, "referrer": S, "user_agent": S}, "usually anonymous"),
        EventSpec(
            "user_signed_up",
            {
                "signup_method": Prop("str", ("email", "google", "github")),
                "referrer": S,
                "utm_source": S,
                "utm_medium": S,
            },
        ),
        EventSpec("user_logged_in", {"login_method": S, "session_id": S}),
        EventSpec("user_logged_out", {"session_id": S}),
        EventSpec(
            "conversation_started",
            {"session_id": S, "is_new_user": B, "previous_sessions": Prop("int", minimum=0)},
        ),
        EventSpec(
            "message_sent",
            {
                "session_id": S,
                "message_id": S,
                "query_length": Prop("int", minimum=0),
                "query_category": S,
                "query_language": S,
                "query_complexity": Prop("str", ("simple", "medium", "complex")),
                "query_intent": Prop(
                    "str", ("information", "action", "comparison", "troubleshooting")
                ),
                "conversation_turn": Prop("int", minimum=0),
                "query_hash": S,
                "days_since_signup": Prop("int", minimum=0),
            },
        ),
        EventSpec(
            "message_received",
            {
                "session_id": S,
                "message_id": S,
                "response_tokens": Prop("int", minimum=0),
                "response_latency_ms": Prop("int", minimum=0),
                "response_cost_usd": Prop("float", minimum=0),
                "model_used": S,
                "sources_count": Prop("int", minimum=0),
                "sources_shown": B,
            },
        ),
        EventSpec(
            "feedback_given",
            {"message_id": S, "session_id": S, "rating": Prop("int", (1, -1)), "has_text": B},
        ),
        EventSpec(
            "source_clicked",
            {"message_id": S, "document_id": S, "source_position": I, "document_title": S},
        ),
        EventSpec("voice_used", {"session_id": S, "language": S, "duration_seconds": F}),
        EventSpec(
            "export_clicked",
            {
                "session_id": S,
                "export_format": Prop("str", ("pdf", "txt", "markdown")),
                "messages_exported": I,
            },
        ),
        EventSpec(
            "share_clicked",
            {"session_id": S, "share_method": Prop("str", ("link", "email", "social"))},
        ),
        EventSpec("feature_used", {"feature": S}),
        EventSpec(
            "subscription_started",
            {
                "plan": Prop("str", ("free", "pro", "enterprise")),
                "price_usd": Prop("float", minimum=0),
                "billing_period": Prop("str", ("monthly", "yearly")),
                "payment_method": S,
                "days_since_signup": Prop("int", minimum=0),
            },
        ),
        EventSpec(
            "subscription_cancelled",
            {"plan": S, "cancel_reason": S, "days_subscribed": Prop("int", minimum=0)},
        ),
        EventSpec("payment_failed", {"plan": S, "amount_usd": F, "reason": S}),
        EventSpec(
            "referral_completed",
            {"referrer_user_id": S, "referred_user_id": S, "referral_code": S},
        ),
        EventSpec(
            "error_occurred",
            {"session_id": S, "error_type": S, "error_message": S, "query_category": S},
        ),
        EventSpec(
            "slow_request",
            {"path": S, "latency_ms": Prop("int", minimum=0), "status_code": I},
        ),
        EventSpec("nps_submitted", {"score": Prop("int", minimum=0, maximum=10)}),
        EventSpec("$identify", {"$anon_distinct_id": S}),
        EventSpec("$create_alias", {"alias": S}),
        EventSpec(
            "$feature_flag_called", {"$feature_flag": S, "$feature_flag_response": Prop("json")}
        ),
        EventSpec(
            "$ai_generation",
            {
                "$ai_model": S,
                "$ai_provider": S,
                "$ai_input_tokens": Prop("int", minimum=0),
                "$ai_output_tokens": Prop("int", minimum=0),
                "$ai_latency": Prop("float", minimum=0),
                "$ai_total_cost_usd": Prop("float", minimum=0),
                "$ai_is_error": B,
                "$ai_trace_id": S,
            },
        ),
    ]
}

#: Properties any event may carry without being "unknown": PostHog's own ($...),
#: person-property updates, and the context fields the loader lifts into properties.
COMMON_PROPS: frozenset[str] = frozenset(
    {
        "session_id",
        "$session_id",
        "$set",
        "$set_once",
        "$ip",
        "$browser",
        "$os",
        "$device_type",
        "$current_url",
        "$referrer",
        "$lib",
        "$lib_version",
        "$geoip_country_code",
        "$timezone",
        "$locale",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "country",
        "locale",
        "timezone",
        "device",
        "os",
        "browser",
        "screen",
        "user_agent",
        "referrer",
    }
)

#: Person properties (from identify traits / ``$set``) that get typed columns in ``persons``.
PERSON_PROPS: dict[str, Prop] = {
    "plan": Prop("str"),
    "language": Prop("str"),
    "timezone": Prop("str"),
    "country": Prop("str"),
    "user_type": Prop("str", ("individual", "business", "enterprise")),
    "created_at": Prop("str"),
}
#: Person properties that are stored for GDPR export but never shown in any report.
PRIVATE_PERSON_PROPS: frozenset[str] = frozenset({"email", "name", "phone"})

#: Property keys that must never be stored (seed "Privacy-first tracking"): dropped at
#: load time and counted as redacted.
NEVER_STORE: frozenset[str] = frozenset(
    {
        "query_text",
        "query",
        "response_text",
        "feedback_text",
        "prompt",
        "completion",
        "$ai_input",
        "$ai_output_choices",
        "passport_number",
        "tax_id",
        "npwp_number",
    }
)

# Ids that are never merged (METRICS.md section 0). Compared case-insensitively, trimmed.
FORBIDDEN_IDS: frozenset[str] = frozenset(
    {
        "",
        "null",
        "undefined",
        "anonymous",
        "0",
        "guest",
        "[object object]",
        "none",
        "nan",
        "distinct_id",
        "id",
        "not_authenticated",
        "true",
        "false",
        "email",
        "user_id",
    }
)


def is_forbidden_id(value: str | None) -> bool:
    """True for ids that must never be used to merge identities (``null``, ``guest``...)."""
    return value is None or value.strip().lower() in FORBIDDEN_IDS


# --------------------------------------------------------------------------------------
# Typed columns of the events table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypedColumn:
    """A column of ``events`` filled from properties at load time.

    ``sources`` are property keys tried in order (the first present wins);
    ``scale`` multiplies numeric sources (``$ai_latency`` seconds -> ms).
    """

    name: str
    sql_type: str
    sources: tuple[tuple[str, float], ...]


def _src(*keys: str, scale: dict[str, float] | None = None) -> tuple[tuple[str, float], ...]:
    scale = scale or {}
    return tuple((k, scale.get(k, 1.0)) for k in keys)


TYPED_COLUMNS: tuple[TypedColumn, ...] = (
    TypedColumn("message_id", "VARCHAR", _src("message_id")),
    TypedColumn("query_category", "VARCHAR", _src("query_category")),
    TypedColumn("query_language", "VARCHAR", _src("query_language")),
    TypedColumn("query_complexity", "VARCHAR", _src("query_complexity")),
    TypedColumn("query_intent", "VARCHAR", _src("query_intent")),
    TypedColumn("query_length", "INTEGER", _src("query_length")),
    TypedColumn("conversation_turn", "INTEGER", _src("conversation_turn")),
    TypedColumn("days_since_signup", "INTEGER", _src("days_since_signup")),
    TypedColumn("response_tokens", "INTEGER", _src("response_tokens", "$ai_output_tokens")),
    TypedColumn(
        "response_latency_ms",
        "DOUBLE",
        _src("response_latency_ms", "$ai_latency", scale={"$ai_latency": 1000.0}),
    ),
    TypedColumn("response_cost_usd", "DOUBLE", _src("response_cost_usd", "$ai_total_cost_usd")),
    TypedColumn("model_used", "VARCHAR", _src("model_used", "$ai_model")),
    TypedColumn("sources_count", "INTEGER", _src("sources_count")),
    TypedColumn("rating", "INTEGER", _src("rating")),
    TypedColumn("score", "INTEGER", _src("score")),
    TypedColumn("plan", "VARCHAR", _src("plan")),
    TypedColumn("price_usd", "DOUBLE", _src("price_usd")),
    TypedColumn("billing_period", "VARCHAR", _src("billing_period")),
    TypedColumn("error_type", "VARCHAR", _src("error_type")),
    TypedColumn("is_error", "BOOLEAN", _src("$ai_is_error")),
    TypedColumn("feature_flag", "VARCHAR", _src("$feature_flag")),
    TypedColumn("feature_flag_response", "VARCHAR", _src("$feature_flag_response")),
    TypedColumn("country", "VARCHAR", _src("country", "$geoip_country_code")),
    TypedColumn("utm_source", "VARCHAR", _src("utm_source")),
)


def camel_to_snake(name: str) -> str:
    """``queryLength`` -> ``query_length`` (the seed's own example uses camelCase keys)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def known_properties(event: str) -> frozenset[str]:
    """Property keys that are part of the plan for ``event`` (plus the common ones)."""
    spec = EVENTS.get(event)
    own = frozenset(spec.props) if spec else frozenset()
    return own | COMMON_PROPS


# -- added for gdpr (issue 15): analytics consent, and the properties never scrubbed --
# (docs/tracking-plan-extensions.md)

#: The event an app sends when a person grants or declines analytics consent.
CONSENT_EVENT = "consent_updated"
#: The consent flag: on ``consent_updated``, as a person property (``$set`` / identify
#: traits) or on any event. ``false`` (also "false", "denied", "no", 0) declines.
CONSENT_PROP = "analytics_consent"
EVENTS[CONSENT_EVENT] = EventSpec(
    CONSENT_EVENT,
    {CONSENT_PROP: Prop("json"), "consent_source": S},
    "the person granted or declined analytics consent (banner, settings, account)",
)
COMMON_PROPS = COMMON_PROPS | {CONSENT_PROP}

#: Property keys whose values are identifiers, plan enumerations, numbers or
#: already-anonymised values: never scanned for personal data at ingest. Every other
#: string value (error messages, document titles, cancel reasons, referrers, URLs,
#: user agents, and any key the plan does not know) is scrubbed of e-mails, phones,
#: full IPs, NIK, NPWP, card numbers and URL credentials (:mod:`.pii`).
SAFE_PROPS: frozenset[str] = frozenset(
    {
        "session_id",
        "$session_id",
        "message_id",
        "query_category",
        "query_language",
        "query_complexity",
        "query_intent",
        "query_hash",
        "query_length",
        "conversation_turn",
        "days_since_signup",
        "model_used",
        "signup_method",
        "login_method",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "export_format",
        "share_method",
        "feature",
        "plan",
        "billing_period",
        "payment_method",
        "error_type",
        "document_id",
        "referral_code",
        "referrer_user_id",
        "referred_user_id",
        "language",
        "$feature_flag",
        "$feature_flag_response",
        "$ai_model",
        "$ai_provider",
        "$ai_trace_id",
        "$lib",
        "$lib_version",
        "$browser",
        "$os",
        "$device_type",
        "$geoip_country_code",
        "$timezone",
        "$locale",
        "country",
        "locale",
        "timezone",
        "device",
        "os",
        "browser",
        "screen",
        "$ip",
        "$anon_distinct_id",
        "alias",
        "$set",
        "$set_once",
        CONSENT_PROP,
        "consent_source",
    }
)
