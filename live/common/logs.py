"""JSON log lines, one object per line, each with the service, the instance and the current trace.

A line carries ``time`` (ISO 8601, UTC), ``level``, ``service``, ``instance``, ``logger``,
``message``, the ids of the span that was current when it was written (``trace_id``, ``span_id``:
so ``live logs`` lines and ``live trace`` trees meet on the same id), and any fields passed as
``extra={"fields": {...}}``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

from opentelemetry import trace

from live.common.settings import InstanceSettings

__all__ = ["JsonFormatter", "configure_logging"]


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, instance: str) -> None:
        super().__init__()
        self.service = service
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "instance": self.instance,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(settings: InstanceSettings, level: int = logging.INFO) -> None:
    """Send every log record of this process to stderr as JSON lines (the supervisor keeps them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(settings.service, settings.instance))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn", "uvicorn.error", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
