"""Acorn EDI Gateway."""

from gateway.compat import oscrypto_version as _oscrypto_version

__version__ = "0.1.0"

# Must run before anything imports pyas2lib (see gateway/compat/oscrypto_version.py).
_oscrypto_version.install()
