"""pprof files as values: decode gzip'd or raw profile.proto bytes into an immutable Profile, encode it back,
and transform it (redact, diff)."""
