"""The scenario schema as editors use it: yaml-language-server (VS Code's YAML extension, and every
editor on it) reports no problem in a bundled scenario, and does report a misspelt key."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from node_packages import NODE_DIR, node_with_packages

pytestmark = pytest.mark.integration  # Node and npm packages

ROOT = Path(__file__).resolve().parent.parent
BOUND = 30.0


class LanguageServer:
    """yaml-language-server over stdio: JSON-RPC messages with Content-Length headers."""

    def __init__(self, node: str) -> None:
        server = NODE_DIR / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
        self.proc = subprocess.Popen([node, str(server), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.settings = {"validate": True, "schemaStore": {"enable": False}}  # no network

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            headers = {}
            while (line := self.proc.stdout.readline().decode().strip()):
                key, value = line.split(":", 1)
                headers[key.lower()] = value.strip()
            if not headers:
                return
            self.messages.put(json.loads(self.proc.stdout.read(int(headers["content-length"]))))

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        data = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def next(self) -> dict[str, Any]:
        message = self.messages.get(timeout=BOUND)
        if "id" in message and "method" in message:  # the server asks for its settings
            self.send({"id": message["id"], "result": [self.settings] * len(message["params"].get("items", [1]))})
        return message

    def start(self) -> None:
        self.send({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}})
        while self.next().get("id") != 1:
            pass
        self.send({"method": "initialized", "params": {}})
        self.send({"method": "workspace/didChangeConfiguration", "params": {"settings": {"yaml": self.settings}}})

    def diagnostics(self, path: Path, text: str) -> list[str]:
        """What the editor would underline in `text`, opened as `path` (its modeline names the schema)."""
        uri = path.as_uri()
        self.send({"method": "textDocument/didOpen",
                   "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}})
        while True:
            message = self.next()
            if message.get("method") == "textDocument/publishDiagnostics" and message["params"]["uri"] == uri:
                return [d["message"] for d in message["params"]["diagnostics"]]


@pytest.fixture(scope="module")
def language_server() -> Any:
    server = LanguageServer(node_with_packages())
    try:
        server.start()
        yield server
    finally:
        server.proc.kill()
        server.proc.wait()


def test_bundled_scenarios_show_no_problem_and_a_misspelt_key_does(language_server: LanguageServer) -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        text = path.read_text()
        assert "yaml-language-server: $schema=../docs/scenario.schema.json" in text, path.name
        assert language_server.diagnostics(path, text) == [], path.name
    broken = ROOT / "scenarios" / "broken-for-the-editor.yaml"  # never written: the text is sent
    problems = language_server.diagnostics(
        broken, "# yaml-language-server: $schema=../docs/scenario.schema.json\nsteps:\n  - expect: response.create\n"
                "    withn: 3s\n")
    assert any("withn" in p for p in problems), problems
