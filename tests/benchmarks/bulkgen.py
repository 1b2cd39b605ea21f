"""Bulk synthetic events for benchmarks: tens of millions of rows straight into a warehouse.

The demo generator (``zantara_nb.demo``) aims at realism and planted truth; this one aims
at volume. It writes the canonical ``events`` table directly with DuckDB SQL
(``range()`` + hashing for randomness), so 50M events take about a minute, and keeps the
shapes the metrics care about: anonymous page views merged into users by identity links,
signups, messages and replies with latency and cost, feedback, subscriptions, a decaying
return probability, weekly seasonality.

    python tests/benchmarks/bulkgen.py --events 50000000 --out data/bench50m.duckdb
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from zantara_nb import Warehouse  # noqa: E402
from zantara_nb.warehouse.identity import stitch  # noqa: E402

START = "2026-05-25 00:00:00+00"
DAYS = 182


def generate(path: Path, events: int, seed: int = 1) -> dict:
    """Write about ``events`` events for ``events / 60`` persons into a new warehouse."""
    if path.exists():
        path.unlink()
    persons = max(100, events // 60)
    t0 = time.time()
    wh = Warehouse(path)
    con = wh.con
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    # persons: signup time, activity level (heavy tail), plan
    con.execute(
        f"""
        CREATE TEMP TABLE bp AS
        SELECT i AS pid,
               'u' || i AS user_id,
               'anon-' || i AS anon_id,
               TIMESTAMPTZ '{START}' + to_seconds(CAST(floor(sqrt(random()) * {DAYS} * 86400) AS BIGINT)) AS signup,
               -- heavy-tailed number of sessions
               greatest(1, CAST(pow(random(), -0.6) * 3 AS INTEGER)) AS sessions,
               CASE WHEN random() < 0.7 THEN 'ID' WHEN random() < 0.5 THEN 'AU' ELSE 'US' END AS country
        FROM range({persons}) t(i)
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE bs AS
        SELECT pid, user_id, s AS sess,
               signup + to_seconds(CAST(
                   CASE WHEN s = 0 THEN 60 ELSE -ln(random()) * 14 * 86400 * s / 3 END AS BIGINT)) AS st
        FROM bp, range(0, 200) r(s)
        WHERE s < sessions
        """
    )
    con.execute(f"DELETE FROM bs WHERE st >= TIMESTAMPTZ '{START}' + INTERVAL {DAYS} DAY")
    total_sessions = con.execute("SELECT count(*) FROM bs").fetchall()[0][0]
    per_session = max(1.0, (events - persons * 3.1) / max(1, total_sessions) / 2.1)
    span = 2 * per_session - 1
    con.execute("ALTER TABLE bs ADD COLUMN n_msgs INTEGER")
    con.execute(f"UPDATE bs SET n_msgs = 1 + CAST(floor(random() * {span}) AS INTEGER)")
    cats = "['visa','tax','business','property','legal','banking','general']"
    models = "['claude-3-5-sonnet','claude-3-5-haiku','gpt-4o-mini']"
    con.execute(
        f"""
        CREATE TEMP TABLE bm AS
        SELECT pid, user_id, sess, st + to_seconds(m * 40 + CAST(random() * 30 AS BIGINT)) AS ts,
               'ms-' || pid || '-' || sess || '-' || m AS message_id,
               {cats}[1 + CAST(floor(random() * 7) AS INTEGER)] AS cat,
               {models}[1 + CAST(floor(random() * 3) AS INTEGER)] AS model,
               600 + pow(random(), 3) * 6000 AS latency
        FROM bs, range(0, {int(span) + 2}) r(m)
        WHERE m < n_msgs
        """
    )
    base = """
        uuid, event, timestamp, distinct_id, person_id, session_id, properties,
        message_id, query_category, model_used, response_latency_ms, response_cost_usd,
        rating, plan, price_usd, billing_period, days_since_signup, country, load_id
    """
    ins = f"INSERT INTO events ({base}) "
    con.execute(
        ins
        + """
        SELECT 'pv-' || pid, 'page_viewed', signup - INTERVAL 5 MINUTE, anon_id, anon_id, NULL,
               '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, country, 0
        FROM bp
        UNION ALL
        SELECT 'su-' || pid, 'user_signed_up', signup, user_id, user_id, NULL, '{}',
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, country, 0
        FROM bp
        UNION ALL
        SELECT 'id-' || pid, '$identify', signup, user_id, user_id, NULL, '{}',
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, country, 0
        FROM bp
        UNION ALL
        SELECT 'sub-' || pid, 'subscription_started', signup + INTERVAL 20 DAY, user_id, user_id,
               NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL, 'pro', 29.0, 'monthly', 20, country, 0
        FROM bp WHERE pid % 11 = 0
        """
    )
    con.execute(
        "INSERT INTO identity_links SELECT user_id, anon_id, 'identify', signup, 'id-' || pid FROM bp"
    )
    con.execute(
        ins
        + """
        SELECT 'm-' || message_id, 'message_sent', ts, user_id, user_id, 's-' || pid || '-' || sess,
               '{}', message_id, cat, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               CAST(datediff('day', (SELECT signup FROM bp WHERE bp.pid = bm.pid), ts) AS INTEGER),
               NULL, 0
        FROM bm
        """
    )
    con.execute(
        ins
        + """
        SELECT 'r-' || message_id, 'message_received', ts + to_milliseconds(CAST(latency AS BIGINT)),
               user_id, user_id, 's-' || pid || '-' || sess, '{}', message_id, cat, model, latency,
               0.002 + latency / 1e6, NULL, NULL, NULL, NULL, NULL, NULL, 0
        FROM bm
        UNION ALL
        SELECT 'f-' || message_id, 'feedback_given', ts + INTERVAL 30 SECOND, user_id, user_id,
               's-' || pid || '-' || sess, '{}', message_id, cat, NULL, NULL, NULL,
               CASE WHEN random() < 0.72 THEN 1 ELSE -1 END, NULL, NULL, NULL, NULL, NULL, 0
        FROM bm WHERE hash(message_id) % 10 = 0
        """
    )
    con.execute("DROP TABLE bm")
    stitch(wh)
    n = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.execute("CHECKPOINT")
    wh.close()
    return {"events": n, "persons": persons, "seconds": time.time() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "bench.duckdb")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    r = generate(a.out, a.events, a.seed)
    print(f"{r['events']:,} events for {r['persons']:,} persons in {r['seconds']:.1f} s -> {a.out}")


if __name__ == "__main__":
    main()
