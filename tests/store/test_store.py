"""The incident store: folders, safe path segments, ids under concurrency, suppression, states, history."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import StoreError
from bot.lifecycle import Action, AlreadySent, Conflict, Suppressed
from bot.models import Network, Origin, State
from bot.store import (
    FINDINGS_JSON,
    ORIG_EMAIL,
    SEGMENT_MAX,
    Guard,
    OpenDraftExists,
    StaleDraft,
    Store,
    followups,
    safe_segment,
)
from tests.compose.helpers import shinbiro_findings
from tests.support.fakes import TESTER, stored_draft
from tests.support.fakes import create as _create

GUARD = Guard("ip", 7)


def _sent(store: Store, inc: str, mid: str = "<m@x>") -> None:
    store.begin_send(inc, TESTER, mid, b"eml")
    store.finish_send(inc, TESTER, ["abuse@example.net"], {})


def test_layout_of_an_incident(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store, domain="Shinbiro.COM")
    got = store.get(inc)
    folder = Path(got.folder)
    assert folder.parent == tmp_path / "shinbiro.com"
    assert len(folder.name) == 14 and folder.name.isdigit()
    assert (folder / ORIG_EMAIL).read_text() == f"To: abuse@example.net\nSubject: [{inc}] scan\n\nbody\n"
    (entry,) = json.loads((folder / FINDINGS_JSON).read_text())
    assert entry["ip"] == "192.0.2.1" and entry["findings"]["network"]["name"] == "SHINBIRO-KR"
    assert got.state is State.DRAFT and got.ips == ("192.0.2.1",) and got.recipients == ("abuse@example.net",)
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp")]


@pytest.mark.parametrize("name", ["..", "../../etc", "/etc/passwd", ".hidden", "a/../../b", "x\x00y",
                                  "\\..\\x", "a" * 5000, "", "   ", "unmatched", "index.sqlite", "...."])
def test_unsafe_domains_stay_inside_the_incident_dir(tmp_path: Path, name: str) -> None:
    store = Store(tmp_path / "incident")
    inc = _create(store, domain=name)
    folder = Path(store.get(inc).folder).resolve()
    root = (tmp_path / "incident").resolve()
    assert folder.parent.parent == root  # exactly <root>/<one segment>/<timestamp>
    seg = folder.parent.name
    assert seg not in ("unmatched", "index.sqlite") and not seg.startswith(".") and len(seg) <= SEGMENT_MAX


@given(st.text(max_size=300))
def test_safe_segment_is_always_one_harmless_segment(name: str) -> None:
    seg = safe_segment(name)
    assert seg and "/" not in seg and "\\" not in seg and "\x00" not in seg and ".." not in seg
    assert not seg.startswith(".") and len(seg) <= SEGMENT_MAX + len("_domain") and seg.isascii()


def test_two_incidents_in_one_second_get_two_folders(tmp_path: Path) -> None:
    store = Store(tmp_path)
    now = datetime(2026, 9, 8, 11, 22, 22, tzinfo=UTC)
    a = store.get(_create(store, now=now)).folder
    b = store.get(_create(store, now=now)).folder
    assert a != b and Path(b).name == "20260908112222-2"


def test_ids_are_unique_across_threads(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ids: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(20):
            got = store.new_id()
            with lock:
                ids.append(got)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 160 and len(set(ids)) == 160


def _take_ids(root: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store(root)
    out.put([store.new_id() for _ in range(n)])


def test_ids_are_unique_across_processes(tmp_path: Path) -> None:
    Store(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_take_ids, args=(str(tmp_path), 25, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    ids = [i for _ in procs for i in queue.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
    assert len(ids) == 100 and len(set(ids)) == 100
    assert sorted(ids)[-1].endswith("-0100")


def test_id_format_and_daily_counter(tmp_path: Path) -> None:
    store = Store(tmp_path)
    day1 = datetime(2026, 9, 8, 23, 59, tzinfo=UTC)
    assert store.new_id(day1) == "INC-20260908-0001"
    assert store.new_id(day1) == "INC-20260908-0002"
    assert store.new_id(day1 + timedelta(minutes=2)) == "INC-20260909-0001"


def test_suppression_by_ip_and_by_contact(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store, ip="192.0.2.1")
    assert store.recent(ips=["192.0.2.1"], days=7) is None  # a draft was never sent
    store.begin_send(inc, TESTER, "<m@x>", b"eml")
    found = store.recent(ips=["192.0.2.1"], days=7)
    assert found is not None and found.id == inc  # possibly sent counts
    store.finish_send(inc, TESTER, ["abuse@example.net"], {})
    hit = store.recent(contacts=["ABUSE@example.net"], days=7)
    assert hit is not None and hit.id == inc
    assert store.recent(ips=["192.0.2.2"], days=7) is None
    assert store.recent(ips=["192.0.2.1"], days=7, now=datetime.now(UTC) + timedelta(days=8)) is None
    assert store.recent(ips=["192.0.2.1"], days=0) is None


def test_sending_is_recorded_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store)
    store.begin_send(inc, TESTER, "<m@x>", b"eml")
    assert store.get(inc).state is State.SENDING and store.get(inc).message_ids == ("<m@x>",)
    assert (Path(store.get(inc).folder) / "message.eml").read_bytes() == b"eml"
    with pytest.raises(AlreadySent, match="is being sent"):
        store.begin_send(inc, TESTER, "<m2@x>", b"eml")
    unfinished = store.unfinished(ips=["192.0.2.1"])
    assert unfinished is not None and unfinished.id == inc
    assert store.finish_send(inc, TESTER, [], {"abuse@example.net": "550 no"}) is State.FAILED


def test_followups_are_filed_and_unmatched_kept(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store)
    _sent(store, inc)
    a = followups.file_reply(store, inc, b"Subject: one\n\n1", actor=TESTER).path
    b = followups.file_reply(store, inc, b"Subject: two\n\n2", actor=TESTER).path
    assert a != b and a.parent == b.parent == Path(store.get(inc).folder)
    assert store.get(inc).state is State.ANSWERED
    again = followups.file_reply(store, inc, b"Subject: two\r\n\r\n2", actor=TESTER)  # the same mail, CRLF
    assert again.again and again.path == b
    lost = followups.file_reply(store, None, b"Subject: ?\n\n?", actor=TESTER).path
    assert lost.parent == tmp_path / "unmatched" and lost.read_bytes() == b"Subject: ?\n\n?"


def test_an_auto_reply_or_bounce_does_not_make_an_incident_answered(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store)
    _sent(store, inc)
    followups.file_reply(store, inc, b"Subject: ack\n\n1", actor=TESTER, kind="auto_ack", ticket="#123",
                         sender="abuse@desk.example")
    assert store.get(inc).state is State.SENT
    assert followups.by_ticket(store, "#123", "support@DESK.example") == inc
    assert followups.by_ticket(store, "#123", "abuse@elsewhere.example") is None  # another desk's #123
    (ev,) = [e for e in store.history(inc) if e.action == "note"]
    assert ev.detail.startswith("auto-acknowledgement from abuse@desk.example (ticket #123)")


def test_unreadable_mail_is_kept_with_its_reason(tmp_path: Path) -> None:
    store = Store(tmp_path)
    filed = followups.reject(store, b"\x00\x01 garbage", "not a mail: no header")
    assert filed.path.parent == tmp_path / "rejected" and filed.path.read_bytes() == b"\x00\x01 garbage"
    assert filed.path.with_suffix(".reason").read_text() == "not a mail: no header\n"
    assert followups.reject(store, b"\x00\x01 garbage", "again").again


def test_a_large_mail_is_filed_from_a_file_without_reading_it_whole(tmp_path: Path) -> None:
    store = Store(tmp_path)
    big = tmp_path / "big.eml"
    with big.open("wb") as fh:
        fh.write(b"Subject: big\r\n\r\n")
        for _ in range(64):
            fh.write(b"x" * (1 << 20 - 2) + b"\r\n")
    filed = followups.file_reply(store, None, big, actor=TESTER)
    assert filed.path.stat().st_size == big.stat().st_size
    assert followups.digest(big) == followups.digest(big.read_bytes())


def test_unknown_incident(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown incident"):
        Store(tmp_path).get("INC-20260101-0001")


def test_unwritable_incident_dir_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        Store(blocker / "incident")


def test_two_runs_for_one_address_cannot_both_send(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first, second = _create(store), _create(store)  # both passed the suppression check
    store.begin_send(first, TESTER, "<a@x>", b"eml", guard=GUARD)
    with pytest.raises(Suppressed) as err:
        store.begin_send(second, TESTER, "<b@x>", b"eml", guard=GUARD)
    assert err.value.other == first and store.get(second).state is State.DRAFT
    forced = _create(store, forced=True)
    store.begin_send(forced, TESTER, "<c@x>", b"eml")  # a person said so: no guard
    assert store.get(forced).forced


def test_the_contact_guard_sees_other_addresses_to_the_same_desk(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first, second = _create(store, ip="192.0.2.1"), _create(store, ip="192.0.2.99")
    store.begin_send(first, TESTER, "<a@x>", b"eml", guard=Guard("contact", 7))
    with pytest.raises(Suppressed):
        store.begin_send(second, TESTER, "<b@x>", b"eml", guard=Guard("contact", 7))
    store.begin_send(second, TESTER, "<b@x>", b"eml", guard=Guard("ip", 7))  # another address: fine


def test_findings_with_text_utf8_cannot_hold_are_kept_not_a_crash(tmp_path: Path) -> None:
    # a registry's JSON answer can carry "\\udce4" (a lone surrogate): the incident is still written
    store = Store(tmp_path)
    found = shinbiro_findings("192.0.2.1")
    assert found.network is not None
    odd = found.__class__(**{**found.__dict__, "network": Network(**{**found.network.__dict__,
                                                                       "org": "Gr\udcfc Netz"})})
    inc = _create(store, findings=odd)
    (entry,) = json.loads((Path(store.get(inc).folder) / "findings.json").read_text(encoding="utf-8"))
    assert entry["findings"]["network"]["org"] == "Gr\udcfc Netz"
    assert store.draft(inc).targets[0].findings.network.org == "Gr\udcfc Netz"  # type: ignore[union-attr]


def test_a_message_refused_by_the_guard_is_not_written_as_sent(tmp_path: Path) -> None:
    # message.eml is "the message as handed to the SMTP server": one that never will be must not be there
    store = Store(tmp_path)
    first, second = _create(store), _create(store)
    store.begin_send(first, TESTER, "<a@x>", b"first", guard=GUARD)
    with pytest.raises(Suppressed):
        store.begin_send(second, TESTER, "<b@x>", b"second", guard=GUARD)
    assert not (Path(store.get(second).folder) / "message.eml").exists()
    assert (Path(store.get(first).folder) / "message.eml").read_bytes() == b"first"
    assert store.by_message_id("<b@x>") is None


def test_a_draft_round_trips_whole(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = store.new_id()
    draft = stored_draft(inc, "192.0.2.7", recipients=("abuse@example.net", "noc@example.net"))
    store.create_draft(draft, domain="example.net", files={"xarf-192.0.2.7.json": b"{}"},
                       origin=Origin("text"), actor=TESTER)
    assert store.draft(inc) == draft


def test_an_open_draft_blocks_a_second_one_for_the_same_address(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store, ip="192.0.2.1")
    since = datetime.now(UTC) - timedelta(hours=1)
    assert store.open_draft_for(["192.0.2.1"], since) == inc
    other = store.new_id()
    with pytest.raises(OpenDraftExists) as err:
        store.create_draft(stored_draft(other, "192.0.2.1"), domain="x", files={}, origin=Origin("text"),
                           actor=TESTER, merge_since=since)
    assert err.value.incident_id == inc and len(list(tmp_path.glob("x/*"))) == 0  # no folder left behind


def test_a_change_to_a_draft_read_earlier_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store)
    held = store.draft(inc)
    store.update_draft(held, action=Action.EDIT, actor=TESTER, detail="first", files={})
    with pytest.raises(StaleDraft):
        store.update_draft(held, action=Action.EDIT, actor=TESTER, detail="second", files={})
    assert store.draft(inc).version == 2


def test_a_sent_incident_cannot_be_edited(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store)
    _sent(store, inc)
    with pytest.raises(Conflict, match="cannot edit"):
        store.update_draft(store.draft(inc), action=Action.EDIT, actor=TESTER, detail="late", files={})


def test_an_index_from_before_drafts_were_kept_is_migrated_and_still_sendable(tmp_path: Path) -> None:
    # the index and folder layout the previous release wrote: no version, no drafts, no history
    from bot.store.schema import MIGRATIONS

    db = sqlite3.connect(tmp_path / "index.sqlite")
    db.executescript(MIGRATIONS[0])
    folder = tmp_path / "example.net" / "20260101000000"
    folder.mkdir(parents=True)
    (folder / "orig_email.txt").write_text("To: abuse@example.net\nSubject: [INC-20260101-0001] scan\n\n"
                                           "old body")
    (folder / "xarf-192.0.2.1.json").write_text("{}")
    db.execute("INSERT INTO incidents (id, state, ip, domain, folder, subject, created, updated) VALUES "
               "('INC-20260101-0001', 'draft', '192.0.2.1', 'example.net', ?, '[INC-20260101-0001] scan', "
               "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')", (str(folder),))
    db.execute("INSERT INTO addresses VALUES ('INC-20260101-0001', '192.0.2.1')")
    db.execute("INSERT INTO recipients (incident, address) VALUES ('INC-20260101-0001', 'abuse@example.net')")
    db.commit()
    db.close()
    store = Store(tmp_path)
    draft = store.draft("INC-20260101-0001")
    assert draft.body == "old body" and draft.recipients == ("abuse@example.net",)
    assert [a.filename for a in draft.attachments] == ["xarf-192.0.2.1.json"]
    store.begin_send("INC-20260101-0001", TESTER, "<m@x>", b"eml")
    assert [e.action for e in store.history("INC-20260101-0001")] == ["send"]
