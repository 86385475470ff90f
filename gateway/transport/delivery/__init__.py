"""Delivery: push queued items (``out/<destination>/`` in the spool) to where they go, with retries."""
