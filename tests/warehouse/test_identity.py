"""Identity stitching (METRICS.md section 0)."""

from __future__ import annotations

import pytest
from eventkit import add_events, ev

from zantara_nb.warehouse.identity import person_of, resolve_links, stitch


def persons_of(wh):
    return dict(wh.con.execute("SELECT uuid, person_id FROM events").fetchall())


def test_anonymous_events_before_signup_count_for_the_user(wh):
    add_events(
        wh,
        [
            ev("anon-1", "page_viewed", "2026-03-02T08:00:00Z", uuid="a"),
            ev("anon-1", "page_viewed", "2026-03-02T08:01:00Z", uuid="b"),
            ev("user-1", "user_signed_up", "2026-03-02T08:05:00Z", uuid="c"),
            ev(
                "user-1",
                "$identify",
                "2026-03-02T08:05:00Z",
                {"$anon_distinct_id": "anon-1"},
                uuid="d",
            ),
            ev("user-1", "message_sent", "2026-03-02T08:06:00Z", uuid="e"),
        ],
    )
    assert set(persons_of(wh).values()) == {"user-1"}
    assert wh.scalar("SELECT count(DISTINCT person_id) FROM events") == 1
    assert person_of(wh, "anon-1") == "user-1"
    assert person_of(wh, "never-seen") == "never-seen"


def test_two_devices_merge_into_one_person(wh):
    add_events(
        wh,
        [
            ev("phone", "page_viewed", "2026-03-01T08:00:00Z", uuid="p1"),
            ev("u", "$identify", "2026-03-01T08:10:00Z", {"$anon_distinct_id": "phone"}, uuid="i1"),
            ev("laptop", "page_viewed", "2026-03-05T08:00:00Z", uuid="l1"),
            ev(
                "u", "$identify", "2026-03-05T08:10:00Z", {"$anon_distinct_id": "laptop"}, uuid="i2"
            ),
        ],
    )
    assert set(persons_of(wh).values()) == {"u"}
    assert wh.scalar("SELECT distinct_ids FROM persons WHERE person_id = 'u'") == 3


@pytest.mark.parametrize(
    "bad",
    ["null", "undefined", "anonymous", "0", "guest", "[object Object]", "", "NULL", " Guest "],
)
def test_forbidden_ids_are_never_merged(wh, bad):
    add_events(
        wh,
        [
            ev(bad, "page_viewed", "2026-03-01T08:00:00Z", uuid="x1"),
            ev("u1", "$identify", "2026-03-01T09:00:00Z", {"$anon_distinct_id": bad}, uuid="x2"),
            ev("u2", "$identify", "2026-03-01T10:00:00Z", {"$anon_distinct_id": bad}, uuid="x3"),
        ],
    )
    p = persons_of(wh)
    assert p["x1"] == bad  # the forbidden id stays its own (non-)person
    assert p["x2"] == "u1" and p["x3"] == "u2"  # and u1, u2 stay apart
    res = stitch(wh)
    assert res.forbidden_links == 2 and res.used_links == 0


def test_new_identify_restitches_history(wh):
    add_events(wh, [ev("anon-9", "message_sent", "2026-03-01T08:00:00Z", uuid="m1")])
    assert persons_of(wh)["m1"] == "anon-9"
    add_events(
        wh, [ev("user-9", "$identify", "2026-03-10T08:00:00Z", {"$anon_distinct_id": "anon-9"})]
    )
    assert persons_of(wh)["m1"] == "user-9"


def test_anonymous_id_already_claimed_is_not_merged_again(wh):
    # A shared device: the first user claims it; a later identify by another user is refused.
    add_events(
        wh,
        [
            ev("dev", "page_viewed", "2026-03-01T08:00:00Z", uuid="v"),
            ev("alice", "$identify", "2026-03-01T09:00:00Z", {"$anon_distinct_id": "dev"}),
            ev("bob", "$identify", "2026-03-02T09:00:00Z", {"$anon_distinct_id": "dev"}),
        ],
    )
    p = persons_of(wh)
    assert p["v"] == "alice"
    assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'bob'") == 1
    assert stitch(wh).conflicts == 1


def test_identified_user_is_not_merged_as_anonymous_but_alias_merges(wh):
    add_events(
        wh,
        [
            ev("alice", "$identify", "2026-03-01T09:00:00Z", {"$anon_distinct_id": "a-dev"}),
            ev("bob", "$identify", "2026-03-01T09:30:00Z", {"$anon_distinct_id": "b-dev"}),
            # identify(bob, alice): alice is already an identified user -> refused
            ev("bob", "$identify", "2026-03-02T09:00:00Z", {"$anon_distinct_id": "alice"}),
        ],
    )
    assert person_of(wh, "alice") == "alice" and person_of(wh, "bob") == "bob"
    add_events(wh, [ev("bob", "$create_alias", "2026-03-03T09:00:00Z", {"alias": "alice"})])
    # an explicit alias merges; the earliest identified id names the person
    assert person_of(wh, "bob") == person_of(wh, "alice") == "alice"
    assert wh.scalar("SELECT count(DISTINCT person_id) FROM events") == 1


def test_chained_identify_follows_time_order():
    # x is anonymous when alice identifies it; later x (now alice's) identifies y.
    links = [("alice", "x", "identify"), ("x", "y", "identify")]
    mapping, counts = resolve_links(links)
    assert mapping == {"alice": "alice", "x": "alice", "y": "alice"}
    assert counts["conflicts"] == 0


def test_person_properties_latest_value_wins_and_no_email(wh):
    add_events(
        wh,
        [
            ev(
                "u",
                "$identify",
                "2026-03-01T09:00:00Z",
                set_props={"plan": "free", "country": "ID", "email": "u@example.invalid"},
            ),
            ev("u", "$identify", "2026-03-09T09:00:00Z", set_props={"plan": "pro"}),
        ],
    )
    row = wh.sql("SELECT * FROM persons").iloc[0]
    assert row["plan"] == "pro" and row["country"] == "ID"
    assert "email" not in wh.sql("SELECT * FROM persons").columns


def test_stitch_is_idempotent(wh):
    add_events(
        wh,
        [
            ev("a", "page_viewed", "2026-03-01T08:00:00Z"),
            ev("u", "$identify", "2026-03-01T09:00:00Z", {"$anon_distinct_id": "a"}),
        ],
    )
    again = stitch(wh)
    assert again.events_updated == 0 and again.merged_ids == 1
