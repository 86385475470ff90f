"""Structural validation of one transaction against its spec, building the loop tree on the way.

The spec is compiled once (``compile_spec``): per loop body, a dict from segment tag to the positions
that accept it, and per segment definition a compiled element checker. Reading a transaction is then
one forward pass over its segments with a stack of open loops.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from gateway.edi.findings import Finding
from gateway.edi.model import Transaction
from gateway.rules.codes import ALL_CODES, X12_TRANSACTION_SEGMENTS_IN_ERROR
from gateway.rules.elements import compile_segment
from gateway.rules.spec import UNBOUNDED, LoopNode, SegNode, Spec
from gateway.rules.tree import Loop, nest_hl


class CNode:
    __slots__ = ("tag", "usage", "max", "body", "loop_id", "check")

    def __init__(self, tag: str, usage: str, max: int, body: CBody | None, loop_id: str | None, check: Any) -> None:
        self.tag, self.usage, self.max, self.body, self.loop_id, self.check = tag, usage, max, body, loop_id, check


class CBody:
    __slots__ = ("nodes", "index", "loop_id", "all_tags", "mand")

    def __init__(self, loop_id: str) -> None:
        self.loop_id = loop_id
        self.nodes: list[CNode] = []
        self.index: dict[str, tuple[int, ...]] = {}
        self.all_tags: set[str] = set()
        self.mand: list[int] = [0]  # mand[j]: mandatory nodes before position j


@dataclass(slots=True)
class CompiledSpec:
    spec: Spec
    root: CBody
    tags: frozenset[str]  # every tag anywhere in the structure
    has_hl: bool
    checkers: dict[str, Any]


def compile_spec(spec: Spec) -> CompiledSpec:
    if isinstance(spec._compiled, CompiledSpec):
        return spec._compiled
    checkers = {tag: compile_segment(sd, spec.is_x12) for tag, sd in spec.segments.items()}

    def build(body: list[SegNode | LoopNode], loop_id: str) -> CBody:
        cb = CBody(loop_id)
        for node in body:
            if isinstance(node, SegNode):
                cb.nodes.append(CNode(node.tag, node.usage, node.max, None, None, checkers[node.tag]))
            else:
                sub = build(node.body, node.id)
                cb.nodes.append(CNode(node.trigger, node.usage, node.max, sub, node.id, None))
                cb.all_tags |= sub.all_tags
        idx: dict[str, list[int]] = {}
        for i, n in enumerate(cb.nodes):
            idx.setdefault(n.tag, []).append(i)
            cb.all_tags.add(n.tag)
        cb.index = {k: tuple(v) for k, v in idx.items()}
        for n in cb.nodes:
            cb.mand.append(cb.mand[-1] + (n.usage == "M"))
        return cb

    root = build(spec.structure, "ST" if spec.is_x12 else "UNH")
    compiled = CompiledSpec(spec, root, frozenset(root.all_tags), "HL" in root.all_tags, checkers)
    spec._compiled = compiled
    return compiled


class _Frame:
    __slots__ = ("body", "pos", "counts", "loop", "node")

    def __init__(self, body: CBody, loop: Loop, node: CNode | None) -> None:
        self.body, self.pos, self.loop, self.node = body, 0, loop, node
        self.counts = [0] * len(body.nodes)


@dataclass(slots=True)
class Result:
    tree: Loop
    findings: list[Finding]


def _finding(code: str, message: str, position: int, seg_id: str, spec: Spec, loop_id: str | None,
             element: int | None = None, component: int | None = None, value: Any = None) -> Finding:
    ack = ALL_CODES[code]
    x12_el = None
    if ack.x12_element is not None:
        x12_el = ack.x12_element
        if ack.x12_element_4010 and spec.version.startswith("004"):
            x12_el = ack.x12_element_4010
    return Finding(
        code=code, message=message, level="element" if element is not None else "segment",
        segment_position=position, segment_id=seg_id, element=element, component=component, loop_id=loop_id,
        x12_segment=ack.x12_segment, x12_element=x12_el, x12_transaction=X12_TRANSACTION_SEGMENTS_IN_ERROR,
        edifact=ack.edifact, value=value,
    )


def _close(frame: _Frame, upto: int, position: int, tag: str, spec: Spec, out: list[Finding]) -> None:
    """Report mandatory nodes of ``frame`` between its position and ``upto`` (exclusive) never seen."""
    mand = frame.body.mand
    if mand[upto] == mand[frame.pos]:
        return
    counts, nodes = frame.counts, frame.body.nodes
    for j in range(frame.pos, upto):
        n = nodes[j]
        if counts[j] == 0 and n.usage == "M":
            what = f"loop {n.loop_id}" if n.body is not None else f"segment {n.tag}"
            where = f" in loop {frame.body.loop_id}" if frame.node is not None else ""
            out.append(_finding("segment_missing", f"required {what}{where} is missing (found {tag} instead)"
                                if tag else f"required {what}{where} is missing", position, n.tag, spec,
                                frame.body.loop_id if frame.node else None))


def read_transaction(segments: list[list[Any]], spec: Spec) -> Result:
    """Validate ``segments`` (header to trailer) against ``spec``; return the loop tree and the findings."""
    cs = compile_spec(spec)
    findings: list[Finding] = []
    root = Loop(cs.root.loop_id, 1 if segments else 0)
    stack = [_Frame(cs.root, root, None)]
    all_tags = cs.tags
    for k, seg in enumerate(segments):
        position = k + 1
        tag = seg[0] if seg else ""
        # Find the innermost open body that accepts the tag at or after its position.
        d = len(stack) - 1
        hit = -1
        while d >= 0:
            f = stack[d]
            cand = f.body.index.get(tag)
            if cand:
                for i in cand:
                    if i < f.pos:
                        continue
                    if i == 0 and f.node is not None and f.counts[0]:
                        break  # the trigger again: a new occurrence of this loop, look outside
                    hit = i
                    break
                if hit >= 0:
                    break
            d -= 1
        if hit < 0:
            top = stack[-1]
            loop_id = top.body.loop_id if top.node else None
            if tag in all_tags:
                earlier = any(tag in f.body.index for f in stack)
                code = "segment_out_of_order" if earlier else "segment_unexpected"
                msg = f"segment {tag} is not expected here" + (" (out of order)" if earlier else "")
            elif tag in spec.known_tags:
                code, msg = "segment_not_in_set", f"segment {tag} is not part of transaction set {spec.transaction}"
            else:
                code, msg = "segment_unrecognized", f"segment {tag!r} is not a known segment"
            findings.append(_finding(code, msg, position, tag, spec, loop_id))
            top.loop.items.append(seg)
            checker = cs.checkers.get(tag)
            for e in (checker(seg) if checker else None) or ():
                findings.append(_finding(e.code, e.message, position, tag, spec, loop_id, e.element, e.component,
                                         e.value))
            continue
        while len(stack) - 1 > d:
            fr = stack.pop()
            _close(fr, len(fr.body.nodes), position, tag, spec, findings)
        f = stack[d]
        if hit > f.pos:
            _close(f, hit, position, tag, spec, findings)
            f.pos = hit
        node = f.body.nodes[hit]
        f.counts[hit] += 1
        if f.counts[hit] > node.max:
            if node.body is not None:
                findings.append(_finding("loop_over_max", f"loop {node.loop_id} occurs more than {node.max} times",
                                         position, tag, spec, node.loop_id))
            else:
                findings.append(_finding("segment_over_max", f"segment {tag} occurs more than {node.max} times",
                                         position, tag, spec, f.body.loop_id if f.node else None))
        if node.usage == "N":
            findings.append(_finding("segment_unexpected", f"segment {tag} is not used in this implementation",
                                     position, tag, spec, f.body.loop_id if f.node else None))
        if node.body is not None:
            loop = Loop(node.loop_id or tag, position, [seg])
            f.loop.items.append(loop)
            inner = _Frame(node.body, loop, node)
            inner.counts[0] = 1
            stack.append(inner)
            trig = node.body.nodes[0]
            errs = trig.check(seg)
            loop_id = node.loop_id
        else:
            f.loop.items.append(seg)
            errs = node.check(seg)
            loop_id = f.body.loop_id if f.node else None
        if errs:
            for e in errs:
                findings.append(_finding(e.code, e.message, position, tag, spec, loop_id, e.element, e.component,
                                         e.value))
    end = len(segments) + 1
    while stack:
        fr = stack.pop()
        _close(fr, len(fr.body.nodes), end, "", spec, findings)
    if cs.has_hl:
        for lp, code, msg in nest_hl(root):
            findings.append(_finding(code, msg, lp.position, "HL", spec, "HL", 2 if "parent" in code else 1))
    return Result(root, findings)


def validate_transaction(
    transaction: Transaction | list[list[Any]],
    spec: Spec,
    *,
    interchange: int | None = None,
    group: int | None = None,
    index: int | None = None,
    check_trailer: bool = False,
) -> list[Finding]:
    """Structural findings of one transaction (segment order, loops, usage, element syntax).

    With ``check_trailer``, also the SE01/UNT01 segment count and SE02/UNT02 control number (left to
    the envelope reader by default so that an acknowledgement does not report them twice).
    """
    segments = transaction.segments if isinstance(transaction, Transaction) else transaction
    findings = read_transaction(segments, spec).findings
    if check_trailer:
        findings.extend(trailer_findings(segments, spec))
    if interchange is not None or group is not None or index is not None:
        findings = [replace(f, interchange=interchange, group=group, transaction=index) for f in findings]
    return findings


def build_tree(transaction: Transaction | list[list[Any]], spec: Spec) -> Loop:
    """The loop tree of a transaction (for mapping); structure problems do not stop it."""
    segments = transaction.segments if isinstance(transaction, Transaction) else transaction
    return read_transaction(segments, spec).tree


def trailer_findings(segments: list[list[Any]], spec: Spec) -> list[Finding]:
    if len(segments) < 2:
        return []
    head, tail = segments[0], segments[-1]
    trailer = "SE" if spec.is_x12 else "UNT"
    if tail[0] != trailer:
        return []
    out = []
    count = tail[1] if len(tail) > 1 else ""
    if count != str(len(segments)):
        out.append(Finding(
            code="segment_count_mismatch", message=f"{trailer}01 says {count or 'nothing'} segments, "
            f"the transaction has {len(segments)}", level="transaction", segment_position=len(segments),
            segment_id=trailer, element=1, x12_transaction="4", edifact="29", value=count))
    head_ctl = head[2] if spec.is_x12 and len(head) > 2 else (head[1] if len(head) > 1 else "")
    tail_ctl = tail[2] if len(tail) > 2 else ""
    if head_ctl != tail_ctl:
        out.append(Finding(
            code="control_number_mismatch", message=f"{trailer}02 '{tail_ctl}' differs from the header's "
            f"'{head_ctl}'", level="transaction", segment_position=len(segments), segment_id=trailer, element=2,
            x12_transaction="3", edifact="28", value=tail_ctl))
    return out


UNBOUNDED_MAX = UNBOUNDED
