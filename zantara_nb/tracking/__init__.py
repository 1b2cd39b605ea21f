"""Tracking into PostHog from the ZANTARA backend, with the tracking plan enforced.

>>> from zantara_nb import tracking
>>> t = tracking.configure(api_key="phc_...", host="https://eu.i.posthog.com",
...                        consent=lambda user_id: consents.get(user_id))
>>> t.track_message_sent("user_42", "How do I extend my KITAS?", session_id="s1")
>>> t.track_llm_generation("user_42", model="claude-3-5-sonnet", provider="anthropic",
...                        input_tokens=812, output_tokens=140, latency_s=1.84,
...                        cost_usd=0.0032, trace_id="t-1")

One call per event of ``shared/TRACKING_PLAN.md`` (``track_message_sent``,
``track_reply``, ``track_feedback``, ``track_subscription``, ``identify``, ...), each
checked against the plan and stripped of what must never leave the process (raw query
and reply text, e-mails, names, full IPs) before it reaches the official ``posthog``
SDK's queue. Nothing is captured without consent. See :mod:`.tracker` and
``docs/posthog.md`` (with a FastAPI example).

The module-level functions use one default :class:`Tracker`, made by :func:`configure`
(or on first use from ``$POSTHOG_PROJECT_API_KEY``/``$POSTHOG_HOST``, disabled without
a token).

May import: ``zantara_nb.warehouse`` (the plan, privacy helpers), ``zantara_nb.insights``
(the query classifier) and the ``posthog`` SDK; nothing imports it.
"""

from __future__ import annotations

import threading
from typing import Any

from .plan import Violation, check_event
from .privacy import scrub
from .tracker import Tracker, TrackingPlanError

_default: Tracker | None = None
_lock = threading.Lock()


def configure(**kwargs: Any) -> Tracker:
    """Make (or replace) the default tracker; keywords as for :class:`Tracker`."""
    global _default
    with _lock:
        old, _default = _default, Tracker(**kwargs)
    if old is not None:
        old.shutdown()
    return _default


def default_tracker() -> Tracker:
    """The default tracker (made from the environment on first use)."""
    global _default
    with _lock:
        if _default is None:
            _default = Tracker()
        return _default


_CALLS = (
    "track",
    "track_page_viewed",
    "track_signed_up",
    "track_logged_in",
    "track_logged_out",
    "track_conversation_started",
    "track_message_sent",
    "track_reply",
    "track_llm_generation",
    "track_feedback",
    "track_source_clicked",
    "track_voice_used",
    "track_export_clicked",
    "track_share_clicked",
    "track_feature_used",
    "track_subscription",
    "track_subscription_cancelled",
    "track_payment_failed",
    "track_referral_completed",
    "track_error",
    "track_slow_request",
    "track_nps",
    "track_feature_flag_called",
    "track_alias",
    "identify",
    "flush",
    "shutdown",
)


def _delegate(name: str):
    def call(*args: Any, **kwargs: Any):
        return getattr(default_tracker(), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = getattr(Tracker, name).__doc__
    return call


for _name in _CALLS:
    globals()[_name] = _delegate(_name)

__all__ = [
    "Tracker",
    "TrackingPlanError",
    "Violation",
    "check_event",
    "configure",
    "default_tracker",
    "scrub",
    *_CALLS,
]
