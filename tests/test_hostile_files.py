"""Hostile scenario files: whatever a path names, `rtmock lint`, `run` and `serve` answer with one
located line (lint exit 1, run and serve exit 2), promptly and in bounded memory, never a traceback
or a hang.

The commands run as real processes through the `rtmock` console script, under an address-space
limit: a loader that reads /dev/zero or composes two million values fails the test with a
MemoryError instead of taking the machine down with it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from rtmock.mockserver.errors import ScenarioError
from rtmock.mockserver.scenario.loader import (
    MAX_FILE_BYTES,
    MAX_NODES,
    MAX_TEXT_CHARS,
    load_scenario,
    load_scenario_text,
)

RTMOCK = str(Path(sys.executable).parent / "rtmock")
HEAD = "steps:\n  - expect: user_message\n"
MEMORY_LIMIT = 1024 * 1024 * 1024  # address space for each rtmock process: the loader needs a fraction of it
TIMEOUT = 240  # seconds: a hang (a FIFO read) fails the test instead of the suite (a loaded CI machine takes 60)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def rtmock(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RTMOCK, *args], capture_output=True, text=True, cwd=cwd, timeout=TIMEOUT,
                          preexec_fn=_limited, stdin=subprocess.DEVNULL)


def one_line_error(out: subprocess.CompletedProcess[str], *, code: int) -> str:
    """The single line the command printed about the file (stdout for lint, stderr for run/serve)."""
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    assert out.returncode == code, out.stdout + out.stderr
    text = out.stdout if code == 1 else out.stderr
    lines = [line for line in text.splitlines() if not line.endswith("scenario file(s) have errors")]
    assert len(lines) == 1, text
    return lines[0]


def _all_commands(path: Path, cwd: Path) -> str:
    """The error line of lint (exit 1), run and serve (exit 2) for one file: all three must agree."""
    lint = one_line_error(rtmock("lint", str(path), cwd=cwd), code=1)
    run = one_line_error(rtmock("run", str(path), "--", sys.executable, "-c", "pass", cwd=cwd), code=2)
    serve = one_line_error(rtmock("serve", "--port", "0", str(path), cwd=cwd), code=2)
    assert lint == run == serve
    return lint


# ---- what the path names -------------------------------------------------------------------------


def test_a_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    assert _all_commands(link, tmp_path) == (
        f"{link}: is a character device, not a regular file: rtmock reads a scenario only from a regular file; "
        "name the .yaml file itself (copy the scenario into one)")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert _all_commands(fifo, tmp_path) == (
        f"{fifo}: is a named pipe (FIFO), not a regular file: rtmock reads a scenario only from a regular file; "
        "name the .yaml file itself (copy the scenario into one)")


def test_a_fifo_in_a_linted_directory_is_one_error_among_the_files(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(HEAD)
    os.mkfifo(tmp_path / "pipe.yaml")
    out = rtmock("lint", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines() == [f"{tmp_path / 'pipe.yaml'}: is a named pipe (FIFO), not a regular file: rtmock "
                                       "reads a scenario only from a regular file; name the .yaml file itself "
                                       "(copy the scenario into one)"]
    assert out.stderr == "1 of 2 scenario file(s) have errors\n"


def test_a_symlink_to_a_regular_scenario_file_is_read() -> None:
    # (in-process: a regular file behind a link is still a scenario file)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "real.yaml"
        target.write_text(HEAD)
        link = Path(tmp) / "link.yaml"
        link.symlink_to(target)
        assert load_scenario(link).name == "link"


def test_a_file_over_the_size_cap_is_refused_naming_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(HEAD + "# " + "x" * MAX_FILE_BYTES + "\n")
    size = big.stat().st_size
    assert _all_commands(big, tmp_path) == (
        f"{big}:1:1: the file is {size} bytes, more than the {MAX_FILE_BYTES} (4 MiB) a scenario may be; "
        "split it into several scenarios, or shorten its long values")


def test_a_file_at_the_size_cap_is_read(tmp_path: Path) -> None:
    text = HEAD + "# "
    path = tmp_path / "full.yaml"
    path.write_text(text + "x" * (MAX_FILE_BYTES - len(text) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_scenario(path).name == "full"


# ---- what the file holds -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "digits", "column"), [
    ("9" * 5000, 5000, 11),
    ("-" + "1_" * 4400 + "1", 4401, 11),  # digits are counted without the underscores
    ("0x" + "f" * 4000, 4002, 11),  # few enough hex digits, too many once written in decimal
    ("1" + ":1" * 3000, 6001, 11),  # sexagesimal: would be computed digit by digit
])
def test_an_integer_too_long_for_json_is_a_located_error(tmp_path: Path, value: str, digits: int, column: int) -> None:
    path = tmp_path / "int.yaml"
    path.write_text(f"defaults:\n  within: {value}\n" + HEAD)
    expected = (f"{path}:2:{column}: YAML: an integer of {digits} digits is too long: a number is sent as JSON, "
                "with at most 4300 decimal digits; quote it to send it as text")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == expected


def test_an_integer_of_5000_digits_is_one_line_from_every_command(tmp_path: Path) -> None:
    path = tmp_path / "int.yaml"
    path.write_text(HEAD + "    match: {item.output: {equals: " + "7" * 5000 + "}}\n")
    assert _all_commands(path, tmp_path) == (
        f"{path}:3:35: YAML: an integer of 5000 digits is too long: a number is sent as JSON, "
        "with at most 4300 decimal digits; quote it to send it as text")


def test_a_long_integer_within_the_bound_still_loads() -> None:
    loaded = load_scenario_text(HEAD + "    match: {item.output: {equals: " + "7" * 4300 + "}}\n", path="s.yaml")
    assert loaded.data["steps"][0]["match"]["item.output"]["equals"] == int("7" * 4300)


def test_two_million_flow_values_are_refused_while_composing_in_bounded_memory(tmp_path: Path) -> None:
    # 3.9 MB: under the size cap, and 1.95 million values. Composed whole, this took 40 s and 1.5 GiB
    # before the node bound was checked; under the 1 GiB limit it was a MemoryError traceback.
    path = tmp_path / "flow.yaml"
    path.write_text(HEAD + "x: [" + "1," * 1_950_000 + "1]\n")
    assert path.stat().st_size < MAX_FILE_BYTES
    out = rtmock("lint", str(path), cwd=tmp_path)
    # values before the list's: the document, 'steps', its list, the step, 'expect', its value, 'x'
    column = len("x: [") + 2 * (MAX_NODES - 8) + 1
    assert one_line_error(out, code=1) == (
        f"{path}:3:{column}: YAML: more than {MAX_NODES} values in one scenario (this is value {MAX_NODES + 1}); "
        "split it into several scenarios, or shorten its lists")


def test_an_alias_bomb_of_one_long_string_is_refused_by_its_expanded_size(tmp_path: Path) -> None:
    # 150,000 uses of one 100 kB string: few values, few bytes, 15 GB of text once the session sends it
    path = tmp_path / "bomb.yaml"
    path.write_text(HEAD + "x:\n  a: &long '" + "x" * 100_000 + "'\n  b: [" + ", ".join(["*long"] * 150_000) + "]\n")
    assert path.stat().st_size < MAX_FILE_BYTES
    out = rtmock("lint", str(path), cwd=tmp_path)
    assert one_line_error(out, code=1) == (
        f"{path}:5:6: this value expands through aliases to {150_000 * 100_000} characters of text, "
        f"more than the {MAX_TEXT_CHARS} a scenario may hold: use fewer aliases (*name)")


def test_five_uses_of_a_megabyte_string_are_refused_and_two_are_not() -> None:
    text = HEAD + "    match: {item.output: {equals: &long '" + "x" * 1_000_000 + "'}}\n"
    step = "  - expect: user_message\n    match: {item.output: {equals: *long}}\n"
    loaded = load_scenario_text(text + step, path="s.yaml")  # 2 MB of text in all
    assert len(loaded.data["steps"]) == 2
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text + step * 4, path="s.yaml")
    # five megabytes and the keys: the list of steps is over, none of its steps alone
    assert str(info.value) == ("s.yaml:2:3: this value expands through aliases to 5000200 characters of text, "
                               f"more than the {MAX_TEXT_CHARS} a scenario may hold: use fewer aliases (*name)")
