"""The scenario format: its model (one source of keys, limits and defaults), the loader that
reads YAML with file:line for every problem, the JSON Schema editors use, and `match:`.
"""
