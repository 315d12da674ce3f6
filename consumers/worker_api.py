"""The command line's way to a running worker's HTTP API, for chDB's one process per folder."""

from __future__ import annotations

import urllib.error
import urllib.request

import orjson

from pipeline.settings import Settings
from queries.breakout import ReportError


def ask_worker(settings: Settings, method: str, path: str, body: object = None) -> bytes | None:
    """The worker's answer to `method path`, or None when no worker answers on CDRFLOW_WEB_PORT.

    A request the worker refuses (400, 404) raises ReportError with the worker's message.
    """
    headers = {"Content-Type": "application/json"}
    if settings.api_token:
        headers["Authorization"] = f"Bearer {settings.api_token}"
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(f"http://127.0.0.1:{settings.web_port}{path}", data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code in (400, 404):
            raise ReportError(orjson.loads(error.read())["error"]) from None
        raise
    except urllib.error.URLError:
        return None
