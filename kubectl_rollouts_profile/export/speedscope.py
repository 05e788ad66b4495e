"""speedscope's file format (https://www.speedscope.app/file-format-schema.json): shared frames and one
``sampled`` profile per sample type, the default type active."""

from __future__ import annotations

import json

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.export.units import to_base_unit, unit_kind
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import stack_table

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"


def render_speedscope(profile: Profile, *, title: str, sample_index: str | int | None = None) -> bytes:
    active = profile.sample_index(sample_index) if profile.sample_types else 0
    table = stack_table(profile)
    if any(value < 0 for values in table.values for value in values):
        raise UsageError(
            "speedscope cannot show negative weights, and this profile has some (it is a diff)",
            "use --format html or --format top for a diff",
        )
    frames = [
        {"name": frame.name}
        | ({"file": frame.file} if frame.file else {})
        | ({"line": frame.line} if frame.line else {})
        for frame in table.frames
    ]
    profiles = []
    for position, value_type in enumerate(profile.sample_types):
        kind = unit_kind(value_type.unit)
        samples = []
        weights = []
        for stack, values in zip(table.stacks, table.values, strict=True):
            if values[position]:
                samples.append(stack)
                weights.append(to_base_unit(values[position], value_type.unit))
        profiles.append(
            {
                "type": "sampled",
                "name": f"{title} {value_type.type}",
                "unit": kind,
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        )
    document = {
        "$schema": SCHEMA_URL,
        "name": f"{title} {profile.sample_types[active].type}" if profile.sample_types else title,
        "exporter": f"kubectl-rollouts-profile@{__version__}",
        "activeProfileIndex": active,
        "shared": {"frames": frames},
        "profiles": profiles,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
