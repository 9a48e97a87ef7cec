"""Credentials of the dialects, checked in constant time.

Secrets are never logged.  Credentials with lone surrogates (JSON
``"\\ud800"``) simply do not match: they are compared as UTF-8 bytes with
surrogates passed, which no configured secret has.
"""

from __future__ import annotations

import hmac

from ..config import Credentials


def credentials_ok(username: str | None, password: str | None, expected: Credentials) -> bool:
    """True when the pair matches ``expected``; compared in constant time.

    With no password configured every request is accepted (the API is then
    open to whoever reaches the port: README says to bind it to 127.0.0.1).
    """
    if not expected.configured:
        return True
    user_ok = hmac.compare_digest(_utf8(username), _utf8(expected.username))
    pass_ok = hmac.compare_digest(_utf8(password), _utf8(expected.password))
    return user_ok and pass_ok


def password_ok(password: str | None, expected: str) -> bool:
    """Constant-time check of a lone password ('' configured: open)."""
    return not expected or hmac.compare_digest(_utf8(password), _utf8(expected))


def _utf8(text: str | None) -> bytes:
    # surrogatepass: a lone surrogate (JSON "\ud800") gives bytes no configured secret has.
    return (text or "").encode("utf-8", "surrogatepass")
