"""Odd lines in a good file: a NUL byte spoils its line only; blank lines are counted.

loaded + duplicates + quarantined + blank = lines read, in the summary and in ``loads``.
"""

from __future__ import annotations

import json

import pytest
from ingest_fixtures import NOW, posthog

from zantara_nb.ingest import IngestError, ingest


def _line(i: int) -> str:
    return json.dumps(posthog(f"id-{i}", "message_sent", f"user_{i % 4}"))


def test_nul_byte_in_the_first_4kb_quarantines_its_line_only(wh, tmp_path):
    lines = [_line(i) for i in range(40)]
    lines[3] = lines[3].replace('"message_sent"', '"message\x00_sent"')
    path = tmp_path / "nul.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert path.read_bytes().index(b"\x00") < 4096
    [s] = ingest(wh, path, now=NOW)
    assert (s.loaded, s.quarantined, s.duplicates) == (39, {"malformed_json": 1}, 0)
    assert s.adds_up and s.lines_read == 40
    assert wh.scalar("SELECT line FROM quarantine") == 4


def test_a_binary_file_is_still_refused(wh, tmp_path):
    path = tmp_path / "utf16.jsonl"
    path.write_bytes("\n".join(_line(i) for i in range(5)).encode("utf-16"))
    with pytest.raises(IngestError, match="binary content"):
        ingest(wh, path, now=NOW)
    png = tmp_path / "x.jsonl"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" * 50)
    with pytest.raises(IngestError, match="binary content"):
        ingest(wh, png, now=NOW)


@pytest.mark.parametrize("slow", [False, True], ids=["fast-path", "slow-path"])
def test_blank_lines_are_counted(wh, tmp_path, slow):
    lines = [_line(i) for i in range(10)]
    lines[2:2] = ["", "   "]  # (a tab-only line is quarantined as malformed)
    lines.append(_line(0))  # a duplicate
    lines.append("{not json")
    if slow:  # invalid UTF-8 sends the file to the line-by-line reader
        lines.append('{"event": "caf\xe9"}')
    path = tmp_path / "blank.jsonl"
    data = ("\n".join(lines) + "\n\n").encode("utf-8")
    if slow:
        data = data.replace("caf\xe9".encode(), b"caf\xe9")
    path.write_bytes(data)
    n_lines = data.count(b"\n")
    [s] = ingest(wh, path, now=NOW)
    assert s.blank_lines == 3  # two, and the empty line at the end
    assert s.loaded + s.duplicates + s.quarantined_total + s.blank_lines == s.lines_read
    assert s.lines_read == n_lines
    assert (s.loaded, s.duplicates) == (10, 1)
    assert "blank lines" in str(s) and f"{n_lines:,} lines read in all" in str(s)
    assert wh.scalar("SELECT blank_lines FROM loads") == 3
