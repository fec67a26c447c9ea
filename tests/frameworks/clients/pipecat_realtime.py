"""A pipecat (1.14) realtime voice bot, text edition, as a rtmock client.

Built the way pipecat's own `examples/realtime/realtime-*.py` are: the realtime LLM service, an
`LLMContext` holding the tools and the user's message, an `LLMContextAggregatorPair` around the
service, a `Pipeline` run by a `PipelineWorker` under a `WorkerRunner` (the successors of the
deprecated `PipelineTask` / `PipelineRunner`), tools registered with `llm.register_function`, and
the first turn started by queuing an `LLMRunFrame`. No transport: the OpenAI and Azure bots
answer in text (`output_modalities=["text"]`, as in `realtime-openai-text.py`); the Voice Live one
keeps the service's default session (text and audio, Azure voice, azure_semantic_vad...), whose
text it reads.

    python pipecat_realtime.py --service openai      # OpenAIRealtimeLLMService  (OPENAI_BASE_URL or RTMOCK_URL)
    python pipecat_realtime.py --service azure       # AzureRealtimeLLMService   (AZURE_OPENAI_ENDPOINT + /openai/v1/realtime)
    python pipecat_realtime.py --service voice-live  # AzureVoiceLiveLLMService  (AZURE_OPENAI_ENDPOINT; dials wss://…/voice-live/realtime)

Exit codes: 0 once a response with text (the scenario's final answer) is done; 1 when pipecat
reports an error (the error event, a lost connection...); 3 on the client's own timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import ErrorFrame, Frame, LLMFullResponseEndFrame, LLMRunFrame, LLMTextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams
from pipecat.workers.runner import WorkerRunner

#: the client's own bound on the whole conversation (rtmock's bounds are seconds)
TIMEOUT_S = 30.0

# The app's tool catalogue: every tool of the bundled scenarios (get_your_info, parallel_calls,
# multi_round, malformed_arguments); a scenario needs its own declared, extra ones do no harm.
TOOLS = ToolsSchema(standard_tools=[
    FunctionSchema(name="get_your_info", description="Look up a fact about the user.",
                   properties={"query": {"type": "string"}}, required=["query"]),
    FunctionSchema(name="get_weather", description="Current weather in a city.",
                   properties={"city": {"type": "string"}}, required=["city"]),
    FunctionSchema(name="find_user", description="Find a user by email address.",
                   properties={"email": {"type": "string"}}, required=["email"]),
    FunctionSchema(name="get_orders", description="List a user's recent orders.",
                   properties={"user_id": {"type": "string"}}, required=["user_id"]),
])


async def get_your_info(params: FunctionCallParams) -> None:
    await params.result_callback({"query": params.arguments.get("query"), "food": "pizza"})


async def get_weather(params: FunctionCallParams) -> None:
    city = params.arguments.get("city")
    await params.result_callback({"city": city, "conditions": "raining" if city == "Tokyo" else "sunny"})


async def find_user(params: FunctionCallParams) -> None:
    await params.result_callback({"email": params.arguments.get("email"), "user_id": "u_1815", "name": "Ada"})


async def get_orders(params: FunctionCallParams) -> None:
    await params.result_callback({"user_id": params.arguments.get("user_id"),
                                  "orders": [{"id": "o_1", "status": "shipped"}, {"id": "o_2", "status": "shipped"}]})


HANDLERS = {"get_your_info": get_your_info, "get_weather": get_weather, "find_user": find_user,
            "get_orders": get_orders}


def _ws(url: str) -> str:
    """http(s)://… → ws(s)://…: the realtime services take a websocket URL."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url


def build_llm(service: str, model: str | None):
    """The realtime service under test, configured from the environment `rtmock run` gives."""
    if service == "openai":
        from pipecat.services.openai.realtime.events import SessionProperties
        from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

        # pipecat does not read OPENAI_BASE_URL: the app passes the socket URL; the service adds ?model=
        base = os.environ.get("OPENAI_BASE_URL")
        url = _ws(base.rstrip("/")) + "/realtime" if base else os.environ["RTMOCK_URL"]
        return OpenAIRealtimeLLMService(
            api_key=os.environ["OPENAI_API_KEY"],
            base_url=url,
            settings=OpenAIRealtimeLLMService.Settings(
                **({"model": model} if model else {}),
                system_instruction="You are a helpful assistant. Always call a function if you can.",
                session_properties=SessionProperties(output_modalities=["text"]),
            ),
        )
    if service == "azure":
        from pipecat.services.azure.realtime.llm import AzureRealtimeLLMService
        from pipecat.services.openai.realtime.events import SessionProperties

        # Azure's v1 surface, as the service's docstring asks: wss://<resource>/openai/v1/realtime,
        # the deployment named as Settings.model (sent as ?model=<deployment>), key in `api-key`.
        endpoint = _ws(os.environ["AZURE_OPENAI_ENDPOINT"].rstrip("/"))
        return AzureRealtimeLLMService(
            api_key=os.environ["AZURE_OPENAI_API_KEY"],
            base_url=f"{endpoint}/openai/v1/realtime",
            settings=AzureRealtimeLLMService.Settings(
                model=model or "gpt-realtime",
                system_instruction="You are a helpful assistant. Always call a function if you can.",
                session_properties=SessionProperties(output_modalities=["text"]),
            ),
        )
    if service == "voice-live":
        from pipecat.services.azure.voice_live.llm import AzureVoiceLiveLLMService

        # The service always dials wss://<endpoint>/voice-live/realtime?api-version=…&model=… (the
        # scheme is forced to wss): the TLS side of rtmock, trusted through SSL_CERT_FILE. The
        # session is the service's default one, as in `realtime-azure-voice-live.py`: text and
        # audio, an Azure HD voice, azure_semantic_vad, azure-speech transcription, Azure noise
        # suppression (the answer arrives as response.text.delta or response.audio_transcript.delta).
        return AzureVoiceLiveLLMService(
            api_key=os.environ["AZURE_OPENAI_API_KEY"],
            endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
            settings=AzureVoiceLiveLLMService.Settings(
                model=model or "gpt-4o-mini",
                system_instruction="You are a helpful assistant. Always call a function if you can.",
            ),
        )
    raise SystemExit(f"unknown service {service!r}")


class AnswerWatcher(FrameProcessor):
    """Sits behind the service: collects the text of each response and, when a response that said
    something is done, calls `on_answer` with it (a tool-calling response has no text)."""

    def __init__(self, on_answer) -> None:
        super().__init__()
        self._on_answer = on_answer
        self._text: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            self._text.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            text, self._text = "".join(self._text).strip(), []
            if text:
                await self._on_answer(text)
        await self.push_frame(frame, direction)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=["openai", "azure", "voice-live"], default="openai")
    parser.add_argument("--model", help="model / deployment name (default: the service's own)")
    parser.add_argument("--message", default="Please help me with my request.",
                        help="the user's message that starts the conversation")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S)
    args = parser.parse_args()

    logger.remove()
    logger.add(sys.stderr, level=os.environ.get("PIPECAT_LOG_LEVEL", "INFO"))

    llm = build_llm(args.service, args.model)
    for name, handler in HANDLERS.items():
        llm.register_function(name, handler)

    context = LLMContext([{"role": "user", "content": args.message}], TOOLS)
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(context)

    outcome: dict[str, object] = {}
    worker: PipelineWorker

    async def on_answer(text: str) -> None:
        outcome.setdefault("answer", text)
        print(f"assistant: {text}", flush=True)
        await worker.cancel()

    pipeline = Pipeline([user_aggregator, llm, AnswerWatcher(on_answer), assistant_aggregator])
    worker = PipelineWorker(pipeline, params=PipelineParams(), idle_timeout_secs=None, enable_rtvi=False)

    @worker.event_handler("on_pipeline_error")
    async def on_pipeline_error(_worker, frame: ErrorFrame):
        outcome.setdefault("error", frame.error)
        print(f"pipecat error: {frame.error}", file=sys.stderr, flush=True)
        await worker.cancel()

    @worker.event_handler("on_pipeline_started")
    async def on_pipeline_started(_worker, _frame):
        # Kick off the conversation, as the examples do on on_client_connected.
        await worker.queue_frames([LLMRunFrame()])

    async def watchdog() -> None:
        await asyncio.sleep(args.timeout)
        outcome["timeout"] = True
        print(f"timeout: no final answer within {args.timeout:g}s", file=sys.stderr, flush=True)
        await worker.cancel()

    # The runner swallows its own cancellation, so the bound cancels the worker; should even that
    # hang, the process ends regardless a few seconds later.
    loop = asyncio.get_running_loop()
    loop.call_later(args.timeout + 5, os._exit, 3)
    timer = asyncio.create_task(watchdog())
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    try:
        await runner.run()
    finally:
        timer.cancel()
    if "timeout" in outcome:
        return 3
    if "error" in outcome:
        return 1
    if "answer" not in outcome:
        print("the pipeline ended without an answer", file=sys.stderr, flush=True)
        return 1
    print(json.dumps({"answer": outcome["answer"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
