"""Signed slate ids: what /v1/recommend showed, to whom, carried by the client back with its feedback.

A slate id is the slate itself (user, session, items, when) in url-safe base64 and an HMAC-SHA256 of it under
the service's slate secret: any replica verifies it without a lookup, and it survives a Redis restart, where a
server-side record would not. Feedback names its slate, and an item counts as feedback only if the slate
shows it to that user in that session: a client cannot write training data for items the service never showed
(a client key with the ``ingest`` scope may, for imports and server-side pipelines).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

SECRET_FILE = "slate.key"
MAC_BYTES = 16  # a 128-bit tag: forging one is a 2^-128 guess


class InvalidSlate(ValueError):
    """The slate id is malformed, forged, expired or about someone else; the message says which."""


@dataclass(frozen=True)
class Slate:
    user_id: Any
    session_id: str | None
    items: tuple[Any, ...]
    issued_s: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def slate_secret(configured: SecretStr | None, data_dir: Path) -> bytes:
    """GRAPHREC_SLATE_SECRET, or a random secret kept in data_dir/slate.key (made on first use, owner-only):
    replicas that do not share a data directory need the setting, so that each accepts the others' slates."""
    if configured is not None:
        return configured.get_secret_value().encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(secrets.token_bytes(32))
        temporary.chmod(0o600)
        temporary.replace(path)  # two processes racing both write a secret; one wins and both read it below
    return path.read_bytes()


class SlateSigner:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self.secret = secret
        self.ttl_s = ttl_s

    def _mac(self, body: str) -> str:
        return _b64(hmac.digest(self.secret, body.encode(), "sha256")[:MAC_BYTES])

    def sign(self, user_id: Any, session_id: str | None, items: list[Any]) -> str:
        payload = {"u": user_id, "s": session_id, "i": items, "t": int(time.time())}
        body = _b64(orjson.dumps(payload))
        return f"{body}.{self._mac(body)}"

    def verify(self, slate_id: str) -> Slate:
        """The slate, if this service signed it and it has not expired; InvalidSlate otherwise."""
        body, _, mac = slate_id.partition(".")
        if not body or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            raise InvalidSlate("slate_id is not one this service issued")
        try:
            payload = json.loads(_unb64(body))
            slate = Slate(payload["u"], payload["s"], tuple(payload["i"]), int(payload["t"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise InvalidSlate("slate_id is malformed") from None
        if time.time() - slate.issued_s > self.ttl_s:
            raise InvalidSlate(f"slate_id expired (slates are accepted for {self.ttl_s:,} s)")
        return slate

    def check_feedback(self, slate_id: str, user_id: Any, session_id: str, item_id: Any) -> None:
        """InvalidSlate unless the slate showed ``item_id`` to ``user_id`` in ``session_id`` (a slate recommended
        without a session is attributed to its user only)."""
        slate = self.verify(slate_id)
        if slate.user_id != user_id:
            raise InvalidSlate("the slate was shown to another user")
        if slate.session_id is not None and slate.session_id != session_id:
            raise InvalidSlate(f"the slate was shown in session {slate.session_id!r}, not {session_id!r}")
        if item_id not in slate.items:
            raise InvalidSlate(f"item {item_id!r} is not in the slate")
