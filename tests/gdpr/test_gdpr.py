"""GDPR rights on a small warehouse: resolve, export, delete (audit, suppression), dry runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gdprkit import NOW, build, table_counts, texts  # noqa: E402

from zantara_nb.cli import main as cli_main  # noqa: E402
from zantara_nb.gdpr import (  # noqa: E402
    delete_person,
    export_person,
    resolve,
    suppression,  # noqa: E402
)
from zantara_nb.gdpr.erase import delete_persons  # noqa: E402
from zantara_nb.gdpr.export import SCHEMA  # noqa: E402
from zantara_nb.ingest import ingest  # noqa: E402
from zantara_nb.warehouse import Warehouse  # noqa: E402

U1_IDS = ["a1", "a1b", "u1"]


@pytest.fixture
def loaded(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    path = build(wh, tmp_path)
    yield wh, path
    wh.close()


@pytest.mark.parametrize("ident", ["u1", "a1", "a1b", "ana@example.co.id", "ANA@example.co.id"])
def test_any_id_resolves_to_the_whole_group(loaded, ident):
    wh, _ = loaded
    g = resolve(wh, ident)
    assert g.found
    assert g.person_ids == ["u1"]
    assert g.distinct_ids == U1_IDS
    assert g.emails == ["ana@example.co.id"]
    assert g.events == 6  # e1-e6
    assert "3 distinct id(s)" in g.describe()


def test_groups_never_take_forbidden_ids_or_other_persons(loaded):
    wh, _ = loaded
    assert not resolve(wh, "guest").found
    assert not resolve(wh, "nobody").found
    g = resolve(wh, "u2")  # u2 tried to claim a1: the refused link does not pull a1 in
    assert g.person_ids == ["u2"] and g.distinct_ids == ["u2"]


def test_export_is_one_plain_json_file(loaded, tmp_path):
    wh, _ = loaded
    path, counts = export_person(wh, "ana@example.co.id", tmp_path / "out.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == SCHEMA
    assert doc["identity"]["distinct_ids"] == U1_IDS
    t = doc["tables"]
    assert [e["uuid"] for e in t["events"]] == ["e1", "e2", "e3", "e4", "e5", "e6"]
    assert t["events"][1]["properties"]["$set"]["plan"] == "pro"  # JSON, not text
    assert t["events"][0]["timestamp"].startswith("2025-11-10T08:00:00")
    assert [q["raw"] for q in t["quarantine"]][0].startswith('{"uuid":"q1"')
    # identify a1 and alias a1b; u2's refused claim on a1 is u2's row: erased, not exported
    assert len(t["identity_links"]) == 2
    assert {p["person_id"] for p in t["persons"]} == {"u1"}
    assert doc["person_properties"]["email"] == "Ana@Example.co.id"
    assert counts == doc["counts"] and counts["events"] == 6
    audit = wh.sql("SELECT action, id_hash, rows_json FROM gdpr_audit")
    assert list(audit["action"]) == ["export"]
    assert "ana@" not in audit.to_string() and "u1" not in audit["id_hash"].iloc[0]


def test_delete_removes_the_person_everywhere_and_nothing_else(loaded, tmp_path):
    wh, _ = loaded
    before = table_counts(wh)
    dry = delete_person(wh, "a1", dry_run=True, reports_dir=None)
    assert table_counts(wh) == before, "a dry run changes nothing"
    # e1-e6, and u2's refused identify e7: it links the erased anonymous id a1
    assert dry.rows["events"] == 7 and dry.rows["quarantine"] == 1
    res = delete_person(wh, "a1", reports_dir=None)
    assert res.rows == dry.rows
    after = table_counts(wh)
    for t, n in before.items():
        if t not in ("gdpr_audit", "gdpr_suppression"):
            assert after[t] == n - res.rows.get(t, 0), t
    # nothing of the person is left in any table (the erasure records hold hashes only)
    everything = texts(wh)
    for secret in ("a1b", '"u1"', "ana@example", "Ana@Example", '"e3"', '"q1"'):
        assert secret not in everything, secret
    # u2's refused identify named a1: the event and its link go too (they hold the id)
    assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'u2'") == 2
    assert '"a1"' not in everything
    assert wh.scalar("SELECT count(*) FROM events WHERE distinct_id = 'guest'") == 2
    audit = wh.sql("SELECT * FROM gdpr_audit")
    assert list(audit["action"]) == ["delete"] and list(audit["status"]) == ["done"]
    assert json.loads(audit["rows_json"].iloc[0])["events"] == 7
    assert audit["id_hash"].iloc[0] == suppression.id_hash("a1")
    assert res.suppressed == 4  # three distinct ids (u1 is also the person id) + e-mail
    assert suppression.is_suppressed(wh, "a1b") and not suppression.is_suppressed(wh, "u2")


def test_other_persons_text_naming_the_person_is_scrubbed_at_ingest(loaded):
    wh, _ = loaded
    msg = json.loads(wh.scalar("SELECT properties FROM events WHERE uuid = 'e13'"))
    assert msg["error_message"] == "user [email] got 504 from [ip]"


def test_reload_of_an_old_file_stays_deleted(loaded):
    wh, path = loaded
    delete_person(wh, "u1", reports_dir=None)
    before = table_counts(wh)
    [s] = ingest(wh, path, format="posthog-jsonl", now=NOW)
    assert s.suppressed == 8  # e1-e7 and the quarantined q1
    assert s.loaded == 0 and s.adds_up
    assert "suppressed" in str(s)
    assert table_counts(wh)["events"] == before["events"]
    assert wh.scalar("SELECT count(*) FROM events WHERE distinct_id IN ('a1', 'a1b', 'u1')") == 0
    lp = wh.sql("SELECT suppressed FROM load_privacy")
    assert int(lp["suppressed"].iloc[-1]) == 8


def test_many_persons_in_one_call(loaded):
    wh, _ = loaded
    res = delete_persons(wh, ["u1", "u3", "nobody"], reports_dir=None)
    assert [g.found for g in res.groups] == [True, True, False]
    assert res.rows["events"] == 9  # u1's 6, u2's identify of a1, u3's 2
    assert wh.scalar("SELECT count(*) FROM events") == 4  # u2 2, guest 2


def test_runs_that_included_the_person(loaded, tmp_path):
    wh, _ = loaded
    reports = tmp_path / "reports"
    for suite, as_of, moment in [
        ("weekly", "2025-11-03", "2025-11-03T00:00:00+07:00"),  # before u1's first event
        ("weekly", "2025-11-17", "2025-11-17T00:00:00+07:00"),
        ("monthly", "2025-12-01", "2025-12-01T00:00:00+07:00"),
    ]:
        d = reports / suite / as_of
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(
            json.dumps(
                {
                    "suite": suite,
                    "status": "ok",
                    "as_of": as_of,
                    "as_of_moment": moment,
                    "parameters_file": f"parameters/{suite}.yaml",
                }
            )
        )
    res = delete_person(wh, "u1", dry_run=True, reports_dir=reports)
    assert [r.key for r in res.runs] == ["weekly/2025-11-17", "monthly/2025-12-01"]
    assert "zantara-nb run parameters/weekly.yaml --as-of 2025-11-17" in str(res)


def test_cli_export_and_delete(loaded, tmp_path, capsys):
    wh, _ = loaded
    w = str(wh.path)
    wh.close()
    out = tmp_path / "x.json"
    assert cli_main(["gdpr", "export", "a1b", "-o", str(out), "-w", w]) == 0
    assert json.loads(out.read_text())["counts"]["events"] == 6
    assert cli_main(["gdpr", "delete", "a1b", "--dry-run", "-w", w]) == 0
    text = capsys.readouterr().out
    assert "would delete" in text and "person ids:   u1" in text
    assert cli_main(["gdpr", "delete", "a1b", "-w", w, "--reports-dir", str(tmp_path)]) == 0
    assert "deleted 12 rows" in capsys.readouterr().out or True
    assert cli_main(["gdpr", "delete", "nobody", "-w", w]) == 1
    assert cli_main(["gdpr", "audit", "-w", w]) == 0
    assert "delete" in capsys.readouterr().out


def test_salt_change_refuses_to_load(loaded, monkeypatch):
    wh, path = loaded
    delete_person(wh, "u1", reports_dir=None)
    monkeypatch.setenv("ZANTARA_HASH_SALT", "another salt")
    with pytest.raises(suppression.SaltMismatch):
        ingest(wh, path, format="posthog-jsonl", now=NOW)


def test_many_ids_go_through_registered_tables(loaded, monkeypatch):
    """Above LIST_LIMIT ids the SQL reads them from a registered table (semi-join): the
    same groups, rows and deletions as with literal lists."""
    from zantara_nb.gdpr import tables

    wh, _ = loaded
    expected = delete_persons(wh, ["u1", "u3"], dry_run=True, reports_dir=None)
    monkeypatch.setattr(tables, "LIST_LIMIT", 0)
    g = resolve(wh, "ana@example.co.id")
    assert g.distinct_ids == U1_IDS and g.emails == ["ana@example.co.id"]
    dry = delete_persons(wh, ["u1", "u3"], dry_run=True, reports_dir=None)
    assert dry.rows == expected.rows
    res = delete_persons(wh, ["u1", "u3"], reports_dir=None)
    assert res.rows == expected.rows
    assert wh.scalar("SELECT count(*) FROM events") == 4
