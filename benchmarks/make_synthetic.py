"""Write the synthetic benchmark profile: 500k samples, random stacks of depth 8-40 over 20k functions, inlined
lines, labels, four heap sample types. Usage: python benchmarks/make_synthetic.py OUT.pb.gz [SAMPLES]"""

from __future__ import annotations

import gzip
import random
import sys

from kubectl_rollouts_profile.pprof.schema import message_classes


def main(out: str, samples: int = 500_000, functions: int = 20_000, locations: int = 60_000) -> None:
    rng = random.Random(42)
    message = message_classes()["Profile"]()
    strings = [""]

    def intern(text: str) -> int:
        strings.append(text)
        return len(strings) - 1

    for kind, unit in (("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"),
                       ("inuse_space", "bytes")):  # fmt: skip
        message.sample_type.add(type=intern(kind), unit=intern(unit))
    message.mapping.add(id=1, memory_start=0x400000, memory_limit=0x4000000, filename=intern("/usr/bin/controller"),
                        build_id=intern("deadbeef"), has_functions=True)  # fmt: skip
    files = [intern(f"github.com/example/pkg{i}/file{i}.go") for i in range(200)]
    for function_id in range(1, functions + 1):
        name = intern(f"github.com/example/pkg{function_id % 200}.Func{function_id}")
        message.function.add(id=function_id, name=name, system_name=name, filename=files[function_id % 200],
                             start_line=function_id % 900 + 1)  # fmt: skip
    for location_id in range(1, locations + 1):
        location = message.location.add(id=location_id, mapping_id=1, address=0x400000 + location_id * 16)
        for _ in range(rng.choice((1, 1, 1, 2, 3))):  # some locations hold inlined calls
            location.line.add(function_id=rng.randrange(1, functions + 1), line=rng.randrange(1, 2000))
    label_keys = [intern("request"), intern("controller")]
    label_values = [intern(f"value-{i}") for i in range(50)]
    for _ in range(samples):
        depth = rng.randrange(8, 41)
        sample = message.sample.add(
            location_id=[rng.randrange(1, locations + 1) for _ in range(depth)],
            value=[rng.randrange(1, 10), rng.randrange(1, 1 << 16), rng.randrange(0, 5), rng.randrange(0, 1 << 15)],
        )
        sample.label.add(key=label_keys[0], str=rng.choice(label_values))
        sample.label.add(key=label_keys[1], str=rng.choice(label_values))
    message.string_table.extend(strings)
    message.period = 524288
    with open(out, "wb") as handle:
        handle.write(gzip.compress(message.SerializeToString(), compresslevel=6))


if __name__ == "__main__":
    main(sys.argv[1], *(int(arg) for arg in sys.argv[2:3]))
