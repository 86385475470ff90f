"""Make pyas2lib importable on OpenSSL >= 3.0.10.

pyas2lib pins ``oscrypto==1.3.0``. At import, that release reads libcrypto's version string
with the regex ``\\b(\\d\\.\\d\\.\\d[a-z]*)\\b``, which cannot match a two-digit patch
number such as ``OpenSSL 3.0.19`` and so raises ``LibraryNotFoundError`` (upstream
wbond/oscrypto#75 and #78; fixed upstream but unreleased). Rather than patching
site-packages, we install an import hook that rewrites that one pattern in the two oscrypto
modules that carry it, as they are loaded. :func:`install` is called from
``gateway/__init__.py`` so it runs before anything in the project imports pyas2lib.

When oscrypto ships a release that no longer contains the old pattern, the hook does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

_TARGETS = frozenset({"oscrypto._openssl._libcrypto_ctypes", "oscrypto._openssl._libcrypto_cffi"})
_OLD = r"'\\b(\\d\\.\\d\\.\\d[a-z]*)\\b'"
_NEW = r"'\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b'"


class _PatchingLoader(importlib.abc.SourceLoader):
    def __init__(self, fullname: str, path: str) -> None:
        self._fullname = fullname
        self._path = path

    def get_filename(self, fullname: str) -> str:
        return self._path

    def get_data(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            data = fh.read()
        if path == self._path:
            data = data.replace(_OLD.encode(), _NEW.encode())
        return data

    # Never write a .pyc of the patched source over the package's own cache.
    def set_data(self, path: str, data: bytes, *, _mode: int = 0o666) -> None:  # noqa: D401
        return None

    def path_stats(self, path: str) -> dict[str, float]:
        raise OSError("no bytecode cache for patched modules")


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname not in _TARGETS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return spec
        return importlib.util.spec_from_file_location(
            fullname, spec.origin, loader=_PatchingLoader(fullname, spec.origin)
        )


_finder = _Finder()


def install() -> None:
    """Put the hook first on ``sys.meta_path`` (idempotent)."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def loaded_version() -> tuple[object, ...] | None:
    """The libcrypto version oscrypto detected, once it has been imported."""
    mod: ModuleType | None = sys.modules.get("oscrypto._openssl._libcrypto")
    return getattr(mod, "libcrypto_version_info", None) if mod else None
