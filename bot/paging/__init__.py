"""Paging and ticketing backends (SPEC §6): PagerDuty Events v2, Opsgenie alerts, a signed
JSON webhook and GitHub issues. Each implements `bot.core.ports.Pager`; `bot.paging.config`
validates the `pagers:` configuration section and builds them around one shared
`httpx.AsyncClient` owned by the composition root."""
