"""Log lines are JSON objects carrying the request id."""

from __future__ import annotations

import json
import logging

from maas.logs import JsonFormatter, request_id_var


def test_json_line_has_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("maas.test", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    record.status = 201
    token = request_id_var.set("abc123")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello x"
    assert entry["request_id"] == "abc123"
    assert entry["status"] == 201
    assert entry["level"] == "info"


def test_time_is_written_as_datetime_would() -> None:
    from datetime import UTC, datetime

    from maas.logs import _utc_millis

    for created in (0.0, 1.0005, 562410731.7939999, 1764085647.9999996, 1764085647.123456):
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert _utc_millis(created) == expected
