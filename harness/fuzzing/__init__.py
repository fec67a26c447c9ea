"""Fuzzing a client: argument payloads (`payloads`, public Hypothesis strategies), the event
stream (`--stream`), the search that drives Hypothesis, and the case runner and reports.
"""
