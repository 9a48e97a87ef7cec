"""What in the config is secret, and the one rule that hides it wherever the
config or a log line is shown (the MQTT ``config`` command, ``check-config``,
the log).

Each config dataclass declares its sensitive fields with field metadata::

    password: str = field(default="", metadata=SECRET)    # a credential: never shown
    push_url: str = field(default="", metadata=URL)       # a URL that may carry one
    tls_key: str = field(default="", metadata=NOT_SECRET) # named like a credential, is not

The rule
--------
* A ``SECRET`` field is shown as ``***`` when set; ``""`` stays ``""``
  (whether a password is set at all is worth knowing).
* A ``URL`` field is shown with the password of its user part
  (``http://user:***@host``) and the value of every query parameter whose
  name looks secret (:data:`SECRET_QUERY`: ``pswd=***``, ``password=***``,
  ``token=***``...) masked; the rest of the URL (placeholders included) is
  kept as written.
* A field with no declaration whose name looks like a credential
  (:func:`looks_secret`: password, passwd, pswd, pwd, pin, secret, token,
  key, very_code...) is masked like a ``SECRET``: the rule fails closed, and
  ``tests/test_secrets.py`` fails until such a field is declared.
* ``NOT_SECRET`` is for names that only look like a credential: the MQTT
  ``tls_key`` is the *path* of the client key file (shown, it helps to
  diagnose; the key itself stays in that file, readable by the agent's user
  only).
* In free text (log lines, see :class:`Redactor`) the URL rule applies to any
  text that looks like a URL or a query string, and every secret value of
  the config (:func:`secret_values`) is replaced by ``***``, in its plain,
  URL-encoded, JSON and bytes-repr spellings.  Values shorter than
  :data:`MIN_VALUE` characters are only hidden by the URL rule (replacing
  "ab" everywhere would garble every line); an all-digit value (a SIM PIN)
  only where it is not part of a longer number.

Nothing of ours is imported: the config modules import their markers from here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

MASK = "***"
MIN_VALUE = 4  # secret values shorter than this are not searched for in free text

SECRET = MappingProxyType({"secret": "secret"})
URL = MappingProxyType({"secret": "url"})
NOT_SECRET = MappingProxyType({"secret": "no"})

# Words that make a field name look like a credential, matched against the
# name's "_"-separated parts (so "pin" does not match "mapping")...
_SECRET_PARTS = frozenset({"password", "passwd", "passphrase", "pswd", "pwd", "pw", "pass", "pin", "puk", "secret",
                           "token", "key", "apikey", "code", "credential", "credentials", "auth", "salt", "cookie",
                           "session", "private"})
# ...and anywhere in it (``admin_password``, ``apitoken``).
_SECRET_WORDS = re.compile(r"pass|pswd|passwd|secret|token|apikey|very_?code|credential|private", re.IGNORECASE)
# Query parameter names whose value is masked in a URL and in log lines.
SECRET_QUERY = re.compile(r"pass|pw|pswd|pwd|secret|token|key|auth|sig|very_?code|credential|session",
                          re.IGNORECASE)

# ``//user:password@`` in any text.
_USERINFO = re.compile(r"(//[^/\s:@?#]*:)([^/\s@?#]*)(@)")
# ``name=value`` after ``?``, ``&`` or ``;`` (or at the start of the text) where the name looks secret.
_QUERY_PAIR = re.compile(r"(^|[?&;])([^=&#\s?;]+)=([^&#\s'\";]*)")


def looks_secret(name: str) -> bool:
    """True when a field or key called ``name`` looks like it holds a credential."""
    parts = {p for p in re.split(r"[_\W]+", name.lower()) if p}
    return bool(parts & _SECRET_PARTS) or bool(_SECRET_WORDS.search(name))


def kind(f: dataclasses.Field[Any]) -> str | None:
    """The declared kind of a dataclass field: ``"secret"``, ``"url"``, ``"no"``, or None (undeclared)."""
    value = f.metadata.get("secret")
    return value if isinstance(value, str) else None


def _effective(f: dataclasses.Field[Any]) -> str:
    declared = kind(f)
    if declared is not None:
        return declared
    return "secret" if looks_secret(f.name) else "no"


# --- the config as data ---------------------------------------------------------------


def masked(value: Any) -> Any:
    """``value`` (a config dataclass, or tuples, lists, dicts of them) as
    JSON-able data (dicts, lists, strings, numbers, booleans, None; paths as
    strings) with every secret masked by the rule of this module."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _masked_field(f, getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _masked_field(f: dataclasses.Field[Any], value: Any) -> Any:
    how = _effective(f)
    if how == "url" and isinstance(value, str):
        return mask_url(value)
    if how != "secret" or value is None or _container(value):
        return masked(value)  # a section or a list of them is walked, field by field
    if isinstance(value, str):
        return MASK if value else ""
    return MASK  # a secret that is not a string (a number?) is hidden all the same


def _container(value: Any) -> bool:
    return (dataclasses.is_dataclass(value) and not isinstance(value, type)) or isinstance(value, (list, tuple, dict))


def mask_url(url: str) -> str:
    """``url`` with the password of its user part and the values of its
    secret-looking query parameters replaced by ``***``; everything else as
    written (templates' ``%text%`` placeholders included)."""
    return _mask_query(_USERINFO.sub(lambda m: m.group(1) + MASK + m.group(3), url))


def _mask_query(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(2)
        if not SECRET_QUERY.search(unquote_plus(name)) or not m.group(3):
            return m.group(0)
        return f"{m.group(1)}{name}={MASK}"

    return _QUERY_PAIR.sub(one, text)


# --- the secret values ----------------------------------------------------------------


def secret_values(config: Any) -> frozenset[str]:
    """Every non-empty secret value in ``config`` (a dataclass tree): the
    values of ``SECRET`` (and undeclared credential-looking) fields, and the
    user-part passwords and secret query values of ``URL`` fields."""
    return frozenset(v for v in _walk_values(config) if v)


def _walk_values(value: Any) -> Iterator[str]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            item, how = getattr(value, f.name), _effective(f)
            if how == "secret" and item is not None and not isinstance(item, bool) and not _container(item):
                yield str(item)
            elif how == "url" and isinstance(item, str):
                yield from _url_secrets(item)
            else:
                yield from _walk_values(item)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk_values(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk_values(v)


def _url_secrets(url: str) -> Iterator[str]:
    for m in _USERINFO.finditer(url):
        yield m.group(2)
        yield unquote_plus(m.group(2))
    for m in _QUERY_PAIR.finditer(url):
        if SECRET_QUERY.search(unquote_plus(m.group(2))) and m.group(3) and not _placeholder(m.group(3)):
            yield m.group(3)
            yield unquote_plus(m.group(3))


def _placeholder(value: str) -> bool:
    """True for a template's placeholder (``%password%``, ``{pswd}``): filled in later, not a secret itself."""
    return bool(re.fullmatch(r"%[A-Za-z_]+%|\{[A-Za-z_]*\}", value))


# --- free text ------------------------------------------------------------------------


class Redactor:
    """Given secret values, a callable that returns a text with each of them,
    and every URL credential (:func:`mask_url`'s rule), replaced by ``***``.
    Immutable once made; safe to share between threads."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        spellings: set[str] = set()
        for value in values:
            spellings.update(s for s in _spellings(value) if len(s) >= MIN_VALUE)
        patterns = []
        for s in sorted(spellings, key=len, reverse=True):  # the longest first: no half-masked leftovers
            escaped = re.escape(s)
            patterns.append(rf"(?<!\d){escaped}(?!\d)" if s.isdigit() else escaped)
        self._values = re.compile("|".join(patterns)) if patterns else None

    def __call__(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        return mask_url(text)


def _spellings(value: str) -> set[str]:
    """The ways a value may be written in a log line: as is, URL-encoded, in JSON, in a bytes repr."""
    out = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
           json.dumps(value, ensure_ascii=False)[1:-1]}
    try:
        out.add(repr(value.encode("utf-8"))[2:-1])
    except UnicodeEncodeError:
        pass
    return out
