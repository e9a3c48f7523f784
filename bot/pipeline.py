"""The pipeline: the one place that orders scan -> gather -> contacts -> compose -> store -> approve -> send
and decides what to retry, skip or stop.

Steps raise; this module decides:
- an address already reported within ``report.suppress_days`` (or whose last report was interrupted
  while being sent) is skipped unless forced, and the earlier incident is named;
- a lookup that raises instead of noting a problem becomes a problem line: the report can still go out;
- a send that fails (after the outbox's own retries) marks that incident failed and the run goes on
  with the next one; a store error stops the run (nothing else can be trusted then).

The person's decisions come through the ``UI`` callbacks (the CLI prompts; batch mode says yes;
Slack later). Sending is recorded before and after: state ``sending`` and the Message-ID are committed
before the SMTP transaction starts, so a crash in between never leads to a second mail unless a person
forces a new report.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import compose as compose_mod
from bot.config import Config
from bot.contacts import choose_recipients, rank_contacts
from bot.errors import LookupFailed, NothingToDo, SendError, StoreError, UserError
from bot.mail import message as message_mod
from bot.mail.outbox import Outbox, UncertainDelivery
from bot.models import Attachment, Candidate, Contact, Draft, Evidence, Findings, State
from bot.runparts import STEPS, UI, Gatherer, Options, Outcome, Run, Timings
from bot.store import ORIG_EMAIL, AlreadyReported, Store
from bot.store.files import orig_email_text, read_orig_email

__all__ = ["STEPS", "UI", "Gatherer", "Options", "Outcome", "Pipeline", "Run", "Timings"]

# Test-only hook (documented in tests/mail/README.md): when set to "recorded" the run pauses right
# after state `sending` is committed and before the SMTP transaction; "delivered" pauses after the
# server accepted the mail and before `sent` is recorded. The crash tests kill the process there.
TEST_PAUSE_ENV = "INCIDENT_TEST_PAUSE_AT"
TEST_PAUSE_SECONDS_ENV = "INCIDENT_TEST_PAUSE_SECONDS"


def _test_pause(stage: str) -> None:
    if os.environ.get(TEST_PAUSE_ENV) == stage:
        sys.stderr.write(f"incident-test-pause: {stage}\n")
        sys.stderr.flush()
        time.sleep(float(os.environ.get(TEST_PAUSE_SECONDS_ENV, "60")))


def _folder_domain(findings: Findings, chosen: Sequence[Contact]) -> str:
    if findings.domain and findings.domain.name:
        return findings.domain.name
    if chosen:
        return chosen[0].address.rpartition("@")[2]
    return "unknown"


def _findings_json(targets: Sequence[compose_mod.Target], contacts: dict[str, tuple[Contact, ...]]) -> Any:
    return [{
        "ip": t.candidate.ip,
        "count": t.candidate.count,
        "first_seen": t.candidate.evidence.first_seen,
        "last_seen": t.candidate.evidence.last_seen,
        "findings": dataclasses.asdict(t.findings),
        "contacts": [dataclasses.asdict(c) for c in contacts.get(t.candidate.ip, ())],
    } for t in targets]


class Pipeline:
    """Runs one `incident report`. Holds injected collaborators only, never per-incident state."""

    def __init__(self, cfg: Config, *, gatherer: Gatherer, store: Store | None, outbox: Outbox | None,
                 scan: Callable[..., Any], evidence: Callable[..., Mapping[str, Evidence]] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.cfg = cfg
        self.gatherer = gatherer
        self.store = store
        self.outbox = outbox
        self.scan = scan
        # bot.scan.collect_evidence: lines for the candidates the scan left without (the bulk path
        # gives them to its top few only). None: the scan's evidence is used as it is.
        self.evidence = evidence
        self.now = now
        # Templates are configuration, compiled once per run (a bad template_dir fails here, early).
        self.templates = compose_mod.environment(cfg.report.template_dir)

    # --- the run -----------------------------------------------------------------------------

    def run(self, paths: Sequence[str], opts: Options, ui: UI) -> Run:
        timings = Timings()
        with timings.step("scan"):
            result = self.scan(paths, self.cfg.scan, select=opts.select, keep_received=opts.keep_received)
        ui.progress(f"Analyzing input... {result.lines_read} lines read, {len(result.candidates)} addresses.")
        candidates = [c for c in result.candidates if c.reportable]
        if not candidates:
            raise NothingToDo("no reportable (global, not own) address found in the input")
        if opts.all_ips:
            candidates.sort(key=lambda c: -c.count)
        else:
            candidates = candidates[:1]
            ui.progress(f"Attack appears to be from {candidates[0].ip}")
        outcomes: list[Outcome] = []
        targets: list[Candidate] = []
        checked = [(c, None if (opts.force or opts.dry_run) else self._earlier(ips=[c.ip]))
                   for c in candidates]
        with timings.step("scan"):   # before asking: -a shows an excerpt of each
            filled = self._fill_evidence(paths, [c for c, earlier in checked if earlier is None], opts)
        for cand, earlier in checked:
            if earlier is not None:  # checked first: no point asking about it
                outcomes.append(earlier)
                ui.progress(f"{cand.ip}: {earlier.detail}")
                continue
            cand = filled.get(cand.ip, cand)
            if opts.ask_each and not ui.choose_ip(cand):
                outcomes.append(Outcome("skipped", (cand.ip,), detail="skipped by you"))
                continue
            targets.append(cand)
        if not targets:
            return Run(tuple(outcomes), timings.seconds, result.lines_read)

        found = self._gather(targets, opts, ui, timings)
        with timings.step("contacts"):
            contacts = {ip: rank_contacts(f, self.cfg.contacts) for ip, f in found.items()}
        groups = self._groups(targets, contacts, bulk=opts.all_ips and not opts.ask_each)
        description = opts.description if opts.description is not None else ui.description()
        for n, group in enumerate(groups, 1):
            if len(groups) > 1:
                ui.bulk_progress(n - 1, len(groups), "report")
            items = [compose_mod.Target(c, found[c.ip]) for c in group]
            outcomes.append(self._report(items, contacts, description, opts, ui, timings))
        if len(groups) > 1:
            ui.bulk_progress(len(groups), len(groups), "report")
        return Run(tuple(outcomes), timings.seconds, result.lines_read)

    # --- steps -------------------------------------------------------------------------------

    def _fill_evidence(self, paths: Sequence[str], cands: Sequence[Candidate],
                       opts: Options) -> dict[str, Candidate]:
        """The candidates that were seen but got no evidence lines from the scan (on a big input, all
        but its top few), with their evidence read in one call for all of them."""
        missing = [c for c in cands if c.count > 0 and not c.evidence.lines]
        if self.evidence is None or not missing or self.cfg.scan.excerpt_lines <= 0:
            return {}
        # the clock as the scan's (it is given none): one year inference for every address of a report
        found = self.evidence(paths, self.cfg.scan, [c.ip for c in missing], keep_received=opts.keep_received)
        return {c.ip: dataclasses.replace(c, evidence=found[c.ip]) for c in missing
                if c.ip in found and found[c.ip].lines}

    def _earlier(self, *, ips: Sequence[str] = (), contacts: Sequence[str] = ()) -> Outcome | None:
        if self.store is None:
            return None
        stuck = self.store.unfinished(ips=ips, contacts=contacts)
        if stuck is not None:
            return Outcome("suppressed", tuple(ips), stuck.id, folder=stuck.folder, detail=(
                f"{stuck.id} was interrupted while being sent and may have gone out; not sending again "
                f"(use --force to report anew)"))
        rc = self.cfg.report
        prev = self.store.recent(ips=ips if rc.suppress_by == "ip" else (),
                                 contacts=contacts if rc.suppress_by == "contact" else (),
                                 days=rc.suppress_days, now=self.now())
        if prev is None:
            return None
        return Outcome("suppressed", tuple(ips), prev.id, folder=prev.folder, detail=(
            f"already reported as {prev.id} on {prev.created:%Y-%m-%d} ({prev.state.value}, {prev.folder}); "
            f"skipped (within {rc.suppress_days} days; --force to report again)"))

    def _gather(self, targets: Sequence[Candidate], opts: Options, ui: UI,
                timings: Timings) -> dict[str, Findings]:
        found: dict[str, Findings] = {}
        with timings.step("gather"):
            if len(targets) == 1 or opts.ask_each:
                for cand in targets:
                    ui.progress(f"Information gathering for {cand.ip} {self.now():%a %b %d %H:%M:%S %Y} UTC")
                    found[cand.ip] = self._gather_one(cand.ip, opts, ui.progress)
            else:
                total = len(targets)
                ui.bulk_progress(0, total, "gather")
                try:
                    for ip, findings in self.gatherer.gather_many([c.ip for c in targets], probe=opts.probe):
                        found[ip] = findings
                        ui.bulk_progress(len(found), total, "gather")
                except LookupFailed as exc:
                    ui.progress(f"bulk lookup stopped: {exc}")
                for cand in targets:  # whatever the bulk lookup did not return: one by one
                    if cand.ip not in found:
                        found[cand.ip] = self._gather_one(cand.ip, opts, None)
                troubled = [ip for ip, f in found.items() if f.problems]
                if troubled:
                    ui.progress(f"Lookups had problems for {len(troubled)} of {total} addresses "
                                f"(e.g. {troubled[0]}: {found[troubled[0]].problems[0]}); "
                                f"details in each incident's findings.json")
        return found

    def _gather_one(self, ip: str, opts: Options, progress: Callable[[str], None] | None) -> Findings:
        try:
            return self.gatherer.gather(ip, probe=opts.probe, progress=progress)
        except LookupFailed as exc:
            return Findings(ip=ip, rdns=None, rdns_verified=False, network=None, domain=None,
                            problems=(f"lookup failed: {exc}",))

    def _groups(self, targets: Sequence[Candidate], contacts: dict[str, tuple[Contact, ...]],
                *, bulk: bool) -> list[list[Candidate]]:
        if not (bulk and self.cfg.report.group_by_contact):
            return [[c] for c in targets]
        groups: dict[tuple[str, ...], list[Candidate]] = {}
        alone: list[list[Candidate]] = []
        for cand in targets:
            key = tuple(sorted(c.address.lower() for c in choose_recipients(contacts[cand.ip])))
            if key:
                groups.setdefault(key, []).append(cand)
            else:
                alone.append([cand])  # no contact: each address is its own case
        return [*groups.values(), *alone]

    def _report(self, items: list[compose_mod.Target], contacts: dict[str, tuple[Contact, ...]],
                description: str, opts: Options, ui: UI, timings: Timings) -> Outcome:
        ips = tuple(t.candidate.ip for t in items)
        all_contacts = tuple(dict.fromkeys(c for t in items for c in contacts[t.candidate.ip]))
        chosen = choose_recipients(contacts[ips[0]])
        by_contact = self.cfg.report.suppress_by == "contact"
        if by_contact and self.store is not None and not (opts.force or opts.dry_run) and chosen:
            earlier = self._earlier(contacts=[c.address for c in chosen])
            if earlier is not None:
                ui.progress(f"{', '.join(ips)}: {earlier.detail}")
                return dataclasses.replace(earlier, ips=ips)
        with timings.step("compose"):
            now = self.now()
            inc_id = self.store.new_id(now) if self.store is not None and not opts.dry_run else \
                f"INC-{now:%Y%m%d}-0000"
            draft = compose_mod.compose(inc_id, items, chosen, self.cfg, description=description, now=now,
                                        env=self.templates)
        to = [c.address for c in chosen]
        if opts.dry_run or self.store is None:
            return Outcome("dry-run", ips, inc_id, detail="dry run: nothing written or sent",
                           recipients=tuple(to), draft=draft)
        with timings.step("store"):
            inc = self.store.create(
                inc_id, ips=ips, domain=_folder_domain(items[0].findings, chosen), subject=draft.subject,
                recipients=to, orig_email=orig_email_text(draft, to),
                findings=_findings_json(items, contacts), forced=opts.force,
                files={a.filename: a.data for a in draft.attachments}, now=now,
            )
        path = Path(inc.folder) / ORIG_EMAIL
        ui.progress(f"Email for {', '.join(ips) if len(ips) < 4 else f'{len(ips)} addresses'} "
                    f"written to {path}")
        edited = ui.review(draft, path)
        if edited.body != draft.body:
            draft = edited
            self.store.update_report(inc_id, orig_email_text(draft, to))
        send_to = ui.approve(draft, all_contacts, chosen)
        if send_to is None:
            return Outcome("draft", ips, inc_id, detail=f"kept as a draft: {path}", folder=inc.folder,
                           recipients=tuple(to), draft=draft)
        if not send_to:
            self.store.set_state(inc_id, State.SKIPPED)
            why = "no usable contact" if not chosen else "not sent (your choice)"
            return Outcome("skipped", ips, inc_id, detail=why, folder=inc.folder, draft=draft)
        if tuple(send_to) != tuple(to):
            self.store.update_report(inc_id, orig_email_text(draft, send_to), recipients=send_to)
        if self.outbox is None:
            return Outcome("written", ips, inc_id, folder=inc.folder, recipients=tuple(send_to), draft=draft,
                           detail=f"no smtp.host configured: written, not sent: {path}")
        with timings.step("send"):
            return self._send(inc_id, inc.folder, ips, draft, send_to, notice=ui.progress)

    def send_draft(self, incident_id: str, to: Sequence[str] | None = None) -> Outcome:
        """Send an incident written earlier and left as a draft (or failed), as it was written.

        `to` replaces the recipients written in the report. The same recording rules apply: an
        incident that is (or may have been) sent is refused by the store."""
        if self.store is None or self.outbox is None:
            raise UserError("sending needs smtp.host and an incident store")
        inc = self.store.get(incident_id)
        if inc.state not in (State.DRAFT, State.FAILED):
            raise UserError(f"{inc.id} is {inc.state.value}: not sending it again")
        folder = Path(inc.folder)
        try:
            written_to, subject, body = read_orig_email((folder / ORIG_EMAIL).read_text(encoding="utf-8"))
            attachments = tuple(Attachment(p.name, "application/json", p.read_bytes())
                                for p in sorted(folder.glob("xarf-*.json")))
        except OSError as exc:
            raise StoreError(f"cannot read incident {incident_id}: {exc.strerror}") from exc
        recipients = list(to) if to is not None else written_to
        if to is not None:
            self.store.update_report(inc.id, orig_email_text(Draft(inc.id, subject, body, ()), recipients),
                                     recipients=recipients)
        draft = Draft(inc.id, subject, body, (), attachments)
        return self._send(inc.id, inc.folder, inc.ips or (inc.ip,), draft, recipients)

    def _forced(self, inc_id: str) -> bool:
        assert self.store is not None
        return self.store.get(inc_id).extra.get("forced") == "yes"

    def _send(self, inc_id: str, folder: str, ips: tuple[str, ...], draft: Draft,
              to: Sequence[str], notice: Callable[[str], None] | None = None) -> Outcome:
        assert self.store is not None and self.outbox is not None
        bad: dict[str, str] = {}
        for addr in to:  # one unusable address fails that recipient, not the run
            try:
                message_mod.check_address(addr, "recipient")
            except UserError as exc:
                bad[addr] = str(exc)
        to = [a for a in to if a not in bad]
        if not to:
            self.store.record_result(inc_id, [], bad)
            return Outcome("failed", ips, inc_id, folder=folder, detail=f"no usable address: {bad}")
        from_addr, rcpts = message_mod.envelope(self.cfg, to)
        mid = message_mod.new_message_id(inc_id, from_addr)
        msg = message_mod.build(draft, self.cfg, to=to, message_id=mid, now=self.now())
        rc = self.cfg.report
        guard = rc.suppress_days if rc.suppress_by == "ip" and not self._forced(inc_id) else 0
        try:
            self.store.record_sending(inc_id, mid, msg.as_bytes(), guard_days=guard, now=self.now())
        except AlreadyReported as exc:  # another run sent it while this one was composing or asking
            self.store.set_state(inc_id, State.SKIPPED)
            return Outcome("suppressed", ips, inc_id, folder=folder,
                           detail=f"already reported as {exc.other} meanwhile; not sent (--force to send)")
        _test_pause("recorded")
        try:
            result = self.outbox.send(msg, from_addr, rcpts, notice=notice)
        except UncertainDelivery as exc:
            # Left in state `sending`: it may have gone out, so only a person can send it again.
            return Outcome("failed", ips, inc_id, detail=f"{exc} (left as 'sending'; --force to report anew)",
                           folder=folder, recipients=tuple(to))
        except SendError as exc:
            self.store.set_state(inc_id, State.FAILED)
            return Outcome("failed", ips, inc_id, detail=str(exc), folder=folder, recipients=tuple(to))
        _test_pause("delivered")
        # Only the report's own recipients count: the Bcc copy to ourselves reaching our own server
        # does not make a report that every abuse desk refused "sent" (nor suppress its address).
        wanted = {a.lower() for a in to}
        accepted = [a for a in result.accepted if a.lower() in wanted]
        state = self.store.record_result(inc_id, accepted, {**bad, **result.failed})
        failed = "; ".join(f"{a}: {why}" for a, why in {**bad, **result.failed}.items())
        if state is State.SENT:
            detail = f"sent to {', '.join(accepted)}"
            if result.attempts > 1:  # the server said "try later" first: say so, it took a while
                detail += f" after {result.attempts} attempts"
            return Outcome("sent", ips, inc_id, folder=folder, recipients=tuple(accepted),
                           detail=detail + (f" (refused: {failed})" if failed else ""))
        return Outcome("failed", ips, inc_id, folder=folder, recipients=tuple(to),
                       detail=f"every recipient refused: {failed}")
