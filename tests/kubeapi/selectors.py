"""Label and field selectors with the real API server's grammar (``k8s.io/apimachinery`` labels and fields)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(?:(?P<op>!=|==|=|!|\(|\)|,|>|<)|(?P<word>[^\s!=(),<>]+))")
_LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                         r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class SelectorError(ValueError):
    """A selector the real server would reject with 400 BadRequest; the text is the server's message."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # exists, !, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            number = int(str(value))
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.operator == "gt" else number < bound


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            raise SelectorError(f"unable to parse requirement: unexpected character at {text[position:]!r}")
        tokens.append(match.group("op") or match.group("word"))
        position = match.end()
    return tokens


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse a ``labelSelector`` query value; an empty string selects everything."""
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    index = 0

    def peek() -> str:
        return tokens[index] if index < len(tokens) else ""

    while index < len(tokens):
        negated = peek() == "!"
        if negated:
            index += 1
        key = peek()
        if not key or key in "!=(),<>" or key in ("==", "!="):
            raise SelectorError(f"found '{key}', expected: identifier")
        if not _LABEL_NAME.match(key):
            raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
        index += 1
        if negated:
            requirements.append(Requirement(key, "!"))
        elif peek() in ("", ","):
            requirements.append(Requirement(key, "exists"))
        else:
            operator = peek()
            index += 1
            if operator in ("=", "==", "!="):
                value = peek() if peek() not in ("", ",") else ""
                if value:
                    index += 1
                requirements.append(Requirement(key, "!=" if operator == "!=" else "=", (value,)))
            elif operator in ("in", "notin"):
                if peek() != "(":
                    raise SelectorError(f"found '{peek()}', expected: '('")
                index += 1
                values: list[str] = []
                while peek() not in (")", ""):
                    if peek() == ",":
                        index += 1
                        continue
                    values.append(peek())
                    index += 1
                if peek() != ")":
                    raise SelectorError("found '', expected: ')'")
                index += 1
                requirements.append(Requirement(key, operator, tuple(values)))
            elif operator in (">", "<"):
                bound = peek()
                index += 1
                if not re.fullmatch(r"-?\d+", bound):
                    raise SelectorError(
                        "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer"
                    )
                requirements.append(Requirement(key, "gt" if operator == ">" else "lt", (bound,)))
            else:
                raise SelectorError(f"found '{operator}', expected: '=', '!=', '==', 'in', notin'")
        if peek() == ",":
            index += 1
        elif peek():
            raise SelectorError(f"found '{peek()}', expected: ',' or 'end of string'")
    return requirements


def labels_match(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in requirements)


def _field_value(obj: Mapping, path: str) -> str:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_field_selector(text: str, supported: tuple[str, ...]) -> Callable[[Mapping], bool]:
    """Parse a ``fieldSelector`` (``a=b,c!=d``) into a predicate over objects; unknown fields are rejected."""
    terms: list[tuple[str, bool, str]] = []
    for term in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)\s*(.*)", term)
        if match is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, value = match.groups()
        if field not in ("metadata.name", "metadata.namespace") + supported:
            raise SelectorError(f"field label not supported: {field}")
        terms.append((field, operator != "!=", value))

    def predicate(obj: Mapping) -> bool:
        return all((_field_value(obj, field) == value) is equal for field, equal, value in terms)

    return predicate
