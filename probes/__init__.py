"""Diagnostic probes: read-only health checks of configured targets (SPEC §4).

`probes.config.parse_probes` validates the YAML `probes:` list, `probes.runner.Runner` runs
a selection concurrently under per-probe and per-run deadlines with redaction, and
`probes.report` renders a run for the terminal. Kinds: http, postgres, redis, dns, tls,
tcp, disk. This package never imports `bot`; `bot.probing` adapts it to the core's port.
"""
