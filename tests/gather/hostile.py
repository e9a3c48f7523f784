"""A registry that answers what a test tells it to (hostile or odd answers), on 127.0.0.1.

IANA's recorded bootstrap files are served as the sandbox serves them; ``answers`` maps a URL path
suffix (``/ip/45.1.2.3``) to the JSON document returned for it; anything else is a 404.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "iana-bootstrap"


class HostileRegistry:
    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.paths.append(self.path)
                status, body = owner.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, bytes]:
        if path.startswith("/data.iana.org/rdap/"):
            file = BOOTSTRAP / path.rsplit("/", 1)[1]
            if file.name.endswith(".json") and file.is_file():
                return 200, file.read_bytes()
        for suffix, doc in self.answers.items():
            if path.endswith(suffix):
                return 200, doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return 404, json.dumps({"errorCode": 404, "title": "Not Found"}).encode()

    def __enter__(self) -> HostileRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
