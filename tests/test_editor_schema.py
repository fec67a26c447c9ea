"""`rtmock schema` is a JSON Schema editors and validators accept, and every scenario we show passes it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from rtmock.mockserver.scenario.schema import editor_schema

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))


def readme_scenarios() -> list[str]:
    """The YAML blocks of the README (and docs) that are whole scenarios."""
    blocks = []
    for page in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        blocks += [b for b in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S) if re.search(r"^steps:", b, re.M)]
    return blocks


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = editor_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_has_only_json_schema_keywords_and_durations_take_strings(validator: Any) -> None:
    text = json.dumps(editor_schema())
    assert '"le"' not in text and '"ge"' not in text
    one_step = {"steps": [{"expect": "response.create", "within": "500ms"}, {"pause": 1.5}]}
    assert list(validator.iter_errors(one_step)) == []
    assert list(validator.iter_errors({"steps": [{"expect": "response.create", "within": "soon"}]}))
    assert list(validator.iter_errors({"steps": [{"pause": 7200}]})), "the bound of pause is kept as a maximum"


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_scenario_validates_against_the_schema(path: Path, validator: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_every_scenario_in_the_docs_validates_against_the_schema(validator: Any) -> None:
    blocks = readme_scenarios()
    assert blocks, "the README shows a scenario"
    for block in blocks:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(block))]
        assert errors == [], block


def test_the_committed_schema_file_is_the_current_one() -> None:
    assert json.loads((ROOT / "docs" / "scenario.schema.json").read_text()) == editor_schema(), (
        "docs/scenario.schema.json is stale: run `rtmock schema > docs/scenario.schema.json`")
