"""Check a kubeconfig file's shape before the kubernetes client loads it, so that a wrong type or a bad value is
reported as one line naming the file and the field (kubectl refuses the same files when it decodes them).

Messages never quote a field's value: kubeconfigs carry tokens, passwords and keys.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from kubectl_rollouts_profile.errors import UsageError

_HINT = "fix the kubeconfig (see `kubectl config view`), or pass another with --kubeconfig"

# The fields whose types we check, per kind of entry: field -> expected type. Fields not listed are left alone.
_CLUSTER_FIELDS: dict[str, type] = {
    "server": str,
    "certificate-authority": str,
    "certificate-authority-data": str,
    "insecure-skip-tls-verify": bool,
    "tls-server-name": str,
    "proxy-url": str,
    "disable-compression": bool,
}
_USER_FIELDS: dict[str, type] = {
    "token": str,
    "tokenFile": str,
    "client-certificate": str,
    "client-certificate-data": str,
    "client-key": str,
    "client-key-data": str,
    "username": str,
    "password": str,
    "as": str,
    "exec": dict,
    "auth-provider": dict,
}
_CONTEXT_FIELDS: dict[str, type] = {"cluster": str, "user": str, "namespace": str}
_SECTIONS = (("clusters", "cluster", _CLUSTER_FIELDS), ("users", "user", _USER_FIELDS),
             ("contexts", "context", _CONTEXT_FIELDS))
_BASE64_FIELDS = ("certificate-authority-data", "client-certificate-data", "client-key-data")
_TYPE_NAMES = {str: "a string", bool: "true or false", dict: "a mapping", list: "a list"}


def check_kubeconfig_file(path: Path) -> tuple[str, ...]:
    """Raise UsageError (exit 2) naming ``path`` and the field when the file is not a well-formed kubeconfig;
    return the credential strings it holds (for masking them in messages quoted from elsewhere)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"kubeconfig {path} is not UTF-8 text", hint=_HINT) from error
    except OSError as error:
        raise UsageError(f"kubeconfig {path}: cannot read it: {error.strerror}", hint=_HINT) from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        # The parser's message quotes the offending lines, which may hold a credential: give the position only.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UsageError(f"kubeconfig {path} is not valid YAML{where}", hint=_HINT) from error
    if document is None:
        return ()
    if not isinstance(document, dict):
        raise _malformed(path, "the top level", "is not a mapping")
    current = document.get("current-context")
    if current is not None and not isinstance(current, str):
        raise _malformed(path, "current-context", "is not a string")
    for section, inner, fields in _SECTIONS:
        _check_section(path, document.get(section), section, inner, fields)
    return tuple(sorted(_credentials_in(document.get("users")), key=len, reverse=True))


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced, and any quoted mapping (the loader prints whole entries) elided."""
    import re

    for secret in secrets:
        text = text.replace(secret, "***")
    return re.sub(r"\{.*\}", "{...}", text)


def _credentials_in(users: Any) -> set[str]:
    """The credential values of a users section: tokens, passwords, keys, auth-provider settings, exec env values
    (not names, commands or arguments, which messages may quote)."""
    found: set[str] = set()
    for entry in users if isinstance(users, list) else ():
        body = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(body, dict):
            continue
        values = [body.get(field) for field in ("token", "password", "client-key-data", "client-certificate-data")]
        provider = body.get("auth-provider")
        if isinstance(provider, dict) and isinstance(provider.get("config"), dict):
            values += list(provider["config"].values())
        section = body.get("exec")
        if isinstance(section, dict) and isinstance(section.get("env"), list):
            values += [item.get("value") for item in section["env"] if isinstance(item, dict)]
        for value in values:
            if isinstance(value, str) and len(value.strip()) >= 4:
                found.update({value, value.strip()})
    return found


def check_token(token: str, *, where: str) -> None:
    """A bearer token must fit in an HTTP header: Latin-1, no control characters (after trimming)."""
    if any(ord(char) > 255 or ord(char) < 32 or ord(char) == 127 for char in token):
        raise UsageError(
            f"{where} contains a character an HTTP header cannot carry (a control or non-Latin-1 character)",
            hint="write the token again, without extra characters",
        )


def _check_section(path: Path, entries: Any, section: str, inner: str, fields: dict[str, type]) -> None:
    if entries is None:
        return
    if not isinstance(entries, list):
        raise _malformed(path, section, "is not a list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _malformed(path, f"{section}[{index}]", "is not a mapping with name and " + inner)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise _malformed(path, f"{section}[{index}].name", "is missing or not a string")
        label = f"{section}[name={name[:80]}]"
        body = entry.get(inner)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise _malformed(path, f"{label}.{inner}", "is not a mapping")
        for field, expected in fields.items():
            value = body.get(field)
            if value is not None and not isinstance(value, expected):
                raise _malformed(path, f"{label}.{inner}.{field}", f"is not {_TYPE_NAMES[expected]}")
        for field in _BASE64_FIELDS:
            value = body.get(field)
            if isinstance(value, str) and not _is_base64(value):
                raise _malformed(path, f"{label}.{inner}.{field}", "is not valid base64")
        if section == "users" and isinstance(body.get("token"), str):
            check_token(body["token"].strip(), where=f"kubeconfig {path}: {label}.user.token")
        if section == "clusters" and "server" in body and not body["server"]:
            raise _malformed(path, f"{label}.cluster.server", "is empty")


def _is_base64(value: str) -> bool:
    # Like Go's decoder for []byte fields: standard alphabet, padding required, line breaks ignored.
    try:
        base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _malformed(path: Path, field: str, problem: str) -> UsageError:
    return UsageError(f"kubeconfig {path}: {field} {problem}", hint=_HINT)
