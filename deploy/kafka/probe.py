"""Ask a Kafka broker for its cluster metadata; exit 0 when it answers with at least one broker.

Standard library only, so that `broker start` can wait for readiness before any virtualenv
exists. Speaks ApiVersions v0 to learn the Metadata versions the broker accepts, then
Metadata v4..v8 (the non-flexible encodings) for all topics.
"""

from __future__ import annotations

import socket
import struct
import sys

API_VERSIONS, METADATA = 18, 3
CLIENT_ID = b"cdrflow-probe"


def _request(sock: socket.socket, api_key: int, version: int, body: bytes, correlation: int) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _read(sock, 4))[0]
    response = _read(sock, size)
    if struct.unpack(">i", response[:4])[0] != correlation:
        raise ConnectionError("response to another request")
    return response[4:]


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def metadata_version(sock: socket.socket) -> int:
    body = _request(sock, API_VERSIONS, 0, b"", 1)
    error, count = struct.unpack(">hi", body[:6])
    if error:
        raise ConnectionError(f"ApiVersions error {error}")
    for i in range(count):
        key, low, high = struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i])
        if key == METADATA:
            version = max(low, 4)
            if version > min(high, 8):
                raise ConnectionError(f"broker speaks Metadata v{low}..v{high} only")
            return version
    raise ConnectionError("broker does not offer Metadata")


def broker_count(host: str, port: int, timeout: float) -> int:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        version = metadata_version(sock)
        body = struct.pack(">ib", -1, 1)  # all topics, allow_auto_topic_creation
        if version >= 8:
            body += struct.pack(">bb", 0, 0)
        response = _request(sock, METADATA, version, body, 2)
        return struct.unpack(">i", response[4:8])[0]  # after throttle_time_ms


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    try:
        return 0 if broker_count(host, port, timeout=2.0) > 0 else 1
    except (OSError, ConnectionError, struct.error):
        return 1


if __name__ == "__main__":
    sys.exit(main())
