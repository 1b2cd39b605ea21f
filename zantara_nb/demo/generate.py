"""Seeded generator of realistic ZANTARA events, with a planted ground truth.

>>> from zantara_nb.demo import DemoConfig, generate, GroundTruth
>>> cfg = DemoConfig(seed=7, start="2026-05-25", end="2026-11-23", out_dir="data/demo")
>>> result = generate(cfg)          # files, truth_path, events, persons, seconds
>>> truth = GroundTruth.load(result.truth_path)

What it writes
--------------
PostHog batch-export files, one per UTC month (``events_YYYY-MM.parquet``, or
``.jsonl`` / ``.jsonl.gz``), with the columns ``uuid`` (UUIDv7), ``event``,
``distinct_id``, ``person_id`` (null), ``properties`` (a JSON string in parquet, an
object in JSONL), ``timestamp`` (UTC) and ``set`` (the ``$set`` of the event, else
null); and ``truth.json`` (see :mod:`zantara_nb.demo.truth`).

Every event and property follows :data:`zantara_nb.warehouse.tracking_plan.EVENTS`.

The story
---------
Visitors land on the site anonymously (``page_viewed``); some sign up
(``$identify`` merging the anonymous id, then ``user_signed_up``), chat in sessions
(``conversation_started``, ``message_sent`` -> ``message_received`` or, for
``gpt-4o-mini``, a PostHog ``$ai_generation`` with ``$ai_latency`` in seconds; or
``error_occurred``), rate answers, click sources, use voice/export/share, subscribe,
cancel, fail payments, refer friends, answer NPS. Signups grow ~2x every 5 months,
weekends are quieter, activity follows local waking hours (country timezones), usage
is heavy tailed (a few power users send > 20 messages a week) and retention decays
(each person has a lognormal session rate, busier in the first weeks after signup,
higher for week-2 retained persons, over activity periods of exponential length).
Persons are ID-based expats and Indonesians (English or Indonesian; Indonesian
speakers ask mostly in ``id``), a few use a second device (a second anonymous id
identified later), a few clients send forbidden ids (``guest``, ``null``,
``undefined``, and ``$identify`` with ``$anon_distinct_id = "anonymous"``).
Users who signed up before ``start`` are simulated too (a warm-up of 240 days), so
the range opens with a realistic active base rather than an empty product; their
first session in the range re-identifies them (``$identify`` with person properties).
Every event lies in the range except the billing history: the ``subscription_started``
of each subscription that began in the warm-up and is still open at ``start`` (MRR is
built from all history, so without them it would open at 0); their renewals' failed
payments and cancellations follow in the range.

Size: the signup rate is calibrated (simulate generously, then thin persons at
random) so that the persons with a ``message_sent`` in the last 30 days of the
range number about ``monthly_active_users``; 10,000 over six months gives about
1.2 M events.

Planted truth (``Planted``), constructed so METRICS.md measures it exactly:

- *activation*: each signup is activated with probability ``p_activation``; an
  activated person's first session starts 20 s to 20 h after signup and its first
  message gets a ``message_received``; a non-activated person has no session in
  the 24 h after signup except, for some, a failed one (``message_sent`` answered only
  by ``error_occurred``), so never a sent+received pair within 24 h.
- *week-2 retention*: drawn per signup, conditionally on activation; a retained
  person has a session starting in ``[t0 + 7 d, t0 + 14 d - 3 h)`` (added when the
  natural ones miss it); a non-retained person has no session starting in
  ``[t0 + 7 d - 3 h, t0 + 14 d)`` (sessions last < 2 h), so no ``message_sent`` there.
- *paid conversion*: drawn per signup, conditionally on activation; converters start a
  subscription 1 h to 29.5 d after signup, other later converters only after 31 d.
- *satisfaction*: a rating on a reply to a message of category c is +1 with
  probability ``satisfaction[c]`` (+ a complexity offset that averages to zero).
- *incidents* (``incidents=True``): a latency regression day (every reply 4.5x
  slower), an error-burst hour (160+ ``error_occurred``) and a query-category spike day
  (that category ~4x its usual count); none of them when ``incidents=False``.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa

from ..warehouse.dialects import DuckDBDialect
from .truth import (
    CATEGORIES,
    CATEGORY_SHARE,
    COMPLEXITIES,
    COMPLEXITY_SHARE,
    GroundTruth,
    Planted,
)

__all__ = [
    "DemoConfig",
    "DemoResult",
    "GroundTruth",
    "Planted",
    "generate",
    "load_demo",
    "FORMATS",
]

FORMATS = ("parquet", "jsonl", "jsonl.gz")
REPORT_TZ = "Asia/Jakarta"
DAY = 86400.0
HOUR = 3600.0
MINUTE = 60.0
#: days simulated before ``start`` so the range opens with an existing active base
WARMUP_DAYS = 240
#: signups double about every 150 days
GROWTH_PER_DAY = math.log(2) / 150
#: a session lasts less than this (25 turns at most, each < 4 min)
MAX_SESSION = 2 * HOUR
MAX_TURNS = 25

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

#: local-hour weights (0..23): asleep at night, peaks late morning and evening
DIURNAL = np.array(
    [0.25, 0.12, 0.06, 0.04, 0.05, 0.15, 0.45, 0.85, 1.2, 1.45, 1.55, 1.5,
     1.3, 1.35, 1.45, 1.4, 1.3, 1.2, 1.15, 1.35, 1.5, 1.35, 0.95, 0.5]
)  # fmt: skip
DIURNAL = DIURNAL / DIURNAL.sum()
#: Monday..Sunday activity factors (weekends quieter)
WEEKDAY = np.array([1.0, 1.04, 1.02, 1.0, 0.93, 0.66, 0.62])
WEEKDAY_SIGNUP = np.array([1.0, 1.03, 1.02, 0.99, 0.94, 0.72, 0.70])

COUNTRIES = ("ID", "AU", "US", "SG", "NL", "GB", "DE", "MY")
COUNTRY_SHARE = (0.64, 0.11, 0.06, 0.05, 0.04, 0.04, 0.03, 0.03)
TIMEZONES = (
    "Asia/Jakarta",
    "Asia/Makassar",
    "Australia/Sydney",
    "Australia/Perth",
    "America/Los_Angeles",
    "America/New_York",
    "Asia/Singapore",
    "Europe/Amsterdam",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kuala_Lumpur",
)
#: per country: (timezone index, weight) and P(language = id)
COUNTRY_TZ = {
    "ID": ((0, 0.5), (1, 0.5)),
    "AU": ((2, 0.75), (3, 0.25)),
    "US": ((4, 0.5), (5, 0.5)),
    "SG": ((6, 1.0),),
    "NL": ((7, 1.0),),
    "GB": ((8, 1.0),),
    "DE": ((9, 1.0),),
    "MY": ((10, 1.0),),
}
P_INDONESIAN = {"ID": 0.6, "MY": 0.3}
LANGUAGES = ("en", "id")
USER_TYPES = ("individual", "business", "enterprise")
USER_TYPE_SHARE = (0.70, 0.25, 0.05)
SIGNUP_METHODS = ("email", "google", "github")
SIGNUP_METHOD_SHARE = (0.55, 0.40, 0.05)
#: acquisition channels: (utm_source, utm_medium, referrer), share
CHANNELS = (
    (("google", "organic", "https://www.google.com/"), 0.38),
    (("direct", "none", "$direct"), 0.18),
    (("instagram", "social", "https://www.instagram.com/"), 0.12),
    (("facebook", "social", "https://www.facebook.com/"), 0.06),
    (("google", "cpc", "https://www.google.com/"), 0.10),
    (("newsletter", "email", "$direct"), 0.04),
    (("referral", "referral", "https://zantara.example/invite"), 0.08),
    (("chatgpt", "referral", "https://chatgpt.com/"), 0.04),
)
REFERRAL_CHANNEL = 6
#: devices: ($device_type, $os, $browser, user agent), share
DEVICES = (
    (("Desktop", "Windows", "Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"), 0.22),
    (("Desktop", "Mac OS X", "Chrome", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"), 0.12),
    (("Desktop", "Mac OS X", "Safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15"), 0.08),
    (("Mobile", "iOS", "Mobile Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"), 0.28),
    (("Mobile", "Android", "Chrome", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36"), 0.26),
    (("Desktop", "Windows", "Edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 Edg/130.0"), 0.04),
)  # fmt: skip
LANDING_PATHS = (
    ("/", 0.30),
    ("/pricing", 0.10),
    ("/visa/b211a", 0.12),
    ("/visa/kitas", 0.10),
    ("/business/pt-pma", 0.09),
    ("/tax/npwp", 0.07),
    ("/property/leasehold", 0.07),
    ("/blog/bali-visa-guide-2026", 0.10),
    ("/about", 0.05),
)
INTENTS = ("information", "action", "comparison", "troubleshooting")
INTENT_SHARE = (0.55, 0.20, 0.12, 0.13)
#: models: id -> provider, $/1M input and output tokens, median latency (ms) by
#: complexity, how the reply is tracked. gpt-4o-mini replies come through the
#: PostHog LLM-analytics wrapper only: a ``$ai_generation`` (latency in seconds)
#: instead of a ``message_received``.
MODELS = {
    "claude-3-5-sonnet-20241022": {
        "provider": "anthropic",
        "input_usd_per_mtok": 3.0,
        "output_usd_per_mtok": 15.0,
        "median_latency_ms": (950, 1300, 1850),
        "tracked_as": "message_received",
    },
    "claude-3-5-haiku-20241022": {
        "provider": "anthropic",
        "input_usd_per_mtok": 0.8,
        "output_usd_per_mtok": 4.0,
        "median_latency_ms": (420, 620, 900),
        "tracked_as": "message_received",
    },
    "gpt-4o-mini": {
        "provider": "openai",
        "input_usd_per_mtok": 0.15,
        "output_usd_per_mtok": 0.6,
        "median_latency_ms": (540, 760, 1050),
        "tracked_as": "$ai_generation",
    },
}
MODEL_NAMES = tuple(MODELS)
AI_GENERATION_MODEL = 2
#: routing share of (sonnet, haiku, mini) by complexity
MODEL_ROUTING = ((0.25, 0.55, 0.20), (0.50, 0.35, 0.15), (0.80, 0.15, 0.05))
LATENCY_SIGMA = 0.36
TOKENS_MEDIAN = (160, 380, 800)
QUERY_LENGTH_MEDIAN = (45, 120, 300)
FEATURE_FLAG = "rag-v2-retrieval"
FLAG_VARIANTS = ("control", "test")
FEATURES = (
    "document_upload",
    "language_switch",
    "history_search",
    "saved_answers",
    "cost_calculator",
    "dark_mode",
    "pricing_page",
)
DOCUMENTS = {
    "visa": ("B211A Visa Requirements", "KITAS Application Guide", "Visa on Arrival Extension",
             "Second Home Visa", "Golden Visa Indonesia", "Digital Nomad Visa (E33G)"),
    "business": ("PT PMA Setup Guide", "OSS RBA Business Licensing", "KBLI Code Lookup",
                 "Minimum Capital for PT PMA", "Representative Office (KPPA)",
                 "Company Annual Reporting"),
    "tax": ("NPWP Registration", "PPh 21 Income Tax Rates", "PPN (VAT) Basics",
            "Tax Residency Rules", "Annual Tax Return (SPT)", "Tax Treaty Benefits"),
    "property": ("Leasehold vs Freehold", "Hak Pakai for Foreigners", "Villa Rental Licensing",
                 "Property Due Diligence Checklist", "PBG Building Permit",
                 "Land Certificate Types"),
    "legal": ("Notary Services Overview", "Contract Law Basics", "Nominee Agreement Risks",
              "Marriage and Property Law", "Dispute Resolution Options", "Power of Attorney"),
    "finance": ("Opening a Bank Account as a Foreigner", "International Money Transfers",
                "Local Payment Methods", "Currency Regulations", "Credit Cards for Expats",
                "Crypto Rules in Indonesia"),
    "work_permit": ("RPTKA Approval", "IMTA Work Permit", "Employing Foreign Workers",
                    "DKPTKA Fee", "Work Permit Renewal", "Sponsor Requirements"),
    "general": ("Living in Bali FAQ", "Healthcare in Indonesia", "Driving License Conversion",
                "Public Holidays 2026", "Cost of Living Guide", "ZANTARA Help Center"),
}  # fmt: skip
ERRORS = (
    ("llm_timeout", "LLM provider timed out after 30 s", 0.45),
    ("rate_limited", "Rate limit exceeded, request retried", 0.20),
    ("retrieval_failed", "Document retrieval failed", 0.20),
    ("internal_error", "Internal server error", 0.15),
)
BURST_ERROR = ("upstream_unavailable", "LLM provider returned HTTP 503")
PLANS = {"pro": (29.0, 290.0), "enterprise": (199.0, 1990.0)}
#: share of subscriptions billed yearly; chance a subscription ends at each renewal (a
#: monthly plan renews every 30 days, a yearly one every 365); share of enterprise plans
#: by user type (individual, business, enterprise)
YEARLY_SHARE = 0.2
CANCEL_PER_RENEWAL = {"monthly": 0.09, "yearly": 0.3}
RENEWAL_DAYS = {"monthly": 30, "yearly": 365}
ENTERPRISE_SHARE = (0.05, 0.2, 0.6)
PAYMENT_METHODS = (("card", 0.65), ("bank_transfer", 0.20), ("paypal", 0.10), ("gopay", 0.05))
CANCEL_REASONS = (
    ("too_expensive", 0.35),
    ("not_using", 0.30),
    ("found_alternative", 0.15),
    ("missing_features", 0.10),
    ("other", 0.10),
)
PAYMENT_FAILURES = (("card_declined", 0.5), ("insufficient_funds", 0.3), ("expired_card", 0.2))
LOGIN_METHODS = ("email", "google", "github", "magic_link")
EXPORT_FORMATS = (("pdf", 0.60), ("txt", 0.15), ("markdown", 0.25))
SHARE_METHODS = (("link", 0.70), ("email", 0.10), ("social", 0.20))
FORBIDDEN_DISTINCT_IDS = ("guest", "null", "undefined")
BUGGY_ANON_ID = "anonymous"
SPIKE_CATEGORIES = ("tax", "legal", "property", "work_permit")
LATENCY_REGRESSION_FACTOR = 4.5
SLOW_REQUEST_MS = 5000
SPIKE_MULTIPLIER = 4.0

# engagement model (sessions per day while active, lognormal)
ENGAGEMENT_MEDIAN = 0.02
ENGAGEMENT_SIGMA = 1.2
#: session-rate multiplier right after signup, decaying to NOVELTY_FLOOR (days: NOVELTY_DAYS)
NOVELTY_PEAK = 2.6
W2_RATE_FACTOR = 2.0
NOT_W2_RATE_FACTOR = 0.7
#: retained persons come at least about once a week (sessions per day)
W2_RATE_FLOOR = 0.08
NOVELTY_FLOOR = 0.8
NOVELTY_DAYS = 12.0
#: signups per day at ``end`` per target MAU (first guess, corrected by thinning)
SIGNUPS_PER_MAU = 0.025
VISITORS_PER_SIGNUP = 1.2


# --------------------------------------------------------------------------------------
# Config and result
# --------------------------------------------------------------------------------------


def _as_date(value: str | date | datetime) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass
class DemoConfig:
    """What to generate. Dates are local days in Asia/Jakarta; the range is ``[start, end)``.

    ``end`` defaults to today (UTC) and ``start`` to ``end - 182 days``.
    ``monthly_active_users`` is the target number of persons with a ``message_sent``
    in the last 30 days of the range.
    """

    seed: int = 7
    start: str | date | None = None
    end: str | date | None = None
    monthly_active_users: int = 10_000
    incidents: bool = True
    out_dir: str | Path = "data/demo"
    format: str = "parquet"
    planted: Planted = field(default_factory=Planted)

    def dates(self) -> tuple[date, date]:
        """The resolved ``(start, end)`` local dates."""
        end = _as_date(self.end) if self.end else datetime.now(UTC).date()
        start = _as_date(self.start) if self.start else end - timedelta(days=182)
        if start >= end:
            raise ValueError(f"demo range is empty: start {start} >= end {end}")
        return start, end

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.monthly_active_users < 1:
            raise ValueError("monthly_active_users must be at least 1")
        self.dates()
        self.planted.validate()


@dataclass
class DemoResult:
    files: list[Path]
    truth_path: Path
    events: int
    persons: int
    seconds: float


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


class _Streams:
    """Independent named random streams derived from one seed (stable across edits)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def __call__(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])


def _choice(rng: np.random.Generator, weights, size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=size, p=w / w.sum()).astype(np.int32)


def _seg_starts(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts), dtype=np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=out[1:])
    return out


def _rank_within(counts: np.ndarray) -> np.ndarray:
    """0..n-1 inside each segment of the given lengths."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_seg_starts(counts), counts)


def _novelty(dt: np.ndarray) -> np.ndarray:
    """Session-rate multiplier ``dt`` seconds after signup."""
    return NOVELTY_FLOOR + (NOVELTY_PEAK - NOVELTY_FLOOR) * np.exp(-dt / (NOVELTY_DAYS * DAY))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Cat:
    """A string property given as codes into a tuple of values."""

    __slots__ = ("values", "codes")

    def __init__(self, values, codes) -> None:
        self.values = values if isinstance(values, pa.Array) else tuple(values)
        self.codes = np.asarray(codes)


class _Fmt:
    """A string property formatted in SQL with ``printf(fmt, uint64)``."""

    __slots__ = ("fmt", "values")

    def __init__(self, fmt: str, values) -> None:
        self.fmt = fmt
        self.values = np.asarray(values, dtype=np.uint64)


class _Const:
    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value


def _sql_literal(value) -> str:
    """The dialect's literal of a constant column value (the demo writes with DuckDB)."""
    return DuckDBDialect().quote(value)


class _Sink:
    """Collects event blocks (numpy columns); DuckDB renders each block's properties JSON."""

    def __init__(self, con: duckdb.DuckDBPyConnection, lo_us: int, hi_us: int, rng) -> None:
        self.con = con
        self.lo_us = lo_us
        self.hi_us = hi_us
        self.rng = rng
        self.blocks: list[dict[str, Any]] = []
        self.n = 0

    def _column(self, val, idx: np.ndarray):
        if isinstance(val, _Cat):
            values = val.values
            if not isinstance(values, pa.Array):
                values = pa.array(values, pa.string())
            return values.take(pa.array(val.codes[idx]))
        if isinstance(val, _Fmt):
            return val.values[idx]
        if isinstance(val, pa.Array):
            return val.take(pa.array(idx))
        if isinstance(val, list):
            return pa.array([val[i] for i in idx.tolist()], pa.string())
        return np.asarray(val)[idx]

    def _struct(self, props: dict[str, Any], cols: dict, idx: np.ndarray) -> str:
        parts = []
        for key, val in props.items():
            if isinstance(val, _Const):
                expr = _sql_literal(val.value)
            else:
                name = f"c{len(cols)}"
                cols[name] = self._column(val, idx)
                expr = f"printf('{val.fmt}', {name})" if isinstance(val, _Fmt) else name
            parts.append(f'"{key}" := {expr}')
        return "struct_pack(" + ", ".join(parts) + ")"

    def add(
        self,
        event: str,
        ts: np.ndarray,
        did: np.ndarray,
        props: dict[str, Any],
        set_props: dict[str, Any] | None = None,
        keep: dict[str, np.ndarray] | None = None,
        history: bool = False,
    ) -> int:
        """Add one block of ``event``; rows outside [lo, hi) are dropped (with ``history``,
        only rows at or after hi). Returns rows kept.

        Rows are kept in time order so that merging the blocks reads each sequentially.
        """
        ts_us = np.round(np.asarray(ts, dtype=np.float64) * 1e6).astype(np.int64)
        lo = np.iinfo(np.int64).min if history else self.lo_us
        idx = np.flatnonzero((ts_us >= lo) & (ts_us < self.hi_us))
        idx = idx[np.argsort(ts_us[idx], kind="stable")]
        n = len(idx)
        if n == 0:
            return 0
        ts_us = ts_us[idx]
        r = self.rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
        cols: dict[str, Any] = {"ts_us": ts_us, "r": r}
        struct = self._struct(props, cols, idx)
        set_sql = "NULL::VARCHAR"
        if set_props:
            set_struct = self._struct(set_props, cols, idx)
            struct = struct[:-1] + f', "$set" := {set_struct})'
            set_sql = f"to_json({set_struct})::VARCHAR"
        self.con.register("block", pa.table(cols))
        table = self.con.sql(
            f"""
            SELECT printf('%08x-%04x-7%03x-%04x-%012x',
                          (ts_us // 1000) >> 16, (ts_us // 1000) & 65535,
                          (r >> 52) & 4095, 32768 | ((r >> 38) & 16383),
                          r & 281474976710655) AS uuid,
                   to_json({struct})::VARCHAR AS properties,
                   {set_sql} AS set
            FROM block
            """
        ).to_arrow_table()
        self.con.unregister("block")
        self.blocks.append(
            {
                "event": event,
                "ts_us": ts_us,
                "r": r,
                "did": np.asarray(did, dtype=np.int64)[idx],
                "table": table,
                **{k: np.asarray(v)[idx] for k, v in (keep or {}).items()},
            }
        )
        self.n += n
        return n

    def ts_of(self, event: str) -> np.ndarray:
        parts = [b["ts_us"] for b in self.blocks if b["event"] == event]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def did_of(self, event: str) -> np.ndarray:
        parts = [b["did"] for b in self.blocks if b["event"] == event]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


# --------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------


class _Generator:
    def __init__(self, cfg: DemoConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.planted = cfg.planted
        self.streams = _Streams(cfg.seed)
        self.start_date, self.end_date = cfg.dates()
        self.sim0 = self.start_date - timedelta(days=WARMUP_DAYS)
        self.n_days = (self.end_date - self.sim0).days
        self.range_days = (self.end_date - self.start_date).days
        self.base = float((self.sim0 - date(1970, 1, 1)).days * DAY)
        self.start_ts = self.base + WARMUP_DAYS * DAY - 7 * HOUR
        self.end_ts = self.base + self.n_days * DAY - 7 * HOUR
        self._tz_table()

    # -- time ---------------------------------------------------------------------------

    def _tz_table(self) -> None:
        """UTC offsets (s) of every timezone on every local day of the simulation."""
        self.day_lo = -3
        n = self.n_days + 3 + 60  # forced week-2 sessions may fall after ``end``
        off = np.zeros((len(TIMEZONES), n))
        for i, name in enumerate(TIMEZONES):
            zone = ZoneInfo(name)
            for j in range(n):
                d = self.sim0 + timedelta(days=j + self.day_lo)
                noon = datetime(d.year, d.month, d.day, 12, tzinfo=zone)
                off[i, j] = noon.utcoffset().total_seconds()
        self.off = off
        self.sim0_dow = self.sim0.weekday()

    def local_day(self, u: np.ndarray, tz: np.ndarray) -> np.ndarray:
        """Local day index (0 = sim0) of UTC instants ``u`` in timezones ``tz``."""
        hi = self.off.shape[1] - 1 + self.day_lo
        d0 = np.clip(np.floor((u - self.base + 7 * HOUR) / DAY), self.day_lo, hi).astype(np.int64)
        off = self.off[tz, d0 - self.day_lo]
        return np.clip(np.floor((u - self.base + off) / DAY), self.day_lo, hi).astype(np.int64)

    def local_midnight(self, day: np.ndarray, tz: np.ndarray) -> np.ndarray:
        col = np.clip(day - self.day_lo, 0, self.off.shape[1] - 1)
        return self.base + day * DAY - self.off[tz, col]

    def jakarta_day(self, u: np.ndarray) -> np.ndarray:
        return np.floor((u - self.base + 7 * HOUR) / DAY).astype(np.int64)

    def hours(self, rng, n: int) -> np.ndarray:
        return rng.choice(24, size=n, p=DIURNAL) + rng.random(n)

    # -- persons ------------------------------------------------------------------------

    def persons(self, lam_end: float) -> dict[str, np.ndarray]:
        rng = self.streams("persons")
        p = self.planted
        d = np.arange(self.n_days)
        dow = (self.sim0_dow + d) % 7
        lam = lam_end * np.exp(GROWTH_PER_DAY * (d - (self.n_days - 1))) * WEEKDAY_SIGNUP[dow]
        day = np.repeat(d, rng.poisson(lam))
        n = len(day)
        country = _choice(rng, COUNTRY_SHARE, n)
        tz = np.zeros(n, dtype=np.int64)
        lang = np.zeros(n, dtype=np.int32)
        u = rng.random(n)
        u2 = rng.random(n)
        for ci, code in enumerate(COUNTRIES):
            m = country == ci
            choices = COUNTRY_TZ[code]
            tzs = np.array([c[0] for c in choices])
            w = np.cumsum([c[1] for c in choices])
            tz[m] = tzs[np.minimum(np.searchsorted(w / w[-1], u[m], side="right"), len(tzs) - 1)]
            lang[m] = (u2[m] < P_INDONESIAN.get(code, 0.0)).astype(np.int32)
        t0 = self.local_midnight(day, tz) + self.hours(rng, n) * HOUR
        act = rng.random(n) < p.p_activation
        w2 = rng.random(n) < np.where(act, p.p_week2_given_activated, p.p_week2_given_not_activated)
        paid = rng.random(n) < np.where(act, p.p_paid_given_activated, p.p_paid_given_not_activated)
        rate = np.exp(rng.normal(math.log(ENGAGEMENT_MEDIAN), ENGAGEMENT_SIGMA, n))
        # engaged people retain: week-2 retained persons use the product more often
        rate = rate * np.where(w2, W2_RATE_FACTOR, NOT_W2_RATE_FACTOR)
        rate = np.clip(np.where(w2, np.maximum(rate, W2_RATE_FLOOR), rate), 0.01, 2.5)
        mu = np.exp(rng.normal(math.log(2.3), 0.3, n) + 0.15 * np.log(rate / ENGAGEMENT_MEDIAN))
        return {
            "t0": t0,
            "country": country,
            "tz": tz,
            "lang": lang,
            "user_type": _choice(rng, USER_TYPE_SHARE, n),
            "signup_method": _choice(rng, SIGNUP_METHOD_SHARE, n),
            "channel": _choice(rng, [c[1] for c in CHANNELS], n),
            "device1": _choice(rng, [c[1] for c in DEVICES], n),
            "device2": _choice(rng, [c[1] for c in DEVICES], n),
            "act": act,
            "w2": w2,
            "paid": paid,
            "rate": rate,
            "mu": np.clip(mu, 1.2, 9.0),
            "fav": _choice(rng, CATEGORY_SHARE, n),
            "variant": (rng.random(n) < 0.5).astype(np.int32),
            "late_conv": rng.random(n) < 0.04,
            "two_devices": rng.random(n) < 0.15,
            "key": rng.integers(0, 2**48, size=n),
        }

    # -- sessions -----------------------------------------------------------------------

    def _natural(self, rng, person, a, b, rate, t0, tz) -> tuple[np.ndarray, np.ndarray]:
        """Sessions in [a, b) per period, re-timed to local waking hours.

        The intensity is ``rate * novelty(t - t0)`` (busier in the first weeks after
        signup, decaying to a plateau) times the weekday factor; drawn as a Poisson
        process at the period's maximum intensity, then thinned.
        """
        length = np.clip(b - a, 0, None)
        peak = rate * _novelty(np.maximum(a - t0, 0))
        acc = WEEKDAY.mean() / WEEKDAY.max()
        n = rng.poisson(peak * length / DAY / acc)
        idx = np.repeat(np.arange(len(a)), n)
        u = a[idx] + rng.random(len(idx)) * length[idx]
        keep = rng.random(len(idx)) * peak[idx] < rate[idx] * _novelty(u - t0[idx])
        idx, u = idx[keep], u[keep]
        ptz = tz[person[idx]]
        day = self.local_day(u, ptz)
        keep = rng.random(len(idx)) < WEEKDAY[(self.sim0_dow + day) % 7] / WEEKDAY.max()
        idx, day, ptz = idx[keep], day[keep], ptz[keep]
        midnight = self.local_midnight(day, ptz)
        s = midnight + self.hours(rng, len(idx)) * HOUR
        # a period's first and last days are partial: redraw the hour of sessions that
        # fell outside, so the edges keep their share (else activity dips at the edges)
        for _ in range(12):
            out = np.flatnonzero((s < a[idx]) | (s >= b[idx]))
            if len(out) == 0:
                break
            s[out] = midnight[out] + self.hours(rng, len(out)) * HOUR
        out = (s < a[idx]) | (s >= b[idx])
        s[out] = u[keep][out]
        return person[idx], s

    def sessions(self, P: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rng = self.streams("sessions")
        n = len(P["t0"])
        t0, act, w2, rate = P["t0"], P["act"], P["w2"], P["rate"]
        horizon = self.end_ts + HOUR
        # early period: from 24 h after signup (day one is handled by forced sessions)
        # (retained persons: at least through week 2, then some stop, most go on)
        early_len = np.where(
            w2,
            14 * DAY + rng.exponential(7 * DAY, n),
            np.where(
                act,
                rng.exponential(5 * DAY, n),
                rng.exponential(2 * DAY, n) * (rng.random(n) < 0.25),
            ),
        )
        early_rate = rate * np.where(act, 1.0, 0.5)
        p_late = np.where(w2, np.where(act, 0.9, 0.5), np.where(act, 0.5, 0.08))
        has_late = rng.random(n) < p_late
        late_a = np.where(w2, t0 + early_len, t0 + 14 * DAY + rng.exponential(20 * DAY, n))
        late_len = rng.exponential(np.where(w2, 300 * DAY, 150 * DAY))
        persons = np.arange(n)
        pa_ = np.concatenate([persons, persons[has_late]])
        a = np.concatenate([t0 + DAY + MINUTE, late_a[has_late]])
        b = np.concatenate([t0 + early_len, (late_a + late_len)[has_late]])
        r = np.concatenate([early_rate, rate[has_late] * np.where(act, 1.0, 0.5)[has_late]])
        b = np.minimum(b, horizon)
        live = b > a
        sp, ss = self._natural(rng, pa_[live], a[live], b[live], r[live], t0[pa_[live]], P["tz"])
        # drop natural sessions starting within MAX_SESSION of the previous one
        order = np.lexsort((ss, sp))
        sp, ss = sp[order], ss[order]
        close = np.zeros(len(sp), dtype=bool)
        close[1:] = (sp[1:] == sp[:-1]) & (ss[1:] - ss[:-1] < MAX_SESSION)
        sp, ss = sp[~close], ss[~close]
        kind = np.zeros(len(sp), dtype=np.int8)  # 0 natural
        # activation: first session 20 s .. 20 h after signup
        ia = persons[act]
        quick = rng.random(len(ia)) < 0.75
        delay = np.where(
            quick,
            rng.uniform(20, 10 * MINUTE, len(ia)),
            np.clip(rng.exponential(3 * HOUR, len(ia)), 10 * MINUTE, 20 * HOUR),
        )
        # failed first try: message_sent answered by error_occurred only (not activated)
        ifail = persons[~act & (rng.random(n) < 0.15)]
        fdelay = rng.uniform(2 * MINUTE, 20 * HOUR, len(ifail))
        sp = np.concatenate([sp, ia, ifail])
        ss = np.concatenate([ss, t0[ia] + delay, t0[ifail] + fdelay])
        kind = np.concatenate([kind, np.full(len(ia), 1, np.int8), np.full(len(ifail), 2, np.int8)])
        # week 2: retained persons need a session starting in [t0+7d, t0+14d-MAX_SESSION-1h)
        rel = ss - t0[sp]
        w2_lo, w2_hi = 7 * DAY, 14 * DAY - MAX_SESSION - HOUR
        has_w2 = np.zeros(n, dtype=bool)
        has_w2[sp[(rel >= w2_lo) & (rel < w2_hi)]] = True
        iw = persons[w2 & ~has_w2]
        k = rng.integers(0, 6, len(iw))
        tzw = P["tz"][iw]
        day = self.local_day(t0[iw] + w2_lo + k * DAY, tzw) + 1
        sw = self.local_midnight(day, tzw) + self.hours(rng, len(iw)) * HOUR
        sw = np.where(sw - t0[iw] >= w2_hi, sw - DAY, sw)
        sw = np.clip(sw, t0[iw] + w2_lo, t0[iw] + w2_hi - MINUTE)
        sp = np.concatenate([sp, iw])
        ss = np.concatenate([ss, sw])
        kind = np.concatenate([kind, np.full(len(iw), 3, np.int8)])
        # not retained: no session may start in [t0+7d-MAX_SESSION-1h, t0+14d)
        rel = ss - t0[sp]
        banned = ~w2[sp] & (rel >= w2_lo - MAX_SESSION - HOUR) & (rel < 14 * DAY)
        keep = ~banned & (ss < self.end_ts)
        sp, ss, kind = sp[keep], ss[keep], kind[keep]
        order = np.lexsort((ss, sp))
        sp, ss, kind = sp[order], ss[order], kind[order]
        counts = np.bincount(sp, minlength=n)
        return {"person": sp, "start": ss, "kind": kind, "index": _rank_within(counts)}

    # -- calibration --------------------------------------------------------------------

    def population(self) -> tuple[dict, dict, dict[str, Any]]:
        """Persons and sessions thinned so that MAU over the last 30 days ~ the target."""
        target = self.cfg.monthly_active_users
        lam = SIGNUPS_PER_MAU * target * 1.25
        for _attempt in range(4):
            P = self.persons(lam)
            S = self.sessions(P)
            in_window = S["start"] >= self.end_ts - 30 * DAY
            mau0 = len(np.unique(S["person"][in_window]))
            if mau0 >= target:
                break
            lam *= 1.3 * target / max(mau0, 1)
        q = min(1.0, target / max(mau0, 1))
        keep = self.streams("thinning").random(len(P["t0"])) < q
        new_index = np.cumsum(keep) - 1
        P = {k: v[keep] for k, v in P.items()}
        sk = keep[S["person"]]
        S = {k: v[sk] for k, v in S.items()}
        S["person"] = new_index[S["person"]]
        return P, S, {"signups_per_day_at_end": lam * q, "thinning": q}

    # -- run ----------------------------------------------------------------------------

    def run(self) -> DemoResult:
        t_begin = time.perf_counter()
        cfg = self.cfg
        P, S, calib = self.population()
        self.P, self.S = P, S
        self.n_persons = len(P["t0"])
        self.lam_end = calib["signups_per_day_at_end"]
        out_dir = Path(cfg.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        self.con = con
        lo_us = int(round(self.start_ts * 1e6))
        hi_us = int(round(self.end_ts * 1e6))
        self.sink = _Sink(con, lo_us, hi_us, self.streams("event-ids"))
        self._incident_plan()
        self._plan_subscriptions()
        self._distinct_ids()
        self._signups()
        self._visitors()
        self._session_events()
        self._subscriptions()
        self._finish_table()
        files = self._write(out_dir)
        truth = self._truth(files, calib)
        seconds = time.perf_counter() - t_begin
        truth_path = truth.save(out_dir / "truth.json")
        result = DemoResult(
            files=files,
            truth_path=truth_path,
            events=int(truth.events["total"]),
            persons=int(truth.persons["total"]),
            seconds=seconds,
        )
        con.close()
        return result

    # -- incidents ----------------------------------------------------------------------

    def _incident_plan(self) -> None:
        rng = self.streams("incidents")
        n = self.range_days
        first = min(35, n // 2)
        days = [
            d
            for d in range(first, max(first + 1, n - 2))
            if (self.start_date + timedelta(days=d)).weekday() < 5
        ]
        if len(days) < 3:
            days = list(range(max(0, n - 3), n)) or [0]
            days = (days * 3)[:3]
        chosen = rng.choice(len(days), size=3, replace=len(days) < 3)
        lat_d, err_d, spike_d = (WARMUP_DAYS + days[i] for i in chosen)
        self.incidents_on = bool(self.cfg.incidents)
        self.latency_day = int(lat_d)
        self.error_day = int(err_d)
        self.error_hour = int(rng.integers(10, 16))
        self.spike_day = int(spike_d)
        self.spike_category = int(
            CATEGORIES.index(SPIKE_CATEGORIES[rng.integers(len(SPIKE_CATEGORIES))])
        )
        self.burst_errors = int(160 + rng.poisson(60))

    def _date_of(self, day: int) -> str:
        return (self.sim0 + timedelta(days=int(day))).isoformat()

    # -- ids ----------------------------------------------------------------------------

    def _distinct_ids(self) -> None:
        """The distinct-id dictionary: users, their anonymous device ids, visitors, forbidden."""
        P = self.P
        n = len(P["t0"])
        rng = self.streams("ids")
        self.n_persons = n
        self.visitor_plan()
        nv = self.n_visitors
        users = [f"u_{k:012x}" for k in P["key"].tolist()]
        r = rng.integers(0, 2**62, size=(2 * n + nv, 2))
        anon = [
            f"{a >> 30:08x}-{a & 0xFFFF:04x}-4{(a >> 16) & 0xFFF:03x}-{8 | (b >> 58):x}{(b >> 46) & 0xFFF:03x}-{b & 0xFFFFFFFFFFFF:012x}"
            for a, b in r.tolist()
        ]
        forbidden = [*FORBIDDEN_DISTINCT_IDS, BUGGY_ANON_ID]
        self.did_user = 0
        self.did_anon1 = n
        self.did_anon2 = 2 * n
        self.did_visitor = 3 * n
        self.did_forbidden = {name: 3 * n + nv + i for i, name in enumerate(forbidden)}
        self.did_values = users + anon + forbidden
        self.did_array = pa.array(self.did_values, pa.string())
        self.user_ids = users
        self.con.register(
            "dids",
            pa.table({"did": np.arange(len(self.did_values)), "distinct_id": self.did_array}),
        )

    def visitor_plan(self) -> None:
        """Anonymous visitors who never sign up, proportional to the signup rate."""
        rng = self.streams("visitors")
        d = np.arange(WARMUP_DAYS, self.n_days)
        dow = (self.sim0_dow + d) % 7
        lam = (
            self.lam_end
            * VISITORS_PER_SIGNUP
            * np.exp(GROWTH_PER_DAY * (d - (self.n_days - 1)))
            * WEEKDAY_SIGNUP[dow]
        )
        self.visitor_day = np.repeat(d, rng.poisson(lam))
        self.n_visitors = len(self.visitor_day)

    # -- common props -------------------------------------------------------------------

    def _client(self, person: np.ndarray, device=None, country=None) -> dict[str, Any]:
        """Context properties of a browser event (PostHog posthog-js)."""
        P = self.P
        dev = P["device1"][person] if device is None else device
        ctry = P["country"][person] if country is None else country
        return {
            "$lib": _Const("web"),
            "$device_type": _Cat([d[0][0] for d in DEVICES], dev),
            "$os": _Cat([d[0][1] for d in DEVICES], dev),
            "$browser": _Cat([d[0][2] for d in DEVICES], dev),
            "$geoip_country_code": _Cat(COUNTRIES, ctry),
        }

    def _server(self, person: np.ndarray) -> dict[str, Any]:
        return {
            "$lib": _Const("posthog-python"),
            "$geoip_country_code": _Cat(COUNTRIES, self.P["country"][person]),
        }

    def _ips(self, rng, n: int) -> list[str]:
        """Documentation-range (RFC 5737) addresses: realistic, never a real person's."""
        nets = ("203.0.113", "198.51.100", "192.0.2")
        a = rng.integers(0, 3, n).tolist()
        b = rng.integers(1, 255, n).tolist()
        return [f"{nets[x]}.{y}" for x, y in zip(a, b, strict=True)]

    def _page_views(self, rng, ts, did, paths, referrer, device, person, country=None) -> None:
        if isinstance(paths, str):
            paths = _Cat([paths], np.zeros(len(ts), np.int32))
        if isinstance(referrer, str):
            referrer = _Cat([referrer], np.zeros(len(ts), np.int32))
        props = {
            "path": paths,
            "referrer": referrer,
            "user_agent": _Cat([d[0][3] for d in DEVICES], device),
            **self._client(person, device, country),
            "$ip": self._ips(rng, len(ts)),
        }
        self.sink.add("page_viewed", ts, did, props)

    def _person_set(self, idx: np.ndarray, plan: np.ndarray | None = None) -> dict[str, Any]:
        """``$set`` of an identify: person properties, with an obviously fake email/name."""
        P = self.P
        t0 = P["t0"][idx]
        plan_codes = np.zeros(len(idx), np.int32) if plan is None else plan
        return {
            "email": [f"user{int(i)}@example.invalid" for i in idx],
            "name": [f"Demo User {int(i)}" for i in idx],
            "plan": _Cat(("free", "pro", "enterprise"), plan_codes),
            "language": _Cat(LANGUAGES, P["lang"][idx]),
            "country": _Cat(COUNTRIES, P["country"][idx]),
            "user_type": _Cat(USER_TYPES, P["user_type"][idx]),
            "timezone": _Cat(TIMEZONES, P["tz"][idx]),
            "created_at": [_iso(x) for x in t0.tolist()],
        }

    # -- signups ------------------------------------------------------------------------

    def _signups(self) -> None:
        rng = self.streams("signups")
        P = self.P
        n = self.n_persons
        t0 = P["t0"]
        inr = np.flatnonzero((t0 >= self.start_ts) & (t0 < self.end_ts))
        # a few users behind a client bug whose anonymous id is the literal "anonymous"
        n_buggy = min(len(inr), max(2, round(0.002 * len(inr))))
        buggy = np.zeros(n, dtype=bool)
        buggy[rng.choice(inr, size=n_buggy, replace=False)] = True
        anon = np.where(buggy, self.did_forbidden[BUGGY_ANON_ID], self.did_anon1 + np.arange(n))
        # pre-signup page views on the anonymous id: landing pages, then /signup
        k = 1 + rng.poisson(0.9, len(inr))
        pv_p = np.repeat(inr, k)
        rank = _rank_within(k)
        last = rank == np.repeat(k, k) - 1
        first = rank == 0
        # the landing view (with the campaign's referrer) first, /signup last
        lead = np.repeat(rng.exponential(1.5 * DAY, len(inr)) * (k > 1), k)
        landing = t0[pv_p] - 300 - lead
        ts = np.where(
            last,
            t0[pv_p] - rng.uniform(20, 300, len(pv_p)),
            np.where(first, landing, landing + rng.random(len(pv_p)) * lead),
        )
        paths = _choice(rng, [w for _, w in LANDING_PATHS], len(pv_p))
        path_values = [p for p, _ in LANDING_PATHS] + ["/signup"]
        paths = np.where(last, len(path_values) - 1, paths)
        channel = P["channel"][pv_p]
        ref_values = [c[0][2] for c in CHANNELS] + ["https://zantara.example/"]
        ref = np.where(first, channel, len(ref_values) - 1)
        self._page_views(
            rng,
            ts,
            anon[pv_p],
            _Cat(path_values, paths),
            _Cat(ref_values, ref),
            P["device1"][pv_p],
            pv_p,
        )
        # $identify merging the anonymous id, then user_signed_up
        props = {"$anon_distinct_id": _Cat(self.did_array, anon[inr]), **self._client(inr)}
        self.sink.add(
            "$identify",
            t0[inr] - 1.0,
            inr,
            props,
            set_props=self._person_set(inr),
            keep={"anon": anon[inr]},
        )
        ch = P["channel"][inr]
        props = {
            "signup_method": _Cat(SIGNUP_METHODS, P["signup_method"][inr]),
            "referrer": _Cat([c[0][2] for c in CHANNELS], ch),
            "utm_source": _Cat([c[0][0] for c in CHANNELS], ch),
            "utm_medium": _Cat([c[0][1] for c in CHANNELS], ch),
            **self._client(inr),
            "$ip": self._ips(rng, len(inr)),
        }
        self.sink.add("user_signed_up", t0[inr], inr, props)
        # referrals: the referred user's signup completes the referral
        ref_idx = inr[ch == REFERRAL_CHANNEL]
        order = np.argsort(t0, kind="stable")
        sorted_t0 = t0[order]
        n_before = np.searchsorted(sorted_t0, t0[ref_idx] - DAY)
        ok = n_before > 0
        ref_idx, n_before = ref_idx[ok], n_before[ok]
        referrer = order[(rng.random(len(ref_idx)) * n_before).astype(np.int64)]
        props = {
            "referrer_user_id": [self.user_ids[i] for i in referrer],
            "referred_user_id": [self.user_ids[i] for i in ref_idx],
            "referral_code": [f"ZAN-{self.user_ids[i][2:8].upper()}" for i in referrer],
            **self._server(ref_idx),
        }
        self.sink.add("referral_completed", t0[ref_idx] + 3.0, ref_idx, props)

    def _visitors(self) -> None:
        """Visitors who never sign up; a few of their views carry forbidden ids."""
        rng = self.streams("visitor-events")
        nv = self.n_visitors
        if nv == 0:
            return
        tz_choice = _choice(rng, COUNTRY_SHARE, nv)
        tz = np.array([COUNTRY_TZ[COUNTRIES[c]][0][0] for c in tz_choice.tolist()], dtype=np.int64)
        visits = 1 + (rng.random(nv) < 0.2)
        v = np.repeat(np.arange(nv), visits)
        vrank = _rank_within(visits)
        vstart = self.local_midnight(self.visitor_day[v], tz[v]) + self.hours(rng, len(v)) * HOUR
        vstart = vstart + vrank * rng.exponential(3 * DAY, len(v))
        pages = 1 + rng.poisson(0.7, len(v))
        pv = np.repeat(np.arange(len(v)), pages)
        prank = _rank_within(pages)
        ts = vstart[pv] + prank * rng.uniform(10, 90, len(pv)) + rng.uniform(0, 5, len(pv))
        visitor = v[pv]
        did = self.did_visitor + visitor
        # forbidden ids from misconfigured clients: never to be merged with anyone
        n_bad = min(len(pv), max(6, round(0.003 * len(pv))))
        bad = rng.choice(len(pv), size=n_bad, replace=False)
        did[bad] = np.array(
            [self.did_forbidden[FORBIDDEN_DISTINCT_IDS[i % 3]] for i in range(n_bad)]
        )
        paths = _choice(rng, [w for _, w in LANDING_PATHS], len(pv))
        channel = _choice(rng, [c[1] for c in CHANNELS], len(pv))
        ref_values = [c[0][2] for c in CHANNELS] + ["https://zantara.example/"]
        ref = np.where(prank == 0, channel, len(ref_values) - 1)
        device = _choice(rng, [c[1] for c in DEVICES], nv)[visitor]
        self._page_views(
            rng,
            ts,
            did,
            _Cat([p for p, _ in LANDING_PATHS], paths),
            _Cat(ref_values, ref),
            device,
            visitor,
            country=tz_choice[visitor],
        )

    # -- sessions and messages ----------------------------------------------------------

    def _session_events(self) -> None:
        rng = self.streams("session-events")
        P, S = self.P, self.S
        t0 = P["t0"]
        # only sessions that can produce events in range
        sel = S["start"] >= self.start_ts - MAX_SESSION
        sp, ss, kind, sidx = S["person"][sel], S["start"][sel], S["kind"][sel], S["index"][sel]
        ns = len(sp)
        skey = rng.integers(0, 2**63, size=ns).astype(np.uint64)
        first_in_range = np.ones(ns, dtype=bool)
        first_in_range[1:] = sp[1:] != sp[:-1]
        pre = t0[sp] < self.start_ts
        relogin = first_in_range & pre  # existing user, first session in range: new device id
        # second device: from one session on, some sessions come from another device
        two = P["two_devices"][sp] & ~first_in_range & (kind == 0)
        cand = np.flatnonzero(two)
        dev2_first = np.zeros(ns, dtype=bool)
        if len(cand):
            firsts = cand[np.concatenate(([True], sp[cand][1:] != sp[cand][:-1]))]
            dev2_first[firsts] = True
        dev2_started = np.maximum.accumulate(np.where(dev2_first, np.arange(ns), -1))
        on_dev2 = dev2_first | (
            (dev2_started >= 0)
            & (sp == sp[np.maximum(dev2_started, 0)])
            & (rng.random(ns) < 0.4)
            & (kind == 0)
        )
        device = np.where(on_dev2, P["device2"][sp], P["device1"][sp])
        sjd = self.jakarta_day(ss)
        # messages per session
        nmsg = np.where(kind == 2, 1 + (rng.random(ns) < 0.3), 1 + rng.poisson(P["mu"][sp] - 1))
        nmsg = np.minimum(nmsg, MAX_TURNS)
        nextra = np.zeros(ns, dtype=np.int64)
        if self.incidents_on:
            on_spike = (sjd == self.spike_day) & (kind != 2)
            share = CATEGORY_SHARE[self.spike_category]
            mean_n = nmsg[on_spike].mean() if on_spike.any() else 2.6
            lam = (SPIKE_MULTIPLIER - 1) * share * mean_n
            nextra[on_spike] = rng.poisson(lam, int(on_spike.sum()))
            nextra = np.minimum(nextra, MAX_TURNS - nmsg)
        total = nmsg + nextra
        ms = np.repeat(np.arange(ns), total)
        turn = _rank_within(total)
        is_extra = turn >= np.repeat(nmsg, total)
        mp = sp[ms]
        nm = len(ms)
        # message properties
        fav = rng.random(nm) < 0.3
        cat = np.where(fav, P["fav"][mp], _choice(rng, CATEGORY_SHARE, nm))
        cat = np.where(is_extra, self.spike_category, cat)
        plang = P["lang"][mp]
        qlang = np.where(plang == 1, rng.random(nm) < 0.85, rng.random(nm) < 0.04).astype(np.int32)
        cx = _choice(rng, COMPLEXITY_SHARE, nm)
        intent = _choice(rng, INTENT_SHARE, nm)
        qlen = np.exp(
            np.log(np.array(QUERY_LENGTH_MEDIAN)[cx]) + rng.normal(0, 0.4, nm)
        ) * np.where(qlang == 1, 1.1, 1.0)
        qlen = np.maximum(qlen.astype(np.int64), 3)
        faq = rng.random(nm) < 0.25
        faq_rank = np.minimum(rng.zipf(1.6, nm), 40)
        qhash = np.where(
            faq,
            (
                cat.astype(np.uint64) * np.uint64(1000)
                + faq_rank.astype(np.uint64) * np.uint64(2)
                + qlang.astype(np.uint64)
            )
            * np.uint64(0x9E3779B97F4A7C15),
            rng.integers(0, 2**63, size=nm).astype(np.uint64) * np.uint64(2) + np.uint64(1),
        )
        mkey = rng.integers(0, 2**63, size=nm).astype(np.uint64)
        sstart = np.repeat(_seg_starts(total), total)
        first_msg = turn == 0
        err = rng.random(nm) < self.planted.error_rate
        err = np.where(kind[ms] == 2, True, err)
        err = np.where((kind[ms] == 1) & first_msg, False, err)
        route = np.array(MODEL_ROUTING)[cx]
        model = (rng.random(nm)[:, None] > np.cumsum(route, axis=1)).sum(axis=1).astype(np.int32)
        model = np.minimum(model, 2)
        model = np.where((kind[ms] == 1) & first_msg & (model == AI_GENERATION_MODEL), 1, model)
        variant = P["variant"][mp]
        med = np.array([m["median_latency_ms"] for m in MODELS.values()], dtype=float)[model, cx]
        lat = med * np.exp(rng.normal(0, LATENCY_SIGMA, nm)) * np.where(variant == 1, 1.08, 1.0)
        if self.incidents_on:
            lat = np.where(sjd[ms] == self.latency_day, lat * LATENCY_REGRESSION_FACTOR, lat)
        lat = np.clip(np.round(lat), 150, 90_000).astype(np.int64)
        err_type = _choice(rng, [e[2] for e in ERRORS], nm)
        err_delay = np.where(err_type == 0, 30.0, rng.uniform(0.3, 5.0, nm))
        step = np.where(err, err_delay, lat / 1000.0)
        gap = np.clip(np.exp(rng.normal(math.log(40), 0.6, nm)), 4, 150)
        gap = np.where(first_msg, np.clip(np.exp(rng.normal(math.log(20), 0.6, nm)), 3, 120), gap)
        # sent_j = start + sum(gap_0..j) + sum(step_0..j-1)
        cs_gap = np.cumsum(gap)
        cs_step = np.cumsum(step)
        seg_gap = (cs_gap - gap)[sstart]
        seg_step = (cs_step - step)[sstart]
        sent = ss[ms] + 1.0 + (cs_gap - seg_gap) + (cs_step - step - seg_step)
        done = sent + step
        tokens = np.maximum(
            (np.array(TOKENS_MEDIAN)[cx] * np.exp(rng.normal(0, 0.45, nm))).astype(np.int64), 8
        )
        general = cat == CATEGORIES.index("general")
        src = rng.poisson(np.where(general, 0.8, 3.2) + 0.7 * variant)
        src = np.minimum(src, 8)
        shown = (src > 0) & (rng.random(nm) < 0.92)
        in_tok = 350 + src * 420 + qlen // 4 + turn * 150
        price_in = np.array([m["input_usd_per_mtok"] for m in MODELS.values()])[model]
        price_out = np.array([m["output_usd_per_mtok"] for m in MODELS.values()])[model]
        cost = np.round((in_tok * price_in + tokens * price_out) / 1e6, 6)
        days_since = np.floor((sent - t0[mp]) / DAY).astype(np.int64)
        replied = ~err
        fb = replied & (rng.random(nm) < self.planted.feedback_rate)
        p_pos = np.array(
            [[self.planted.satisfaction_cell(c, k) for k in COMPLEXITIES] for c in CATEGORIES]
        )[cat, cx]
        rating = np.where(rng.random(nm) < p_pos, 1, -1)
        has_text = rng.random(nm) < np.where(rating == 1, 0.12, 0.35)
        fb_ts = done + rng.uniform(3, 60, nm)
        click = replied & shown & (rng.random(nm) < 0.14)
        click_pos = 1 + (rng.random(nm) * np.maximum(src, 1)).astype(np.int64)
        doc = cat * 6 + rng.integers(0, 6, nm)
        click_ts = done + rng.uniform(3, 45, nm)
        self.messages = {
            "sent_us": np.round(sent * 1e6).astype(np.int64),
            "done_us": np.round(done * 1e6).astype(np.int64),
            "fb_us": np.round(fb_ts * 1e6).astype(np.int64),
            "cat": cat,
            "fb": fb,
            "rating": rating,
            "model": model,
            "replied": replied,
            "lat": lat,
            "cost": cost,
        }

        # ---- events: session level
        sid = _Fmt("s_%016x", skey)
        mid = _Fmt("msg_%016x", mkey)
        did = sp  # users' distinct ids are their person index
        show_pv = ((rng.random(ns) < 0.35) | relogin | dev2_first) & (kind != 1)
        login = ((rng.random(ns) < 0.2) | relogin | dev2_first) & (kind != 1)
        anon_dev = np.where(dev2_first, self.did_anon2 + sp, self.did_anon1 + sp)
        # anonymous view before identifying (new device or existing user's new session)
        need_id = relogin | dev2_first
        j = np.flatnonzero(need_id)
        pre_gap = np.where(
            dev2_first[j], rng.uniform(60, 2 * DAY, len(j)), rng.uniform(20, 120, len(j))
        )
        self._page_views(rng, ss[j] - 3.0 - pre_gap, anon_dev[j], "/", "$direct", device[j], sp[j])
        self.sink.add(
            "$identify",
            ss[j] - 3.0,
            sp[j],
            {
                "$anon_distinct_id": _Cat(self.did_array, anon_dev[j]),
                **self._client(sp[j], device[j]),
            },
            set_props=self._person_set(sp[j], self._plan_at(sp[j], ss[j])),
            keep={"anon": anon_dev[j]},
        )
        j = np.flatnonzero(show_pv)
        self._page_views(rng, ss[j] - 2.5, sp[j], "/chat", "$direct", device[j], sp[j])
        j = np.flatnonzero(login)
        method = np.where(rng.random(len(j)) < 0.1, 3, P["signup_method"][sp[j]])
        self.sink.add(
            "user_logged_in",
            ss[j] - 1.5,
            did[j],
            {
                "login_method": _Cat(LOGIN_METHODS, method),
                "session_id": _Fmt("s_%016x", skey[j]),
                **self._client(sp[j], device[j]),
                "$ip": self._ips(rng, len(j)),
            },
        )
        j = np.flatnonzero(rng.random(ns) < 0.4)
        self.sink.add(
            "$feature_flag_called",
            ss[j] - 0.5,
            did[j],
            {
                "$feature_flag": _Const(FEATURE_FLAG),
                "$feature_flag_response": _Cat(FLAG_VARIANTS, P["variant"][sp[j]]),
                **self._client(sp[j], device[j]),
            },
        )
        self.sink.add(
            "conversation_started",
            ss,
            did,
            {
                "session_id": sid,
                "is_new_user": sidx == 0,
                "previous_sessions": sidx,
                **self._client(sp, device),
            },
        )

        # ---- events: messages
        client_m = self._client(mp, device[ms])
        self.sink.add(
            "message_sent",
            sent,
            mp,
            {
                "session_id": _Fmt("s_%016x", skey[ms]),
                "message_id": mid,
                "query_length": qlen,
                "query_category": _Cat(CATEGORIES, cat),
                "query_language": _Cat(LANGUAGES, qlang),
                "query_complexity": _Cat(COMPLEXITIES, cx),
                "query_intent": _Cat(INTENTS, intent),
                "conversation_turn": turn + 1,
                "query_hash": _Fmt("%016x", qhash),
                "days_since_signup": days_since,
                **client_m,
            },
        )
        j = np.flatnonzero(replied & (model != AI_GENERATION_MODEL))
        self.sink.add(
            "message_received",
            done[j],
            mp[j],
            {
                "session_id": _Fmt("s_%016x", skey[ms[j]]),
                "message_id": _Fmt("msg_%016x", mkey[j]),
                "response_tokens": tokens[j],
                "response_latency_ms": lat[j],
                "response_cost_usd": cost[j],
                "model_used": _Cat(MODEL_NAMES, model[j]),
                "sources_count": src[j],
                "sources_shown": shown[j],
                **self._server(mp[j]),
            },
        )
        j = np.flatnonzero(replied & (model == AI_GENERATION_MODEL))
        self.sink.add(
            "$ai_generation",
            done[j],
            mp[j],
            {
                "$ai_model": _Const(MODEL_NAMES[AI_GENERATION_MODEL]),
                "$ai_provider": _Const(MODELS[MODEL_NAMES[AI_GENERATION_MODEL]]["provider"]),
                "$ai_input_tokens": in_tok[j],
                "$ai_output_tokens": tokens[j],
                "$ai_latency": np.round(lat[j] / 1000.0, 3),
                "$ai_total_cost_usd": cost[j],
                "$ai_is_error": _Const(False),
                "$ai_trace_id": _Fmt("msg_%016x", mkey[j]),
                "session_id": _Fmt("s_%016x", skey[ms[j]]),
                "$lib": _Const("posthog-python"),
                "$geoip_country_code": _Cat(COUNTRIES, P["country"][mp[j]]),
            },
        )
        j = np.flatnonzero(err)
        self.sink.add(
            "error_occurred",
            done[j],
            mp[j],
            {
                "session_id": _Fmt("s_%016x", skey[ms[j]]),
                "error_type": _Cat([e[0] for e in ERRORS], err_type[j]),
                "error_message": _Cat([e[1] for e in ERRORS], err_type[j]),
                "query_category": _Cat(CATEGORIES, cat[j]),
                **self._server(mp[j]),
            },
        )
        slow = (replied & (lat > SLOW_REQUEST_MS)) | (err & (err_type == 0))
        j = np.flatnonzero(slow)
        self.sink.add(
            "slow_request",
            done[j] + 0.01,
            mp[j],
            {
                "path": _Const("/api/chat"),
                "latency_ms": np.where(err[j], 30_000, lat[j]),
                "status_code": np.where(err[j], 504, 200),
                **self._server(mp[j]),
            },
        )
        j = np.flatnonzero(fb)
        self.sink.add(
            "feedback_given",
            fb_ts[j],
            mp[j],
            {
                "message_id": _Fmt("msg_%016x", mkey[j]),
                "session_id": _Fmt("s_%016x", skey[ms[j]]),
                "rating": rating[j],
                "has_text": has_text[j],
                **self._client(mp[j], device[ms[j]]),
            },
        )
        j = np.flatnonzero(click)
        all_docs = [t for c in CATEGORIES for t in DOCUMENTS[c]]
        self.sink.add(
            "source_clicked",
            click_ts[j],
            mp[j],
            {
                "message_id": _Fmt("msg_%016x", mkey[j]),
                "document_id": _Cat(
                    [f"doc_{c}_{k + 1:02d}" for c in CATEGORIES for k in range(6)], doc[j]
                ),
                "source_position": click_pos[j],
                "document_title": _Cat(all_docs, doc[j]),
                **self._client(mp[j], device[ms[j]]),
            },
        )

        # ---- events: session extras, after the last exchange
        s_end = np.maximum.reduceat(done, _seg_starts(total)) if nm else np.zeros(0)
        s_first_sent = sent[_seg_starts(total)] if nm else np.zeros(0)
        s_lang = qlang[_seg_starts(total)] if nm else np.zeros(0, np.int32)
        s_days = np.floor((ss - t0[sp]) / DAY)
        normal = kind != 2
        j = np.flatnonzero(normal & (rng.random(ns) < 0.04))
        self.sink.add(
            "voice_used",
            s_first_sent[j] - 0.2,
            did[j],
            {
                "session_id": _Fmt("s_%016x", skey[j]),
                "language": _Cat(LANGUAGES, s_lang[j]),
                "duration_seconds": np.round(
                    np.clip(np.exp(rng.normal(math.log(9), 0.5, len(j))), 1.5, 120), 1
                ),
                **self._client(sp[j], device[j]),
            },
        )
        j = np.flatnonzero(normal & (rng.random(ns) < 0.12))
        self.sink.add(
            "feature_used",
            ss[j] + rng.random(len(j)) * (s_end[j] - ss[j]),
            did[j],
            {
                "feature": _Cat(FEATURES, _choice(rng, [3, 2, 2, 1.5, 1, 0.8, 1.2], len(j))),
                **self._client(sp[j], device[j]),
            },
        )
        j = np.flatnonzero(normal & (rng.random(ns) < 0.03))
        self.sink.add(
            "export_clicked",
            s_end[j] + rng.uniform(5, 60, len(j)),
            did[j],
            {
                "session_id": _Fmt("s_%016x", skey[j]),
                "export_format": _Cat(
                    [e[0] for e in EXPORT_FORMATS],
                    _choice(rng, [e[1] for e in EXPORT_FORMATS], len(j)),
                ),
                "messages_exported": 2 * total[j],
                **self._client(sp[j], device[j]),
            },
        )
        j = np.flatnonzero(normal & (rng.random(ns) < 0.025))
        self.sink.add(
            "share_clicked",
            s_end[j] + rng.uniform(5, 90, len(j)),
            did[j],
            {
                "session_id": _Fmt("s_%016x", skey[j]),
                "share_method": _Cat(
                    [e[0] for e in SHARE_METHODS],
                    _choice(rng, [e[1] for e in SHARE_METHODS], len(j)),
                ),
                **self._client(sp[j], device[j]),
            },
        )
        j = np.flatnonzero(normal & (s_days >= 7) & (rng.random(ns) < 0.012))
        self.nps_scores = _choice(rng, self.planted.nps_probs, len(j))
        self.sink.add(
            "nps_submitted",
            s_end[j] + rng.uniform(10, 60, len(j)),
            did[j],
            {"score": self.nps_scores, **self._client(sp[j], device[j])},
        )
        j = np.flatnonzero(rng.random(ns) < 0.08)
        self.sink.add(
            "user_logged_out",
            s_end[j] + rng.uniform(30, 300, len(j)),
            did[j],
            {"session_id": _Fmt("s_%016x", skey[j]), **self._client(sp[j], device[j])},
        )

        # ---- incident: error burst in one hour
        self.burst_emitted = 0
        if self.incidents_on:
            h0 = self.base + self.error_day * DAY - 7 * HOUR + self.error_hour * HOUR
            near = np.flatnonzero((ss >= h0 - HOUR) & (ss < h0 + HOUR))
            if len(near) == 0:
                near = np.flatnonzero(sjd == self.error_day)
            if len(near) == 0:
                near = np.arange(ns)
            if len(near):
                pick = near[rng.integers(0, len(near), self.burst_errors)]
                bts = h0 + np.sort(rng.random(self.burst_errors)) * (HOUR - 1.0)
                bcat = _choice(rng, CATEGORY_SHARE, self.burst_errors)
                self.burst_emitted = self.sink.add(
                    "error_occurred",
                    bts,
                    sp[pick],
                    {
                        "session_id": _Fmt("s_%016x", skey[pick]),
                        "error_type": _Const(BURST_ERROR[0]),
                        "error_message": _Const(BURST_ERROR[1]),
                        "query_category": _Cat(CATEGORIES, bcat),
                        **self._server(sp[pick]),
                    },
                )

    # -- subscriptions ------------------------------------------------------------------

    def _plan_subscriptions(self) -> None:
        """Per person: when a subscription starts, its plan, price, cancellation, failure."""
        rng = self.streams("subscriptions")
        P = self.P
        n = self.n_persons
        t0 = P["t0"]
        early = rng.random(n) < 0.4
        u = np.where(early, rng.uniform(HOUR, 2 * DAY, n), rng.uniform(2 * DAY, 29.5 * DAY, n))
        late = ~P["paid"] & P["late_conv"] & P["act"]
        has = P["paid"] | late
        t_sub = np.where(P["paid"], t0 + u, t0 + 31 * DAY + rng.exponential(45 * DAY, n))
        t_sub = np.where(has, t_sub, np.inf)
        ent = rng.random(n) < np.array(ENTERPRISE_SHARE)[P["user_type"]]
        yearly = rng.random(n) < YEARLY_SHARE
        period = np.where(yearly, RENEWAL_DAYS["yearly"] * DAY, RENEWAL_DAYS["monthly"] * DAY)
        k = rng.geometric(
            np.where(yearly, CANCEL_PER_RENEWAL["yearly"], CANCEL_PER_RENEWAL["monthly"])
        )
        t_cancel = t_sub + k * period - rng.uniform(0, 10 * DAY, n)
        t_fail = t_sub + rng.geometric(0.05, n) * period + rng.uniform(0, HOUR, n)
        prices = np.array([PLANS["pro"], PLANS["enterprise"]])
        self.sub = {
            "t_sub": t_sub,
            "plan": 1 + ent.astype(np.int32),  # 1 pro, 2 enterprise (0 = free)
            "yearly": yearly,
            "price": prices[ent.astype(np.int64), yearly.astype(np.int64)],
            "t_cancel": t_cancel,
            "t_fail": t_fail,
            "method": _choice(rng, [w for _, w in PAYMENT_METHODS], n),
            "reason": _choice(rng, [w for _, w in CANCEL_REASONS], n),
            "fail_reason": _choice(rng, [w for _, w in PAYMENT_FAILURES], n),
            "pricing_lead": rng.uniform(30, 600, n),
            # a declined card at checkout, retried successfully a few minutes later
            "checkout_failed": rng.random(n) < 0.1,
        }

    def _plan_at(self, person: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Plan code (0 free, 1 pro, 2 enterprise) of persons at times ``ts``."""
        sub = self.sub
        on = (sub["t_sub"][person] <= ts) & (ts < sub["t_cancel"][person])
        return np.where(on, sub["plan"][person], 0).astype(np.int32)

    def _subscriptions(self) -> None:
        rng = self.streams("subscription-events")
        P, sub = self.P, self.sub
        t0 = P["t0"]
        ts_all = sub["t_sub"]
        fresh = (ts_all >= self.start_ts) & (ts_all < self.end_ts)
        # billing history: subscriptions started in the warm-up and still open at start
        # keep their start event (before the range), so MRR opens at its true level
        held = (ts_all < self.start_ts) & (sub["t_cancel"] >= self.start_ts)
        j = np.flatnonzero(fresh | held)
        ts = ts_all[j]
        plan = sub["plan"][j]
        plans = ("free", "pro", "enterprise")
        yearly = sub["yearly"][j].astype(np.int32)
        price = sub["price"][j]
        in_range = fresh[j]  # the rest is billing history
        self._page_views(
            rng,
            ts[in_range] - sub["pricing_lead"][j[in_range]],
            j[in_range],
            "/pricing",
            "https://zantara.example/chat",
            P["device1"][j[in_range]],
            j[in_range],
        )
        self.sink.add(
            "subscription_started",
            ts,
            j,
            {
                "plan": _Cat(plans, plan),
                "price_usd": price,
                "billing_period": _Cat(("monthly", "yearly"), yearly),
                "payment_method": _Cat([m for m, _ in PAYMENT_METHODS], sub["method"][j]),
                "days_since_signup": np.floor((ts - t0[j]) / DAY).astype(np.int64),
                **self._server(j),
            },
            set_props={"plan": _Cat(plans, plan)},
            history=True,
        )
        t_cancel = sub["t_cancel"][j]
        t_fail = sub["t_fail"][j]
        renewal = t_fail < t_cancel
        checkout = sub["checkout_failed"][j] & in_range
        jf = np.concatenate([np.flatnonzero(renewal), np.flatnonzero(checkout)])
        t_pf = np.concatenate(
            [t_fail[renewal], ts[checkout] - sub["pricing_lead"][j[checkout]] / 4]
        )
        self.sink.add(
            "payment_failed",
            t_pf,
            j[jf],
            {
                "plan": _Cat(plans, plan[jf]),
                "amount_usd": price[jf],
                "reason": _Cat([r for r, _ in PAYMENT_FAILURES], sub["fail_reason"][j[jf]]),
                **self._server(j[jf]),
            },
        )
        self.sink.add(
            "subscription_cancelled",
            t_cancel,
            j,
            {
                "plan": _Cat(plans, plan),
                "cancel_reason": _Cat([r for r, _ in CANCEL_REASONS], sub["reason"][j]),
                "days_subscribed": np.floor((t_cancel - ts) / DAY).astype(np.int64),
                **self._server(j),
            },
            set_props={"plan": _Const("free")},
        )

    # -- output -------------------------------------------------------------------------

    def _finish_table(self) -> None:
        """Merge the time-sorted blocks: the global order of all rows."""
        blocks = self.sink.blocks
        if not blocks:  # a range too small for any event
            self.order = self.out_ts = self.out_did = np.zeros(0, np.int64)
            self.out_code = np.zeros(0, np.int32)
            self.names = []
            return
        sizes = np.array([len(b["ts_us"]) for b in blocks], dtype=np.int64)
        self.block_offsets = _seg_starts(sizes)
        ts = np.concatenate([b["ts_us"] for b in blocks])
        self.names = sorted({b["event"] for b in blocks})
        code = np.concatenate(
            [np.full(len(b["ts_us"]), self.names.index(b["event"]), np.int32) for b in blocks]
        )
        did = np.concatenate([b["did"] for b in blocks])
        # stable: simultaneous events keep block order (deterministic)
        self.order = np.argsort(ts, kind="stable")
        self.out_ts = ts[self.order]
        self.out_code = code[self.order]
        self.out_did = did[self.order]

    def _part(self, a: int, b: int) -> pa.Table:
        """Rows a..b-1 of the time-ordered output, in the PostHog batch-export shape.

        Each block is sorted by time, so the rows of a time slice are one contiguous
        slice per block: gather only those (cheap) instead of the whole table.
        """
        blocks = self.sink.blocks
        lo_ts, hi_ts = self.out_ts[a], self.out_ts[b - 1]
        lo = np.array([np.searchsorted(x["ts_us"], lo_ts, "left") for x in blocks])
        hi = np.array([np.searchsorted(x["ts_us"], hi_ts, "right") for x in blocks])
        piece_off = _seg_starts(hi - lo)
        piece = pa.concat_tables(
            [
                x["table"].slice(int(l_), int(h - l_))
                for x, l_, h in zip(blocks, lo, hi, strict=True)
            ]
        ).combine_chunks()
        sel = self.order[a:b]
        k = np.searchsorted(self.block_offsets, sel, "right") - 1
        local = sel - self.block_offsets[k] - lo[k] + piece_off[k]
        body = piece.take(pa.array(local))
        n = b - a
        return pa.table(
            {
                "uuid": body["uuid"],
                "event": pa.array(self.names, pa.string()).take(pa.array(self.out_code[a:b])),
                "distinct_id": self.did_array.take(pa.array(self.out_did[a:b])),
                "person_id": pa.nulls(n, pa.string()),
                "properties": body["properties"],
                "timestamp": pa.array(self.out_ts[a:b], pa.timestamp("us", tz="UTC")),
                "set": body["set"],
            }
        )

    def _write(self, out_dir: Path) -> list[Path]:
        """One file per UTC month of the ordered events."""
        import pyarrow.parquet as pq

        fmt = self.cfg.format
        suffix = {"parquet": ".parquet", "jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz"}[fmt]
        for old in out_dir.glob("events_*"):
            if old.name.endswith((".parquet", ".jsonl", ".jsonl.gz")):
                old.unlink()
        if len(self.out_ts) == 0:
            return []
        month = self.out_ts.astype("datetime64[us]").astype("datetime64[M]")
        bounds = np.flatnonzero(np.r_[True, month[1:] != month[:-1], True])
        files = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            path = out_dir / f"events_{str(month[a])}{suffix}"
            part = self._part(int(a), int(b))
            if fmt == "parquet":
                pq.write_table(
                    part,
                    path,
                    compression="zstd",
                    use_dictionary=["event", "distinct_id"],
                    write_statistics=["event", "timestamp"],
                )
            else:
                _write_jsonl(part, path, gz=fmt == "jsonl.gz")
            del part
            files.append(path)
        return files

    # -- truth --------------------------------------------------------------------------

    def _jday(self, ts_us: np.ndarray) -> np.ndarray:
        """Local (Jakarta) day index of µs timestamps, 0 = ``start``."""
        return (ts_us // 1_000_000 + 7 * 3600 - (int(self.start_ts) + 7 * 3600)) // 86400

    def _truth(self, files: list[Path], calib: dict[str, Any]) -> GroundTruth:
        P = self.P
        pl = self.planted
        sink = self.sink
        t0_us = np.round(P["t0"] * 1e6).astype(np.int64)
        as_of_us = int(round(self.end_ts * 1e6))
        start_us = int(round(self.start_ts * 1e6))
        day_us = 86_400_000_000
        inr = (t0_us >= start_us) & (t0_us < as_of_us)

        def bern(p: float, eligible: np.ndarray, success: np.ndarray, **extra) -> dict[str, Any]:
            n = int(eligible.sum())
            k = int((eligible & success).sum())
            return {
                "p": round(p, 6),
                "eligible": n,
                "successes": k,
                "rate": (k / n) if n else None,
                "se": math.sqrt(p * (1 - p) / n) if n else None,
                **extra,
            }

        e24 = inr & (t0_us + day_us <= as_of_us)
        activation = bern(pl.p_activation, e24, P["act"], window_hours=24)
        activation["activated"] = activation["successes"]
        activation["definition"] = (
            "signups in range whose 24 h window closed by as_of; activated = >= 1 message_sent "
            "and >= 1 message_received by the same user in [t0, t0 + 24 h]"
        )

        def given_activation(
            name: str, days: int, success: np.ndarray, p: tuple[float, float, float], window: Any
        ) -> dict[str, Any]:
            """``bern`` over the signups with ``days`` observed, whose ``success`` was drawn
            per person: ``p`` = (expected unconditional, given activated, not activated)."""
            eligible = inr & (t0_us + days * day_us <= as_of_us)
            activated = eligible & P["act"]
            out = bern(p[0], eligible, success, window_days=window)
            return out | {
                name: out["successes"],
                "conditional_on_activation": True,
                "p_given_activated": p[1],
                "p_given_not_activated": p[2],
                "eligible_activated": int(activated.sum()),
                f"{name}_activated": int((activated & success).sum()),
            }

        p_week2 = (pl.p_week2, pl.p_week2_given_activated, pl.p_week2_given_not_activated)
        week2 = given_activation("retained", 14, P["w2"], p_week2, [7, 14])
        week2["definition"] = (
            "signups in range with 14 days observed; retained = >= 1 message_sent in "
            "[t0 + 7 d, t0 + 14 d); drawn per person with p_given_activated / "
            "p_given_not_activated; p is the expected unconditional rate"
        )
        p_paid = (pl.p_paid, pl.p_paid_given_activated, pl.p_paid_given_not_activated)
        paid = given_activation("converted", 30, P["paid"], p_paid, 30)
        paid["definition"] = (
            "signups in range with 30 days observed; converted = subscription_started "
            "within 30 days of signup (converters start 1 h..29.5 d after signup, later "
            "converters only after 31 d); p is the expected unconditional rate"
        )
        # MRR: subscriptions open at an instant (one per person; a yearly price is /12)
        S = self.sub
        monthly = np.where(S["yearly"], S["price"] / 12.0, S["price"])

        def open_at(t: float) -> np.ndarray:
            return (S["t_sub"] <= t) & (t < S["t_cancel"])

        mrr = {
            "at_start": round(float(monthly[open_at(self.start_ts)].sum()), 6),
            "open_at_start": int(open_at(self.start_ts).sum()),
            "at_end": round(float(monthly[open_at(self.end_ts)].sum()), 6),
            "open_at_end": int(open_at(self.end_ts).sum()),
            "definition": (
                "sum of monthly prices (yearly / 12) of subscriptions started and not "
                "cancelled at the range start / at as_of; the ones open at start were "
                "started in the warm-up and their subscription_started is written (billing "
                "history, before the range)"
            ),
        }
        unit_economics = self._unit_economics_truth(monthly, open_at)
        # satisfaction: feedback written whose message_sent is written too
        M = self.messages
        written = lambda t: (t >= start_us) & (t < as_of_us)  # noqa: E731
        fbm = M["fb"] & written(M["fb_us"]) & written(M["sent_us"])
        n_c = np.bincount(M["cat"][fbm], minlength=len(CATEGORIES))
        k_c = np.bincount(M["cat"][fbm & (M["rating"] == 1)], minlength=len(CATEGORIES))
        by_cat = {}
        for i, c in enumerate(CATEGORIES):
            sc = pl.satisfaction[c]
            n, k = int(n_c[i]), int(k_c[i])
            by_cat[c] = {
                "p_positive": sc,
                "expected_net_score": round(2 * sc - 1, 6),
                "by_complexity": {x: round(pl.satisfaction_cell(c, x), 6) for x in COMPLEXITIES},
                "feedbacks": n,
                "positive": k,
                "rate": (k / n) if n else None,
                "se": math.sqrt(sc * (1 - sc) / n) if n else None,
            }
        share = dict(zip(CATEGORIES, CATEGORY_SHARE, strict=True))
        satisfaction = {
            "by_category": by_cat,
            "complexity_share": dict(zip(COMPLEXITIES, COMPLEXITY_SHARE, strict=True)),
            "complexity_offsets": dict(pl.complexity_offsets),
            "expected_share_positive_overall": round(
                sum(pl.satisfaction[c] * share[c] for c in CATEGORIES), 6
            ),
            "feedback_rate": pl.feedback_rate,
            "definition": (
                "feedback_given.rating on the reply to a message (joined by message_id to "
                "message_sent.query_category) is +1 with probability p_positive"
            ),
        }
        counts = {}
        for b in sink.blocks:
            counts[b["event"]] = counts.get(b["event"], 0) + len(b["ts_us"])
        counts = dict(sorted(counts.items()))
        nps = {
            "score_probs": list(pl.nps_probs),
            "expected_nps": round(pl.expected_nps, 4),
            "answers": int(counts.get("nps_submitted", 0)),
        }
        # persons after stitching: identify links (never through forbidden ids)
        n = self.n_persons
        forbidden = set(self.did_forbidden.values())
        all_did = np.unique(
            np.concatenate([b["did"] for b in sink.blocks] or [np.zeros(0, np.int64)])
        )
        anon_links = np.concatenate(
            [b["anon"] for b in sink.blocks if b["event"] == "$identify"] or [np.zeros(0, np.int64)]
        )
        link_users = np.concatenate(
            [b["did"] for b in sink.blocks if b["event"] == "$identify"] or [np.zeros(0, np.int64)]
        )
        ok = ~np.isin(anon_links, list(forbidden))
        linked = dict(zip(anon_links[ok].tolist(), link_users[ok].tolist(), strict=True))
        keys = {linked.get(d, d) for d in all_did.tolist() if d not in forbidden}
        users = int((all_did < n).sum())
        forbidden_events = {}
        for name, d in self.did_forbidden.items():
            c = sum(int((b["did"] == d).sum()) for b in sink.blocks)
            if c:
                forbidden_events[name] = c
        anon_identify = int((anon_links == self.did_forbidden[BUGGY_ANON_ID]).sum())
        dev2 = (anon_links >= self.did_anon2) & (anon_links < self.did_visitor)
        dev2_users = len(np.unique(link_users[dev2]))
        # signups per local day
        su = sink.ts_of("user_signed_up")
        per_day = np.bincount(self._jday(su), minlength=self.range_days)[: self.range_days]
        wk = min(7, len(per_day))
        signups_per_day = {
            "min": int(per_day.min()),
            "max": int(per_day.max()),
            "mean": round(float(per_day.mean()), 3),
            "first_week_mean": round(float(per_day[:wk].mean()), 3),
            "last_week_mean": round(float(per_day[-wk:].mean()), 3),
            "expected_at_end": round(self.lam_end, 3),
            "growth_doubling_days": 150,
            "total": int(per_day.sum()),
        }
        ms_ts, ms_did = sink.ts_of("message_sent"), sink.did_of("message_sent")
        mau = len(np.unique(ms_did[ms_ts >= as_of_us - 30 * day_us]))
        last_monday = self.end_date - timedelta(days=self.end_date.weekday())
        lm_us = int(round(((last_monday - date(1970, 1, 1)).days * DAY - 7 * HOUR) * 1e6))
        wsel = (ms_ts >= lm_us - 7 * day_us) & (ms_ts < lm_us)
        power = int((np.bincount(ms_did[wsel]) > 20).sum()) if wsel.any() else 0
        models = {}
        rep = M["replied"] & written(M["done_us"])
        model_counts = np.bincount(M["model"][rep], minlength=len(MODELS))
        for i, (name, spec) in enumerate(MODELS.items()):
            models[name] = {
                **{k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.items()},
                "replies": int(model_counts[i]),
            }
        routing = {
            k: dict(zip(MODEL_NAMES, r, strict=True))
            for k, r in zip(COMPLEXITIES, MODEL_ROUTING, strict=True)
        }
        cfg = self.cfg
        return GroundTruth(
            version=1,
            seed=cfg.seed,
            start=self.start_date.isoformat(),
            end=self.end_date.isoformat(),
            timezone=REPORT_TZ,
            as_of=_iso(self.end_ts),
            config={
                "seed": cfg.seed,
                "start": self.start_date.isoformat(),
                "end": self.end_date.isoformat(),
                "monthly_active_users": cfg.monthly_active_users,
                "incidents": cfg.incidents,
                "format": cfg.format,
                "warmup_days": WARMUP_DAYS,
            },
            planted=pl.to_dict(),
            persons={
                "total": len(keys),
                "users": users,
                "anonymous_only": len(keys) - users,
                "signups_in_range": int(inr.sum()),
                "pre_range_users_with_events": users - int(inr.sum()),
                "two_device_users": int(dev2_users),
                "power_users_last_week": power,
                "definition": (
                    "distinct persons after stitching ($identify links; forbidden ids are never "
                    "merged and not counted); users = distinct user ids with events"
                ),
            },
            signups_per_day=signups_per_day,
            mau={
                "target": cfg.monthly_active_users,
                "last_30_days": int(mau),
                "thinning": round(calib["thinning"], 6),
                "definition": "persons with >= 1 message_sent in the 30 local days before end",
            },
            activation=activation,
            week2_retention=week2,
            paid_conversion=paid,
            satisfaction=satisfaction,
            nps=nps,
            models={"by_model": models, "routing_by_complexity": routing},
            feature_flag={
                "key": FEATURE_FLAG,
                "variants": list(FLAG_VARIANTS),
                "split": 0.5,
                "effect": "test: +0.7 sources per reply on average, latency x1.08",
            },
            identity={
                "forbidden_distinct_id_events": forbidden_events,
                "identify_with_anonymous_anon_id": anon_identify,
                "two_device_users": int(dev2_users),
                "email_domain": "example.invalid",
                "note": "email and name appear only in $set of $identify (and its set column)",
            },
            incidents=self._incident_truth(),
            events={"total": int(sum(counts.values())), "by_event": counts},
            files=[p.name for p in files],
            mrr=mrr,
            unit_economics=unit_economics,
        )

    def _unit_economics_truth(self, monthly: np.ndarray, open_at) -> dict[str, Any]:
        """Per complete local month of the range: paying customers, churn, new customers,
        MRR and inference cost, counted on the generator's own arrays."""
        S, M = self.sub, self.messages
        zone = ZoneInfo(REPORT_TZ)
        first = self.start_date.replace(day=1)
        if first < self.start_date:
            first = (first + timedelta(days=32)).replace(day=1)
        yearly = S["yearly"].astype(bool)
        months = []
        m = first
        while True:
            nxt = (m + timedelta(days=32)).replace(day=1)
            if nxt > self.end_date:
                break
            t0 = datetime(m.year, m.month, 1, tzinfo=zone).timestamp()
            t1 = datetime(nxt.year, nxt.month, 1, tzinfo=zone).timestamp()
            at0, at1 = open_at(t0), open_at(t1)
            churned = at0 & ~at1
            rep = (
                M["replied"] & (M["done_us"] >= round(t0 * 1e6)) & (M["done_us"] < round(t1 * 1e6))
            )
            months.append(
                {
                    "month": f"{m:%Y-%m}",
                    "customers_start": int(at0.sum()),
                    "churned": int(churned.sum()),
                    "mrr_start_of_customers": round(float(monthly[at0].sum()), 6),
                    "mrr_end_of_customers": round(float(monthly[at0 & at1].sum()), 6),
                    "monthly_plan_customers_start": int((at0 & ~yearly).sum()),
                    "monthly_plan_churned": int((churned & ~yearly).sum()),
                    "new_customers": int(((S["t_sub"] >= t0) & (S["t_sub"] < t1)).sum()),
                    "paying_end": int(at1.sum()),
                    "mrr_end": round(float(monthly[at1].sum()), 6),
                    "replies": int(rep.sum()),
                    "inference_cost_usd": round(float(M["cost"][rep].sum()), 6),
                }
            )
            m = nxt
        return {
            "months": months,
            "planted": {
                "prices_usd": {k: {"monthly": v[0], "yearly": v[1]} for k, v in PLANS.items()},
                "yearly_share": YEARLY_SHARE,
                "cancel_per_renewal": dict(CANCEL_PER_RENEWAL),
                "renewal_days": dict(RENEWAL_DAYS),
                "enterprise_share_by_user_type": dict(
                    zip(("individual", "business", "enterprise"), ENTERPRISE_SHARE, strict=True)
                ),
            },
            "definition": (
                "complete local months of the range; customers = subscriptions open (started, "
                "not cancelled) at the month's first local midnight; churned = of those, not "
                "open at the next month's; new = subscription started in the month; inference "
                "cost = response_cost_usd of the replies (message_received + $ai_generation) "
                "written in the month"
            ),
        }

    def _incident_truth(self) -> dict[str, Any]:
        M = self.messages
        start_us = int(round(self.start_ts * 1e6))
        end_us = int(round(self.end_ts * 1e6))
        rep = M["replied"] & (M["done_us"] >= start_us) & (M["done_us"] < end_us)
        rday = self._jday(M["done_us"][rep])
        rlat = M["lat"][rep]
        p95 = {}
        if len(rday):
            o = np.argsort(rday, kind="stable")
            days, first = np.unique(rday[o], return_index=True)
            for d, chunk in zip(days, np.split(rlat[o], first[1:]), strict=True):
                p95[int(d)] = float(np.percentile(chunk, 95))
        err_ts = self.sink.ts_of("error_occurred")
        hours = (err_ts - start_us) // 3_600_000_000
        per_hour = (
            np.bincount(hours, minlength=self.range_days * 24)
            if len(hours)
            else np.zeros(self.range_days * 24, np.int64)
        )
        sent = (M["sent_us"] >= start_us) & (M["sent_us"] < end_us)
        cat_days = self._jday(M["sent_us"][sent & (M["cat"] == self.spike_category)])
        per_day = np.bincount(cat_days, minlength=self.range_days)
        lat_d = self.latency_day - WARMUP_DAYS
        err_d = self.error_day - WARMUP_DAYS
        spike_d = self.spike_day - WARMUP_DAYS
        err_h = err_d * 24 + self.error_hour
        others_p95 = [v for d, v in p95.items() if d != lat_d]
        others_cat = [int(v) for d, v in enumerate(per_day) if d != spike_d]
        others_err = [int(v) for h, v in enumerate(per_hour) if h != err_h]
        h_start = self.base + self.error_day * DAY - 7 * HOUR + self.error_hour * HOUR
        return {
            "enabled": self.incidents_on,
            "latency_regression": {
                "planted": self.incidents_on,
                "date": self._date_of(self.latency_day),
                "factor": LATENCY_REGRESSION_FACTOR,
                "p95_ms": p95.get(lat_d),
                "median_daily_p95_ms_other_days": float(np.median(others_p95))
                if others_p95
                else None,
                "max_daily_p95_ms_other_days": max(others_p95) if others_p95 else None,
            },
            "error_burst": {
                "planted": self.incidents_on,
                "date": self._date_of(self.error_day),
                "hour": self.error_hour,
                "start_utc": _iso(h_start),
                "end_utc": _iso(h_start + HOUR),
                "burst_errors": int(self.burst_emitted),
                "errors_in_hour": int(per_hour[err_h]) if err_h < len(per_hour) else 0,
                "max_errors_other_hours": max(others_err) if others_err else 0,
            },
            "category_spike": {
                "planted": self.incidents_on,
                "date": self._date_of(self.spike_day),
                "category": CATEGORIES[self.spike_category],
                "multiplier": SPIKE_MULTIPLIER,
                "count": int(per_day[spike_d]) if spike_d < len(per_day) else 0,
                "median_daily_count_other_days": float(np.median(others_cat))
                if others_cat
                else None,
                "max_daily_count_other_days": max(others_cat) if others_cat else None,
            },
            "note": (
                "dates are local days in Asia/Jakarta and the hour is the local hour [h, h+1); "
                "the P95 is over message_received.response_latency_ms and $ai_generation "
                "$ai_latency x 1000 by local day; when enabled is false the dates only say where "
                "the incidents would have been and nothing is planted"
            ),
        }


def _write_jsonl(part: pa.Table, path: Path, gz: bool) -> None:
    """PostHog-style JSONL: one object per line, ``properties``/``set`` as JSON objects.

    ``properties`` and ``set`` are already JSON text and ids, event names and
    timestamps need no escaping, so each line is a string concatenation; the lines'
    Arrow value buffer is then exactly the file content.
    """
    import gzip

    import pyarrow.compute as pc

    with gzip.open(path, "wb", compresslevel=3) if gz else open(path, "wb") as fh:
        # in slices, so that one slice's text stays far below Arrow's 2 GiB string limit
        for start in range(0, part.num_rows, 500_000):
            chunk = part.slice(start, 500_000)
            line = pc.binary_join_element_wise(
                '{"uuid":"',
                chunk["uuid"],
                '","event":"',
                chunk["event"],
                '","distinct_id":"',
                chunk["distinct_id"],
                '","person_id":null,"properties":',
                chunk["properties"],
                ',"timestamp":"',
                pc.strftime(chunk["timestamp"], format="%Y-%m-%dT%H:%M:%SZ"),
                '","set":',
                pc.fill_null(chunk["set"], "null"),
                "}\n",
                "",
            ).combine_chunks()
            off = np.frombuffer(
                line.buffers()[1], dtype=np.int32, count=len(line) + 1, offset=line.offset * 4
            )
            fh.write(memoryview(line.buffers()[2])[off[0] : off[-1]])


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate(cfg: DemoConfig | None = None) -> DemoResult:
    """Generate demo events and ``truth.json`` into ``cfg.out_dir``; see the module doc.

    Earlier ``events_*`` files in ``out_dir`` are removed first, so the directory
    holds exactly one generated data set.
    """
    return _Generator(cfg or DemoConfig()).run()


def load_demo(wh, cfg: DemoConfig | None = None) -> DemoResult:
    """Generate the demo files, then load them into warehouse ``wh`` with the ingest module."""
    from ..ingest import ingest  # lazy: written in parallel, imports the warehouse machinery

    result = generate(cfg)
    ingest(wh, result.files)
    return result


def _main() -> None:  # pragma: no cover - manual timing helper
    import sys

    out = sys.argv[1] if len(sys.argv) > 1 else "data/demo"
    res = generate(DemoConfig(out_dir=out))
    print(
        json.dumps({"events": res.events, "persons": res.persons, "seconds": round(res.seconds, 2)})
    )


if __name__ == "__main__":  # pragma: no cover
    _main()
