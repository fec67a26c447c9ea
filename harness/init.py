"""`rtmock init [DIR]`: a starter folder a new user can run at once, from an installed rtmock alone.

It holds copies of bundled files (scenarios, a correct and a buggy client on the official `openai`
SDK), a pytest test that runs the client through the plugin, and a CI workflow, then prints the
commands to try. Nothing is written over: an existing file is an error naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .bundled import bundled_scenario

__all__ = ["STARTER_FILES", "write_starter"]

_PACKAGE = Path(__file__).resolve().parent.parent  # the repository, or the installed `rtmock` package

#: starter file → where its text comes from (a bundled file, or the text itself)
STARTER_FILES: dict[str, str] = {
    "scenarios/get_your_info.yaml": "@scenario:get_your_info",
    "scenarios/parallel_calls.yaml": "@scenario:parallel_calls",
    "scenario.schema.json": "@schema",  # what the scenarios' `yaml-language-server` line points editors at
    "client.py": "@file:examples/correct_openai_sdk.py",
    "buggy_client.py": "@file:examples/buggy_missing_response_create.py",
    "test_client.py": '''"""My client, judged by rtmock inside pytest (`pip install rtmock openai pytest`, then `pytest`)."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.parametrize("scenario", ["scenarios/get_your_info.yaml", "scenarios/parallel_calls.yaml"])
def test_client_answers_function_calls(rtmock, scenario):
    server = rtmock(scenario)  # a path relative to this file, or a bundled name such as "get_your_info"
    verdict = server.run([sys.executable, str(HERE / "client.py")])  # stops the client once judged
    assert verdict.passed, verdict.explain()
''',
    ".github/workflows/rtmock.yml": '''name: realtime client
on: [push, pull_request]
jobs:
  rtmock:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install rtmock openai pytest
      - run: rtmock run scenarios/*.yaml --junit rtmock.xml --html rtmock.html -- python client.py
      - uses: actions/upload-artifact@v4
        if: always()
        with: {name: rtmock-report, path: "rtmock.xml\\nrtmock.html"}
''',
}


#: The starter's own docstrings for the example clients (theirs speak of the repository's examples/):
#: the two differ in this line and in the lines marked `# BUG:`, which `diff client.py buggy_client.py` shows.
_DOCSTRINGS = {
    "examples/correct_openai_sdk.py": "My realtime client on the official openai SDK: it answers each function call "
                                      "with its output, then sends response.create.",
    "examples/buggy_missing_response_create.py": "The same client with the bug that hangs real apps: no "
                                                 "response.create after the output (see `# BUG:`).",
}


def _text(source: str) -> str:
    if source.startswith("@scenario:"):
        path = bundled_scenario(source.removeprefix("@scenario:"))
        assert path is not None, source
        return path.read_text(encoding="utf-8").replace("$schema=../docs/scenario.schema.json",
                                                        "$schema=../scenario.schema.json")
    if source == "@schema":
        from ..mockserver.scenario.schema import editor_schema

        return json.dumps(editor_schema(), indent=2) + "\n"
    if source.startswith("@file:"):
        name = source.removeprefix("@file:")
        text = (_PACKAGE / name).read_text(encoding="utf-8")
        if name in _DOCSTRINGS and text.startswith('"""'):
            text = f'"""{_DOCSTRINGS[name]}"""' + text[text.index('"""', 3) + 3:]
        return text
    return source


def write_starter(directory: Path) -> list[Path]:
    """Write the starter files under `directory` (made if missing); the paths written. Raises
    FileExistsError naming the first file that is already there, before writing anything."""
    targets = {directory / name: source for name, source in STARTER_FILES.items()}
    for path in targets:
        if path.exists():
            raise FileExistsError(str(path))
    written = []
    for path, source in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_text(source), encoding="utf-8")
        written.append(path)
    return written


def next_steps(directory: Path) -> str:
    """What `rtmock init` prints: the commands to try, in order, and what each should do."""
    where = "" if directory == Path(".") else f"cd {directory}\n  "
    return f"""rtmock: wrote a starter project in {directory}/
Try it:
  {where}pip install openai pytest
  rtmock run scenarios/get_your_info.yaml -- python client.py          # PASS (exit 0)
  rtmock run scenarios/get_your_info.yaml -- python buggy_client.py    # FAIL missing-response-create (exit 1)
  pytest                                                              # the same, as a test
Then point the scenario and the command at your own client. CI: .github/workflows/rtmock.yml."""
