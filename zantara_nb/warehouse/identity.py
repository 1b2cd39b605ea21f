"""Identity stitching: which distinct ids are the same person (METRICS.md section 0).

Links come from the loader's ``identity_links`` table:

- ``identify``: PostHog ``$identify`` (``$anon_distinct_id`` -> the user's distinct id)
  and Segment ``identify`` messages carrying both ``userId`` and ``anonymousId``;
- ``alias``: PostHog ``$create_alias`` and Segment ``alias`` (``previousId``);
- ``segment_both``: any other Segment message carrying both ids (Segment's own rule).

Rules, applied in timestamp order (ties broken by uuid, so the result is deterministic):

1. A link with a forbidden id on either side (``null``, ``guest``, ``anonymous``, ``0``,
   ``[object Object]``, empty... see ``tracking_plan.FORBIDDEN_IDS``) is never used.
2. ``identify``/``segment_both``: the anonymous id joins the user's person, unless it is
   itself an identified user id, or it already joined another person (PostHog refuses
   to merge an already-identified person the same way). Such links count as conflicts.
3. ``alias`` merges both ids' persons (an explicit instruction).

Each merged group's ``person_id`` is its earliest identified user id (the distinct id
side of its earliest link); ids never linked keep ``person_id = distinct_id``. Earlier
anonymous events of a merged id count for the user, as PostHog does.
``stitch`` is re-run after every load, so new identify/alias events re-stitch history.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tracking_plan import is_forbidden_id


@dataclass(frozen=True)
class StitchResult:
    """What a stitching pass did."""

    links: int
    """Identity links considered."""
    used_links: int
    """Links that merged two ids."""
    forbidden_links: int
    """Links skipped because one side is a forbidden id."""
    conflicts: int
    """identify links refused (anonymous id already merged elsewhere, or itself a user)."""
    merged_ids: int
    """Distinct ids that belong to a person other than themselves."""
    events_updated: int
    """Events whose person_id changed in this pass."""
    persons: int
    """Rows in the persons table afterwards."""


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def resolve_links(links: list[tuple[str, str, str]]) -> tuple[dict[str, str], dict[str, int]]:
    """Apply the stitching rules to ordered (user_id, anon_id, kind) links.

    Returns the mapping distinct_id -> person_id for every id that was merged with
    another, and counters (used, forbidden, conflicts).
    """
    uf = _UnionFind()
    identified: set[str] = set()
    first_claim: dict[str, int] = {}  # identified id -> order of its first link
    claimed: set[str] = set()
    used = forbidden = conflicts = 0
    for order, (user, anon, kind) in enumerate(links):
        if is_forbidden_id(user) or is_forbidden_id(anon):
            forbidden += 1
            continue
        if user == anon:
            continue
        identified.add(user)
        first_claim.setdefault(user, order)
        if kind == "alias":
            uf.union(user, anon)
            used += 1
            continue
        if uf.find(anon) == uf.find(user):
            continue
        if anon in identified or anon in claimed:
            conflicts += 1
            continue
        claimed.add(anon)
        uf.union(user, anon)
        used += 1

    groups: dict[str, list[str]] = {}
    for x in list(uf.parent):
        groups.setdefault(uf.find(x), []).append(x)
    mapping: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        users = [m for m in members if m in identified]
        pid = min(users, key=lambda m: (first_claim[m], m)) if users else min(members)
        for m in members:
            mapping[m] = pid
    return mapping, {"used": used, "forbidden": forbidden, "conflicts": conflicts}


def stitch(wh) -> StitchResult:
    """Recompute ``person_distinct_ids``, fix ``events.person_id`` and rebuild ``persons``
    (one transaction, holding the warehouse for writing)."""
    with wh.writing():
        if not getattr(wh.engine, "transactional", True):  # no BEGIN/COMMIT there
            return stitch_in_transaction(wh)
        con = wh.con
        con.execute("BEGIN TRANSACTION")
        try:
            result = stitch_in_transaction(wh)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return result


def stitch_in_transaction(wh) -> StitchResult:
    """:func:`stitch` inside the caller's open transaction (the loader's)."""
    if hasattr(wh.engine, "apply_person_map"):  # ClickHouse: the engine rewrites person ids
        return _stitch_on_engine(wh)
    con = wh.con
    links = con.execute(
        """
        SELECT distinct_id, anon_distinct_id, kind
        FROM identity_links
        ORDER BY timestamp, uuid, distinct_id, anon_distinct_id
        """
    ).fetchall()
    mapping, counts = resolve_links(links)

    con.execute("DELETE FROM person_distinct_ids")
    if mapping:
        import pyarrow as pa

        table = pa.table({"distinct_id": list(mapping.keys()), "person_id": list(mapping.values())})
        con.register("_pdi", table)
        con.execute("INSERT INTO person_distinct_ids SELECT distinct_id, person_id FROM _pdi")
        con.unregister("_pdi")
    changed = con.execute(
        """
        UPDATE events SET person_id = m.person_id
        FROM person_distinct_ids m
        WHERE events.distinct_id = m.distinct_id
          AND events.person_id IS DISTINCT FROM m.person_id
        """
    ).fetchall()[0][0]
    changed += con.execute(
        """
        UPDATE events SET person_id = distinct_id
        WHERE (person_id IS NULL OR person_id <> distinct_id)
          AND distinct_id NOT IN (SELECT distinct_id FROM person_distinct_ids)
        """
    ).fetchall()[0][0]
    rebuild_persons(wh)
    persons = con.execute("SELECT count(*) FROM persons").fetchall()[0][0]
    return StitchResult(
        links=len(links),
        used_links=counts["used"],
        forbidden_links=counts["forbidden"],
        conflicts=counts["conflicts"],
        merged_ids=sum(1 for k, v in mapping.items() if k != v),
        events_updated=int(changed),
        persons=int(persons),
    )


def _stitch_on_engine(wh) -> StitchResult:
    """:func:`stitch` on an engine that applies the person map itself
    (``engine.apply_person_map``: ClickHouse, where person_id is in the sorting key)."""
    links = wh.con.execute(
        """
        SELECT distinct_id, anon_distinct_id, kind
        FROM identity_links
        ORDER BY timestamp, uuid, distinct_id, anon_distinct_id
        """
    ).fetchall()
    mapping, counts = resolve_links(links)
    changed = wh.engine.apply_person_map(mapping)
    rebuild_persons(wh)
    return StitchResult(
        links=len(links),
        used_links=counts["used"],
        forbidden_links=counts["forbidden"],
        conflicts=counts["conflicts"],
        merged_ids=sum(1 for k, v in mapping.items() if k != v),
        events_updated=int(changed),
        persons=int(wh.scalar("SELECT count(*) FROM persons")),
    )


_PERSON_PROPS = ("plan", "language", "timezone", "country", "user_type", "created_at")


def rebuild_persons(wh) -> None:
    """Rebuild ``persons``: first/last seen and the latest value of each person property.

    Person properties come from ``set_props`` (PostHog ``$set``, Segment identify traits);
    for each property the value of the latest event that set it wins. Emails and names
    stay in ``set_props`` (for GDPR export) and are never copied here.
    """
    d = wh.dialect
    props = ",\n".join(
        f"{d.arg_max(d.json_text('set_props', p), 'timestamp')} "
        f"FILTER (WHERE {d.json_text('set_props', p)} IS NOT NULL) AS {p}"
        for p in _PERSON_PROPS
    )
    truncate = getattr(wh.engine, "truncate", None)
    if truncate is not None:
        truncate("persons")
    else:
        wh.con.execute("DELETE FROM persons")
    wh.con.execute(
        f"""
        INSERT INTO persons
        SELECT person_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen,
               {props},
               count(DISTINCT distinct_id) AS distinct_ids
        FROM events
        WHERE person_id IS NOT NULL
        GROUP BY person_id
        """
    )


def person_of(wh, distinct_id: str) -> str:
    """The person a distinct id belongs to (itself when it was never merged)."""
    pid = wh.scalar(
        "SELECT person_id FROM person_distinct_ids WHERE distinct_id = ?", [distinct_id]
    )
    return pid or distinct_id
