"""API keys, one or more per clinic; the keys file holds only their SHA-256 hashes.

The keys file has one JSON object per line::

    {"clinic": "north", "admin": false, "sha256": "<64 hex digits>", "created": "<ISO 8601>"}

``create_key`` draws a new key, appends its line and returns the key: the only time the key
exists outside the clinic's hands. A stolen keys file gives no key (a key has 256 random bits,
so its hash cannot be inverted by guessing). Lines that are empty or start with ``#`` are
ignored, so an operator may annotate the file; revoking a key is deleting its line and
reloading the file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

KEY_BYTES: Final = 32
"""Random bytes per key (``secrets.token_urlsafe``): 43 URL-safe characters."""
_HEX: Final = frozenset("0123456789abcdef")
_FIELDS: Final = frozenset({"clinic", "admin", "sha256", "created"})


@dataclass(frozen=True)
class Clinic:
    """Who a key belongs to.

    Attributes:
        name: The clinic's name as written in the keys file.
        admin: Whether the key may use the administrative endpoints (e.g. model reload).
    """

    name: str
    admin: bool


class KeysFileError(Exception):
    """The keys file cannot be read or a line of it is malformed; the message says where."""


def key_hash(key: str) -> str:
    """Hex SHA-256 of a key's UTF-8 bytes (what the keys file stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _parse_line(path: Path, lineno: int, line: str) -> tuple[bytes, Clinic]:
    """One keys-file line as (hash bytes, clinic); KeysFileError names the line's problem."""
    where = f"{path}, line {lineno}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as err:
        raise KeysFileError(f"{where}: not a JSON object ({err.msg})") from None
    if not isinstance(raw, dict):
        raise KeysFileError(f"{where}: not a JSON object")
    missing = sorted(_FIELDS - raw.keys())
    if missing:
        raise KeysFileError(f"{where}: missing {', '.join(missing)}")
    clinic, admin, digest = raw["clinic"], raw["admin"], raw["sha256"]
    if not isinstance(clinic, str) or not clinic.strip():
        raise KeysFileError(f"{where}: clinic must be a non-empty string")
    if not isinstance(admin, bool):
        raise KeysFileError(f"{where}: admin must be true or false")
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
        # A 43-character string here is most likely a key pasted in place of its hash.
        raise KeysFileError(f"{where}: sha256 must be 64 lowercase hex digits")
    return bytes.fromhex(digest), Clinic(clinic, admin)


class KeyStore:
    """The clinics' key hashes, read once from a keys file; immutable, so safe to share."""

    def __init__(self, entries: list[tuple[bytes, Clinic]]) -> None:
        """Hold (SHA-256 digest, clinic) pairs (use ``KeyStore.load``)."""
        self._entries = tuple(entries)

    @classmethod
    def load(cls, path: Path) -> KeyStore:
        """Read a keys file.

        Args:
            path: The keys file (see the module docstring for its format).

        Returns:
            The key store; an empty file gives a store that knows no key.

        Raises:
            KeysFileError: The file cannot be read, a line is malformed, or one hash appears
                twice (the message names the file and the line).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise KeysFileError(f"{path}: cannot read the keys file ({why})") from None
        entries: list[tuple[bytes, Clinic]] = []
        seen: dict[bytes, int] = {}
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            digest, clinic = _parse_line(path, lineno, line)
            if digest in seen:
                # Two owners of one hash would make the clinic a key maps to ambiguous.
                raise KeysFileError(
                    f"{path}, line {lineno}: the same key hash as line {seen[digest]}"
                )
            seen[digest] = lineno
            entries.append((digest, clinic))
        return cls(entries)

    def __len__(self) -> int:
        """Number of keys."""
        return len(self._entries)

    def clinic_for(self, key: str | None) -> Clinic | None:
        """The clinic a key belongs to.

        Every stored hash is compared, in constant time each, whatever matches: how long a
        refusal takes says nothing about how close a guess came.

        Args:
            key: The key a client sent; None or empty when it sent none.

        Returns:
            Its clinic, or None for a missing or unknown key.
        """
        if not key:
            return None
        digest = hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).digest()
        found: Clinic | None = None
        for stored, clinic in self._entries:
            if hmac.compare_digest(stored, digest):
                found = clinic
        return found


def create_key(path: Path, clinic: str, *, admin: bool = False) -> str:
    """Draw a new key for a clinic and append its hash to the keys file.

    The file is created with mode 0600 (owner only) if it does not exist; an existing file
    keeps its mode, and is read first so that a malformed file is reported, not extended.

    Args:
        path: The keys file.
        clinic: The clinic's name.
        admin: Whether the key may use the administrative endpoints.

    Returns:
        The new key. It is stored nowhere: show it once to whoever gives it to the clinic.

    Raises:
        KeysFileError: The file exists but is malformed, or cannot be written.
        ValueError: The clinic name is empty.
    """
    path = Path(path)
    name = clinic.strip()
    if not name:
        raise ValueError("the clinic name must not be empty")
    if path.exists():
        KeyStore.load(path)
    key = secrets.token_urlsafe(KEY_BYTES)
    line = json.dumps(
        {
            "clinic": name,
            "admin": admin,
            "sha256": key_hash(key),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open, not open(): the mode must apply when the file is created, not after a
        # window in which it exists world-readable.
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a+b") as f:
            f.seek(0, os.SEEK_END)
            needs_newline = False
            if f.tell():
                f.seek(-1, os.SEEK_END)
                needs_newline = f.read(1) != b"\n"  # a hand-edited last line without one
            f.write((("\n" if needs_newline else "") + line + "\n").encode("utf-8"))
    except OSError as err:
        raise KeysFileError(f"{path}: cannot write the keys file ({err.strerror})") from None
    return key
