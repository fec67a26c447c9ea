"""A valid event rtmock does not play (a beta transcription session, Voice Live avatars and turn-based
audio) is rtmock's limit: the finding says so, and the run exits 2 (the verdict is not the client's),
not 1 as for a mistake of the client's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RTMOCK = [sys.executable, "-m", "rtmock"]

#: A correct Azure beta transcription client: `transcription_session.update` on the preview path.
BETA_TRANSCRIPTION_CLIENT = """\
import json, os
from websockets.sync.client import connect
url = os.environ["AZURE_OPENAI_ENDPOINT"].replace("http", "ws", 1) + \\
    "/openai/realtime?api-version=2025-04-01-preview&deployment=gpt-4o-transcribe&intent=transcription"
with connect(url, additional_headers={"api-key": os.environ["AZURE_OPENAI_API_KEY"]}) as ws:
    json.loads(ws.recv(timeout=10))
    ws.send(json.dumps({"type": "transcription_session.update", "session": {
        "input_audio_format": "pcm16", "input_audio_transcription": {"model": "gpt-4o-transcribe"}}}))
    while json.loads(ws.recv(timeout=10))["type"] != "transcription_session.updated":
        pass
"""


def test_a_client_that_sends_what_rtmock_does_not_play_gets_exit_2_and_the_reason(tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(BETA_TRANSCRIPTION_CLIENT)
    out = subprocess.run([*RTMOCK, "run", "transcription", "--", sys.executable, str(client)],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "[not-played-by-rtmock]" in out.stdout and "not a mistake in your client" in out.stdout
    assert "the verdict is not your client's to have" in out.stderr
