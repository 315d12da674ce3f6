"""A local SMTP server that saves every message it receives as an .eml file (demo and tests)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class OutboxHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        path = self.folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{len(self.saved) + 1:04d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        self.saved.append(path)
        return "250 Message accepted for delivery"


class MailCatcher:
    """`with MailCatcher(folder) as catcher:` listens on 127.0.0.1:`catcher.port` until the block ends."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.handler = OutboxHandler(folder)
        self.port = port or _unused_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailCatcher:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
