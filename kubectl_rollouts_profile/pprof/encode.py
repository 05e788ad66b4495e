"""Profile -> gzip'd profile.proto bytes, readable by ``go tool pprof`` (used to write redacted or diffed files)."""

from __future__ import annotations

import gzip

from kubectl_rollouts_profile.pprof.model import Profile


def encode_profile(profile: Profile) -> bytes:
    """Serialise the profile with a fresh string table and gzip it."""
    from kubectl_rollouts_profile.pprof.schema import message_classes

    message = message_classes()["Profile"]()
    strings: dict[str, int] = {"": 0}

    def index(text: str) -> int:
        known = strings.get(text)
        if known is None:
            known = strings[text] = len(strings)
        return known

    for value_type in profile.sample_types:
        message.sample_type.add(type=index(value_type.type), unit=index(value_type.unit))
    for location_ids, values, labels in zip(
        profile.sample_locations, profile.sample_values, profile.sample_labels, strict=True
    ):
        sample = message.sample.add(location_id=location_ids, value=values)
        for label in labels:
            sample.label.add(
                key=index(label.key),
                str=index(label.str) if label.str else 0,
                num=label.num,
                num_unit=index(label.num_unit) if label.num_unit else 0,
            )
    for m in profile.mappings.values():
        message.mapping.add(
            id=m.id, memory_start=m.memory_start, memory_limit=m.memory_limit, file_offset=m.file_offset,
            filename=index(m.filename), build_id=index(m.build_id), has_functions=m.has_functions,
            has_filenames=m.has_filenames, has_line_numbers=m.has_line_numbers,
            has_inline_frames=m.has_inline_frames,
        )  # fmt: skip
    for location in profile.locations.values():
        entry = message.location.add(
            id=location.id, mapping_id=location.mapping_id, address=location.address, is_folded=location.is_folded
        )
        for line in location.lines:
            entry.line.add(function_id=line.function_id, line=line.line, column=line.column)
    for function in profile.functions.values():
        message.function.add(
            id=function.id, name=index(function.name), system_name=index(function.system_name),
            filename=index(function.filename), start_line=function.start_line,
        )  # fmt: skip
    message.drop_frames = index(profile.drop_frames)
    message.keep_frames = index(profile.keep_frames)
    message.time_nanos = profile.time_nanos
    message.duration_nanos = profile.duration_nanos
    if profile.period_type is not None:
        message.period_type.type = index(profile.period_type.type)
        message.period_type.unit = index(profile.period_type.unit)
    message.period = profile.period
    message.comment.extend(index(comment) for comment in profile.comments)
    message.default_sample_type = index(profile.default_sample_type)
    message.string_table.extend(strings)  # dicts keep insertion order, which is the index order
    return gzip.compress(message.SerializeToString(), compresslevel=6, mtime=0)
