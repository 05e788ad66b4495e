"""The Kubernetes protobuf encoding for the few types kubectl sends that way (its access reviews).

kubectl's typed clients send ``application/vnd.kubernetes.protobuf``: the 4-byte magic ``k8s\\0`` and a
``runtime.Unknown`` envelope (typeMeta, raw) around the object's own message. Only the review kinds are decoded
and encoded here, by field number from k8s.io/api's generated.proto; everything else is JSON.
"""

from __future__ import annotations

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# message name -> {json field: (field number, type)}; type is "string", "bool", a message name, or "[]" + either.
SCHEMAS: dict[str, dict[str, tuple[int, str]]] = {
    "Unknown": {"typeMeta": (1, "TypeMeta"), "raw": (2, "bytes"), "contentEncoding": (3, "string"),
                "contentType": (4, "string")},
    "TypeMeta": {"apiVersion": (1, "string"), "kind": (2, "string")},
    "ObjectMeta": {"name": (1, "string"), "generateName": (2, "string"), "namespace": (3, "string")},
    "SelfSubjectAccessReview": {"metadata": (1, "ObjectMeta"), "spec": (2, "SelfSubjectAccessReviewSpec"),
                                "status": (3, "SubjectAccessReviewStatus")},
    "SelfSubjectAccessReviewSpec": {"resourceAttributes": (1, "ResourceAttributes"),
                                    "nonResourceAttributes": (2, "NonResourceAttributes")},
    "ResourceAttributes": {"namespace": (1, "string"), "verb": (2, "string"), "group": (3, "string"),
                           "version": (4, "string"), "resource": (5, "string"), "subresource": (6, "string"),
                           "name": (7, "string")},
    "NonResourceAttributes": {"path": (1, "string"), "verb": (2, "string")},
    "SubjectAccessReviewStatus": {"allowed": (1, "bool"), "reason": (2, "string"),
                                  "evaluationError": (3, "string"), "denied": (4, "bool")},
    "SelfSubjectRulesReview": {"metadata": (1, "ObjectMeta"), "spec": (2, "SelfSubjectRulesReviewSpec"),
                               "status": (3, "SubjectRulesReviewStatus")},
    "SelfSubjectRulesReviewSpec": {"namespace": (1, "string")},
    "SubjectRulesReviewStatus": {"resourceRules": (1, "[]ResourceRule"),
                                 "nonResourceRules": (2, "[]NonResourceRule"),
                                 "incomplete": (3, "bool"), "evaluationError": (4, "string")},
    "ResourceRule": {"verbs": (1, "[]string"), "apiGroups": (2, "[]string"), "resources": (3, "[]string"),
                     "resourceNames": (4, "[]string")},
    "NonResourceRule": {"verbs": (1, "[]string"), "nonResourceURLs": (2, "[]string")},
}


class ProtobufError(ValueError):
    pass


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode(data: bytes, message: str) -> dict:
    by_number = {number: (name, kind) for name, (number, kind) in SCHEMAS[message].items()}
    result: dict = {}
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _read_varint(data, position)
            raw: bytes | int = value
        elif wire_type == 2:
            length, position = _read_varint(data, position)
            raw = data[position:position + length]
            position += length
        elif wire_type == 1:
            raw, position = int.from_bytes(data[position:position + 8], "little"), position + 8
        elif wire_type == 5:
            raw, position = int.from_bytes(data[position:position + 4], "little"), position + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
        if number not in by_number:
            continue  # fields this test server does not model (e.g. field/label selectors)
        name, kind = by_number[number]
        repeated = kind.startswith("[]")
        kind = kind.removeprefix("[]")
        if kind == "bool":
            value_out: object = bool(raw)
        elif kind == "string":
            value_out = bytes(raw).decode()  # type: ignore[arg-type]
        elif kind == "bytes":
            value_out = bytes(raw)  # type: ignore[arg-type]
        else:
            value_out = decode(bytes(raw), kind)  # type: ignore[arg-type]
        if repeated:
            result.setdefault(name, []).append(value_out)
        else:
            result[name] = value_out
    return result


def encode(obj: dict, message: str) -> bytes:
    out = bytearray()
    for name, (number, kind) in SCHEMAS[message].items():
        if name not in obj or obj[name] is None:
            continue
        repeated = kind.startswith("[]")
        kind = kind.removeprefix("[]")
        for value in obj[name] if repeated else [obj[name]]:
            if kind == "bool":
                out += _varint(number << 3) + _varint(int(bool(value)))
                continue
            if kind == "string":
                payload = str(value).encode()
            elif kind == "bytes":
                payload = bytes(value)
            else:
                payload = encode(value, kind)
            out += _varint(number << 3 | 2) + _varint(len(payload)) + payload
    return bytes(out)


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """Return (apiVersion, kind, raw object bytes) from a ``k8s\\0`` envelope."""
    if not body.startswith(MAGIC):
        raise ProtobufError("provided data does not contain the k8s protobuf magic prefix")
    envelope = decode(body[len(MAGIC):], "Unknown")
    type_meta = envelope.get("typeMeta", {})
    return type_meta.get("apiVersion", ""), type_meta.get("kind", ""), envelope.get("raw", b"")


def wrap(api_version: str, kind: str, raw: bytes) -> bytes:
    envelope = {"typeMeta": {"apiVersion": api_version, "kind": kind}, "raw": raw,
                "contentEncoding": "", "contentType": ""}
    return MAGIC + encode(envelope, "Unknown")
