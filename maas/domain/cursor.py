"""Opaque pagination cursors: a keyset position ``(created_at, id)`` the client hands back."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from maas.errors import InputError


def encode(created_at: datetime, row_id: uuid.UUID) -> str:
    """A URL-safe cursor pointing just after this row."""
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position in a cursor; a tampered or foreign cursor is an :class:`InputError`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, row_id = json.loads(raw)
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None:
            raise ValueError("naive time")
        return created_at, uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InputError("cursor", "not a cursor this service issued") from exc
