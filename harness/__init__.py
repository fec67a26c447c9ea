"""Judging realtime clients: the protocol rules, rtmock run/check/fuzz, reports, the pytest plugin."""
