"""The loop tree of a transaction for mapping: the structure spec's loops, without element checks.

Structural validation (``gateway.rules.structure``) reads each element against the dictionary; mapping
only needs the loops, so this pass walks the same compiled spec and skips the checks. Segments the spec
does not place stay in the innermost open loop, so no data is lost to the mapping.
"""

from __future__ import annotations

from typing import Any

from gateway.rules.spec import Spec
from gateway.rules.structure import compile_spec
from gateway.rules.tree import Loop, nest_hl


def build_loops(segments: list[list[Any]], spec: Spec) -> Loop:
    cs = compile_spec(spec)
    root = Loop(cs.root.loop_id, 1 if segments else 0)
    # frame: [body, pos, loop, is_root, trigger_seen]
    stack: list[list[Any]] = [[cs.root, 0, root, True]]
    for k, seg in enumerate(segments):
        tag = seg[0]
        d = len(stack) - 1
        hit = -1
        while d >= 0:
            body, pos, _, is_root = stack[d]
            cand = body.index.get(tag)
            if cand:
                for i in cand:
                    if i < pos:
                        continue
                    if i == 0 and not is_root:
                        break  # the trigger again: a new occurrence of this loop
                    hit = i
                    break
                if hit >= 0:
                    break
            d -= 1
        if hit < 0:
            stack[-1][2].items.append(seg)
            continue
        del stack[d + 1:]
        frame = stack[d]
        frame[1] = hit
        node = frame[0].nodes[hit]
        if node.body is not None:
            loop = Loop(node.loop_id or tag, k + 1, [seg])
            frame[2].items.append(loop)
            stack.append([node.body, 0, loop, False])
        else:
            frame[2].items.append(seg)
    if cs.has_hl:
        nest_hl(root)
    return root


def build_from_hints(segments: list[list[Any]], triggers: dict[str, tuple[str, ...]],
                     tag_scope: dict[str, set[tuple[str, ...]]], root_id: str) -> Loop:
    """A loop tree shaped by where the mapping reads each tag (for sets with no shipped spec)."""
    root = Loop(root_id, 1 if segments else 0)
    stack: list[tuple[Loop, tuple[str, ...]]] = [(root, ())]
    for k, seg in enumerate(segments):
        tag = seg[0]
        if tag in triggers:
            parent = () if tag == "HL" else triggers[tag]
            while len(stack) > 1 and stack[-1][1] != parent:
                stack.pop()
            loop = Loop(tag, k + 1, [seg])
            stack[-1][0].items.append(loop)
            stack.append((loop, (*parent, tag)))
            continue
        chains = tag_scope.get(tag)
        if chains is not None:
            while len(stack) > 1 and stack[-1][1] not in chains:
                stack.pop()
        stack[-1][0].items.append(seg)
    if "HL" in triggers:
        nest_hl(root)
    return root
