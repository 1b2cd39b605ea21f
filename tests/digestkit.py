"""A small hand-made warehouse and run folder for the digest, e-mail and schedule tests.

Report week: Mon 2026-03-09 .. Sun 2026-03-15 (as_of Mon 2026-03-16 00:00 Jakarta);
previous week 2026-03-02 .. 2026-03-08. Expected numbers are worked out in
``EXPECTED`` below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventkit import add_events, ev

from zantara_nb import Warehouse


def _day(d: int, hour: int = 10) -> str:
    return f"2026-03-{d:02d}T{hour:02d}:00:00+07:00"


def _reply(who: str, ts: str, mid: str, latency: float, cost: float) -> dict:
    return ev(
        who,
        "message_received",
        ts,
        message_id=mid,
        response_latency_ms=latency,
        response_cost_usd=cost,
    )


def fixture_rows() -> list[dict[str, Any]]:
    return [
        # previous week: a and b
        ev("a", "message_sent", _day(2), message_id="a1"),
        _reply("a", _day(2, 11), "a1", 1000, 0.004),
        ev("a", "feedback_given", _day(2, 12), message_id="a1", rating=1),
        ev("b", "message_sent", _day(3), message_id="b1"),
        _reply("b", _day(3, 11), "b1", 3000, 0.002),
        ev("b", "feedback_given", _day(3, 12), message_id="b1", rating=-1),
        # report week: a, c (two messages, one error), d
        ev("a", "message_sent", _day(10), message_id="a2"),
        _reply("a", _day(10, 11), "a2", 2000, 0.006),
        ev("a", "feedback_given", _day(10, 12), message_id="a2", rating=1),
        ev("c", "message_sent", _day(11), message_id="c1"),
        ev("c", "message_sent", _day(11, 12), message_id="c2"),
        _reply("c", _day(11, 13), "c1", 4000, 0.008),
        ev("c", "error_occurred", _day(11, 12), error_type="timeout"),
        # d: Sunday 18:00 UTC = Monday 01:00 in Jakarta -> the report week, not the previous
        ev("d", "message_sent", "2026-03-08T18:00:00Z", message_id="d1"),
        _reply("d", "2026-03-08T18:00:02Z", "d1", 500, 0.001),
    ]


#: What the digest must show for the fixture (week 2026-03-09 vs 2026-03-02).
EXPECTED = {
    # persons with a message_sent: {a, c, d} vs {a, b}
    "active_users": (3, 2),
    # a2, c1, c2, d1 vs a1, b1
    "messages": (4, 2),
    # 1000 * (0.006 + 0.008 + 0.001) / 3 replies = 5.0 USD per 1K -> 0.005 per query;
    # previous 1000 * 0.006 / 2 = 3.0 -> 0.003
    "cost_per_query": (0.005, 0.003),
    # feedback: 1 of 1 positive vs 1 of 2
    "satisfaction": (1.0, 0.5),
    # replies [500, 2000, 4000]: position 0.95 * 2 = 1.9 -> 2000 + 0.9 * 2000 = 3800 ms;
    # previous [1000, 3000]: 1000 + 0.95 * 2000 = 2900 ms
    "p95_latency_ms": (3800.0, 2900.0),
    # 1 error / 4 messages vs 0 / 2
    "error_rate": (0.25, 0.0),
}
AS_OF = "2026-03-16"


def fixture_warehouse() -> Warehouse:
    wh = Warehouse(":memory:")
    add_events(wh, fixture_rows())
    return wh


def make_run_dir(
    root: Path,
    digest_dir: Path,
    *,
    suite: str = "weekly",
    as_of: str = AS_OF,
    failed: bool = False,
) -> Path:
    """A run folder shaped as zantara_nb.reporting.runner writes it: manifest.json, pages, digest.

    Notebook pages sit in the run folder: ``<name>.html`` (reader, code-free) and
    ``<name>.analyst.html``; the manifest lists them under each notebook's ``outputs``.
    """
    import shutil

    run = root / suite / as_of
    run.mkdir(parents=True, exist_ok=True)
    for f in digest_dir.iterdir():
        if f.is_file():
            shutil.copy(f, run / f.name)
    nbs = []
    for i, name in enumerate(["01_kpis", "02_health", "03_funnels"]):
        broken = failed and i == 2
        outputs = {
            "notebook": None if broken else f"{name}.ipynb",
            "reader": f"{name}.html",
            "analyst": f"{name}.analyst.html",
        }
        entry = {"name": name, "status": "failed" if broken else "ok", "outputs": outputs}
        if broken:
            entry["error"] = {
                "ename": "ValueError",
                "evalue": "funnel <steps> missing",
                "traceback": ["Traceback (most recent call last):", "ValueError: ..."],
            }
            page = "<html><body><h1>This notebook failed</h1></body></html>"
        else:
            page = f"<html><body><h1>{name}</h1><p>{'report text ' * 400}</p></body></html>"
        (run / outputs["reader"]).write_text(page, encoding="utf-8")
        (run / outputs["analyst"]).write_text(f"<html>code of {name}</html>", encoding="utf-8")
        nbs.append(entry)
    (run / "index.html").write_text("<html>index</html>", encoding="utf-8")
    manifest = {
        "suite": suite,
        "title": f"ZANTARA {suite} report",
        "status": "failed" if failed else "ok",
        "failed": ["03_funnels"] if failed else [],
        "as_of": as_of,
        "version": "0.1.0",
        "parameters": {"suite": suite, "title": f"ZANTARA {suite} report"},
        "freshness": "newest event 2026-03-15T18:00:02+00:00, 5.0 h before the cut-off",
        "notebooks": nbs,
    }
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return run
