"""The run manifest: one typed record, written atomically and read in one place."""

from __future__ import annotations

import json

from zantara_nb.reporting.manifest import (
    MANIFEST_FILE,
    RunManifest,
    iter_manifests,
    read_manifest,
    write_manifest,
)


def test_round_trip_keeps_unknown_keys(tmp_path):
    m = RunManifest(suite="weekly", status="ok", as_of="2026-08-24", timings={"total_s": 1.5})
    m.extra["added_later"] = {"x": 1}
    write_manifest(tmp_path, m)
    raw = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert raw["suite"] == "weekly" and raw["added_later"] == {"x": 1}
    back = read_manifest(tmp_path)
    assert back == m
    assert back.ok and back["timings"]["total_s"] == 1.5 and back.get("nope", 7) == 7
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed over


def test_missing_or_broken_manifests_read_as_none(tmp_path):
    assert read_manifest(tmp_path) is None
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    assert read_manifest(tmp_path) is None
    (tmp_path / MANIFEST_FILE).write_text("[1, 2]")
    assert read_manifest(tmp_path) is None


def test_iter_manifests_skips_hidden_and_unreadable_runs(tmp_path):
    for name, status in (("2026-08-17", "ok"), ("2026-08-24", "failed"), (".tmp-run", "ok")):
        d = tmp_path / "weekly" / name
        d.mkdir(parents=True)
        write_manifest(d, RunManifest(suite="weekly", status=status, as_of=name))
    bad = tmp_path / "weekly" / "2026-08-31"
    bad.mkdir()
    (bad / MANIFEST_FILE).write_text("{")
    runs = [(p.name, m.status) for p, m in iter_manifests(tmp_path)]
    assert runs == [("2026-08-17", "ok"), ("2026-08-24", "failed")]
    assert [m.ok for _, m in iter_manifests(tmp_path, "weekly")] == [True, False]
