#!/usr/bin/env python3
"""A loopback receiver of outbound webhooks that verifies each delivery with the reference
`standardwebhooks` package.

Binds 127.0.0.1 on a free port and prints one line, `listening on <port>`, once it accepts
connections. Runs until killed, or until its standard input reaches end of file (so it never
outlives the process that started it with a pipe; run it by hand as
`sleep infinity | .venv/bin/python scripts/webhook_receiver.py`).

Control API (JSON):
    POST /_control/secrets    {"secrets": ["whsec_...", ...]}
        The secrets deliveries are verified with (replaces the list).
    POST /_control/responses  {"responses": [{"status": 500},
                                             {"status": 429, "headers": {"Retry-After": "3"}},
                                             {"status": 200, "delay_ms": 0, "body": "ok"}],
                               "default": {"status": 200}}
        Answers for the next deliveries, in order (replaces the queue); once it is used up,
        every delivery gets `default` (200 with body `ok` unless set). Either key may be left
        out to keep its current value. `delay_ms` waits before answering; `body` is text, or
        any other JSON value to send as JSON.
    GET  /_control/received
        {"deliveries": [...]}: every delivery so far, in arrival order, each
        {"webhook_id", "webhook_timestamp", "signature_header", "body" (parsed JSON or null),
         "raw_body", "verified", "verified_by" (indices of the secrets that verify it),
         "answered" (the status it is answered with), "received_at_ms", "path"}.

Any other POST is a delivery: it is recorded, verified or not, and answered per the script.
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

CONTROL_PREFIX = "/_control/"
DEFAULT_RESPONSE = {"status": 200, "body": "ok"}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.secrets = []
        self.responses = []
        self.default = dict(DEFAULT_RESPONSE)
        self.deliveries = []


STATE = State()


class ControlError(Exception):
    pass


def check_response(response, what):
    if not isinstance(response, dict):
        raise ControlError(f"{what} must be an object")
    status = response.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ControlError(f"{what}: status must be an HTTP status code")
    headers = response.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ControlError(f"{what}: headers must map names to strings")
    delay_ms = response.get("delay_ms", 0)
    if not isinstance(delay_ms, (int, float)) or isinstance(delay_ms, bool) or delay_ms < 0:
        raise ControlError(f"{what}: delay_ms must be a non-negative number")
    return dict(response)


def verifying_secrets(raw_body, headers, secrets):
    """The indices of the secrets that verify the delivery, each on its own."""
    verified_by = []
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(raw_body, headers, json_parse=False)
        except Exception:
            continue
        verified_by.append(index)
    return verified_by


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "webhook-receiver"

    def log_message(self, format, *args):
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, body=b"", headers=None, content_type="text/plain; charset=utf-8"):
        headers = dict(headers or {})
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = content_type
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_json(self, status, value):
        self.send(status, json.dumps(value).encode(), content_type="application/json")

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == CONTROL_PREFIX + "received":
            with STATE.lock:
                deliveries = list(STATE.deliveries)
            self.send_json(200, {"deliveries": deliveries})
        else:
            self.send_json(404, {"error": f"no such resource: {path}"})

    def do_POST(self):
        try:
            raw = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_json(400, {"error": "unreadable request body"})
            return
        path = self.path.split("?", 1)[0]
        if path.startswith(CONTROL_PREFIX):
            self.control(path, raw)
        else:
            self.delivery(raw)

    def control(self, path, raw):
        try:
            try:
                request = json.loads(raw.decode("utf-8") or "null")
            except ValueError as error:
                raise ControlError(f"the body is not JSON: {error}")
            if not isinstance(request, dict):
                raise ControlError("the body must be a JSON object")
            if path == CONTROL_PREFIX + "secrets":
                self.set_secrets(request)
            elif path == CONTROL_PREFIX + "responses":
                self.set_responses(request)
            else:
                self.send_json(404, {"error": f"no such control: {path}"})
                return
        except ControlError as error:
            self.send_json(400, {"error": str(error)})
            return
        self.send_json(200, {"ok": True})

    def set_secrets(self, request):
        secrets = request.get("secrets")
        if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
            raise ControlError("secrets must be a list of strings")
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret)
            except Exception as error:
                raise ControlError(f"secret {index} is not usable: {error!r}")
        with STATE.lock:
            STATE.secrets = list(secrets)

    def set_responses(self, request):
        responses = None
        default = None
        if "responses" in request:
            if not isinstance(request["responses"], list):
                raise ControlError("responses must be a list")
            responses = [
                check_response(r, f"responses[{i}]") for i, r in enumerate(request["responses"])
            ]
        if "default" in request:
            default = check_response(request["default"], "default")
        with STATE.lock:
            if responses is not None:
                STATE.responses = responses
            if default is not None:
                STATE.default = default

    def delivery(self, raw):
        received_at_ms = int(time.time() * 1000)
        headers = {name.lower(): value for name, value in self.headers.items()}
        raw_body = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
        with STATE.lock:
            secrets = list(STATE.secrets)
        verified_by = verifying_secrets(raw, headers, secrets)
        with STATE.lock:
            response = STATE.responses.pop(0) if STATE.responses else STATE.default
            status = response.get("status", 200)
            STATE.deliveries.append(
                {
                    "webhook_id": headers.get("webhook-id"),
                    "webhook_timestamp": headers.get("webhook-timestamp"),
                    "signature_header": headers.get("webhook-signature"),
                    "body": body,
                    "raw_body": raw_body,
                    "verified": bool(verified_by),
                    "verified_by": verified_by,
                    "answered": status,
                    "received_at_ms": received_at_ms,
                    "path": self.path,
                }
            )
        delay_ms = response.get("delay_ms", 0)
        if delay_ms:
            time.sleep(delay_ms / 1000)
        answer = response.get("body", "")
        if isinstance(answer, str):
            self.send(status, answer.encode("utf-8"), response.get("headers"))
        else:
            self.send(
                status,
                json.dumps(answer).encode("utf-8"),
                response.get("headers"),
                content_type="application/json",
            )


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except Exception:
        pass
    os._exit(0)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
