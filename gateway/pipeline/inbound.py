"""Inbound processing of one spooled item: bytes from a partner -> documents queued for destinations.

``InboundProcessor.process(item)`` is plain blocking code (parsing, mapping, rules, fsync); the pipeline
service runs it off the reactor thread. For one item it:

1. parses the interchanges (envelope findings);
2. skips an interchange already received from the same sender with the same control number within
   the partner's ``duplicate_window`` (audited, logged, never processed twice);
3. for each transaction: an inbound 997/999/CONTRL updates the state of the documents it acknowledges;
   any other is routed by the partner's routes, structurally validated against its spec, mapped to
   its canonical document, schema-checked and run through the route's rule packs;
4. a transaction with errors is rejected in the functional acknowledgement and parked in ``failed/`` as
   its own one-transaction interchange with its findings; the others still go through;
5. each good document is queued once per destination (``out/<destination>/``) with an idempotency key
   stable per document and destination, then indexed;
6. the acknowledgement the partner's policy asks for is queued to the partner (``out/partner.<id>/``);
7. the item moves to ``done/`` (or ``failed/`` when nothing in it could be read).

Re-running an item after a crash is safe: document ids are derived from the item id and the
transaction's position, a document already indexed is not queued again, and deliveries carry the same
idempotency key.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import structlog

from gateway.config import GatewayConfig, Partner, parse_duration
from gateway.edi import ParseResult, parse
from gateway.edi.acks import build_997, build_999, build_contrl, build_ta1, read_ack
from gateway.edi.findings import Finding
from gateway.edi.model import Group, Interchange, Transaction
from gateway.edi.split import single_bytes
from gateway.edi.writer import DelimiterInValue, write
from gateway.edi.x12_parse import drop_stepwise
from gateway.mapping.translate import source_block
from gateway.pipeline import lifecycle
from gateway.pipeline.catalog import Catalog
from gateway.rules.structure import validate_transaction
from gateway.rules.validate import transaction_version

log = structlog.get_logger(__name__)
ACK_TYPES = {"997", "999", "CONTRL", "TA1"}
FREEZE_OVER = 1 << 20  # items from this size on are processed with their parse tree frozen (see _parse)
MAX_OPEN = 192  # descriptors a batch holds before an item's outputs so far are committed (big items)


class _Where(TypedDict):
    """Position of a transaction in the parse result, as Finding's keyword arguments."""

    interchange: int
    group: int
    transaction: int


def partner_queue(partner_id: str) -> str:
    return f"partner.{partner_id}"


@dataclass
class Timings:
    parse: float = 0.0
    validate: float = 0.0
    map: float = 0.0
    rules: float = 0.0
    store: float = 0.0

    def add(self, other: Timings) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass
class Report:
    item_id: str
    state: str = "done"
    reason: str = ""
    documents: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    timings: Timings = field(default_factory=Timings)


Outcome = tuple[str, "Report | Exception"]


class InboundProcessor:
    def __init__(self, store: Any, config: GatewayConfig, catalog: Catalog | None = None,
                 now: Any = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.config = config
        self.catalog = catalog or Catalog(config)
        self.now = now
        self._frozen = False
        self._big: ParseResult | None = None
        self._b: Any = _NO_BATCH
        self._seen: dict[tuple[str, str, str], str] = {}  # interchanges recorded in the open batch

    # -- one item ---------------------------------------------------------------------------------
    def process(self, item_id: str) -> Report:
        """Process one item (in ``work/``). Its outputs are staged in one batch and made durable
        together, in one round, before the item moves on (see :mod:`gateway.store.batch`)."""
        self._b = self.store.batch()
        self._seen = {}
        try:
            report = self._process(item_id)
            t0 = time.perf_counter()
            self._b.commit()  # outputs, events, control numbers and the new meta: one round; then the move
            report.timings.store += time.perf_counter() - t0
            return report
        except BaseException:
            try:  # keep what was queued before the error, as when each output was its own write
                self._b.commit()
            except Exception:
                log.exception("pipeline_partial_commit_failed", item_id=item_id)
            raise
        finally:
            self._b = _NO_BATCH
            self._release()

    def process_many(self, item_ids: Iterable[str], max_open: int = MAX_OPEN // 2) -> list[Outcome]:
        """Process several items (in ``work/``) into ONE batch: one round makes the outputs of all of
        them durable, then all of them move on (none leaves ``work/`` before that round).

        ``item_ids`` is consumed lazily, and no further item is taken once the batch holds
        ``max_open`` descriptors. A bug while processing one item parks that item alone in ``failed/``
        (what it queued before the error is kept, as in :meth:`process`); the others go on. An I/O
        failure (a round that fails, a full disk) drops the whole batch and runs each of its items
        again on its own with :meth:`process`, so only the items that fail alone are affected.
        Returns ``(item_id, Report or the exception)`` per item, in order.
        """
        taken: list[str] = []
        out: list[Outcome] = []
        self._b = self.store.batch()
        self._seen = {}
        try:
            for item_id in item_ids:
                taken.append(item_id)
                try:
                    out.append((item_id, self._process(item_id)))
                except OSError:
                    raise
                except Exception as exc:  # a bug for one item must never stop the others
                    log.exception("pipeline_item_crashed", item_id=item_id)
                    self._b.fail(item_id, f"internal error while processing: {type(exc).__name__}: {exc}")
                    out.append((item_id, exc))
                finally:
                    self._release()
                if self._b.open_files >= max_open:
                    break
            t0 = time.perf_counter()
            self._b.commit()
            share = (time.perf_counter() - t0) / max(1, len(out))
            for _, r in out:
                if isinstance(r, Report):
                    r.timings.store += share
            return out
        except OSError as exc:  # the batch's round (or a write in it) failed: each item on its own
            log.warning("pipeline_batch_failed_retrying_alone", items=len(taken), error=str(exc))
            self._b.abort()
            self._b = _NO_BATCH
            return self._alone(taken)
        finally:
            self._b = _NO_BATCH
            self._release()

    def _alone(self, item_ids: list[str]) -> list[Outcome]:
        out: list[Outcome] = []
        for item_id in item_ids:
            found = self.store.spool.find(item_id)
            if found is None or found.state != "work":
                continue  # moved on in a round of the batch that succeeded
            try:
                out.append((item_id, self.process(item_id)))
            except Exception as exc:
                out.append((item_id, exc))
        return out

    def _release(self) -> None:
        if self._big is not None:  # a big parse tree, freed a piece at a time
            for ic in self._big.interchanges:
                for g in ic.groups:
                    drop_stepwise(g.transactions, 64)
            self._big = None
        if self._frozen:  # the item's parse tree is gone with _process's frame
            gc.unfreeze()
            self._frozen = False

    def _parse(self, payload: bytes) -> ParseResult:
        """Parse; a big item's parse tree is kept away from the cyclic collector until the item is done.

        A 50 MB interchange parses into millions of lists. The first collection after the parse (which
        runs with the collector off) and every full one after it walk them all for about a second,
        holding the GIL, so the reactor (AS2, SFTP, /healthz) stalls. Frozen objects are skipped; they
        hold no cycles and are freed by reference counting once the item is done.
        """
        if len(payload) < FREEZE_OVER or self._frozen:
            return parse(payload)
        gc.disable()  # parse turns it back on only if it was on: freeze first
        try:
            result = parse(payload)
            gc.freeze()
            self._frozen = True
        finally:
            gc.enable()
        self._big = result
        return result

    def _process(self, item_id: str) -> Report:
        payload, meta = self.store.spool.get(item_id)
        report = Report(item_id)
        partner = self.config.partners.get(meta.get("partner") or "")
        if partner is None:
            return self._fail(report, f"unknown partner {meta.get('partner')!r}: no partners/*.yaml has this id")
        t0 = time.perf_counter()
        result = self._parse(payload)
        report.timings.parse += time.perf_counter() - t0
        if not result.interchanges:
            first = "; ".join(f.line() for f in result.errors[:3]) or "no interchange found"
            return self._fail(report, f"not readable as EDI: {first}")
        bound = log.bind(partner=partner.id, item_id=item_id, message_id=meta.get("message_id"))
        window = timedelta(seconds=parse_duration(partner.edi.get("duplicate_window") or "30d"))
        # A replayed item, or a transaction parked out of an interchange we already took in, is not a
        # retransmission: only fresh arrivals are checked for duplicate interchanges.
        again = bool(meta.get("source_item")) or any(
            str(h.get("note", "")).startswith("replayed") for h in meta.get("history", []))
        for ici, ic in enumerate(result.interchanges):
            if not again and self._duplicate(partner, ic, item_id, window, bound):
                report.duplicates += 1
                continue
            queued = len(report.documents)
            self._interchange(partner, result, ici, ic, item_id, meta, report, bound)
            # A broken envelope that let nothing through is not remembered: the partner's corrected
            # resend under the same control number must be processed, not dropped as a duplicate.
            if not again and (len(report.documents) > queued or not _envelope_errors(result, ici)):
                self._b.record_interchange(partner.id, ic.sender, ic.control_number, item_id, self.now())
                self._seen.setdefault((partner.id, ic.sender, ic.control_number), item_id)
        if report.duplicates == len(result.interchanges):
            report.reason = "duplicate interchange: already received, not processed again"
        self._b.move(item_id, "done", report.reason or f"{len(report.documents)} document(s), "
                     f"{len(report.rejected)} rejected transaction(s)")
        bound.info("item_processed", documents=len(report.documents), rejected=len(report.rejected),
                   acks=len(report.acks), duplicates=report.duplicates)
        return report

    def _fail(self, report: Report, reason: str) -> Report:
        self._b.fail(report.item_id, reason)
        report.state, report.reason = "failed", reason
        log.error("item_failed", item_id=report.item_id, reason=reason)
        return report

    def _duplicate(self, partner: Partner, ic: Interchange, item_id: str, window: timedelta, bound: Any) -> bool:
        earlier = self.store.duplicate_interchange(partner.id, ic.sender, ic.control_number, window, self.now()) \
            or self._seen.get((partner.id, ic.sender, ic.control_number))  # earlier in the same batch
        if earlier and earlier != item_id:
            self._b.record("interchange.duplicate", partner=partner.id, item_id=item_id,
                              keys={"sender": ic.sender, "control_number": ic.control_number},
                              data={"first_item": earlier})
            bound.warning("duplicate_interchange", sender=ic.sender, control_number=ic.control_number,
                          first_item=earlier)
            return True
        return False  # recorded once processed (see process)

    # -- one interchange ------------------------------------------------------------------------------
    def _interchange(self, partner: Partner, result: ParseResult, ici: int, ic: Interchange, item_id: str,
                     meta: dict[str, Any], report: Report, bound: Any) -> None:
        extra: list[Finding] = []
        for gi, g in enumerate(ic.groups):
            # A group the ack rejects as a whole (missing GE, wrong count) lets none of its transactions
            # through: delivering them would contradict the ack and double them when the partner resends.
            group_errors = [f for f in result.findings_for(ici, gi) if f.severity == "error"]
            for ti, t in enumerate(g.transactions):
                where: _Where = {"interchange": ici, "group": gi, "transaction": ti}
                if t.type in ACK_TYPES:
                    self._inbound_ack(partner, ic, t, report, bound)
                    ack_route = self.catalog.inbound_route(partner, t.type)
                    if ack_route is None or not ack_route.mapping:
                        continue
                envelope_errors = group_errors + [f for f in result.findings_for(ici, gi, ti)
                                                  if f.severity == "error"]
                found = self._transaction(partner, ic, g, t, where, item_id, meta, report, envelope_errors)
                extra.extend(found)
        if ic.standard == "x12":
            # service segments outside groups (TA1 answers to us)
            for seg in getattr(ic, "service_segments", None) or []:
                if seg and seg[0] == "TA1":
                    report.acknowledged.append({"kind": "TA1", "interchange": seg[1] if len(seg) > 1 else ""})
        self._queue_ack(partner, result, ici, ic, extra, item_id, report, bound)

    def _transaction(self, partner: Partner, ic: Interchange, g: Group, t: Transaction, where: _Where,
                     item_id: str, meta: dict[str, Any], report: Report, envelope_errors: list[Finding]) -> list[Finding]:
        """Validate, map, check and queue one transaction; return the findings the ack must carry."""
        timings = report.timings
        doc_id = f"{item_id}-{where['interchange']}.{where['group']}.{where['transaction']}"
        route = self.catalog.inbound_route(partner, t.type)
        if route is None:
            finding = Finding("no_route", f"partner {partner.id} has no inbound route for {t.type}",
                              level="transaction", **where)
            self._park(partner, ic, g, t, item_id, doc_id, [finding], report, reject=False)
            return []
        findings: list[Finding] = []
        version = transaction_version(ic.standard, g.version, t.version)
        t0 = time.perf_counter()
        spec = self.catalog.spec(ic.standard, version, t.type, partner)
        if spec is not None:
            findings += validate_transaction(t, spec, interchange=where["interchange"], group=where["group"],
                                             index=where["transaction"])
        timings.validate += time.perf_counter() - t0
        doc: dict[str, Any] | None = None
        if route.mapping:
            t0 = time.perf_counter()
            try:
                mapping = self.catalog.mapping(route.mapping, partner)
                doc, mapped = mapping.to_canonical(t, partner_id=partner.id, partner_tz=partner.timezone,
                                                   source=source_block(ic, g, t, meta.get("message_id")))
                findings += [_at(f, where) for f in mapped]
                from gateway.mapping.schemas import validate as schema_validate

                findings += [_at(f, where) for f in schema_validate(doc)]
            except Exception as exc:  # a broken mapping parks this transaction, never the others
                findings.append(Finding("mapping_failed", f"mapping {route.mapping} failed: {exc}",
                                        level="transaction", x12_transaction="23", **where))
                doc = None
            timings.map += time.perf_counter() - t0
        if doc is not None:  # when the spool took the bytes: stable when a crash makes us run the item again
            doc.setdefault("received_at", meta.get("received_at") or self.now().isoformat(timespec="microseconds"))
        if doc is not None and route.rules and not _errors(findings):
            t0 = time.perf_counter()
            doc["doc_id"] = doc_id
            doc.setdefault("received_at", self.now().isoformat(timespec="microseconds"))
            for name in route.rules:
                try:
                    pack = self.catalog.pack(name)
                    findings += [_at(f, where) for f in pack.check(doc, self._b.index, self.now(), partner.timezone)]
                except Exception as exc:
                    findings.append(Finding("rules_failed", f"rule pack {name} failed: {exc}", level="transaction",
                                            **where))
            timings.rules += time.perf_counter() - t0
        findings = envelope_errors + findings
        if _errors(findings) or doc is None:
            if doc is None and not _errors(findings):
                findings.append(Finding("no_mapping", f"route for {t.type} names no mapping", level="transaction",
                                        **where))
            self._park(partner, ic, g, t, item_id, doc_id, findings, report, reject=True)
            return [f for f in findings if f not in envelope_errors]
        t0 = time.perf_counter()
        self._queue_document(partner, doc, doc_id, route.to, item_id, report)
        timings.store += time.perf_counter() - t0
        return [f for f in findings if f.severity == "warning"]

    # -- outputs --------------------------------------------------------------------------------------
    def _queue_document(self, partner: Partner, doc: dict[str, Any], doc_id: str, destinations: tuple[str, ...],
                        item_id: str, report: Report) -> None:
        doc["doc_id"] = doc_id
        doc.setdefault("received_at", self.now().isoformat(timespec="microseconds"))
        indexed = self._b.index.document(doc_id) is not None
        if indexed:  # processed before a crash: queue again only what did not become durable
            destinations = self._unqueued(doc_id, destinations)
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        for dest in destinations:
            queue = partner_queue(partner.id) if dest == "partner" else dest
            key = f"{doc_id}:{dest}"
            out = self._b.put(f"out/{queue}", body, {
                "partner": partner.id, "doc_id": doc_id, "document": doc.get("document"), "idempotency_key": key,
                "content_type": "application/json", "source_item": item_id})
            self._b.schedule_delivery(out, queue, key)
        if not indexed:
            self._b.index_document(doc, item_id)
        lifecycle.advance(self._b, doc)
        report.documents.append(doc_id)
        if self._b.open_files >= MAX_OPEN:  # a big item: commit what is staged so far
            self._b.commit()

    def _unqueued(self, doc_id: str, destinations: tuple[str, ...]) -> tuple[str, ...]:
        """The destinations of an indexed document with no durable delivery item: a crash can leave
        the ``document.indexed`` event on disk without the items of the same round."""
        found = {}
        for row in self.store.index.deliveries_for_doc(doc_id):
            found[str(row.get("idempotency_key"))] = row
        missing = []
        for dest in destinations:
            row = found.get(f"{doc_id}:{dest}")
            if row is None or (row["state"] != "delivered" and self.store.spool.find(row["item_id"]) is None):
                missing.append(dest)
        return tuple(missing)

    def _park(self, partner: Partner, ic: Interchange, g: Group, t: Transaction, item_id: str, doc_id: str,
              findings: list[Finding], report: Report, reject: bool) -> None:
        reasons = "; ".join(f.line() for f in findings if f.severity == "error")[:2000] or "rejected"
        try:
            payload = single_bytes(ic, g, t)
        except ValueError:
            payload = json.dumps({"transaction": t.segments}, default=str).encode()
        parked = self._b.put("failed", payload, {
            "partner": partner.id, "transport": "pipeline", "source_item": item_id, "doc_id": doc_id,
            "transaction_type": t.type, "transaction_control": t.control_number, "reason": reasons,
            "findings": [f.to_dict() for f in findings]})
        self._b.record("transaction.rejected" if reject else "transaction.parked", partner=partner.id,
                          item_id=parked, keys={"doc_id": doc_id, "transaction_type": t.type,
                                                "control_number": t.control_number},
                          data={"source_item": item_id, "reason": reasons, "rejected_in_ack": reject})
        report.rejected.append({"item": parked, "doc_id": doc_id, "reason": reasons, "in_ack": reject})
        log.warning("transaction_parked", partner=partner.id, item_id=item_id, parked_item=parked,
                    transaction_type=t.type, control_number=t.control_number, reason=reasons[:300])

    def _queue_ack(self, partner: Partner, result: ParseResult, ici: int, ic: Interchange, extra: list[Finding],
                   item_id: str, report: Report, bound: Any) -> None:
        builds: list[tuple[str, Callable[..., Interchange | None]]] = []
        if ic.standard == "x12":
            x12 = partner.edi.get("x12") or {}
            policy = x12.get("acks", "997")
            only_acks = all(t.type in ACK_TYPES for t in ic.transactions())
            if policy == "997" and not only_acks:
                builds.append(("997", build_997))
            elif policy == "999" and not only_acks:
                builds.append(("999", build_999))
            if x12.get("ta1") or (len(ic.header) > 14 and ic.header[14] == "1"):
                builds.append(("TA1", build_ta1))
        elif ic.standard == "edifact":
            policy = (partner.edi.get("edifact") or {}).get("acks", "contrl")
            if policy == "contrl" and not all(t.type in ACK_TYPES for t in ic.transactions()):
                builds.append(("CONTRL", build_contrl))
        for kind, build in builds:
            kw: dict[str, Any] = {"control_numbers": self._b.control_numbers, "partner": partner.id}
            if kind != "TA1":
                kw["extra"] = extra
            ack = build(result, ici, **kw)
            if ack is None:
                continue
            try:
                data = write(ack)
            except DelimiterInValue as exc:
                # A control number we must echo holds one of our separators; the partner's own cannot
                # appear in its values, so this ack goes out in the partner's delimiters.
                bound.warning("ack_in_partner_delimiters", kind=kind, value=exc.value, delimiter=exc.delimiter)
                ack = build(result, ici, **kw, delimiters=ic.delimiters)
                if ack is None:
                    continue
                data = write(ack)
            except ValueError as exc:
                if kind != "CONTRL":
                    raise
                # What the CONTRL echoes (the partner's ids) does not fit the charset the partner declared
                # (its interchange broke that charset): answer in UTF-8 (UNOY), which carries anything.
                bound.warning("ack_charset_widened", kind=kind, declared=ic.version, error=str(exc))
                ack = build(result, ici, **kw, charset="UNOY")
                if ack is None:
                    continue
                data = write(ack)
            out = self._b.put(f"out/{partner_queue(partner.id)}", data, {
                "partner": partner.id, "document": "functional_ack", "ack_kind": kind, "source_item": item_id,
                "doc_id": f"{item_id}-{ici}-{kind}", "idempotency_key": f"{item_id}-{ici}-{kind}",
                "content_type": "application/edi-x12" if ic.standard == "x12" else "application/edifact",
                "filename": f"{kind.lower()}-{ic.control_number}.edi"})
            self._b.schedule_delivery(out, partner_queue(partner.id), f"{item_id}-{ici}-{kind}")
            report.acks.append(out)
            bound.info("ack_queued", kind=kind, interchange=ic.control_number, ack_item=out)

    def _inbound_ack(self, partner: Partner, ic: Interchange, t: Transaction, report: Report, bound: Any) -> None:
        one = Interchange(**{**{k: getattr(ic, k) for k in ic.__dataclass_fields__},
                             "groups": [Group("FA", ic.sender, ic.receiver, "", t.version, None, None, [t])]})
        for status in read_ack(one):
            entry = {"kind": status.kind, "level": status.level, "status": status.status,
                     "group_control": status.group_control, "transaction_control": status.transaction_control,
                     "transaction_type": status.transaction_type, "codes": status.codes}
            report.acknowledged.append(entry)
            self._b.record("ack.received", partner=partner.id,
                              keys={"group_control": status.group_control,
                                    "transaction_control": status.transaction_control},
                              data=entry)
            bound.info("ack_received", **{k: v for k, v in entry.items() if v})


class _NoBatch:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("store writes happen only while an item is processed")


_NO_BATCH = _NoBatch()


def _envelope_errors(result: ParseResult, ici: int) -> bool:
    """Whether the interchange's own envelope or one of its groups' envelopes has an error."""
    return any(f.severity == "error" and f.interchange == ici and f.transaction is None for f in result.findings)


def _errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def _at(f: Finding, where: _Where) -> Finding:
    from dataclasses import replace

    return replace(f, **{k: v for k, v in where.items() if getattr(f, k) is None})  # type: ignore[arg-type]  # only the int position fields
