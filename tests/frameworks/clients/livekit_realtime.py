"""livekit-agents' OpenAI realtime plugin, driven the way livekit's AgentSession drives it.

No LiveKit room or server: the plugin's `RealtimeModel` / `RealtimeSession` are used on their own,
and this program does, step for step, what `AgentSession` does with them for a text turn
(livekit/agents/voice/agent_activity.py, 1.8.x):

1. `_start_session`: `model.session()`, then `_update_session(instructions=..., chat_ctx=...,
   tools=...)`: `update_instructions`, `update_chat_ctx` (empty here), `update_tools` with real
   `@function_tool`s.
2. `_realtime_reply_task(user_input=...)`: `update_chat_ctx` with the user message added to the
   session's remote chat context, then `generate_reply()` (a `response.create` whose `metadata`
   carries the client event id; the future resolves on the echoing `response.created`).
3. `_realtime_generation_task`: read the generation's message stream and function stream; run each
   tool as its call arrives (`parse_function_arguments`, `prepare_function_arguments`, the tool,
   `make_tool_output`); wait until the generation ended (`response.done` closes both streams) and
   the tools are done.
4. After tools: `update_chat_ctx(session.chat_ctx.copy() + outputs)` (one
   `conversation.item.create` per `FunctionCallOutput`, each awaited on its
   `conversation.item.added`), `interrupt()` (a no-op once the response is done), then
   `_realtime_reply_task(tool_reply=True)` with `tool_choice="auto"`: `generate_reply(tool_choice="auto")`,
   which is livekit's `response.create` after a tool round.
5. A generation with text and no calls is the final answer: print it, close, exit 0.

Modes (`--mode`): `openai` (`RealtimeModel()`, base URL from OPENAI_BASE_URL), `azure`
(`RealtimeModel.with_azure(azure_endpoint=AZURE_OPENAI_ENDPOINT)`, the GA `/openai/v1/realtime`
endpoint) and `azure-legacy` (the same with `api_version=`: `/openai/realtime?api-version=...`, the
beta dialect). Exit codes: 0 final answer, 1 failure (an error event, a rejected request, a wrong
answer), 3 own timeout (`--timeout`, default 30 s; a watchdog kills the process 5 s later if
shutdown hangs). `--trace` prints every wire event to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import os
import sys
import time
from typing import Any

from livekit.agents import llm
from livekit.agents.llm import function_tool
from livekit.agents.llm.utils import parse_function_arguments, prepare_function_arguments
from livekit.agents.voice.generation import make_tool_output, remove_instructions
from livekit.plugins.openai.realtime import RealtimeModel, RealtimeSession

INSTRUCTIONS = "You are a helpful assistant. Use the tools to answer."
QUESTION = "What is my favorite food, what is the weather in Paris and Tokyo, and what did ada@example.com order?"
LEGACY_API_VERSION = "2024-10-01-preview"
DEPLOYMENT = "gpt-realtime"
#: AgentSession's default `max_tool_steps`
MAX_TOOL_STEPS = 3


# The app's tools: real livekit function tools, their schema built by livekit from the signature.
@function_tool
async def get_your_info(query: str) -> str:
    """Look up a fact about the user.

    Args:
        query: what to look up, e.g. "favorite food"
    """
    return json.dumps({"query": query, "food": "pizza"})


@function_tool
async def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: the city's name
    """
    forecast = {"Paris": "sunny", "Tokyo": "raining"}.get(city, "cloudy")
    return json.dumps({"city": city, "forecast": forecast})


@function_tool
async def find_user(email: str) -> str:
    """Find a user by email address.

    Args:
        email: the user's email address
    """
    return json.dumps({"email": email, "user_id": "u_1815", "name": "Ada"})


@function_tool
async def get_orders(user_id: str) -> str:
    """List a user's recent orders.

    Args:
        user_id: the user's id, from find_user
    """
    return json.dumps({"user_id": user_id, "orders": [{"id": "o_1", "status": "shipped"},
                                                      {"id": "o_2", "status": "shipped"}]})


TOOLS: list[llm.Tool] = [get_your_info, get_weather, find_user, get_orders]


class Failed(Exception):
    """The run failed: the message says why."""


_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[livekit_realtime +{time.monotonic() - _T0:.3f}s] {message}", file=sys.stderr, flush=True)


def build_model(mode: str) -> RealtimeModel:
    if mode == "openai":
        # the plugin reads OPENAI_BASE_URL and OPENAI_API_KEY itself
        return RealtimeModel(model="gpt-realtime", modalities=["text"])
    endpoint = os.environ["AZURE_OPENAI_ENDPOINT"]
    if mode == "azure":
        return RealtimeModel.with_azure(azure_deployment=DEPLOYMENT, azure_endpoint=endpoint,
                                        modalities=["text"])
    if mode == "azure-legacy":
        return RealtimeModel.with_azure(azure_deployment=DEPLOYMENT, azure_endpoint=endpoint,
                                        api_version=LEGACY_API_VERSION, modalities=["text"])
    raise AssertionError(mode)


async def run_tool(tools: llm.ToolContext, fnc_call: llm.FunctionCall) -> llm.FunctionCallOutput:
    """One call, as generation._execute_tools_task and the tool executor run it."""
    tool = tools.function_tools.get(fnc_call.name)
    if tool is None:
        return make_tool_output(fnc_call=fnc_call, output=None,
                                exception=llm.ToolError(f"Unknown function: {fnc_call.name}")).fnc_call_out
    try:
        raw_args = parse_function_arguments(fnc_call.arguments or "{}")
        args, kwargs = prepare_function_arguments(fnc=tool, json_arguments=raw_args)
        value = await tool(*args, **kwargs)
        return make_tool_output(fnc_call=fnc_call, output=value, exception=None).fnc_call_out
    except Exception as exc:  # livekit answers a failing tool with an error output, never silence
        return make_tool_output(fnc_call=fnc_call, output=None, exception=exc).fnc_call_out


async def consume_generation(gen: llm.GenerationCreatedEvent, tools: llm.ToolContext
                             ) -> tuple[str, list[llm.FunctionCallOutput]]:
    """The generation's text and the outputs of the tools it called (_realtime_generation_task)."""
    texts: list[str] = []
    tool_tasks: list[asyncio.Task[llm.FunctionCallOutput]] = []

    async def read_message(msg: llm.MessageGeneration) -> None:
        async def drain_audio() -> None:
            async for _ in msg.audio_stream:
                pass
        audio = asyncio.create_task(drain_audio())
        parts = [str(delta) async for delta in msg.text_stream]
        await audio
        texts.append("".join(parts))

    async def read_messages() -> None:
        readers = [asyncio.create_task(read_message(msg)) async for msg in gen.message_stream]
        await asyncio.gather(*readers)

    async def read_functions() -> None:
        async for fnc_call in gen.function_stream:  # one per response.output_item.done
            log(f"function call {fnc_call.name} call_id={fnc_call.call_id} arguments={fnc_call.arguments}")
            tool_tasks.append(asyncio.create_task(run_tool(tools, fnc_call)))

    # both streams close at response.done: the generation has ended
    await asyncio.gather(read_messages(), read_functions())
    outputs = list(await asyncio.gather(*tool_tasks))
    return "\n".join(t for t in texts if t), outputs


async def drive(mode: str, expect: str | None) -> None:
    model = build_model(mode)
    session: RealtimeSession = model.session()
    errors: list[llm.RealtimeModelError] = []
    fatal: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_error(ev: llm.RealtimeModelError) -> None:
        errors.append(ev)
        log(f"error event: {ev.error!r} (recoverable={ev.recoverable})")
        if not fatal.done():
            fatal.set_exception(Failed(f"the realtime session reported an error: {ev.error!r}"))

    session.on("error", on_error)
    if os.environ.get("LIVEKIT_REALTIME_TRACE"):
        session.on("openai_client_event_queued", lambda ev: log(f"C-> {json.dumps(ev)[:600]}"))
        session.on("openai_server_event_received", lambda ev: log(f"<-S {json.dumps(ev)[:600]}"))

    async def guarded(awaitable: Any) -> Any:
        """Await `awaitable`, failing at once if the session reports an error meanwhile."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task, fatal}, return_when=asyncio.FIRST_COMPLETED)
        if fatal in done:
            task.cancel()
            await asyncio.wait({task})  # let it unwind (and retrieve its result) before failing
            fatal.result()
        return task.result()

    try:
        # AgentActivity._start_session -> RealtimeSession._update_session
        agent_chat_ctx = llm.ChatContext.empty()
        remove_instructions(agent_chat_ctx)
        await guarded(session._update_session(instructions=INSTRUCTIONS, chat_ctx=agent_chat_ctx,
                                              tools=llm.ToolContext(TOOLS).flatten()))
        tool_ctx = llm.ToolContext(TOOLS)

        # AgentSession.generate_reply(user_input=QUESTION) -> _realtime_reply_task(user_input=...)
        chat_ctx = session.chat_ctx.copy()
        chat_ctx.add_message(role="user", content=QUESTION)
        await guarded(session.update_chat_ctx(chat_ctx))
        reply = session.generate_reply()

        steps = 0
        while True:
            gen = await guarded(reply)  # resolved by the response.created that echoes its metadata
            text, outputs = await guarded(consume_generation(gen, tool_ctx))
            if not outputs:
                if not text:
                    raise Failed("the model's response had neither text nor function calls")
                print(text, flush=True)
                if expect is not None and expect not in text:
                    raise Failed(f"final answer {text!r} does not contain {expect!r}")
                return
            steps += 1
            if steps > MAX_TOOL_STEPS:
                raise Failed(f"more than {MAX_TOOL_STEPS} tool rounds")
            for out in outputs:
                log(f"output for call_id={out.call_id}: {out.output}")
            # what _realtime_generation_task does once its tools are done
            chat_ctx = session.chat_ctx.copy()
            chat_ctx.items.extend(outputs)
            await guarded(session.update_chat_ctx(chat_ctx))
            if not any(out.reply_required for out in outputs):
                raise Failed("no tool output asked for a reply")
            session.interrupt()  # AgentActivity does it before the tool reply; a no-op when done
            # _realtime_reply_task(tool_reply=True, model_settings=ModelSettings(tool_choice="auto"))
            reply = session.generate_reply(tool_choice="auto")
    finally:
        await session.aclose()
        await model.aclose()
        if fatal.done():
            fatal.exception()  # retrieved: an error after the answer needs no second report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["openai", "azure", "azure-legacy"], default="openai")
    parser.add_argument("--expect", help="text the final answer must contain")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds")
    parser.add_argument("--trace", action="store_true", help="print every wire event to stderr")
    args = parser.parse_args()
    if args.trace:
        os.environ["LIVEKIT_REALTIME_TRACE"] = "1"
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # a hard stop, whatever happens on the event loop (a hung close, a blocked loop)
    faulthandler.dump_traceback_later(args.timeout + 5, exit=True)
    try:
        asyncio.run(asyncio.wait_for(drive(args.mode, args.expect), args.timeout))
    except TimeoutError:
        log(f"timed out after {args.timeout:g}s")
        return 3
    except Failed as exc:
        log(f"FAILED: {exc}")
        return 1
    except llm.RealtimeError as exc:
        log(f"FAILED: livekit realtime error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
