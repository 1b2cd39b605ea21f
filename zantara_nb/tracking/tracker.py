"""The tracker: one call per event of the tracking plan, over the official PostHog SDK.

Every call goes through the same steps, in the caller's thread, in microseconds:

1. **consent**: nothing is captured for a user without analytics consent (the seed's
   cookie consent): the call's ``consent=`` wins, else the tracker's ``consent`` (a bool,
   or a function of the distinct id); the default is *no*;
2. **privacy** (:mod:`.privacy`): never-store and personal keys dropped, IPs truncated,
   e-mails and full IPs in text replaced; raw query text is never an argument that is
   sent: :meth:`Tracker.track_message_sent` classifies it and sends the category,
   intent, complexity, language, length and a salted hash;
3. **the plan** (:mod:`.plan`): an unknown event or a property of the wrong type is
   logged and counted and the event is not sent; an unknown property is logged and
   counted; with ``strict=True`` (tests) each of these raises :class:`TrackingPlanError`;
4. **the SDK's queue**: ``posthog.Posthog.capture`` only enqueues; a background thread
   sends batches (gzip) to ``/batch/``; ``before_send`` runs the privacy step again on
   the final message, SDK additions included.

Nothing here raises into the application (except strict mode): errors are logged and
counted in :attr:`Tracker.counts`. :meth:`Tracker.shutdown` (registered with ``atexit``)
flushes the queue.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..warehouse.privacy import hash_id
from .plan import Violation, check_event
from .privacy import scrub

log = logging.getLogger("zantara_nb.tracking")

#: Environment variables read when no argument is given.
TOKEN_ENV = "POSTHOG_PROJECT_API_KEY"
HOST_ENV = "POSTHOG_HOST"


class TrackingPlanError(ValueError):
    """Raised in strict mode for an event that breaks the tracking plan."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(str(v) for v in violations))
        self.violations = violations


Consent = bool | Callable[[str], bool | None]


class Tracker:
    """Tracks ZANTARA's events into PostHog with the plan and privacy enforced.

    ``api_key``/``host``: the project token and ingestion host (default
    ``$POSTHOG_PROJECT_API_KEY`` and ``$POSTHOG_HOST``); without a token the tracker is
    disabled (calls are counted, nothing is sent). ``client``: an existing
    ``posthog.Posthog`` to use instead (its ``before_send`` is replaced by ours).
    Other keywords go to ``posthog.Posthog`` (``flush_at``, ``flush_interval``,
    ``max_queue_size``, ``timeout``, ``sync_mode``...).
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        consent: Consent = False,
        strict: bool = False,
        client: Any = None,
        register_atexit: bool = True,
        **sdk_options: Any,
    ) -> None:
        self.consent = consent
        self.strict = strict
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closed = False
        token = api_key or os.environ.get(TOKEN_ENV)
        if client is None and token:
            import posthog

            opts: dict[str, Any] = {
                "gzip": True,
                "disable_geoip": True,
                "flush_at": 100,
                "flush_interval": 5.0,
                "max_queue_size": 10_000,
            }
            opts.update(sdk_options)
            client = posthog.Posthog(
                token,
                host=host or os.environ.get(HOST_ENV) or None,
                before_send=self._before_send,
                on_error=self._on_error,
                **opts,
            )
        elif client is not None:
            client.before_send = self._before_send
        self.client = client
        if client is None:
            log.info("tracking disabled: no PostHog project token ($%s)", TOKEN_ENV)
        if register_atexit:
            atexit.register(self.shutdown)

    # -- plumbing ----------------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.counts[key] += n

    def _on_error(self, error: Exception, batch: list) -> None:
        self._count("send_errors", len(batch) if batch else 1)
        log.warning("PostHog upload failed (%s events): %s", len(batch or ()), error)

    def _before_send(self, msg: dict) -> dict | None:
        """PostHog's hook on the final message: privacy once more, SDK additions included."""
        try:
            props, removed = scrub(msg.get("properties") or {})
            msg["properties"] = props
            self._count("redacted", removed)
            return msg
        except Exception:  # noqa: BLE001 - a message we cannot clean is not sent
            self._count("errors")
            log.exception("tracking: dropped a message that could not be cleaned")
            return None

    def _consented(self, distinct_id: str, consent: bool | None) -> bool:
        if consent is not None:
            return bool(consent)
        c = self.consent
        if callable(c):
            return bool(c(distinct_id))
        return bool(c)

    def track(
        self,
        event: str,
        distinct_id: str,
        properties: dict[str, Any] | None = None,
        *,
        timestamp: datetime | str | None = None,
        uuid: str | None = None,
        consent: bool | None = None,
        ip: str | None = None,
    ) -> str | None:
        """Capture ``event`` for ``distinct_id`` after consent, privacy and plan checks.

        Returns the event's uuid when it was queued, None when it was not (no consent,
        breaks the plan, tracker disabled, or an error, which is logged and counted).
        """
        try:
            did = None if distinct_id is None else str(distinct_id).strip()
            if not did:
                return self._refuse(
                    [Violation("invalid_property", event, "distinct_id", "missing")]
                )
            if not self._consented(did, consent):
                self._count("no_consent")
                return None
            if "@" in did:  # an e-mail as id: keep identity, lose the address
                did = "h_" + hash_id(did.lower())
                self._count("redacted")
            props = dict(properties or {})
            if ip is not None:
                props["$ip"] = ip
            props, removed = scrub(props)
            self._count("redacted", removed)
            violations = check_event(event, props)
            blocking = [v for v in violations if v.kind != "unknown_property"]
            for v in violations:
                self._count(v.kind)
                log.warning("tracking plan: %s", v)
            if violations and self.strict:
                raise TrackingPlanError(violations)
            if blocking:
                self._count("not_sent")
                return None
            if self.client is None:
                self._count("disabled")
                return None
            kwargs: dict[str, Any] = {"distinct_id": did, "properties": props}
            if timestamp is not None:
                kwargs["timestamp"] = timestamp
            if uuid is not None:
                kwargs["uuid"] = uuid
            sent = self.client.capture(event, **kwargs)
            self._count("captured" if sent else "not_sent")
            return sent
        except TrackingPlanError:
            raise
        except Exception:  # noqa: BLE001 - analytics never breaks the app
            self._count("errors")
            log.exception("tracking: %s not captured", event)
            return None

    def _refuse(self, violations: list[Violation]) -> None:
        for v in violations:
            self._count(v.kind)
            log.warning("tracking plan: %s", v)
        if self.strict:
            raise TrackingPlanError(violations)
        self._count("not_sent")
        return None

    def flush(self) -> None:
        """Send what is queued now (blocks up to the SDK's flush timeout)."""
        try:
            if self.client is not None:
                self.client.flush()
        except Exception:  # noqa: BLE001
            self._count("errors")
            log.exception("tracking: flush failed")

    def shutdown(self) -> None:
        """Flush and stop the SDK's workers (once; registered with ``atexit``)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.client is not None:
                self.client.shutdown()
        except Exception:  # noqa: BLE001
            self._count("errors")
            log.exception("tracking: shutdown failed")

    # -- one call per event of the plan ----------------------------------------------------

    def track_page_viewed(
        self,
        distinct_id: str,
        path: str,
        *,
        referrer: str | None = None,
        user_agent: str | None = None,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "page_viewed",
            distinct_id,
            _props(path=path, referrer=referrer, user_agent=user_agent),
            **kw,
        )

    def track_signed_up(
        self,
        distinct_id: str,
        signup_method: str,
        *,
        referrer: str | None = None,
        utm_source: str | None = None,
        utm_medium: str | None = None,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "user_signed_up",
            distinct_id,
            _props(
                signup_method=signup_method,
                referrer=referrer,
                utm_source=utm_source,
                utm_medium=utm_medium,
            ),
            **kw,
        )

    def track_logged_in(
        self, distinct_id: str, login_method: str, *, session_id: str | None = None, **kw: Any
    ) -> str | None:
        return self.track(
            "user_logged_in",
            distinct_id,
            _props(login_method=login_method, session_id=session_id),
            **kw,
        )

    def track_logged_out(self, distinct_id: str, *, session_id: str | None = None, **kw: Any):
        return self.track("user_logged_out", distinct_id, _props(session_id=session_id), **kw)

    def track_conversation_started(
        self,
        distinct_id: str,
        *,
        session_id: str,
        is_new_user: bool,
        previous_sessions: int,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "conversation_started",
            distinct_id,
            _props(
                session_id=session_id, is_new_user=is_new_user, previous_sessions=previous_sessions
            ),
            **kw,
        )

    def track_message_sent(
        self,
        distinct_id: str,
        query: str,
        *,
        session_id: str,
        message_id: str | None = None,
        conversation_turn: int | None = None,
        days_since_signup: int | None = None,
        taxonomy: Any = None,
        **kw: Any,
    ) -> str | None:
        """``message_sent`` for the user's question ``query``: its text is classified
        (category, intent, complexity, language), measured and hashed here, and never
        sent (:func:`zantara_nb.insights.classify.classify`)."""
        try:
            from ..insights.classify import classify

            qc = classify(query, taxonomy).as_properties()
        except Exception:  # noqa: BLE001
            self._count("errors")
            log.exception("tracking: classifying a query failed")
            return None
        return self.track(
            "message_sent",
            distinct_id,
            _props(
                session_id=session_id,
                message_id=message_id,
                conversation_turn=conversation_turn,
                days_since_signup=days_since_signup,
                **qc,
            ),
            **kw,
        )

    def track_reply(
        self,
        distinct_id: str,
        *,
        session_id: str,
        message_id: str,
        response_tokens: int,
        latency_ms: int,
        cost_usd: float,
        model: str,
        sources_count: int = 0,
        **kw: Any,
    ) -> str | None:
        """``message_received``: the AI's answer, as metadata only (never its text)."""
        return self.track(
            "message_received",
            distinct_id,
            _props(
                session_id=session_id,
                message_id=message_id,
                response_tokens=response_tokens,
                response_latency_ms=int(round(latency_ms)),
                response_cost_usd=float(cost_usd),
                model_used=model,
                sources_count=sources_count,
                sources_shown=sources_count > 0,
            ),
            **kw,
        )

    def track_llm_generation(
        self,
        distinct_id: str,
        *,
        model: str,
        provider: str,
        input_tokens: int,
        output_tokens: int,
        latency_s: float,
        cost_usd: float,
        trace_id: str,
        is_error: bool = False,
        **kw: Any,
    ) -> str | None:
        """One LLM call as PostHog's ``$ai_generation`` (``$ai_latency`` in seconds,
        ``$ai_total_cost_usd``); never its input or output (``$ai_input``,
        ``$ai_output_choices`` are dropped even if passed)."""
        return self.track(
            "$ai_generation",
            distinct_id,
            _props(
                **{
                    "$ai_model": model,
                    "$ai_provider": provider,
                    "$ai_input_tokens": input_tokens,
                    "$ai_output_tokens": output_tokens,
                    "$ai_latency": float(latency_s),
                    "$ai_total_cost_usd": float(cost_usd),
                    "$ai_is_error": bool(is_error),
                    "$ai_trace_id": trace_id,
                }
            ),
            **kw,
        )

    def track_feedback(
        self,
        distinct_id: str,
        *,
        message_id: str,
        rating: int,
        session_id: str | None = None,
        feedback_text: str | None = None,
        **kw: Any,
    ) -> str | None:
        """``feedback_given`` (+1/-1); the text itself is never sent, only ``has_text``."""
        return self.track(
            "feedback_given",
            distinct_id,
            _props(
                message_id=message_id,
                session_id=session_id,
                rating=rating,
                has_text=bool(feedback_text and feedback_text.strip()),
            ),
            **kw,
        )

    def track_source_clicked(
        self,
        distinct_id: str,
        *,
        message_id: str,
        document_id: str,
        source_position: int,
        document_title: str | None = None,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "source_clicked",
            distinct_id,
            _props(
                message_id=message_id,
                document_id=document_id,
                source_position=source_position,
                document_title=document_title,
            ),
            **kw,
        )

    def track_voice_used(
        self,
        distinct_id: str,
        *,
        session_id: str,
        language: str,
        duration_seconds: float,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "voice_used",
            distinct_id,
            _props(
                session_id=session_id, language=language, duration_seconds=float(duration_seconds)
            ),
            **kw,
        )

    def track_export_clicked(
        self,
        distinct_id: str,
        *,
        session_id: str,
        export_format: str,
        messages_exported: int,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "export_clicked",
            distinct_id,
            _props(
                session_id=session_id,
                export_format=export_format,
                messages_exported=messages_exported,
            ),
            **kw,
        )

    def track_share_clicked(self, distinct_id: str, *, session_id: str, share_method: str, **kw):
        return self.track(
            "share_clicked",
            distinct_id,
            _props(session_id=session_id, share_method=share_method),
            **kw,
        )

    def track_feature_used(self, distinct_id: str, feature: str, **kw: Any) -> str | None:
        return self.track("feature_used", distinct_id, _props(feature=feature), **kw)

    def track_subscription(
        self,
        distinct_id: str,
        *,
        plan: str,
        price_usd: float,
        billing_period: str,
        payment_method: str | None = None,
        days_since_signup: int | None = None,
        **kw: Any,
    ) -> str | None:
        """``subscription_started``."""
        return self.track(
            "subscription_started",
            distinct_id,
            _props(
                plan=plan,
                price_usd=float(price_usd),
                billing_period=billing_period,
                payment_method=payment_method,
                days_since_signup=days_since_signup,
            ),
            **kw,
        )

    def track_subscription_cancelled(
        self,
        distinct_id: str,
        *,
        plan: str,
        cancel_reason: str | None = None,
        days_subscribed: int | None = None,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "subscription_cancelled",
            distinct_id,
            _props(plan=plan, cancel_reason=cancel_reason, days_subscribed=days_subscribed),
            **kw,
        )

    def track_payment_failed(
        self,
        distinct_id: str,
        *,
        plan: str,
        amount_usd: float,
        reason: str | None = None,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "payment_failed",
            distinct_id,
            _props(plan=plan, amount_usd=float(amount_usd), reason=reason),
            **kw,
        )

    def track_referral_completed(
        self,
        distinct_id: str,
        *,
        referrer_user_id: str,
        referred_user_id: str,
        referral_code: str | None = None,
        **kw: Any,
    ) -> str | None:
        return self.track(
            "referral_completed",
            distinct_id,
            _props(
                referrer_user_id=referrer_user_id,
                referred_user_id=referred_user_id,
                referral_code=referral_code,
            ),
            **kw,
        )

    def track_error(
        self,
        distinct_id: str,
        *,
        error_type: str,
        session_id: str | None = None,
        query_category: str | None = None,
        error_message: str | None = None,
        **kw: Any,
    ) -> str | None:
        """``error_occurred``: ``error_type`` (the exception's class); a message, if given,
        is cut to 200 characters and scrubbed of e-mails and IPs (it must hold no user text)."""
        return self.track(
            "error_occurred",
            distinct_id,
            _props(
                error_type=error_type,
                session_id=session_id,
                query_category=query_category,
                error_message=None if error_message is None else str(error_message)[:200],
            ),
            **kw,
        )

    def track_slow_request(
        self, distinct_id: str, *, path: str, latency_ms: int, status_code: int, **kw: Any
    ) -> str | None:
        return self.track(
            "slow_request",
            distinct_id,
            _props(path=path, latency_ms=int(round(latency_ms)), status_code=int(status_code)),
            **kw,
        )

    def track_nps(self, distinct_id: str, score: int, **kw: Any) -> str | None:
        """``nps_submitted`` (0-10)."""
        return self.track("nps_submitted", distinct_id, _props(score=score), **kw)

    def track_feature_flag_called(
        self, distinct_id: str, flag: str, response: Any, **kw: Any
    ) -> str | None:
        return self.track(
            "$feature_flag_called",
            distinct_id,
            {"$feature_flag": flag, "$feature_flag_response": response},
            **kw,
        )

    def track_alias(self, distinct_id: str, alias: str, **kw: Any) -> str | None:
        """``$create_alias``: ``alias`` (another id of the same user) joins ``distinct_id``."""
        return self.track("$create_alias", distinct_id, {"alias": str(alias)}, **kw)

    def identify(
        self,
        distinct_id: str,
        *,
        anon_distinct_id: str | None = None,
        traits: dict[str, Any] | None = None,
        **kw: Any,
    ) -> str | None:
        """``$identify``: link an anonymous id to the user and set person properties
        (``$set``). E-mail, name and phone are never sent, even as person properties."""
        props: dict[str, Any] = {}
        if anon_distinct_id:
            props["$anon_distinct_id"] = str(anon_distinct_id)
        if traits:
            props["$set"] = dict(traits)
        return self.track("$identify", distinct_id, props, **kw)


def _props(**values: Any) -> dict[str, Any]:
    """Keyword arguments without the ones left as None."""
    return {k: v for k, v in values.items() if v is not None}
