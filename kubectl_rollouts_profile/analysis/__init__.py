"""Controller-aware analysis: the subsystem catalog, the rollup of a profile by subsystem, the findings rules and
the incident report page."""
