"""One way to show a connection string in a message, a log line or a repr: secrets masked, the rest readable.

``redact`` takes any URL or libpq conninfo museum-sync handles and hides what could be a secret:

* libpq/PostgreSQL, Redis, AMQP, sentinel URLs: the password of the userinfo (``user:***@host``; the user
  name stays, it says which role failed) and secret-looking query parameters (``?password=***``);
* libpq ``key=value`` conninfo: ``password=***`` / ``sslpassword=***`` (quoted values too);
* HTTP(S) URLs: the whole userinfo is dropped (HTTP APIs put keys in the *user name*, e.g.
  ``https://KEY:@api...``), and ``api_key``/``token``-style query parameters are masked, while paging
  tokens such as OAI-PMH ``resumptionToken`` stay readable;
* ``;``-joined URL lists (kombu failover, ``sentinel://...;sentinel://...``): each URL.

It never raises: a malformed URL is masked by the same rules, not rejected. Only the standard library is
used, so clients, services and settings can all import it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

__all__ = ["MASK", "is_secret_name", "redact", "scrub"]

MASK = "***"

# Query parameters whose values never appear in messages. Exact names, and names ending in a suffix:
# "resumptionToken" (OAI-PMH paging, not a secret) matches neither and stays readable.
_SECRET_NAMES = frozenset(
    {
        "api_key", "apikey", "key", "wskey",
        "token", "access_token", "auth", "authorization", "session", "signature", "sig",
        "secret", "client_secret",
        "pass", "passwd", "password", "sslpass", "sslpasswd", "sslpassword",
    }
)  # fmt: skip
_SECRET_SUFFIXES = ("_key", "_token", "_secret", "_password", "-key", "-token")
_HTTP_SCHEMES = frozenset({"http", "https"})
# A new URL starts after ";" only when a scheme follows (a ";" inside a password is not a separator).
_URL_LIST_SPLIT = re.compile(r";(?=[A-Za-z][A-Za-z0-9+.\-]*://)")
_KV_PASSWORD = re.compile(r"(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter (or conninfo key) named ``name`` holds a secret."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def redact(url_or_conninfo: str, *, mask: str = MASK) -> str:
    """``url_or_conninfo`` safe to print: passwords, keys and tokens replaced by ``mask`` (see the module doc)."""
    if "://" not in url_or_conninfo:
        return _KV_PASSWORD.sub(lambda m: m.group(1) + mask, url_or_conninfo)
    return ";".join(_redact_url(part, mask) for part in _URL_LIST_SPLIT.split(url_or_conninfo))


def scrub(text: str, url_or_conninfo: str, *, mask: str = MASK) -> str:
    """``text`` (a driver's error message, say) with every secret of ``url_or_conninfo`` replaced by ``mask``.

    For messages we did not write: a driver may echo the connection string or the password itself.
    """
    for secret in sorted(_secrets_of(url_or_conninfo), key=len, reverse=True):
        text = text.replace(secret, mask)
    return text


# ------------------------------------------------------------------------------------------------- parsing


def _split_url(url: str) -> tuple[str, str, str, str, str]:
    """``(scheme, netloc, path, query, fragment)`` by hand: never raises, keeps every byte it does not mask."""
    scheme, _, tail = url.partition("://")
    netloc_end = len(tail)
    for stop in "/?#":
        index = tail.find(stop)
        if index != -1:
            netloc_end = min(netloc_end, index)
    netloc, rest = tail[:netloc_end], tail[netloc_end:]
    rest, _, fragment = rest.partition("#")
    path, _, query = rest.partition("?")
    return scheme, netloc, path, query, fragment


def _redact_url(url: str, mask: str) -> str:
    scheme, netloc, path, query, fragment = _split_url(url)
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        if scheme.lower() in _HTTP_SCHEMES:
            netloc = hosts
        else:
            user, colon, _password = userinfo.partition(":")
            netloc = f"{user}:{mask}@{hosts}" if colon else netloc
    text = f"{scheme}://{netloc}{path}"
    if "?" in url.partition("#")[0]:
        text += "?" + _redact_params(query, mask)
    if "#" in url:
        text += "#" + _redact_params(fragment, mask)
    return text


def _redact_params(params: str, mask: str) -> str:
    items = []
    for item in params.split("&"):
        name, eq, _value = item.partition("=")
        items.append(f"{name}={mask}" if eq and is_secret_name(unquote_plus(name)) else item)
    return "&".join(items)


def _secrets_of(url_or_conninfo: str) -> set[str]:
    found: set[str] = set()
    if "://" not in url_or_conninfo:
        for match in _KV_PASSWORD.finditer(url_or_conninfo):
            value = match.group(2)
            found.update({value, value.strip("'").replace("\\'", "'")})
    else:
        for part in _URL_LIST_SPLIT.split(url_or_conninfo):
            scheme, netloc, _path, query, fragment = _split_url(part)
            if "@" in netloc:
                user, _, password = netloc.rpartition("@")[0].partition(":")
                found.update({password, unquote(password)})
                if scheme.lower() in _HTTP_SCHEMES:  # an HTTP user name may be the key itself
                    found.update({user, unquote(user)})
            for item in f"{query}&{fragment}".split("&"):
                name, eq, value = item.partition("=")
                if eq and is_secret_name(unquote_plus(name)):
                    found.update({value, unquote_plus(value)})
    return {secret for secret in found if secret}
