"""Lines built to make a pattern retry: long runs of spaces where a field's end is looked for, and a
line full of CEF headers. Each once took time quadratic (or worse) in its length, 20 KB over two
minutes; a forwarded log is attacker-written, so such a line must scan in about the time of any other."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.scan.paths import on_both_paths

RUN = " " * 20_000   # (the old patterns took over a minute on each of these)

HOSTILE = {
    # a run after an address, where an access log's user field and date would be
    "access-head": f"45.1.2.3 - {RUN}x",
    # a run inside CEF's msg=, whose end is the next " key="
    "cef-msg": f"CEF:0|a|b|c|d|e|f|src=45.1.2.3 msg={RUN}x",
    # a run inside a custom field's label, whose end is the next " key="
    "cef-label": f"CEF:0|a|b|c|d|e|f|cs1=45.1.2.3 cs1Label={RUN}x",
    # a label as long as the attacker likes, made of a prefix the scorer strips (it once recursed
    # once per copy, and the scan died)
    "cef-label-prefixes": "CEF:0|a|b|c|d|e|f|cs1=45.1.2.3 cs1Label=" + "nat" * 5000,
    # twenty thousand headers after the address
    "cef-headers": "45.1.2.3 " + "CEF:0|" * 20_000,
    # closed objects by the thousand before 64 generic keys, each of which asks for its object
    "json-braces": '{"a":1,' + "{}" * 10_000 + "".join(f'"ip":"10.0.{i}.1",' for i in range(63))
                   + '"src":"45.1.2.3"}',
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_line_built_to_make_patterns_retry_scans_quickly(kind: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / f"{kind}.log"
    log.write_text(HOSTILE[kind] + "\nMar 10 10:00:00 host sshd[1]: Failed password for x from 45.1.2.3\n")
    started = time.monotonic()
    results = on_both_paths(log, monkeypatch)
    elapsed = time.monotonic() - started
    assert [r.candidates[0].ip for r in results] == ["45.1.2.3", "45.1.2.3"]
    assert elapsed < 10, f"{kind}: {elapsed:.1f} s for two scans of {log.stat().st_size} bytes"
