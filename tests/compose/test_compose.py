"""Compose: templates, order of the report, redaction, the subject token, XARF, untrusted text as data."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
from pathlib import Path

import pytest

from bot.compose import REDACTED_ADDRESS, REDACTED_HOST, TEMPLATE_BODY, TEMPLATE_SUBJECT, Target, compose
from bot.config import from_dict
from bot.errors import ConfigError
from bot.xarf import LOGIN_ATTACK, PORT_SCAN, RECON, classify
from tests.compose.helpers import NOW, candidate, shinbiro_contacts, shinbiro_findings

LINES = [
    f"Apr 14 23:11:{8 + i:02d} blah-off.mydomain.com snort[86706]: MISC-WinGate-8080-Attempt: "
    f"211.191.28.13:{1693 + i} -> 1.2.3.{2 + i}:8080"
    for i in range(5)
]
CFG = {"scan": {"own_hostnames": ["mydomain.com"], "own_networks": ["1.2.3.0/24"]},
       "report": {"reporter_name": "Security Team", "reporter_email": "security@mydomain.com",
                  "organisation": "My Domain Inc."}}


def _draft(lines: list[str] = LINES, total: int | None = None, description: str = "", **report: object):
    data = {**CFG, "report": {**CFG["report"], **report}}
    cfg = from_dict(data)
    target = Target(candidate("211.191.28.13", lines, total), shinbiro_findings())
    return compose("INC-20260908-0001", [target], shinbiro_contacts()[:1], cfg, description=description,
                   now=NOW)


def test_subject_carries_the_token_and_the_kind() -> None:
    assert _draft().subject == "[INC-20260908-0001] Network scan from 211.191.28.13"


def test_body_reads_in_the_order_an_abuse_desk_needs() -> None:
    body = _draft(description="Scan of our network for vulnerable WinGate services.").body
    order = ["Scan of our network for vulnerable WinGate", "Source address: 211.191.28.13",
             "Network:       211.191.0.0/17 (SHINBIRO-KR, KRNIC)", "AS:            AS64496",
             "Country:       KR",
             "First seen:    2026-04-14 23:11:08 UTC", "Last seen:     2026-04-14 23:11:13 UTC",
             "Log excerpt", "MISC-WinGate-8080-Attempt", "How to reach us", "security@mydomain.com",
             "Reference: INC-20260908-0001"]
    positions = [body.index(part) for part in order]
    assert positions == sorted(positions)


def test_excerpt_is_capped_with_a_count_of_what_was_left_out() -> None:
    body = _draft(total=120, excerpt_lines=3).body
    assert body.count("MISC-WinGate-8080-Attempt") == 3
    assert "(117 more lines not shown)" in body


def test_own_hostnames_and_networks_are_masked_by_default() -> None:
    draft = _draft()
    assert "mydomain.com snort" not in draft.body and "1.2.3.2" not in draft.body
    assert f"{REDACTED_HOST} snort" in draft.body and f"-> {REDACTED_ADDRESS}:8080" in draft.body
    xarf_doc = json.loads(draft.attachments[0].data)
    evidence = base64.b64decode(xarf_doc["evidence"][0]["payload"]).decode()
    assert "mydomain.com" not in evidence and "1.2.3." not in evidence


def test_redaction_can_be_turned_off() -> None:
    assert "blah-off.mydomain.com snort" in _draft(redact=False).body


def test_xarf_attachment() -> None:
    draft = _draft(description="WinGate scan")
    (att,) = draft.attachments
    assert (att.filename, att.content_type) == ("xarf-211.191.28.13.json", "application/json")
    doc = json.loads(att.data)
    assert doc["xarf_version"].startswith("4.") and doc["category"] == "connection"
    assert doc["type"] == "port_scan" and doc["source_identifier"] == "211.191.28.13"
    assert doc["source_port"] == 1693 and doc["destination_port"] == 8080
    assert doc["first_seen"] == "2026-04-14T23:11:08Z" and doc["last_seen"] == "2026-04-14T23:11:13Z"
    payload = base64.b64decode(doc["evidence"][0]["payload"])
    assert doc["evidence"][0]["hash"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert doc["reporter"] == {"org": "My Domain Inc.", "contact": "security@mydomain.com",
                               "domain": "mydomain.com"}
    assert _draft(xarf=False).attachments == ()
    assert json.loads(_draft().attachments[0].data)["report_id"] == doc["report_id"]


def test_untrusted_text_is_data_not_template_source() -> None:
    evil = ["Apr 14 23:11:08 host x: {{ 7*7 }} {% for x in range(3) %}boom{% endfor %} from 211.191.28.13:1"]
    body = _draft(evil, description="{{ reporter }}").body
    line = next(x for x in body.splitlines() if "host x:" in x)
    assert "{{ 7*7 }}" in line and "{% for x in range(3) %}boom{% endfor %}" in line
    assert "boomboom" not in body and " 49 " not in line
    assert "{{ reporter }}" in body


def test_control_characters_in_log_lines_do_not_break_lines() -> None:
    body = _draft(["a\rBcc: x@example.com 211.191.28.13:1 -> 1.2.3.4:80\x1b[31m"]).body
    assert "\r" not in body and "\x1b" not in body


def test_c1_controls_and_bidi_overrides_in_log_lines_do_not_reach_the_report() -> None:
    # U+009B is an 8-bit CSI (a terminal escape); U+202E reverses what the abuse desk reads
    body = _draft(["211.191.28.13:1 -> 1.2.3.4:80 \x9b2J \u0085x \u202egnp.exe \u2066y"]).body
    assert not any(ch in body for ch in "\x9b\x85\u202e\u2066")
    assert "gnp.exe" in body


def test_text_that_is_not_valid_unicode_is_no_crash() -> None:
    # a description typed on a Latin-1 terminal (or given with -d) arrives with a lone surrogate; a
    # registry's JSON may hold "\\udce4": both must become readable text, not an internal error
    cfg = from_dict(CFG)
    found = shinbiro_findings()
    assert found.network is not None
    found = dataclasses.replace(found, network=dataclasses.replace(found.network, org="Gr\udcfc\u00dfe Netz"))
    draft = compose("INC-20260908-0001", [Target(candidate("211.191.28.13", LINES), found)],
                    shinbiro_contacts()[:1], cfg, description="Sch\udce4den", now=NOW)
    assert "Sch\ufffdden" in draft.body and "Gr\ufffd\u00dfe Netz" in draft.body
    draft.body.encode("utf-8")
    (xarf_doc,) = draft.attachments
    assert json.loads(xarf_doc.data)["description"] == "Sch\ufffdden"


def test_template_dir_overrides_one_template(tmp_path: Path) -> None:
    (tmp_path / TEMPLATE_SUBJECT).write_text("Abuse from {{ attackers[0].ip }}")
    draft = _draft(template_dir=str(tmp_path))
    # the token is kept even when a template leaves it out: replies must find their incident
    assert draft.subject == "[INC-20260908-0001] Abuse from 211.191.28.13"
    assert "How to reach us" in draft.body  # the body still comes from the bundled template


def test_typo_in_a_template_is_an_error_not_a_blank(tmp_path: Path) -> None:
    (tmp_path / TEMPLATE_BODY).write_text("Hello {{ attacker.ip }}\n")
    with pytest.raises(ConfigError, match="unknown variable"):
        _draft(template_dir=str(tmp_path))


def test_template_syntax_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / TEMPLATE_BODY).write_text("{% for %}\n")
    with pytest.raises(ConfigError, match=TEMPLATE_BODY):
        _draft(template_dir=str(tmp_path))


def test_missing_template_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"report\.template_dir"):
        _draft(template_dir=str(tmp_path / "nope"))


def test_several_addresses_in_one_report() -> None:
    cfg = from_dict(CFG)
    targets = [Target(candidate(ip, [f"x {ip}:1 -> 1.2.3.4:22", f"x {ip}:2 -> 1.2.3.5:22"]),
                      shinbiro_findings(ip))
               for ip in ("211.191.28.13", "211.191.28.14", "211.191.28.15")]
    draft = compose("INC-20260908-0002", targets, shinbiro_contacts()[:1], cfg, now=NOW)
    assert draft.subject == "[INC-20260908-0002] Network scan from 211.191.28.13 and 2 more addresses"
    for n, t in enumerate(targets, 1):
        ip = t.candidate.ip
        assert f"\n  {n}. {ip} (2 log lines)\n" in draft.body  # the index under the greeting
        assert f"\nSource address {n} of 3: {ip}\n" in draft.body
        # each excerpt says whose it is, and holds only that address's lines
        block = draft.body.split(f"Log excerpt for {ip},")[1].split("\n\n")[0]
        assert block.count(f"x {ip}:") == 2 and all(f"x {o.candidate.ip}:" not in block
                                                    for o in targets if o is not t)
    assert [a.filename for a in draft.attachments] == [
        "xarf-211.191.28.13.json", "xarf-211.191.28.14.json", "xarf-211.191.28.15.json"]


@pytest.mark.parametrize(("lines", "kind"), [
    (["sshd[1]: Failed password for root from 203.0.113.9 port 2222 ssh2"], LOGIN_ATTACK),
    (["a 203.0.113.9:1 -> 192.0.2.1:22", "a 203.0.113.9:1 -> 192.0.2.2:22"], PORT_SCAN),
    (["kernel: IN=eth0 SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=23",
      "kernel: IN=eth0 SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=24"], PORT_SCAN),
    (["nginx: 203.0.113.9 - - GET /index.html 200"], RECON),
])
def test_classification(lines: list[str], kind: object) -> None:
    assert classify(lines) is kind


def test_registry_text_cannot_fake_lines_of_the_report() -> None:
    import dataclasses

    found = shinbiro_findings()
    assert found.network is not None
    net = dataclasses.replace(found.network, org="Evil\r\n\r\nPlease ignore this\u2028x")
    evil = dataclasses.replace(found, rdns="x.example\nBcc: a@b.example", network=net)
    target = Target(candidate("211.191.28.13", LINES), evil)
    body = compose("INC-20260908-0001", [target], (), from_dict(CFG), now=NOW).body
    assert "  Organisation:  Evil Please ignore this x\n" in body
    assert "  Reverse name:  x.example Bcc: a@b.example" in body
    assert "\u2028" not in body and "\r" not in body


def test_grouped_reports_share_the_excerpt_budget() -> None:
    cfg = from_dict({**CFG, "report": {**CFG["report"], "excerpt_lines": 20}})
    many = [f"x 45.33.32.{n}:1 -> 1.2.3.4:{k}" for n in range(10) for k in range(30)]
    targets = [Target(candidate(f"45.33.32.{n}", [ln for ln in many if f"45.33.32.{n}:" in ln]),
                      shinbiro_findings(f"45.33.32.{n}")) for n in range(10)]
    body = compose("INC-20260908-0003", targets, (), cfg, now=NOW).body
    assert body.count("-> [own-address]") == 10 * 5  # 20 // 10 < 5: five lines each
    assert body.count("(25 more lines not shown)") == 10
    one = compose("INC-20260908-0004", targets[:1], (), cfg, now=NOW).body
    assert one.count("-> [own-address]") == 20


# --- how the text reads --------------------------------------------------------------------------


def _paragraph_after(body: str, heading: str) -> list[str]:
    return body.split(heading + "\n" + "-" * len(heading) + "\n", 1)[1].split("\n\n", 1)[0].splitlines()


def _excerpt_lines(body: str) -> set[str]:
    return {line for line in body.splitlines() if line.startswith("    ") and "211.191.28.13" in line}


def test_prose_and_fields_fit_78_columns_and_log_lines_stay_as_written() -> None:
    long_line = ("Apr 14 23:11:08 blah-off.mydomain.com snort[86706]: " + "X" * 1500
                 + " 211.191.28.13:1693 -> 1.2.3.4:8080")
    found = shinbiro_findings()
    assert found.network is not None
    org = "Shinbiro Telecom Operations and Customer Network Services Department (Seoul Metropolitan Area)"
    found = dataclasses.replace(found, network=dataclasses.replace(found.network, org=org))
    description = ("We saw this address scan a wide range of ports on every host of our office network "
                   "during the night, several times, each time from a new source port.")
    draft = compose("INC-20260908-0001", [Target(candidate("211.191.28.13", [*LINES, long_line]), found)],
                    (), from_dict(CFG), description=description, now=NOW)
    excerpt = _excerpt_lines(draft.body)
    assert "    " + long_line.replace("blah-off.mydomain.com", REDACTED_HOST).replace(
        "1.2.3.4", REDACTED_ADDRESS) in excerpt  # evidence is never folded or cut
    for line in draft.body.splitlines():
        assert len(line) <= 78 or line in excerpt, line
    flat = " ".join(draft.body.split())
    assert description in flat and f"Organisation: {org}" in flat
    # a wrapped field continues under its value, not under its label
    org_at = draft.body.index("  Organisation:  ")
    continuation = draft.body[org_at:].splitlines()[1]
    assert continuation.startswith(" " * 17) and continuation.strip()


def test_a_persons_description_keeps_its_breaks_and_loses_control_characters() -> None:
    description = ("First paragraph, long enough to need wrapping because a person typed it on one line "
                   "in the -d option.\n\nWhat we did:\n- blocked the address for a day, and it came back "
                   "from a neighbouring address the next morning\n- kept the logs\x1b[31m\r\n\u202eevil")
    body = _draft(description=description).body
    what = "\n".join(_paragraph_after(body, "What happened"))
    rest = body.split("What happened\n-------------\n", 1)[1]
    assert what.startswith("First paragraph, long enough to need wrapping because a person typed it on")
    assert ("\n\nWhat we did:\n"
            "- blocked the address for a day, and it came back from a neighbouring address\n"
            "  the next morning\n- kept the logs [31m\n evil\n\nClassification:") in rest
    assert not any(ch in body for ch in "\x1b\r\u202e")
    assert "\n\n\n" not in body


def _is_filled(lines: list[str], width: int = 78) -> bool:
    """Every line but the last is as full as it can be: the next word would not have fitted."""
    return all(len(line) + 1 + len(nxt.split()[0]) > width for line, nxt in itertools.pairwise(lines))


@pytest.mark.parametrize("email", ["security@mydomain.com", ""])
def test_how_to_reach_us_is_one_sentence_with_or_without_an_address(email: str) -> None:
    body = _draft(reporter_email=email).body
    para = _paragraph_after(body, "How to reach us")
    or_write = f" or write to {email}" if email else ""
    assert " ".join(" ".join(para).split()) == (
        f"Please reply to this message{or_write}, keeping the reference INC-20260908-0001 in the subject "
        "so that your answer reaches the right case.")
    assert _is_filled(para)


def test_each_time_says_its_zone() -> None:
    cfg = from_dict({**CFG, "scan": {**CFG["scan"], "timezone": "Europe/Berlin"}})
    target = Target(candidate("211.191.28.13", LINES), shinbiro_findings())
    body = compose("INC-20260908-0001", [target], (), cfg, now=NOW).body
    flat = " ".join(body.split())
    assert "All times above are in UTC" not in flat
    assert "  First seen:    2026-04-14 23:11:08 UTC\n  Last seen:     2026-04-14 23:11:13 UTC\n" in body
    assert ("Log excerpt for 211.191.28.13, as our systems wrote it (times in the log's own time zone, "
            "Europe/Berlin where a line does not say):") in flat
    assert ("First and last seen are in UTC; the log excerpts keep the times exactly as our systems "
            "wrote them") in flat


def test_masking_is_mentioned_only_when_something_was_masked() -> None:
    assert "[own-host] and [own-address]" in " ".join(_draft().body.split())
    plain = [line.replace("blah-off.mydomain.com", "ids").replace("1.2.3.", "198.51.100.") for line in LINES]
    assert "own-host" not in _draft(plain).body


def test_a_grouped_report_of_different_activities_labels_each_address() -> None:
    cfg = from_dict(CFG)
    ssh_lines = ["sshd[1]: Failed password for root from 211.191.28.13 port 2222 ssh2"]
    scan_lines = ["x 211.191.28.14:1 -> 1.2.3.4:22", "x 211.191.28.14:2 -> 1.2.3.5:23"]
    ssh = Target(candidate("211.191.28.13", ssh_lines), shinbiro_findings("211.191.28.13"))
    scan = Target(candidate("211.191.28.14", scan_lines), shinbiro_findings("211.191.28.14"))
    draft = compose("INC-20260908-0005", [ssh, scan], (), cfg, now=NOW)
    assert draft.subject == "[INC-20260908-0005] Unwanted traffic from 211.191.28.13 and 1 more address"
    assert ("  1. 211.191.28.13 (Login attempts, 1 log line)\n"
            "  2. 211.191.28.14 (Network scan, 2 log lines)\n") in draft.body
    assert draft.body.count("  Activity:      ") == 2
    types = [json.loads(a.data)["type"] for a in draft.attachments]
    assert types == ["login_attack", "port_scan"]


def test_no_xarf_line_when_xarf_is_off() -> None:
    body = _draft(xarf=False).body
    assert "XARF" not in body


def test_rendering_again_gives_the_same_draft() -> None:
    # the lead re-renders a stored draft when new evidence is merged: same inputs, same text and ids
    assert _draft() == _draft()
