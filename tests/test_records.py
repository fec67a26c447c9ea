"""Records: a server frame is kept as the text that went out and read back from it."""

from __future__ import annotations

import json
from pathlib import Path

from rtmock.mockserver.events import Dialect, IdSource, encode
from rtmock.mockserver.loader import load_scenario
from rtmock.mockserver.records import Direction, Record, dump_record
from rtmock.mockserver.session import SessionCore

SEED = Path(__file__).resolve().parents[1] / "scenarios" / "get_your_info.yaml"
TOOLS = [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]


def test_a_server_record_kept_as_wire_text_reads_its_event_and_type_from_it() -> None:
    event = {"type": "session.created", "event_id": "event_1", "session": {"instructions": "é \"q\" \u2028", "tools": []}}
    text = encode(event)
    lazy = Record(3, 0.5, Direction.SERVER, None, None, text)
    assert lazy.type == "session.created" and lazy._event is None  # the type needs no parse
    assert not lazy.is_server_delta
    assert lazy == Record(3, 0.5, Direction.SERVER, event) and lazy.event == event
    assert dump_record(lazy) == dump_record(Record(3, 0.5, Direction.SERVER, event))
    delta = Record(4, 0.5, Direction.SERVER, None, None, encode({"type": "response.output_text.delta", "delta": "x"}))
    assert delta.is_server_delta and delta.type == "response.output_text.delta"
    # a scenario's `send:` may put any key first: the type then comes from the parsed event
    odd = Record(5, 0.5, Direction.SERVER, None, None, '{"a\\"b":1,"type":"x.y"}')
    assert odd.type == "x.y"


def test_what_the_records_say_was_sent_does_not_change_with_the_session_state() -> None:
    """Events are built from the live session state, not copies of it: the record must keep what
    went out, not what the state became."""
    records: list[Record] = []
    core = SessionCore(load_scenario(SEED), Dialect.GA, records.append, ids=IdSource(1))
    core.start(0.0)
    core.receive(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "be brief",
                                                                   "tools": TOOLS}}), 0.1)
    created, updated = (r for r in records if r.type in ("session.created", "session.updated"))
    assert created.event is not None and updated.event is not None
    assert created.event["session"]["instructions"] == "" and created.event["session"]["tools"] == []
    assert updated.event["session"]["instructions"] == "be brief"
    sent = [r for r in records if r.direction is Direction.SERVER]
    assert all(r.text is not None and json.loads(r.text) == r.event for r in sent)
