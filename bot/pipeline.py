"""Drafting: the one place that orders scan -> gather -> contacts -> compose -> store, and decides
what to skip, merge or stop. Sending a stored draft is bot/sending.py; approval is the front end's.

Steps raise; this module decides:
- an address already reported within ``report.suppress_days`` (or whose last report was interrupted
  while being sent) is not drafted again unless forced, and the earlier incident is named;
- the same attacker while its draft is still open (within ``report.merge_window_hours``) adds its
  evidence to that draft instead of opening another; two intakes at once cannot open two drafts
  (the store checks under its write lock, and a lost race becomes a merge);
- a lookup that raises instead of noting a problem becomes a problem line: the draft is still made;
- a store error stops the run (nothing else can be trusted then).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from bot import compose as compose_mod
from bot import evidence as evidence_mod
from bot.config import Config
from bot.contacts import choose_recipients, rank_contacts
from bot.errors import LookupFailed, NothingToDo, StoreError, UserError
from bot.flow import DraftOptions, DraftRun, Gatherer, Intake, Outcome, Progress, Timings
from bot.lifecycle import Action, Actor, Conflict
from bot.models import (
    AttachmentRef,
    Candidate,
    Contact,
    Evidence,
    Findings,
    Incident,
    Origin,
    ScanResult,
    State,
    StoredDraft,
    Target,
)
from bot.store import OpenDraftExists, StaleDraft, Store

log = logging.getLogger(__name__)
_RACE_RETRIES = 5


class Drafting:
    """Makes drafts from an intake. Holds injected collaborators only, never per-incident state."""

    def __init__(self, cfg: Config, *, store: Callable[[], Store], gatherer: Callable[[], Gatherer],
                 scan_text: Callable[..., ScanResult], scan_paths: Callable[..., ScanResult],
                 evidence: Callable[..., Mapping[str, Evidence]] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.cfg = cfg
        self._store = store
        self._gatherer = gatherer
        self.scan_text = scan_text
        self.scan_paths = scan_paths
        self.evidence = evidence
        self.now = now
        self.templates = compose_mod.environment(cfg.report.template_dir)  # a bad template_dir fails early

    # --- scan --------------------------------------------------------------------------------

    def scan(self, intake: Intake, *, select: str | None = None,
             keep_received: bool | None = None) -> ScanResult:
        if intake.text is not None:
            return self.scan_text(intake.text.splitlines(), self.cfg.scan, select=select,
                                  keep_received=keep_received)
        return self.scan_paths(list(intake.paths), self.cfg.scan, select=select, keep_received=keep_received)

    # --- the run -----------------------------------------------------------------------------

    def draft(self, intake: Intake, actor: Actor, opts: DraftOptions, *, progress: Progress = lambda s: None,
              bulk_progress: Callable[[int, int, str], None] = lambda d, t, s: None,
              timings: Timings | None = None, scanned: ScanResult | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> DraftRun:
        """``on_outcome`` is told of each outcome as soon as it is stored (a batch sends it meanwhile)."""
        timings = timings or Timings()
        if scanned is None:
            with timings.step("scan"):
                scanned = self.scan(intake, select=opts.select, keep_received=opts.keep_received)
        if scanned.unmatched_selector and not opts.force:
            # a mistyped address would accuse an innocent network with a report of no evidence
            raise UserError(f"{scanned.unmatched_selector}: nothing reported (--force to report anyway)")
        candidates = [c for c in scanned.candidates if c.reportable]
        if not candidates:
            raise NothingToDo(scanned.nothing_reportable())
        if opts.only is not None:
            candidates = [c for c in candidates if c.ip in opts.only]
        elif opts.every:
            candidates.sort(key=lambda c: -c.count)
        else:
            candidates = candidates[:1]
        outcomes: list[Outcome] = []

        def add(out: Outcome) -> None:
            outcomes.append(out)
            if on_outcome is not None:
                on_outcome(out)

        todo: list[Candidate] = []
        claims = {} if (opts.force or opts.dry_run) else self._claims([c.ip for c in candidates])
        for cand in candidates:
            earlier = self._suppressed((cand.ip,), claims[cand.ip]) if cand.ip in claims else None
            if earlier is not None:
                add(earlier)
                progress(f"{cand.ip}: {earlier.detail}")
            else:
                todo.append(cand)
        with timings.step("scan"):
            todo = self._fill_evidence(intake, todo, opts)
        if not (opts.force or opts.dry_run):
            with timings.step("store"):
                todo = self._merge_open(todo, intake.origin, actor, add, progress)
        if not todo:
            return DraftRun(tuple(outcomes), scanned)
        found = self._gather(todo, opts, progress, bulk_progress, timings)
        with timings.step("contacts"):
            contacts = {ip: rank_contacts(f, self.cfg.contacts) for ip, f in found.items()}
        groups = self._groups(todo, contacts, group=opts.group)
        for n, group in enumerate(groups, 1):
            if len(groups) > 1:
                bulk_progress(n - 1, len(groups), "draft")
            targets = [Target(c, found[c.ip]) for c in group]
            add(self._new_draft(targets, contacts, intake.origin, actor, opts, progress, timings))
        if len(groups) > 1:
            bulk_progress(len(groups), len(groups), "draft")
        return DraftRun(tuple(outcomes), scanned)

    # --- steps -------------------------------------------------------------------------------

    def _fill_evidence(self, intake: Intake, cands: list[Candidate], opts: DraftOptions) -> list[Candidate]:
        """Candidates seen but given no evidence lines by the scan (on a big input, all but its top
        few), with their evidence read in one more pass for all of them."""
        missing = [c for c in cands if c.count > 0 and not c.evidence.lines]
        if self.evidence is None or not missing or not intake.paths or self.cfg.scan.excerpt_lines <= 0:
            return cands
        found = self.evidence(list(intake.paths), self.cfg.scan, [c.ip for c in missing],
                              keep_received=opts.keep_received)
        # (the count stays the scan's: collect_evidence counts every line that writes the address)
        return [dataclasses.replace(c, evidence=dataclasses.replace(found[c.ip],
                                                                    total_lines=c.evidence.total_lines))
                if c.ip in found and found[c.ip].lines else c for c in cands]

    def earlier(self, ip: str) -> Outcome | None:
        """Why ``ip`` is not to be reported again now (reported within the window, or interrupted), if so."""
        found = self._claims([ip]).get(ip)
        return self._suppressed((ip,), found) if found is not None else None

    def _claims(self, ips: Sequence[str]) -> dict[str, Incident]:
        """The incidents that stop each address being reported again now, in one question: one left
        sending (at any age), or (suppressing by address) one reported within report.suppress_days."""
        rc = self.cfg.report
        by_ip = rc.suppress_by == "ip" and rc.suppress_days > 0
        since = self.now() - timedelta(days=rc.suppress_days) if by_ip else None
        return self._store().claims(ips, reported_since=since)

    def _suppressed(self, ips: tuple[str, ...], earlier: Incident) -> Outcome:
        if earlier.state is State.SENDING:
            return Outcome("suppressed", ips, earlier.id, folder=earlier.folder, detail=(
                f"{earlier.id} was interrupted while being sent and may have gone out; not reporting again "
                f"(check the relay's log, then: incident settle {earlier.id} --sent or --not-sent)"))
        rc = self.cfg.report
        return Outcome("suppressed", ips, earlier.id, folder=earlier.folder, detail=(
            f"already reported as {earlier.id} on {earlier.created:%Y-%m-%d} ({earlier.state.value}, "
            f"{earlier.folder}); skipped (within {rc.suppress_days} days; --force to report again)"))

    def _earlier_to(self, contacts: Sequence[str]) -> Outcome | None:
        """Suppressing by contact: an incident to one of ``contacts`` interrupted, or reported within
        report.suppress_days."""
        store = self._store()
        rc = self.cfg.report
        found = store.unfinished(contacts=contacts) or store.recent(contacts=contacts, days=rc.suppress_days,
                                                                   now=self.now())
        return self._suppressed((), found) if found is not None else None

    def _merge_window(self) -> datetime:
        return self.now() - timedelta(hours=self.cfg.report.merge_window_hours)

    def _merge_open(self, cands: list[Candidate], origin: Origin, actor: Actor,
                    add: Callable[[Outcome], None], progress: Progress) -> list[Candidate]:
        """Add each candidate that an open draft holds to that draft; return the others."""
        if self.cfg.report.merge_window_hours <= 0:
            return cands
        rest: list[Candidate] = []
        opened = self._store().open_drafts_for([c.ip for c in cands], self._merge_window())
        for cand in cands:
            inc_id = opened.get(cand.ip)
            merged = self.merge(inc_id, [cand], origin, actor) if inc_id else None
            if merged is None:
                rest.append(cand)
            else:
                add(merged)
                progress(f"{cand.ip}: {merged.detail}")
        return rest

    def merge(self, incident_id: str, seen: Sequence[Candidate], origin: Origin, actor: Actor,
              found: Mapping[str, Findings] | None = None) -> Outcome | None:
        """Add ``seen`` evidence to the open draft ``incident_id`` and render it again (unless a person
        wrote its text). None when the draft is no longer open (sent or skipped meanwhile)."""
        store = self._store()
        for _ in range(_RACE_RETRIES):
            try:
                held = store.draft(incident_id)
                if origin.once and incident_id in store.incidents_from(origin):
                    return Outcome("merged", tuple(c.ip for c in seen), held.incident_id,
                                   recipients=held.recipients, draft=held,
                                   detail=f"already in {held.incident_id} (same {origin.kind} {origin.ref})")
                targets, added = self._merged_targets(held, seen, found or {})
                new, files = self._render(held, targets)
                detail = (f"+{added} log lines for {', '.join(c.ip for c in seen)} from {origin.kind}"
                          f"{f' {origin.ref}' if origin.ref else ''}"
                          f"{'; text kept as edited by a person' if held.edited else ''}")
                inc = store.update_draft(new, action=Action.MERGE, actor=actor, origin=origin, detail=detail,
                                         add_ips=[c.ip for c in seen], files=files, now=self.now())
            except StaleDraft:
                continue
            except Conflict:
                return None
            return Outcome("merged", inc.ips, inc.id, folder=inc.folder, recipients=new.recipients, draft=new,
                           detail=f"added {added} new log lines to the open draft {inc.id}")
        raise StoreError(f"{incident_id} kept changing while evidence was added to it")

    def _merged_targets(self, held: StoredDraft, seen: Sequence[Candidate],
                        found: Mapping[str, Findings]) -> tuple[tuple[Target, ...], int]:
        cap = self.cfg.scan.excerpt_lines
        by_ip = {c.ip: c for c in seen}
        added = 0
        targets: list[Target] = []
        for t in held.targets:
            cand = by_ip.pop(t.candidate.ip, None)
            if cand is None:
                targets.append(t)
                continue
            merged, n = evidence_mod.merge(t.candidate, cand, cap)
            added += n
            targets.append(Target(merged, t.findings))
        for ip, cand in by_ip.items():  # an address new to this draft (same contact, grouped)
            if ip in found:
                targets.append(Target(cand, found[ip]))
                added += cand.count
        return tuple(targets), added

    def _render(self, held: StoredDraft, targets: tuple[Target, ...]) -> tuple[StoredDraft, dict[str, bytes]]:
        """The draft with ``targets``: subject and body rendered again unless a person wrote them; the
        attachments (machine-readable evidence) always."""
        chosen = [c for c in held.contacts if c.address in held.recipients]
        fresh = compose_mod.compose(held.incident_id, targets, chosen, self.cfg, description=held.description,
                                    now=self.now(), env=self.templates)
        files = {a.filename: a.data for a in fresh.attachments}
        new = dataclasses.replace(
            held, targets=targets,
            subject=held.subject if held.edited else fresh.subject,
            body=held.body if held.edited else fresh.body,
            attachments=tuple(AttachmentRef(a.filename, a.content_type) for a in fresh.attachments))
        return new, files

    def rerender(self, held: StoredDraft, *, description: str) -> tuple[StoredDraft, dict[str, bytes]]:
        """The draft with a new description, its text rendered again (used by App.edit)."""
        return self._render(dataclasses.replace(held, description=description), held.targets)

    def _gather(self, targets: Sequence[Candidate], opts: DraftOptions, progress: Progress,
                bulk_progress: Callable[[int, int, str], None], timings: Timings) -> dict[str, Findings]:
        found: dict[str, Findings] = {}
        gatherer = self._gatherer()
        with timings.step("gather"):
            if len(targets) == 1 or opts.only is not None:
                for cand in targets:
                    progress(f"Information gathering for {cand.ip} {self.now():%a %b %d %H:%M:%S %Y} UTC")
                    found[cand.ip] = self._gather_one(gatherer, cand.ip, opts, progress)
                return found
            total = len(targets)
            bulk_progress(0, total, "gather")
            try:
                for ip, findings in gatherer.gather_many([c.ip for c in targets], probe=opts.probe):
                    found[ip] = findings
                    bulk_progress(len(found), total, "gather")
            except LookupFailed as exc:
                progress(f"bulk lookup stopped: {exc}")
            for cand in targets:  # whatever the bulk lookup did not return: one by one
                if cand.ip not in found:
                    found[cand.ip] = self._gather_one(gatherer, cand.ip, opts, None)
            troubled = [ip for ip, f in found.items() if f.problems]
            if troubled:
                progress(f"Lookups had problems for {len(troubled)} of {total} addresses "
                         f"(e.g. {troubled[0]}: {found[troubled[0]].problems[0]}); "
                         f"details in each incident's findings.json")
        return found

    @staticmethod
    def _gather_one(gatherer: Gatherer, ip: str, opts: DraftOptions, progress: Progress | None) -> Findings:
        try:
            return gatherer.gather(ip, probe=opts.probe, progress=progress)
        except LookupFailed as exc:
            return Findings(ip=ip, rdns=None, rdns_verified=False, network=None, domain=None,
                            problems=(f"lookup failed: {exc}",))

    def _groups(self, targets: Sequence[Candidate], contacts: dict[str, tuple[Contact, ...]],
                *, group: bool) -> list[list[Candidate]]:
        if not (group and self.cfg.report.group_by_contact):
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

    def _new_draft(self, targets: list[Target], contacts: dict[str, tuple[Contact, ...]], origin: Origin,
                   actor: Actor, opts: DraftOptions, progress: Progress, timings: Timings) -> Outcome:
        ips = tuple(t.candidate.ip for t in targets)
        every = tuple(dict.fromkeys(c for t in targets for c in contacts[t.candidate.ip]))
        chosen = choose_recipients(contacts[ips[0]])
        if self.cfg.report.suppress_by == "contact" and chosen and not (opts.force or opts.dry_run):
            earlier = self._earlier_to([c.address for c in chosen])
            if earlier is not None:
                progress(f"{', '.join(ips)}: {earlier.detail}")
                return dataclasses.replace(earlier, ips=ips)
        with timings.step("compose"):
            now = self.now()
            inc_id = f"INC-{now:%Y%m%d}-0000" if opts.dry_run else self._store().new_id(now)
            draft = compose_mod.compose(inc_id, targets, chosen, self.cfg, description=opts.description,
                                        now=now, env=self.templates)
        stored = StoredDraft(
            incident_id=inc_id, subject=draft.subject, body=draft.body,
            recipients=tuple(c.address for c in chosen), contacts=every,
            attachments=tuple(AttachmentRef(a.filename, a.content_type) for a in draft.attachments),
            targets=tuple(targets), description=opts.description)
        if opts.dry_run:
            return Outcome("dry-run", ips, inc_id, detail="dry run: nothing written or sent",
                           recipients=stored.recipients, draft=stored)
        files = {a.filename: a.data for a in draft.attachments}
        with timings.step("store"):
            inc = self._create(stored, files, targets, chosen, origin, actor, opts)
        if isinstance(inc, Outcome):
            return inc
        why = "" if chosen else " (no usable contact: add a recipient with 'incident edit')"
        return Outcome("drafted", ips, inc.id, folder=inc.folder, recipients=stored.recipients, draft=stored,
                       detail=f"draft written to {inc.folder}{why}")

    def _create(self, stored: StoredDraft, files: dict[str, bytes], targets: list[Target],
                chosen: Sequence[Contact], origin: Origin, actor: Actor,
                opts: DraftOptions) -> Incident | Outcome:
        window = None if opts.force or self.cfg.report.merge_window_hours <= 0 else self._merge_window()
        try:
            return self._store().create_draft(stored, domain=_folder_domain(targets[0].findings, chosen),
                                              files=files, origin=origin, actor=actor, forced=opts.force,
                                              merge_since=window, now=self.now())
        except OpenDraftExists as exc:  # another intake opened one meanwhile: add to it
            merged = self.merge(exc.incident_id, [t.candidate for t in targets], origin, actor,
                                {t.candidate.ip: t.findings for t in targets})
            if merged is not None:
                return merged
            return self._store().create_draft(stored, domain=_folder_domain(targets[0].findings, chosen),
                                              files=files, origin=origin, actor=actor, forced=opts.force,
                                              now=self.now())


def _folder_domain(findings: Findings, chosen: Sequence[Contact]) -> str:
    if findings.domain and findings.domain.name:
        return findings.domain.name
    if chosen:
        return chosen[0].address.rpartition("@")[2]
    return "unknown"
