"""Compatibility shims for third-party packages, each applied in exactly one place."""
