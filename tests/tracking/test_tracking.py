"""zantara_nb.tracking: the plan, privacy, consent, never raising; the real SDK on /batch/."""

from __future__ import annotations

import gzip
import json
import threading
import time
from datetime import UTC, datetime

import pytest
from posthog_standin import StandIn

from zantara_nb import tracking
from zantara_nb.insights.classify import classify
from zantara_nb.tracking import Tracker, TrackingPlanError, check_event, scrub

#: The events of shared/TRACKING_PLAN.md, each with its own call.
PLAN_EVENTS = [
    "page_viewed",
    "user_signed_up",
    "user_logged_in",
    "user_logged_out",
    "conversation_started",
    "message_sent",
    "message_received",
    "feedback_given",
    "source_clicked",
    "voice_used",
    "export_clicked",
    "share_clicked",
    "feature_used",
    "subscription_started",
    "subscription_cancelled",
    "payment_failed",
    "referral_completed",
    "error_occurred",
    "slow_request",
    "nps_submitted",
    "$identify",
    "$create_alias",
    "$feature_flag_called",
    "$ai_generation",
]
QUERY = "Bagaimana cara memperpanjang KITAS saya? Email saya ana.putri@example.co.id"


class FakeClient:
    """Records capture() calls like the SDK's queue would take them."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail = fail
        self.before_send = None

    def capture(self, event, **kw):
        if self.fail:
            raise RuntimeError("queue exploded")
        self.calls.append((event, kw))
        return "uuid-1"

    def flush(self):
        pass

    def shutdown(self):
        pass


def tracker(**kw) -> tuple[Tracker, FakeClient]:
    c = FakeClient(fail=kw.pop("fail", False))
    kw.setdefault("consent", True)
    return Tracker(client=c, register_atexit=False, **kw), c


def test_message_sent_is_classified_and_never_carries_the_text():
    t, c = tracker()
    assert t.track_message_sent("u1", QUERY, session_id="s1", message_id="m1", conversation_turn=2)
    ((event, kw),) = c.calls
    assert event == "message_sent" and kw["distinct_id"] == "u1"
    q = classify(QUERY)
    assert kw["properties"] == {
        "session_id": "s1",
        "message_id": "m1",
        "conversation_turn": 2,
        **q.as_properties(),
    }
    assert kw["properties"]["query_category"] == "visa"
    assert "KITAS" not in json.dumps(kw) and "example.co.id" not in json.dumps(kw)


def test_every_plan_event_has_a_call_that_passes_strict_checks():
    t, c = tracker(strict=True)
    t.track_page_viewed("a1", "/pricing", referrer="https://google.com")
    t.track_signed_up("u1", "google", utm_source="google")
    t.track_logged_in("u1", "email", session_id="s")
    t.track_logged_out("u1", session_id="s")
    t.track_conversation_started("u1", session_id="s", is_new_user=True, previous_sessions=0)
    t.track_message_sent("u1", "What is the tax rate for a PT PMA?", session_id="s")
    t.track_reply(
        "u1",
        session_id="s",
        message_id="m",
        response_tokens=320,
        latency_ms=1850.4,
        cost_usd=0.0032,
        model="claude",
        sources_count=3,
    )
    t.track_llm_generation(
        "u1",
        model="claude",
        provider="anthropic",
        input_tokens=812,
        output_tokens=140,
        latency_s=1.84,
        cost_usd=0.0032,
        trace_id="t",
    )
    t.track_feedback("u1", message_id="m", rating=-1, feedback_text="it was wrong, call me")
    t.track_source_clicked("u1", message_id="m", document_id="d", source_position=2)
    t.track_voice_used("u1", session_id="s", language="id", duration_seconds=15)
    t.track_export_clicked("u1", session_id="s", export_format="pdf", messages_exported=10)
    t.track_share_clicked("u1", session_id="s", share_method="link")
    t.track_feature_used("u1", "voice")
    t.track_subscription(
        "u1",
        plan="pro",
        price_usd=29,
        billing_period="monthly",
        payment_method="stripe",
        days_since_signup=3,
    )
    t.track_subscription_cancelled(
        "u1", plan="pro", cancel_reason="too_expensive", days_subscribed=45
    )
    t.track_payment_failed("u1", plan="pro", amount_usd=29, reason="card_declined")
    t.track_referral_completed("u1", referrer_user_id="u1", referred_user_id="u9")
    t.track_error("u1", error_type="TimeoutError", session_id="s", query_category="tax")
    t.track_slow_request("u1", path="/api/chat", latency_ms=3500.7, status_code=200)
    t.track_nps("u1", 9)
    t.track_feature_flag_called("u1", "new-onboarding", "test")
    t.identify("u1", anon_distinct_id="a1", traits={"plan": "free", "country": "ID"})
    t.track_alias("u1", "legacy_42")
    from zantara_nb.warehouse import tracking_plan as tp

    sent = {e for e, _ in c.calls}
    assert sent == set(PLAN_EVENTS) and sent <= set(tp.EVENTS)
    by = {e: kw["properties"] for e, kw in c.calls}
    assert by["feedback_given"] == {"message_id": "m", "rating": -1, "has_text": True}
    assert by["message_received"]["response_latency_ms"] == 1850
    assert by["message_received"]["sources_shown"] is True
    assert by["$ai_generation"]["$ai_latency"] == 1.84
    assert by["$identify"] == {"$anon_distinct_id": "a1", "$set": {"plan": "free", "country": "ID"}}
    assert dict(t.counts) == {"captured": len(c.calls)}


def test_plan_violations_are_counted_not_sent_and_raise_in_strict_mode():
    t, c = tracker()
    assert t.track("message_sendt", "u1", {"session_id": "s"}) is None
    assert t.track_nps("u1", 11) is None
    assert t.track_feedback("u1", message_id="m", rating=5) is None
    assert t.track("feature_used", "u1", {"feature": 3}) is None
    assert t.track("feature_used", "u1", {"feature": "x", "featureName": "y"})  # sent, counted
    assert t.counts["unknown_event"] == 1 and t.counts["invalid_property"] == 3
    assert t.counts["unknown_property"] == 1 and t.counts["not_sent"] == 4
    assert [e for e, _ in c.calls] == ["feature_used"]
    strict, _ = tracker(strict=True)
    with pytest.raises(TrackingPlanError, match="unknown_event: message_sendt"):
        strict.track("message_sendt", "u1")
    with pytest.raises(TrackingPlanError, match=r"expected int, got bool"):
        strict.track("nps_submitted", "u1", {"score": True})
    with pytest.raises(TrackingPlanError, match="unknown_property"):
        strict.track("feature_used", "u1", {"feature": "x", "featureName": "y"})
    assert [v.kind for v in check_event("source_clicked", {"source_position": 1.5})] == [
        "invalid_property"
    ]


def test_privacy_before_anything_leaves():
    t, c = tracker()
    t.track(
        "error_occurred",
        "u1",
        {
            "error_type": "ValueError",
            "error_message": "user ana@example.com from 203.0.113.77 failed",
            "query": "my passport number is X123",
            "$ip": "203.0.113.77",
            "email": "ana@example.com",
            "name": "Ana",
        },
    )
    t.identify(
        "u1", traits={"email": "ana@example.com", "name": "Ana", "phone": "+62 812", "plan": "pro"}
    )
    t.track_page_viewed("a1", "/", ip="2001:db8:85a3:1234:5678::1")
    (_, e1), (_, e2), (_, e3) = c.calls
    assert e1["properties"] == {
        "error_type": "ValueError",
        "error_message": "user [email] from 203.0.113.0 failed",
        "$ip": "203.0.113.0",
    }
    assert e2["properties"] == {"$set": {"plan": "pro"}}
    assert e3["properties"]["$ip"] == "2001:db8:85a3::"
    assert t.counts["redacted"] >= 8
    # an e-mail used as distinct id is hashed (stable), never sent
    t.track_feature_used("Ana@Example.com", "x")
    t.track_feature_used("ana@example.com", "y")
    ids = {kw["distinct_id"] for _, kw in c.calls[3:]}
    assert len(ids) == 1 and "@" not in next(iter(ids))
    out, n = scrub({"nested": [{"prompt": "hi", "ok": 1}], "ip": "10.1.2.3"})
    assert out == {"nested": [{"ok": 1}], "ip": "10.1.2.0"} and n == 2


def test_consent_switch():
    t, c = tracker(consent=False)
    assert t.track_feature_used("u1", "x") is None
    assert t.counts["no_consent"] == 1 and not c.calls
    assert t.track_feature_used("u1", "x", consent=True)  # the call's consent wins
    allowed = {"u2"}
    t2, c2 = tracker(consent=lambda did: did in allowed)
    t2.track_feature_used("u1", "x")
    t2.track_feature_used("u2", "x")
    t2.track_feature_used("u2", "x", consent=False)  # withdrawn on this request
    assert [kw["distinct_id"] for _, kw in c2.calls] == ["u2"]
    default = Tracker(client=FakeClient(), register_atexit=False)  # no consent by default
    assert default.track_feature_used("u1", "x") is None


def test_never_raises_into_the_app():
    t, _ = tracker(fail=True)
    assert t.track_feature_used("u1", "x") is None
    assert t.track_message_sent("u1", None, session_id="s") is None  # type: ignore[arg-type]
    assert t.track("feature_used", None) is None  # type: ignore[arg-type]
    assert t.counts["errors"] == 2
    t.flush()
    t.shutdown()
    t.shutdown()
    off = Tracker(api_key=None, consent=True, register_atexit=False)  # no token: disabled
    assert off.client is None and off.track_feature_used("u1", "x") is None
    assert off.counts["disabled"] == 1


def test_module_level_calls_use_the_default_tracker():
    c = FakeClient()
    t = tracking.configure(client=c, consent=True, register_atexit=False)
    assert tracking.default_tracker() is t
    tracking.track_nps("u1", 10)
    assert c.calls[0][0] == "nps_submitted"
    tracking.configure(client=FakeClient(), register_atexit=False)


# --------------------------------------------------------------------------------------
# The real posthog SDK against a local /batch/ receiver
# --------------------------------------------------------------------------------------


def test_real_sdk_sends_gzip_batches_checked_field_by_field():
    with StandIn() as ph:
        t = Tracker(
            "phc_project_token", ph.url, consent=True, flush_interval=0.05, register_atexit=False
        )
        ts = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
        u1 = t.track_message_sent(
            "user_42", QUERY, session_id="s1", message_id="m1", timestamp=ts, ip="203.0.113.77"
        )
        u2 = t.track_llm_generation(
            "user_42",
            model="claude-3-5-sonnet",
            provider="anthropic",
            input_tokens=812,
            output_tokens=140,
            latency_s=1.84,
            cost_usd=0.0032,
            trace_id="trace-1",
            timestamp=ts,
        )
        u3 = t.identify(
            "user_42",
            anon_distinct_id="anon_7",
            traits={"email": "ana.putri@example.co.id", "plan": "free"},
        )
        t.track_reply(
            "user_42",
            session_id="s1",
            message_id="m1",
            response_tokens=320,
            latency_ms=1850,
            cost_usd=0.0032,
            model="claude-3-5-sonnet",
            sources_count=0,
        )
        t.track_feature_used("user_9", "x", consent=False)
        t.shutdown()  # flushes the queue
        assert ph.bodies, "nothing reached /batch/"
        assert all(h.get("Content-Encoding") == "gzip" for h in ph.capture_headers)
        events = [e for b in ph.bodies for e in json.loads(b)["batch"]]
        assert all(json.loads(b)["api_key"] == "phc_project_token" for b in ph.bodies)
        by = {e["event"]: e for e in events}
        assert set(by) == {"message_sent", "$ai_generation", "$identify", "message_received"}
        m = by["message_sent"]
        assert m["uuid"] == u1 and m["distinct_id"] == "user_42"
        assert datetime.fromisoformat(m["timestamp"]) == ts
        q = classify(QUERY)
        p = m["properties"]
        assert {k: p[k] for k in q.as_properties()} == q.as_properties()
        assert p["session_id"] == "s1" and p["message_id"] == "m1" and p["$ip"] == "203.0.113.0"
        assert p["$lib"] == "posthog-python" and p["$geoip_disable"] is True
        a = by["$ai_generation"]["properties"]
        assert by["$ai_generation"]["uuid"] == u2
        assert {k: a[k] for k in a if k.startswith("$ai_")} == {
            "$ai_model": "claude-3-5-sonnet",
            "$ai_provider": "anthropic",
            "$ai_input_tokens": 812,
            "$ai_output_tokens": 140,
            "$ai_latency": 1.84,
            "$ai_total_cost_usd": 0.0032,
            "$ai_is_error": False,
            "$ai_trace_id": "trace-1",
        }
        i = by["$identify"]
        assert i["uuid"] == u3 and i["properties"]["$anon_distinct_id"] == "anon_7"
        assert i["properties"]["$set"] == {"plan": "free"}
        r = by["message_received"]["properties"]
        assert r["response_latency_ms"] == 1850 and r["sources_shown"] is False
        raw = b"".join(ph.bodies)
        for secret in (b"KITAS", b"Bagaimana", b"example.co.id", b"203.0.113.77", b"user_9"):
            assert secret not in raw
        # and the stored wire bytes were really gzip
        assert all(gzip.compress(b)[:2] == b"\x1f\x8b" for b in ph.bodies)


def test_capture_does_not_block_on_a_slow_server():
    release = threading.Event()

    class Slow(StandIn):
        pass

    with Slow() as ph:
        original = ph.store.add

        def slow_add(*a, **k):
            release.wait(5)
            return original(*a, **k)

        ph.store.add = slow_add  # the receiver hangs until released
        t = Tracker(
            "phc_x", ph.url, consent=True, flush_at=1, flush_interval=0.01, register_atexit=False
        )
        t0 = time.perf_counter()
        for i in range(200):
            t.track_feature_used(f"u{i}", "x")
        spent = time.perf_counter() - t0
        release.set()
        t.shutdown()
        assert spent < 2.0, spent  # the calls only enqueue
        assert t.counts["captured"] == 200
