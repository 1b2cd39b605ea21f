"""What one load did: :class:`LoadSummary`, and :class:`IngestError` for unusable files."""

from __future__ import annotations

import html
from dataclasses import dataclass, field


class IngestError(Exception):
    """A file is not what it claims to be, or cannot be read at all.

    The message starts with the path, so it can be printed as is.
    """


#: Quarantine reasons and what they mean (``quarantine.reason``).
REASONS: dict[str, str] = {
    "malformed_json": "the line/element is not a JSON object",
    "malformed_row": "the CSV row cannot be parsed (wrong number of fields, bad quoting)",
    "missing_event": "no event name",
    "missing_timestamp": "no timestamp",
    "unparseable_timestamp": "the timestamp is not a date/time",
    "missing_distinct_id": "no distinct id (userId/anonymousId/distinct_id)",
    "invalid_property": "a tracked property has the wrong type or a value outside the plan",
    "future_timestamp": "the timestamp is more than a day after the load time",
}


def _top(counts: dict[str, int], n: int = 8) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} ({v:,})" for k, v in items[:n])
    if len(items) > n:
        shown += f", ... {len(items) - n} more"
    return shown


@dataclass
class LoadSummary:
    """Counts for one file. ``rows_read == loaded + duplicates + sum(quarantined)``;
    ``lines_read == rows_read + blank_lines``."""

    path: str
    format: str
    load_id: int | None = None
    rows_read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    naive_timestamps: int = 0
    unknown_events: dict[str, int] = field(default_factory=dict)
    unknown_properties: dict[str, int] = field(default_factory=dict)
    naming_problems: dict[str, int] = field(default_factory=dict)
    redacted_properties: int = 0
    #: ``event.key`` -> rows whose text value was cut to the loader's per-value size
    #: limit (``zantara_nb.ingest.normalize.VALUE_LIMIT``), ending with "…".
    long_values: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    identity_links: int = 0
    #: Blank lines (JSON lines, CSV): skipped, counted; ``lines_read`` includes them.
    blank_lines: int = 0
    status: str = "ok"
    message: str = ""
    # -- added for gdpr (issue 15): rows dropped at the door, personal data scrubbed --
    suppressed: int = 0
    """Rows of persons erased under GDPR (on the suppression list): not loaded."""
    consent_declined: int = 0
    """Events of persons who declined analytics consent: only counted per day."""
    expired: int = 0
    """Events older than the retention cut-off: not loaded (they would be deleted)."""
    pii_scrubbed: dict[str, int] = field(default_factory=dict)
    """Personal data replaced in free-text values, by kind (email, phone, ip, nik, ...)."""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def lines_read(self) -> int:
        """Rows read plus blank lines: loaded + duplicates + quarantined + blank (+ the
        rows held back at the door, see :attr:`adds_up`)."""
        return self.rows_read + self.blank_lines

    @property
    def nothing_read(self) -> bool:
        """True when the file gave no rows at all (the CLI exits non-zero)."""
        return self.rows_read == 0

    @property
    def adds_up(self) -> bool:
        """Every row read is loaded, a duplicate, or quarantined."""
        return self.rows_read == (
            self.loaded
            + self.duplicates
            + self.quarantined_total
            + self.suppressed
            + self.consent_declined
            + self.expired
        )

    def _lines(self) -> list[tuple[str, str]]:
        rate = (
            f"{self.rows_read / self.seconds:,.0f} rows/s"
            if self.seconds > 0 and self.rows_read
            else ""
        )
        rows = [
            ("file", f"{self.path} ({self.format}, load {self.load_id})"),
            ("status", self.status + (f": {self.message}" if self.message else "")),
            ("rows read", f"{self.rows_read:,}"),
            ("loaded", f"{self.loaded:,}"),
            ("duplicates", f"{self.duplicates:,} (already loaded or repeated in the file)"),
            (
                "quarantined",
                f"{self.quarantined_total:,}"
                + (f": {_top(self.quarantined)}" if self.quarantined else ""),
            ),
        ]
        if self.blank_lines:
            rows.append(
                (
                    "blank lines",
                    f"{self.blank_lines:,} (skipped; {self.lines_read:,} lines read in all)",
                )
            )
        if self.naive_timestamps:
            rows.append(
                ("naive timestamps", f"{self.naive_timestamps:,} (no offset, taken as UTC)")
            )
        if self.unknown_events:
            rows.append(
                (
                    "unknown events",
                    f"{sum(self.unknown_events.values()):,} rows, kept: {_top(self.unknown_events)}",
                )
            )
        if self.unknown_properties:
            rows.append(
                (
                    "unknown properties",
                    f"{len(self.unknown_properties)} keys, kept: {_top(self.unknown_properties)}",
                )
            )
        if self.naming_problems:
            rows.append(("naming warnings", _top(self.naming_problems)))
        if self.long_values:
            n = sum(self.long_values.values())
            rows.append(("long values", f"{n:,} cut to the size limit: {_top(self.long_values)}"))
        if self.redacted_properties:
            rows.append(
                ("redacted", f"{self.redacted_properties:,} never-store properties removed")
            )
        if self.identity_links:
            rows.append(("identity links", f"{self.identity_links:,} new"))
        if self.suppressed:
            rows.append(
                ("suppressed", f"{self.suppressed:,} rows of erased persons (GDPR), not loaded")
            )
        if self.consent_declined:
            rows.append(
                (
                    "no consent",
                    f"{self.consent_declined:,} events without analytics consent, counted only",
                )
            )
        if self.expired:
            rows.append(("expired", f"{self.expired:,} events older than the retention cut-off"))
        if self.pii_scrubbed:
            rows.append(("scrubbed", f"personal data in free text: {_top(self.pii_scrubbed)}"))
        rows.append(("time", f"{self.seconds:.1f} s" + (f" ({rate})" if rate else "")))
        return rows

    def __str__(self) -> str:
        rows = self._lines()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self._lines()
        )
        return f"<table>{body}</table>"
