"""thingport.log_config: one format for our loggers and uvicorn's, as text or JSON lines."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn.config

from thingport.errors import ConfigError
from thingport.log_config import JsonFormatter, logging_config
from thingport.settings import Settings

#: A process that configures logging as the server does, builds uvicorn's configuration as the
#: server does (which must leave logging alone), then logs through our loggers and uvicorn's.
PROCESS = """
import logging, sys
from thingport.app import create_app
from thingport.log_config import configure_logging
from thingport.server import uvicorn_config
from thingport.settings import Settings

settings = Settings.from_env(dict(THINGPORT_LOG_FORMAT=sys.argv[1], THINGPORT_DATA_DIR=sys.argv[2],
                                  THINGPORT_WORKERS="1"))
configure_logging(settings)
uvicorn_config(settings, create_app(settings))
logging.getLogger("thingport.test").info("ours %d", 1)
logging.getLogger("uvicorn.error").warning("uvicorn's")
logging.getLogger("thingport.test").debug("below the level")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("thingport.test").exception("failed")
"""


def run(log_format: str, tmp_path: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROCESS, log_format, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    return done.stderr.splitlines()


def record(message: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    info = sys.exc_info() if exc_info else None
    return logging.LogRecord("thingport.x", logging.WARNING, __file__, 1, message, args, info)


def test_json_lines_from_our_loggers_and_uvicorns(tmp_path: Path) -> None:
    lines = run("json", tmp_path)
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [
        ("INFO", "thingport.test", "ours 1"),
        ("WARNING", "uvicorn.error", "uvicorn's"),
        ("ERROR", "thingport.test", "failed"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", e["time"])
               for e in entries)
    assert "exception" not in entries[0]
    assert entries[2]["exception"].startswith("Traceback (most recent call last):")
    assert entries[2]["exception"].endswith("ValueError: boom")


def test_text_lines_have_one_format_for_our_loggers_and_uvicorns(tmp_path: Path) -> None:
    lines = run("text", tmp_path)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" INFO thingport\.test: ours 1", lines[0]), lines
    assert re.fullmatch(stamp + r" WARNING uvicorn\.error: uvicorn's", lines[1]), lines
    assert re.fullmatch(stamp + r" ERROR thingport\.test: failed", lines[2]), lines
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"
    assert "below the level" not in "\n".join(lines)


def test_json_formatter_keeps_a_record_on_one_line() -> None:
    line = JsonFormatter().format(record("two\nlines: %s", "x"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "two\nlines: x"
    assert set(entry) == {"time", "level", "logger", "message"}


def test_json_formatter_writes_the_exception() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        entry = json.loads(JsonFormatter().format(record("lost", exc_info=True)))
    assert entry["message"] == "lost"
    assert "KeyError: 'missing'" in entry["exception"]


def test_one_handler_for_every_logger() -> None:
    config = logging_config("debug", "text")
    assert config["root"] == {"level": logging.DEBUG, "handlers": ["stderr"]}
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert config["loggers"][name]["handlers"] == []
        assert config["loggers"][name]["propagate"] is True
    assert logging_config("trace", "json")["root"]["level"] == uvicorn.config.LOG_LEVELS["trace"]


@pytest.mark.parametrize(("variable", "value"), [
    ("THINGPORT_LOG_FORMAT", "xml"), ("THINGPORT_LOG_LEVEL", "loud"),
])
def test_a_bad_level_or_format_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value).startswith(f"{variable}: expected ")
    assert repr(value) in str(caught.value)


def test_level_and_format_are_case_insensitive() -> None:
    settings = Settings.from_env({"THINGPORT_LOG_FORMAT": "JSON", "THINGPORT_LOG_LEVEL": "Debug"})
    assert (settings.log_format, settings.log_level) == ("json", "debug")
    with pytest.raises(ValueError, match="no such log level"):
        logging_config("loud", "text")
