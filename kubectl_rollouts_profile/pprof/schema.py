"""The profile.proto schema (perftools.profiles), declared here from its documented field numbers and turned into
message classes at runtime, so the protobuf runtime's native backend does the parsing and serialising."""

from __future__ import annotations

import functools
from typing import Any

# (message, [(field name, number, type, repeated, message type name)])
_INT64, _UINT64, _BOOL, _STRING, _BYTES, _MESSAGE = "int64", "uint64", "bool", "string", "bytes", "message"
_MESSAGES: tuple[tuple[str, tuple[tuple[str, int, str, bool, str], ...]], ...] = (
    (
        "Profile",
        (
            ("sample_type", 1, _MESSAGE, True, "ValueType"),
            ("sample", 2, _MESSAGE, True, "Sample"),
            ("mapping", 3, _MESSAGE, True, "Mapping"),
            ("location", 4, _MESSAGE, True, "Location"),
            ("function", 5, _MESSAGE, True, "Function"),
            ("string_table", 6, _STRING, True, ""),
            ("drop_frames", 7, _INT64, False, ""),
            ("keep_frames", 8, _INT64, False, ""),
            ("time_nanos", 9, _INT64, False, ""),
            ("duration_nanos", 10, _INT64, False, ""),
            ("period_type", 11, _MESSAGE, False, "ValueType"),
            ("period", 12, _INT64, False, ""),
            ("comment", 13, _INT64, True, ""),
            ("default_sample_type", 14, _INT64, False, ""),
        ),
    ),
    ("ValueType", (("type", 1, _INT64, False, ""), ("unit", 2, _INT64, False, ""))),
    (
        "Sample",
        (
            ("location_id", 1, _UINT64, True, ""),
            ("value", 2, _INT64, True, ""),
            ("label", 3, _MESSAGE, True, "Label"),
        ),
    ),
    (
        "Label",
        (
            ("key", 1, _INT64, False, ""),
            ("str", 2, _INT64, False, ""),
            ("num", 3, _INT64, False, ""),
            ("num_unit", 4, _INT64, False, ""),
        ),
    ),
    (
        "Mapping",
        (
            ("id", 1, _UINT64, False, ""),
            ("memory_start", 2, _UINT64, False, ""),
            ("memory_limit", 3, _UINT64, False, ""),
            ("file_offset", 4, _UINT64, False, ""),
            ("filename", 5, _INT64, False, ""),
            ("build_id", 6, _INT64, False, ""),
            ("has_functions", 7, _BOOL, False, ""),
            ("has_filenames", 8, _BOOL, False, ""),
            ("has_line_numbers", 9, _BOOL, False, ""),
            ("has_inline_frames", 10, _BOOL, False, ""),
        ),
    ),
    (
        "Location",
        (
            ("id", 1, _UINT64, False, ""),
            ("mapping_id", 2, _UINT64, False, ""),
            ("address", 3, _UINT64, False, ""),
            ("line", 4, _MESSAGE, True, "Line"),
            ("is_folded", 5, _BOOL, False, ""),
        ),
    ),
    (
        "Line",
        (
            ("function_id", 1, _UINT64, False, ""),
            ("line", 2, _INT64, False, ""),
            ("column", 3, _INT64, False, ""),
        ),
    ),
    (
        "Function",
        (
            ("id", 1, _UINT64, False, ""),
            ("name", 2, _INT64, False, ""),
            ("system_name", 3, _INT64, False, ""),
            ("filename", 4, _INT64, False, ""),
            ("start_line", 5, _INT64, False, ""),
        ),
    ),
)

# The same bytes read another way, for speed: "sample" and "location" declared as raw bytes, so the parser hands
# over each sample's and location's body without building a message object for each; pprof/wire.py reads those
# bodies with array operations.
_MESSAGES += (
    (
        "ProfileBodies",
        tuple(
            (field[0], field[1], _BYTES, True, "") if field[0] in ("sample", "location") else field
            for field in dict(_MESSAGES)["Profile"]
        ),
    ),
)

PACKAGE = "perftools.profiles"


@functools.cache
def message_classes() -> dict[str, Any]:
    """Message classes by short name ("Profile", "Sample", ...), built once per process."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field_proto = descriptor_pb2.FieldDescriptorProto
    types = {
        _INT64: field_proto.TYPE_INT64,
        _UINT64: field_proto.TYPE_UINT64,
        _BOOL: field_proto.TYPE_BOOL,
        _STRING: field_proto.TYPE_STRING,
        _BYTES: field_proto.TYPE_BYTES,
        _MESSAGE: field_proto.TYPE_MESSAGE,
    }
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="kubectl_rollouts_profile/profile.proto", package=PACKAGE, syntax="proto3"
    )
    for message_name, fields in _MESSAGES:
        message = file_proto.message_type.add(name=message_name)
        for field_name, number, kind, repeated, type_name in fields:
            field = message.field.add(
                name=field_name,
                number=number,
                type=types[kind],
                label=field_proto.LABEL_REPEATED if repeated else field_proto.LABEL_OPTIONAL,
            )
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
    # A private pool: the schema never clashes with another copy of profile.proto loaded in the same process.
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name, _ in _MESSAGES
    }
