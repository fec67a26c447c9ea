"""`rtmock scenario TRANSCRIPT -o FILE.yaml`: a recorded session (here served by rtmock, in this
process, to a small client on a real socket) becomes a scenario that replays it: the service's
responses with their exact argument chunks, text and audio, and their timing (`hold`,
`delta_interval`, `--compress-time`); the client's events as expects with bounds from its recorded
delays. Replaying the example clients against such scenarios is in test_proxy.py."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from rtmock.harness.scenario_writer import MIN_WITHIN, scenario_from_records
from rtmock.mockserver.core.records import load_transcript
from rtmock.mockserver.errors import UsageError
from rtmock.mockserver.net.server import MockServer
from rtmock.mockserver.scenario.loader import load_scenario, load_scenario_text

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BOUND = 30.0


async def record(scenario: Path | str, tmp_path: Path, *, tool_delay: float = 0.0, beta: bool = False,
                 text: bool = True) -> Path:
    """Serve `scenario`, play a correct client against it (answers in text unless `text` is False),
    and return the session's transcript."""
    loaded = load_scenario(scenario) if isinstance(scenario, Path) else load_scenario_text(scenario, default_name="s")
    tools = [{"type": "function", "name": t.name, "parameters": t.parameters or {"type": "object"}}
             for t in loaded.scenario.tools]
    async with MockServer([loaded], tls=False, record_dir=tmp_path / "t") as server:
        headers = {"Authorization": "Bearer x", **({"OpenAI-Beta": "realtime=v1"} if beta else {})}
        url = server.ws_url() if not beta else server.ws_url().replace("/v1/realtime", "/openai/realtime")
        async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
            session: dict[str, Any] = {"tools": tools} if beta else {"type": "realtime", "tools": tools}
            if text:
                session["modalities" if beta else "output_modalities"] = ["text"]
            await ws.send_json({"type": "session.update", "session": session})
            await ws.send_json({"type": "response.create"})
            async with asyncio.timeout(BOUND):
                async for message in ws:
                    event = json.loads(message.data)
                    if event["type"] == "response.output_item.done" and event["item"]["type"] == "function_call":
                        await asyncio.sleep(tool_delay)
                        await ws.send_json({"type": "conversation.item.create", "item": {
                            "type": "function_call_output", "call_id": event["item"]["call_id"], "output": "{}"}})
                    elif event["type"] == "response.done":
                        output = event["response"]["output"]
                        if output and all(item["type"] == "function_call" for item in output):
                            await ws.send_json({"type": "response.create"})
                        else:
                            break
    (path,) = (tmp_path / "t").glob("*.jsonl")
    return path


def written(transcript: Path, **options: Any) -> dict[str, Any]:
    header, records = load_transcript(str(transcript))
    text = scenario_from_records(header, records, name="recorded", source=str(transcript), **options)
    load_scenario_text(text, path="recorded.yaml")  # what `rtmock lint` checks
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


async def test_parallel_calls_replay_each_call_with_its_exact_argument_chunks(tmp_path: Path) -> None:
    data = written(await record(SCENARIOS / "parallel_calls.yaml", tmp_path))
    steps = data["steps"]
    assert [next(iter(s)) for s in steps] == ["expect", "expect", "respond", "expect", "expect", "expect", "respond"]
    calls = [part["function_call"] for part in steps[2]["respond"]]
    assert [(c["id"], c["name"], c["arguments"]) for c in calls] == [
        ("get_weather_1", "get_weather", {"city": "Paris"}), ("get_weather_2", "get_weather", {"city": "Tokyo"})]
    for call in calls:
        assert "".join(call["deltas"]) == json.dumps(call["arguments"], separators=(",", ":")) and len(call["deltas"]) == 3
    assert {(s["expect"], s.get("call")) for s in steps[3:6]} == {
        ("function_call_output", "get_weather_1"), ("function_call_output", "get_weather_2"), ("response.create", None)}
    assert steps[6]["respond"] == [{"text": {"text": "It is sunny in Paris and raining in Tokyo.", "chunks": 3}}]
    assert [t["name"] for t in data["tools"]] == ["get_weather"]


async def test_arguments_that_are_not_plain_json_are_kept_as_text(tmp_path: Path) -> None:
    data = written(await record(SCENARIOS / "malformed_arguments.yaml", tmp_path))
    (call,) = [p["function_call"] for s in data["steps"] if "respond" in s for p in s["respond"] if "function_call" in p]
    assert isinstance(call["arguments"], str) and "".join(call["deltas"]) == call["arguments"]
    source = load_scenario(SCENARIOS / "malformed_arguments.yaml")
    assert call["arguments"] == source.calls[0].spec.arguments_text


async def test_an_audio_answer_is_replayed_with_its_transcript_duration_and_chunks(tmp_path: Path) -> None:
    data = written(await record(SCENARIOS / "audio_answer.yaml", tmp_path, beta=True, text=False))
    audio = data["steps"][-1]["respond"][0]["audio"]
    assert audio["transcript"] == "It is a quarter past three in Paris."
    assert audio["duration"] == "0.5s" and audio["chunks"] >= 5


async def test_the_recorded_timing_becomes_hold_and_delta_interval_and_compresses(tmp_path: Path) -> None:
    transcript = await record("""
tools: [{name: f}]
steps:
  - expect: response.create
  - respond: [function_call: {name: f, arguments: {a: 1}, chunks: 4}]
    delta_interval: 100ms
    hold: 400ms
  - expect: function_call_output
  - expect: response.create
  - respond: [text: the end]
    hold: 400ms
""", tmp_path)
    respond, last = [s for s in written(transcript)["steps"] if "respond" in s]
    assert 90 <= int(respond["delta_interval"].removesuffix("ms")) <= 150
    assert 380 <= int(respond["hold"].removesuffix("ms")) <= 500
    # nothing the client sent came after the answer's end: a hold there would only keep a client that
    # leaves at the answer's last item (as the examples do) from completing the scenario
    assert "hold" not in last
    fast, _ = [s for s in written(transcript, compress_time=4)["steps"] if "respond" in s]
    assert 22 <= int(fast["delta_interval"].removesuffix("ms")) <= 38
    assert 95 <= int(fast["hold"].removesuffix("ms")) <= 125
    with pytest.raises(UsageError, match="compress-time"):
        written(transcript, compress_time=0)


async def test_bounds_are_five_times_the_clients_recorded_delay_and_at_least_the_minimum(tmp_path: Path) -> None:
    steps = written(await record(SCENARIOS / "get_your_info.yaml", tmp_path, tool_delay=1.0))["steps"]
    bounds = {(s["expect"], s.get("call")): float(s["within"].removesuffix("s")) for s in steps if "expect" in s}
    assert bounds[("session.update", None)] == MIN_WITHIN
    assert bounds[("function_call_output", "get_your_info")] in (5.0, 5.5, 6.0)  # waited 1 s for its tool
    assert bounds[("response.create", None)] == MIN_WITHIN  # right after the output (the bound's own start)


def test_the_command_writes_a_scenario_that_lints_and_refuses_a_transcript_with_nothing_to_replay(
        tmp_path: Path) -> None:
    transcript = asyncio.run(record(SCENARIOS / "get_your_info.yaml", tmp_path))
    out = tmp_path / "out" / "replay.yaml"
    run = subprocess.run([sys.executable, "-m", "rtmock", "scenario", str(transcript), "-o", str(out),
                          "--compress-time", "2"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout and load_scenario(out).name == "replay"
    lint = subprocess.run([sys.executable, "-m", "rtmock", "lint", str(out)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n".join(transcript.read_text().splitlines()[:2]) + "\n")  # the header and session.created
    run = subprocess.run([sys.executable, "-m", "rtmock", "scenario", str(empty), "-o", str(tmp_path / "x.yaml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2 and "no response of the service to replay" in run.stderr, run.stderr
    assert not (tmp_path / "x.yaml").exists()
