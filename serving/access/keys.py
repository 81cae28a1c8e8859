"""Client API keys: what a key may do (its scopes) and how keys are kept (their SHA-256, never the key).

A key is 32 random bytes (url-safe base64), so an unsalted SHA-256 is as hard to invert as the key is to guess;
settings hold only the digest, and a presented key is hashed and compared against every digest in constant time.
`graphrec new-key` makes one and prints the entry for GRAPHREC_API_KEYS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator


def _rate(text: str) -> str:
    from limits import parse  # 50 ms of imports: only when a limit is configured

    parse(text)  # ValueError, naming the text, if it is not a limit
    return text


# A request rate as the `limits` library reads it: "1000/second", "50 per minute".
Rate = Annotated[str, AfterValidator(_rate)]


class Scope(StrEnum):
    """What a key may call. ``admin`` implies every other scope."""

    recommend = "recommend"  # POST /v1/recommend, GET /v1/explain, GET /v1/items/{id}
    feedback = "feedback"  # POST /v1/feedback, for items of a slate the service showed that user and session
    ingest = "ingest"  # trusted ingest: feedback without a shown slate (imports, server-side event pipelines)
    history = "history"  # GET /v1/users/{id}/history: any user's interactions
    admin = "admin"  # /v1/admin/*


class ApiKey(BaseModel):
    """One configured key, as GRAPHREC_API_KEYS lists it (a JSON list of these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Who holds it; metrics and logs name it.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex.")
    scopes: frozenset[Scope] = Field(min_length=1)
    rate_limit: Rate | None = Field(default=None, description="This key's limit, e.g. '50/second' (default: "
                                   "GRAPHREC_RATE_LIMIT).")


KNOWN_KEYS_KEPT = 1_024  # valid keys remembered, so that a request does not hash its key again


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str, scopes: set[Scope], rate_limit: str | None = None) -> tuple[str, ApiKey]:
    """A fresh random key and its settings entry."""
    key = secrets.token_urlsafe(32)
    return key, ApiKey(name=name, sha256=digest(key), scopes=frozenset(scopes), rate_limit=rate_limit)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a configured key, or (no keys configured) an anonymous client of the open service."""

    name: str
    scopes: frozenset[Scope]
    rate_limit: str | None = None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.admin in self.scopes


# Without keys the service is open to loopback clients (`graphrec serve` refuses another address unless told):
# they may do everything but administer it, and their feedback is trusted as a local operator's.
OPEN_SCOPES = frozenset({Scope.recommend, Scope.feedback, Scope.ingest, Scope.history})


class KeyRing:
    """The configured keys: GRAPHREC_API_KEYS, plus GRAPHREC_API_KEY as one key named ``admin`` with the admin
    scope."""

    def __init__(self, keys: list[ApiKey], admin_key: SecretStr | None) -> None:
        entries = list(keys)
        if admin_key is not None:
            entries.append(ApiKey(name="admin", sha256=digest(admin_key.get_secret_value()),
                                  scopes=frozenset({Scope.admin})))
        digests = [entry.sha256 for entry in entries]
        if len(set(digests)) != len(digests):
            raise ValueError("two configured API keys are the same key")
        names = [entry.name for entry in entries]
        if len(set(names)) != len(names):
            raise ValueError(f"API key names must differ: {sorted(n for n in set(names) if names.count(n) > 1)}")
        self.keys = entries
        self._known: dict[str, Principal] = {}  # presented key -> its holder, for keys found before

    @property
    def open(self) -> bool:
        return not self.keys

    def identify(self, presented: str) -> Principal | None:
        """The key's holder, or None for an unknown key. Every digest is compared, in constant time each, so the
        time taken says nothing about which key came close."""
        known = self._known.get(presented)
        if known is not None:
            return known
        presented_digest = digest(presented).encode()
        found = None
        for entry in self.keys:
            if hmac.compare_digest(presented_digest, entry.sha256.encode()):
                found = entry
        if found is None:
            return None
        if len(self._known) >= KNOWN_KEYS_KEPT:
            self._known.clear()
        principal = self._known[presented] = Principal(found.name, found.scopes, found.rate_limit)
        return principal

    def describe(self) -> str:
        if self.open:
            return "open: no API keys configured (loopback clients only)"
        return f"{len(self.keys)} API key(s): " + ", ".join(
            f"{entry.name} ({'+'.join(sorted(entry.scopes))})" for entry in self.keys)


class KeySettings(BaseModel):
    """The keys section of the settings: who may call the service, how often, and the secret that signs slates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr | None = Field(default=None, description=(
        "Shorthand for one client key named `admin` with the admin scope (every route)."))
    api_keys: list[ApiKey] = Field(default_factory=list, description=(
        "Client keys as a JSON list of {name, sha256, scopes, rate_limit} (`graphrec new-key` makes one). With no "
        "key here or in GRAPHREC_API_KEY the service is open, and `graphrec serve` binds loopback only."))
    allow_open_bind: bool = Field(default=False, description=(
        "Let `graphrec serve` bind a non-loopback address with no API keys configured (anyone who reaches it may "
        "then recommend and send feedback)."))
    rate_limit: Rate = Field(default="1000/second", description=(
        "Requests per key (per client address when open), shared by the replicas through Redis; 429 with "
        "Retry-After above it. A key may set its own."))
    slate_secret: SecretStr | None = Field(default=None, description=(
        "Signs slate ids. Unset: a random secret in <data_dir>/slate.key; replicas that do not share a data "
        "directory must share this setting."))

    @model_validator(mode="after")
    def _check_keys(self) -> KeySettings:
        self.key_ring()  # ValueError for two equal keys or names
        return self

    def key_ring(self) -> KeyRing:
        """The client keys: GRAPHREC_API_KEYS and the admin key GRAPHREC_API_KEY."""
        return KeyRing(self.api_keys, self.api_key)
