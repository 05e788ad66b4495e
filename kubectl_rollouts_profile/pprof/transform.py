"""Processors: Profile -> Profile. ``redact`` drops what identifies a host or build; ``diff`` subtracts a base."""

from __future__ import annotations

import dataclasses
from array import array
from itertools import chain
from types import MappingProxyType

from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.pprof.model import (
    Label,
    Line,
    Location,
    Profile,
    SampleLocations,
    SampleValues,
    id_array,
)


def redact(profile: Profile) -> Profile:
    """Strip label values, file paths (of mappings and of source files) and build IDs, so the file can be attached
    to a public issue. Label keys, numeric labels, function names and line numbers stay: they say what ran and
    what was measured, not where it was built or about whom."""
    redacted_labels: dict[tuple[Label, ...], tuple[Label, ...]] = {(): ()}

    def without_values(labels: tuple[Label, ...]) -> tuple[Label, ...]:
        known = redacted_labels.get(labels)
        if known is None:
            known = redacted_labels[labels] = tuple(
                label._replace(str="redacted") if label.str else label for label in labels
            )
        return known

    mappings = {
        mapping_id: dataclasses.replace(mapping, filename="", build_id="")
        for mapping_id, mapping in profile.mappings.items()
    }
    functions = {
        function_id: dataclasses.replace(function, filename="") for function_id, function in profile.functions.items()
    }
    return dataclasses.replace(
        profile,
        sample_labels=tuple(map(without_values, profile.sample_labels)),
        mappings=MappingProxyType(mappings),
        functions=MappingProxyType(functions),
    )


def diff(base: Profile, new: Profile) -> Profile:
    """``new`` minus ``base``: base samples with negated values merged into new's, like pprof's -diff_base.
    Positive values grew, negative ones shrank."""
    if [vt.type for vt in base.sample_types] != [vt.type for vt in new.sample_types]:
        raise ProfileError(
            "the two profiles have different sample types: "
            f"{[vt.type for vt in base.sample_types]} vs {[vt.type for vt in new.sample_types]}",
            "diff two profiles of the same kind (heap with heap, goroutine with goroutine)",
        )
    # Renumber base's ids above new's so both sets of locations, functions and mappings coexist.
    function_offset = max(new.functions, default=0)
    location_offset = max(new.locations, default=0)
    mapping_offset = max(new.mappings, default=0)
    functions = dict(new.functions)
    for function in base.functions.values():
        functions[function.id + function_offset] = dataclasses.replace(function, id=function.id + function_offset)
    mappings = dict(new.mappings)
    for mapping in base.mappings.values():
        mappings[mapping.id + mapping_offset] = dataclasses.replace(mapping, id=mapping.id + mapping_offset)
    locations = dict(new.locations)
    for location in base.locations.values():
        locations[location.id + location_offset] = Location(
            location.id + location_offset,
            location.mapping_id + mapping_offset if location.mapping_id else 0,
            location.address,
            tuple(Line(line.function_id + function_offset, line.line, line.column) for line in location.lines),
            location.is_folded,
        )
    new_ids, base_ids = new.locations_store.ids, base.locations_store.ids
    ids = id_array(chain(new_ids, (i + location_offset for i in base_ids)))
    bounds = array("Q", chain(new.locations_store.bounds, (len(new_ids) + b for b in base.locations_store.bounds[1:])))
    width = len(new.sample_types)
    values = SampleValues(
        new.values_store.flat + array("q", (-value for value in base.values_store.flat)),
        width,
        new.sample_count + base.sample_count,
    )
    return dataclasses.replace(
        new,
        sample_locations=SampleLocations(ids, bounds),
        sample_values=values,
        sample_labels=tuple(chain(new.sample_labels, base.sample_labels)),
        locations=MappingProxyType(locations),
        functions=MappingProxyType(functions),
        mappings=MappingProxyType(mappings),
        comments=new.comments + ("diff: values are new minus base",),
    )


