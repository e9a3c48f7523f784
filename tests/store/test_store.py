"""The incident store: folders, safe path segments, ids under concurrency, suppression, states."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import StoreError
from bot.models import State
from bot.store import FINDINGS_JSON, ORIG_EMAIL, SEGMENT_MAX, AlreadyReported, Store, safe_segment


def _create(store: Store, ip: str = "192.0.2.1", domain: str = "example.net", **kw: object) -> str:
    inc = store.new_id()
    store.create(inc, ips=[ip], domain=domain, subject=f"[{inc}] scan", recipients=["abuse@example.net"],
                 orig_email="To: abuse@example.net\n\nbody", findings={"ip": ip}, **kw)  # type: ignore[arg-type]
    return inc


def test_layout_of_an_incident(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store, domain="Shinbiro.COM")
    got = store.get(inc)
    folder = Path(got.folder)
    assert folder.parent == tmp_path / "shinbiro.com"
    assert len(folder.name) == 14 and folder.name.isdigit()
    assert (folder / ORIG_EMAIL).read_text() == "To: abuse@example.net\n\nbody"
    assert json.loads((folder / FINDINGS_JSON).read_text()) == {"ip": "192.0.2.1"}
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
    store.record_sending(inc, "<m@x>", b"eml")
    found = store.recent(ips=["192.0.2.1"], days=7)
    assert found is not None and found.id == inc  # possibly sent counts
    store.record_result(inc, ["abuse@example.net"], {})
    hit = store.recent(contacts=["ABUSE@example.net"], days=7)
    assert hit is not None and hit.id == inc
    assert store.recent(ips=["192.0.2.2"], days=7) is None
    assert store.recent(ips=["192.0.2.1"], days=7, now=datetime.now(UTC) + timedelta(days=8)) is None
    assert store.recent(ips=["192.0.2.1"], days=0) is None


def test_sending_is_recorded_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store)
    store.record_sending(inc, "<m@x>", b"eml")
    assert store.get(inc).state is State.SENDING and store.get(inc).message_ids == ("<m@x>",)
    assert (Path(store.get(inc).folder) / "message.eml").read_bytes() == b"eml"
    with pytest.raises(StoreError, match="not sending it again"):
        store.record_sending(inc, "<m2@x>", b"eml")
    unfinished = store.unfinished(ips=["192.0.2.1"])
    assert unfinished is not None and unfinished.id == inc
    assert store.record_result(inc, [], {"abuse@example.net": "550 no"}) is State.FAILED


def test_followups_are_filed_and_unmatched_kept(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inc = _create(store)
    store.record_sending(inc, "<m@x>", b"eml")
    store.record_result(inc, ["abuse@example.net"], {})
    a = store.file_followup(inc, b"Subject: one\n\n1")
    b = store.file_followup(inc, b"Subject: two\n\n2")
    assert a != b and a.parent == b.parent == Path(store.get(inc).folder)
    assert store.get(inc).state is State.ANSWERED
    lost = store.file_followup(None, b"Subject: ?\n\n?")
    assert lost.parent == tmp_path / "unmatched" and lost.read_bytes() == b"Subject: ?\n\n?"


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
    store.record_sending(first, "<a@x>", b"eml", guard_days=7)
    with pytest.raises(AlreadyReported) as err:
        store.record_sending(second, "<b@x>", b"eml", guard_days=7)
    assert err.value.other == first and store.get(second).state is State.DRAFT
    forced = _create(store, forced=True)
    store.record_sending(forced, "<c@x>", b"eml")  # a person said so: no guard
    assert store.get(forced).extra["forced"] == "yes"


def test_findings_with_text_utf8_cannot_hold_are_kept_not_a_crash(tmp_path: Path) -> None:
    # a registry's JSON answer can carry "\\udce4" (a lone surrogate): the incident is still written
    store = Store(tmp_path)
    inc = store.new_id()
    folder = Path(store.create(inc, ips=["192.0.2.1"], domain="example.net", subject="s", recipients=[],
                               orig_email="x", findings={"org": "Gr\udcfc Netz"}).folder)
    assert json.loads((folder / "findings.json").read_text(encoding="utf-8")) == {"org": "Gr\udcfc Netz"}


def test_a_message_refused_by_the_guard_is_not_written_as_sent(tmp_path: Path) -> None:
    # message.eml is "the message as handed to the SMTP server": one that never will be must not be there
    store = Store(tmp_path)
    first, second = _create(store), _create(store)
    store.record_sending(first, "<a@x>", b"first", guard_days=7)
    with pytest.raises(AlreadyReported):
        store.record_sending(second, "<b@x>", b"second", guard_days=7)
    assert not (Path(store.get(second).folder) / "message.eml").exists()
    assert (Path(store.get(first).folder) / "message.eml").read_bytes() == b"first"
    assert store.by_message_id("<b@x>") is None
