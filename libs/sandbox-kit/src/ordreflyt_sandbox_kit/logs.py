"""The emulators' logs as JSON lines, one object a line, in the shape the services write.

Every line has `ts` (UTC, milliseconds), `level`, `service`, `logger` and `msg`; fields given
with `extra={...}` come on top, and `exc` holds a traceback. The services get the same shape
from `ordreflyt_runtime.logs`; the sandboxes do not depend on the runtime (it would bring its
broker and database clients along), so the standard library writes these lines.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# The attributes every LogRecord has: anything else on a record came in through `extra`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonLines(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        # default=str: a field of any other type is logged as its text, never dropped.
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(service: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record of the process to `stream` (stderr) as JSON lines."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonLines(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
