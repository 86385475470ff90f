"""Process metrics in the Prometheus text format, served at ``/metrics`` on the api listener.

Counters and gauges are plain dicts keyed by (name, labels); components increment them on the reactor
thread (or under the lock from threads). Keep names ``acorn_<thing>_<unit>``.
"""

from __future__ import annotations

import threading
from collections import defaultdict

_lock = threading.Lock()
_counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
_gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
_help: dict[str, tuple[str, str]] = {}


def _key(name: str, labels: dict[str, str] | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted((labels or {}).items()))


def describe(name: str, kind: str, text: str) -> None:
    _help[name] = (kind, text)


def inc(name: str, value: float = 1.0, **labels: str) -> None:
    with _lock:
        _counters[_key(name, labels)] += value


def set_gauge(name: str, value: float, **labels: str) -> None:
    with _lock:
        _gauges[_key(name, labels)] = value


def render() -> str:
    lines: list[str] = []
    with _lock:
        items = [(k, v, "counter") for k, v in _counters.items()] + [(k, v, "gauge") for k, v in _gauges.items()]
    seen: set[str] = set()
    for (name, labels), value, kind in sorted(items):
        if name not in seen:
            seen.add(name)
            k, text = _help.get(name, (kind, name.replace("_", " ")))
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {k}"]
        lab = ",".join(f'{a}="{b}"' for a, b in labels)
        lines.append(f"{name}{{{lab}}} {value:g}" if lab else f"{name} {value:g}")
    return "\n".join(lines) + "\n"
