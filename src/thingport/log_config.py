"""One logging configuration for every process of the server: our loggers and uvicorn's.

One handler on the root logger, on stderr, with one formatter: text (``THINGPORT_LOG_FORMAT=text``,
``time LEVEL logger: message``) or one JSON object a line (``json``: time, level, logger, message,
and the exception when there is one). uvicorn's loggers (``uvicorn.error``, and
``uvicorn.access`` when access logs are on) get no handler of their own and reach the root's, so
their lines look like ours; uvicorn is told not to install its own configuration
(``log_config=None`` in ``server.uvicorn_config``). The primary and each worker process
(``workers.worker_main``) call `configure_logging` with the same settings.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Final

from thingport.settings import LOG_FORMATS, LOG_LEVELS, Settings

#: uvicorn's "trace" level (``uvicorn.config.TRACE_LOG_LEVEL``), below DEBUG.
TRACE_LOG_LEVEL: Final = 5
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: uvicorn's loggers; ``uvicorn.asgi`` logs ASGI messages at the trace level.
UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
LEVELS: Final = {"critical": logging.CRITICAL, "error": logging.ERROR,
                 "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG,
                 "trace": TRACE_LOG_LEVEL}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601, ms), ``level``, ``logger``, ``message``,
    and ``exception`` (its traceback) or ``stack`` when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (newlines in the message are escaped)."""
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry)


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` configuration for a level of `LOG_LEVELS` and a format
    of `LOG_FORMATS` (both checked by the settings already; ValueError if not)."""
    if log_format not in LOG_FORMATS or level not in LOG_LEVELS:
        raise ValueError(f"no such log level or format: {level!r}, {log_format!r}")
    numeric = LEVELS[level]
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT})
    return {
        "version": 1,
        # Module-level loggers exist by now (getLogger at import): keep them working.
        "disable_existing_loggers": False,
        "formatters": {"thingport": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "thingport",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": numeric, "handlers": ["stderr"]},
        "loggers": {name: {"level": numeric, "handlers": [], "propagate": True}
                    for name in UVICORN_LOGGERS},
    }


def configure_logging(settings: Settings) -> None:
    """Configure this process's logging from THINGPORT_LOG_LEVEL and THINGPORT_LOG_FORMAT."""
    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
