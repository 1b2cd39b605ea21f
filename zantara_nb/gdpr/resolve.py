"""From one id to the person's whole identity group.

The id may be a person id, any of the person's distinct ids, or an e-mail address held
in person properties (``$set``/identify traits ``email``, case-insensitive). The group:

1. **seeds**: the id itself, and the distinct ids whose person properties carry that
   e-mail;
2. **persons**: the person ids of the seeds (``person_distinct_ids``, ``events``,
   ``persons``: a seed may itself be a person id);
3. **distinct ids**: every distinct id of those persons (the stitching's map and the
   events), plus the ids their identify/alias links name;
4. **e-mails**: the e-mail addresses in those persons' properties.

Ids that are never merged (``null``, ``guest``, ``0`` ...: ``tracking_plan.FORBIDDEN_IDS``)
are never part of a group, so erasing one person can never take other people's
"guest" rows with it. Links refused by the stitching (an anonymous id already claimed
by another person) do not pull that other person in: only ids whose person is in the
group are followed, and the link rows themselves go with the person who sent them.

Cost: two scans of ``events`` (seed lookup by e-mail only when the id is an e-mail) and
lookups in the small tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..warehouse.tracking_plan import is_forbidden_id
from . import tables

EMAIL_KEYS = ("email", "$email")


@dataclass
class IdentityGroup:
    """The ids of one person (or of nobody, when nothing matched)."""

    query: str
    person_ids: list[str] = field(default_factory=list)
    distinct_ids: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    events: int = 0

    @property
    def found(self) -> bool:
        return bool(self.person_ids or self.distinct_ids)

    @property
    def all_ids(self) -> list[str]:
        """Person ids and distinct ids together (sorted, once each)."""
        return sorted(set(self.person_ids) | set(self.distinct_ids))

    def describe(self) -> str:
        if not self.found:
            return f"{self.query}: no person found (no event, link, person or e-mail matches)"
        lines = [
            f"{self.query}: {len(self.person_ids)} person(s), {len(self.distinct_ids)} distinct "
            f"id(s), {len(self.emails)} e-mail(s), {self.events:,} events",
            "  person ids:   " + ", ".join(self.person_ids),
            "  distinct ids: " + ", ".join(self.distinct_ids),
        ]
        if self.emails:
            lines.append("  e-mails:      " + ", ".join(self.emails))
        if self.first_seen is not None:
            lines.append(
                f"  seen:         {self.first_seen:%Y-%m-%d %H:%M} → {self.last_seen:%Y-%m-%d %H:%M} UTC"
            )
        return "\n".join(lines)


def _clean(values) -> set[str]:
    return {str(v) for v in values if v is not None and not is_forbidden_id(str(v))}


def _email_sql(d, col: str) -> str:
    parts = [f"lower(trim({d.json_text(col, k)}))" for k in EMAIL_KEYS]
    return f"coalesce({', '.join(parts)})"


def _rows(wh, sql: str, params=None) -> list[tuple]:
    return wh.engine.rows(sql, params)


def _scan(wh, dids: set[str], pids: set[str]) -> list[tuple]:
    """(person_id, distinct_id, events, first, last) of the events naming these ids.

    Two queries, each filtering one column while scanning (an ``OR`` across the two
    columns is several times slower on a large table); the second leaves out the rows
    of the first, so every (person, distinct id) group comes from one of them."""
    agg = "SELECT person_id, distinct_id, count(*), min(timestamp), max(timestamp) FROM events"
    out: list[tuple] = []
    with tables.IdSets(wh, d=dids, p=pids) as ids:
        if dids:
            out += _rows(wh, f"{agg} WHERE {ids.where('distinct_id', 'd')} GROUP BY 1, 2")
        if pids:
            other = f" AND NOT coalesce({ids.where('distinct_id', 'd')}, FALSE)" if dids else ""
            out += _rows(wh, f"{agg} WHERE {ids.where('person_id', 'p')}{other} GROUP BY 1, 2")
    return out


def _pairs(wh, table: str, a: str, b: str, ids_a: set[str], ids_b: set[str]) -> list[tuple]:
    """Distinct (a, b) rows of a small table where ``a`` is in ``ids_a`` or ``b`` in
    ``ids_b`` (one query per column)."""
    out: set[tuple] = set()
    with tables.IdSets(wh, a=ids_a, b=ids_b) as ids:
        for col, kind, vals in ((a, "a", ids_a), (b, "b", ids_b)):
            if vals:
                out |= {
                    (str(x), str(y))
                    for x, y in _rows(
                        wh, f"SELECT {a}, {b} FROM {table} WHERE {ids.where(col, kind)}"
                    )
                }
    return sorted(out)


def _pdi(wh, dids: set[str], pids: set[str]) -> list[tuple[str, str]]:
    """(distinct_id, person_id) rows of the stitching's map naming these ids."""
    return _pairs(wh, "person_distinct_ids", "distinct_id", "person_id", dids, pids)


def resolve(wh, ident: str) -> IdentityGroup:
    """The identity group of ``ident`` (see the module docstring)."""
    return resolve_batch(wh, [ident])[0]


def resolve_batch(wh, idents: list[str]) -> list[IdentityGroup]:
    """The identity group of each id, with the same scans for all of them."""
    d = wh.dialect
    queries = [str(i).strip() for i in idents]
    groups = [IdentityGroup(query=q) for q in queries]
    live = [i for i, q in enumerate(queries) if not is_forbidden_id(q)]
    if not live:
        return groups
    seeds = {i: {queries[i]} for i in live}
    mails = {queries[i].lower(): i for i in live if "@" in queries[i]}
    if mails:
        for did, mail in _rows(
            wh,
            f"SELECT DISTINCT distinct_id, {_email_sql(d, 'set_props')} AS m FROM events "
            f"WHERE set_props IS NOT NULL AND {_email_sql(d, 'set_props')} IN ({d.str_list(sorted(mails))})",
        ):
            if mail in mails and not is_forbidden_id(did):
                seeds[mails[mail]].add(str(did))
    all_seeds = set().union(*seeds.values())
    # persons of the seeds in the small tables (a seed may itself be a person id)
    pdi = _pdi(wh, all_seeds, all_seeds)
    with tables.IdSets(wh, s=all_seeds) as sids:
        in_persons = {
            str(r[0])
            for r in _rows(
                wh, f"SELECT person_id FROM persons WHERE {sids.where('person_id', 's')}"
            )
        }
    persons = {
        i: _clean(p for did, p in pdi if did in seeds[i] or p in seeds[i]) | (seeds[i] & in_persons)
        for i in live
    }
    pdi_ids = _by_person(_pdi(wh, set(), set().union(*persons.values())))
    ids = {
        i: seeds[i] | set().union(set(), *(pdi_ids.get(p, set()) for p in persons[i])) for i in live
    }
    # ids named by identify/alias links of these ids: candidates, decided by their events
    all_ids = set().union(*ids.values())
    links = _pairs(wh, "identity_links", "distinct_id", "anon_distinct_id", all_ids, all_ids)
    linked = {
        i: _clean(x for a, b in links if a in ids[i] or b in ids[i] for x in (a, b)) - ids[i]
        for i in live
    }
    looked_p = set().union(*persons.values()) | all_seeds
    looked_d = all_ids | set().union(*linked.values())
    found = _scan(wh, looked_d, looked_p)
    for i in live:
        persons[i] |= _clean(r[0] for r in found if r[1] in seeds[i] or r[0] in seeds[i])
    new = set().union(*persons.values()) - looked_p
    if new:  # met a person through a seed's events: read all of theirs too
        extra_ids = _by_person(_pdi(wh, set(), new))
        for i in live:
            for p in persons[i] & new:
                ids[i] |= extra_ids.get(p, set())
                pdi_ids[p] = extra_ids.get(p, set())
        found = found + _scan(wh, set(), new)
    by_id: dict[str, list[tuple]] = {}
    for r in found:
        by_id.setdefault(str(r[1]), []).append(r)
        if r[0] is not None:
            by_id.setdefault("p:" + str(r[0]), []).append(r)
    for i in live:
        g, ps = groups[i], persons[i]
        mine = {tuple(r) for p in ps for r in by_id.get("p:" + p, [])}
        mine |= {tuple(r) for x in ids[i] | linked[i] for r in by_id.get(x, []) if r[0] in ps}
        others = _clean(
            r[1] for x in ids[i] | linked[i] for r in by_id.get(x, []) if r[0] not in ps
        )
        in_links = _clean(x for a, b in links if a in ids[i] or b in ids[i] for x in (a, b))
        dids = _clean(r[1] for r in mine) | set().union(set(), *(pdi_ids.get(p, set()) for p in ps))
        dids |= linked[i] - others
        dids |= (seeds[i] & in_links) - others
        if not ps and not dids:
            continue
        g.person_ids = sorted(ps)
        g.distinct_ids = sorted(dids)
        g.events = int(sum(r[2] for r in mine))
        if mine:
            g.first_seen = min(r[3] for r in mine)
            g.last_seen = max(r[4] for r in mine)
        if "@" in g.query:
            g.emails = [g.query.lower()]
    _emails(wh, [g for g in groups if g.person_ids])
    return groups


def _by_person(rows: list[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for did, pid in rows:
        if not is_forbidden_id(did):
            out.setdefault(pid, set()).add(did)
    return out


def _emails(wh, groups: list[IdentityGroup]) -> None:
    """Fill each group's e-mails from its persons' properties (one scan for all)."""
    if not groups:
        return
    d = wh.dialect
    owner = {p: g for g in groups for p in g.person_ids}
    mails: dict[int, set[str]] = {id(g): set(g.emails) for g in groups}
    with tables.IdSets(wh, o=set(owner)) as ids:
        found = _rows(
            wh,
            f"SELECT DISTINCT person_id, {_email_sql(d, 'set_props')} FROM events "
            f"WHERE set_props IS NOT NULL AND {ids.where('person_id', 'o')}",
        )
    for pid, mail in found:
        if mail and pid in owner:
            mails[id(owner[pid])].add(str(mail))
    for g in groups:
        g.emails = sorted(mails[id(g)])
