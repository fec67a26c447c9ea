"""A client of Azure Voice Live built on the official SDK (`azure-ai-voicelive`), as Microsoft's
samples write one.

`--mode tools` follows the SDK's function-calling sample (`samples/async_function_calling_sample.py`,
also in Microsoft's "Use function calling in a Voice Live session"): `connect(endpoint, credential,
model)`, a `session.update` built as a `RequestSession` (modalities, instructions, an Azure standard
voice, PCM16 in and out, server echo cancellation, `ServerVad`, the tools as `FunctionTool`s,
`tool_choice` auto, whisper transcription), then the event loop: a `conversation.item.created`
whose item is a `ResponseFunctionCallItem` starts a call; the client waits for its
`response.function_call_arguments.done` and for `response.done`, runs the tool, sends a
`FunctionCallOutputItem` with `conversation.item.create(previous_item_id=<the call's item id>)`,
then `response.create()`. The sample handles one call per response (it waits for `response.done`
inside the handler of the first call); this client keeps the sample's events and calls but collects
every call of the response before it answers, so that parallel calls are answered too.

A microphone is what starts the sample's first turn; here a user text message and `response.create`
do. The client exits 0 once it has the final answer (`--expect` text, if given), 1 on an `error`
event, 2 if the answer differs, 3 on a timeout.

`--mode minimal` sends the session of the SDK's README "Minimal example" (modalities, instructions,
PCM16 in and out, `AudioEchoCancellation()`, `ServerVad`), checks that `session.updated` echoes the
Azure keys, asks one question and waits for its answer.

Reads AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY (`rtmock run` sets both): the SDK dials
`ws://<endpoint>/voice-live/realtime?api-version=…&model=…` with an `api-key` header.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from azure.ai.voicelive.aio import VoiceLiveConnection, connect
from azure.ai.voicelive.models import (
    AudioEchoCancellation,
    AudioInputTranscriptionOptions,
    AzureStandardVoice,
    FunctionCallOutputItem,
    FunctionTool,
    InputAudioFormat,
    InputTextContentPart,
    ItemType,
    Modality,
    OutputAudioFormat,
    RequestSession,
    ResponseFunctionCallItem,
    ServerEvent,
    ServerEventConversationItemCreated,
    ServerEventResponseFunctionCallArgumentsDone,
    ServerEventType,
    ServerVad,
    Tool,
    ToolChoiceLiteral,
    UserMessageItem,
)
from azure.core.credentials import AzureKeyCredential

MODEL = "gpt-realtime"
QUESTION = "Please use your tools to answer me."
TIMEOUT = 30.0  # seconds for the whole conversation: fail rather than hang


def _tool(name: str, description: str, parameter: str) -> FunctionTool:
    return FunctionTool(name=name, description=description,
                        parameters={"type": "object", "properties": {parameter: {"type": "string"}},
                                    "required": [parameter]})


#: the app's tools (the bundled scenarios call these)
TOOLS: list[Tool] = [
    _tool("get_your_info", "Look up a fact about the user.", "query"),
    _tool("get_weather", "Current weather in a city.", "city"),
    _tool("find_user", "Find a user by email address.", "email"),
    _tool("get_orders", "List a user's recent orders.", "user_id"),
]


def run_tool(name: str, arguments: str) -> dict[str, Any]:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {"error": "the arguments were not valid JSON"}
    if name == "get_your_info":
        return {"query": args.get("query"), "answer": "pizza"}
    if name == "get_weather":
        return {"city": args.get("city"), "forecast": "sunny", "celsius": 21}
    if name == "find_user":
        return {"email": args.get("email"), "user_id": "u_1815"}
    if name == "get_orders":
        return {"user_id": args.get("user_id"), "orders": [{"id": "o_1", "status": "shipped"}]}
    return {"error": f"unknown tool {name}"}


class VoiceLiveError(Exception):
    """The service sent an `error` event."""


async def next_event(connection: VoiceLiveConnection, wanted: set[str]) -> ServerEvent:
    """The sample's `_wait_for_event`: read until one of `wanted` comes (an error ends the run)."""
    while True:
        event = await connection.recv()
        if event.type == ServerEventType.ERROR:
            raise VoiceLiveError(event.error.message)
        if event.type in wanted:
            return event


def final_text(done: ServerEvent) -> str | None:
    """The text (or audio transcript) of a finished response that called no tool."""
    texts = []
    for item in done.response.output or []:
        if item.type == ItemType.FUNCTION_CALL:
            return None
        for part in getattr(item, "content", None) or []:
            texts.append(getattr(part, "text", None) or getattr(part, "transcript", None) or "")
    return "".join(texts)


async def ask(connection: VoiceLiveConnection) -> None:
    """The user's turn (the sample's microphone): a text message, then a response."""
    await connection.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text=QUESTION)]))
    await connection.response.create()


async def answer_calls(connection: VoiceLiveConnection, first: ServerEventConversationItemCreated) -> None:
    """From a function call's `conversation.item.created` to its round's `response.create`."""
    calls: dict[str, ResponseFunctionCallItem] = {}
    arguments: dict[str, str] = {}
    event: ServerEvent = first
    while event.type != ServerEventType.RESPONSE_DONE:
        if isinstance(event, ServerEventConversationItemCreated) and isinstance(event.item, ResponseFunctionCallItem):
            calls[event.item.call_id] = event.item
        elif isinstance(event, ServerEventResponseFunctionCallArgumentsDone):
            arguments[event.call_id] = event.arguments
        event = await next_event(connection, {ServerEventType.CONVERSATION_ITEM_CREATED,
                                              ServerEventType.RESPONSE_FUNCTION_CALL_ARGUMENTS_DONE,
                                              ServerEventType.RESPONSE_DONE})
    for call_id, call in calls.items():
        result = run_tool(call.name, arguments.get(call_id, call.arguments))
        output = FunctionCallOutputItem(call_id=call_id, output=json.dumps(result))
        await connection.conversation.item.create(previous_item_id=call.id, item=output)
    await connection.response.create()


async def tools_mode(connection: VoiceLiveConnection, expect: str | None) -> int:
    session = RequestSession(
        modalities=[Modality.TEXT, Modality.AUDIO],
        instructions="You are a helpful assistant. Use the functions to answer.",
        voice=AzureStandardVoice(name="en-US-AvaNeural"),
        input_audio_format=InputAudioFormat.PCM16,
        output_audio_format=OutputAudioFormat.PCM16,
        input_audio_echo_cancellation=AudioEchoCancellation(),
        turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500),
        tools=TOOLS,
        tool_choice=ToolChoiceLiteral.AUTO,
        input_audio_transcription=AudioInputTranscriptionOptions(model="whisper-1"),
    )
    await connection.session.update(session=session)
    await next_event(connection, {ServerEventType.SESSION_UPDATED})
    await ask(connection)
    while True:
        event = await next_event(connection, {ServerEventType.CONVERSATION_ITEM_CREATED, ServerEventType.RESPONSE_DONE})
        if isinstance(event, ServerEventConversationItemCreated):
            if event.item is not None and event.item.type == ItemType.FUNCTION_CALL:
                await answer_calls(connection, event)
            continue
        text = final_text(event)
        if text is not None:
            print(f"assistant: {text}")
            return 0 if expect is None or text == expect else 2


async def minimal_mode(connection: VoiceLiveConnection, expect: str | None) -> int:
    session = RequestSession(
        modalities=[Modality.TEXT, Modality.AUDIO],
        instructions="You are a helpful assistant.",
        input_audio_format=InputAudioFormat.PCM16,
        output_audio_format=OutputAudioFormat.PCM16,
        input_audio_echo_cancellation=AudioEchoCancellation(),
        turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500),
    )
    await connection.session.update(session=session)
    updated = await next_event(connection, {ServerEventType.SESSION_UPDATED})
    echoed = updated.session
    if echoed.input_audio_echo_cancellation is None or echoed.modalities != ["text", "audio"]:
        print(f"session.updated does not echo the session: {dict(echoed)}", file=sys.stderr)
        return 2
    await ask(connection)
    done = await next_event(connection, {ServerEventType.RESPONSE_DONE})
    text = final_text(done)
    print(f"assistant: {text}")
    return 0 if expect is None or text == expect else 2


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["tools", "minimal"], default="tools")
    parser.add_argument("--expect", help="the final answer the scenario gives")
    args = parser.parse_args()
    endpoint = os.environ["AZURE_OPENAI_ENDPOINT"]
    credential = AzureKeyCredential(os.environ["AZURE_OPENAI_API_KEY"])
    try:
        async with asyncio.timeout(TIMEOUT), connect(endpoint=endpoint, credential=credential, model=MODEL) as connection:
            run = tools_mode if args.mode == "tools" else minimal_mode
            return await run(connection, args.expect)
    except VoiceLiveError as exc:
        print(f"Voice Live error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"no final answer within {TIMEOUT:g}s", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
