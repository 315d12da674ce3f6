"""The error of a refused or failed query, as ClickHouse's HTTP interface answers it."""

from __future__ import annotations

import re

ERROR_CODE = re.compile(r"Code: (\d+)\.")
# The HTTP status ClickHouse's HTTP interface gives each error code (exceptionCodeToHTTPStatus);
# every other code is 500. READONLY and INTO_OUTFILE_NOT_ALLOWED are refusals here, answered 403
# like ACCESS_DENIED; TOO_MANY_SIMULTANEOUS_QUERIES is 503, as a client retries it.
HTTP_STATUS = {
    **dict.fromkeys((516, 192, 193, 512, 497, 164, 358), 403),
    194: 401,
    **dict.fromkeys(
        (36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8, 167, 168, 223, 62, 117, 53, 321),
        400,
    ),
    **dict.fromkeys((60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511), 404),
    229: 413,
    48: 501,
    **dict.fromkeys((209, 76, 439, 202), 503),
    381: 411,
    159: 408,
    779: 415,
}


class SqlError(Exception):
    """A refused or failed query: ClickHouse's error text and code, and the HTTP status for it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        found = ERROR_CODE.search(text)
        self.code = int(found.group(1)) if found else 1000
        self.text = text.strip()
        self.status = HTTP_STATUS.get(self.code, 500)
