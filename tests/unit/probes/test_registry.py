"""The kind registry: one entry per kind module, the one table parsing and running read."""

from __future__ import annotations

import pytest

import probes
from probes.base import ProbeConfig
from probes.config import ProbeConfigError, parse_probes
from probes.registry import KINDS
from probes.runner import build_probe

ONE_OF_EACH = [
    {"name": "api", "service": "web", "kind": "http", "url": "http://127.0.0.1:1/"},
    {"name": "db", "service": "b", "kind": "postgres", "dsn": "postgresql://127.0.0.1:1/d"},
    {"name": "cache", "service": "b", "kind": "redis", "url": "redis://127.0.0.1:1"},
    {"name": "name", "service": "b", "kind": "dns", "host": "localhost"},
    {"name": "cert", "service": "b", "kind": "tls", "host": "127.0.0.1"},
    {"name": "port", "service": "b", "kind": "tcp", "host": "127.0.0.1", "port": 1},
    {"name": "disk", "service": "b", "kind": "disk", "path": "/"},
]


def test_each_kind_is_registered_under_the_name_its_model_declares() -> None:
    assert list(KINDS) == ["http", "postgres", "redis", "dns", "tls", "tcp", "disk"]
    for name, kind in KINDS.items():
        assert kind.name == name
        assert kind.config.model_fields["kind"].default == name
        assert kind.config.__module__ == f"probes.{name}"  # the model lives with its check


def test_parsing_and_building_go_through_the_registry_for_every_kind() -> None:
    configs = parse_probes(ONE_OF_EACH)
    assert [type(c) for c in configs] == [k.config for k in KINDS.values()]
    for cfg in configs:
        probe = build_probe(cfg)
        assert probe.config is cfg
        assert type(probe).__module__ == f"probes.{cfg.kind}"


def test_an_unknown_kind_lists_the_registered_ones() -> None:
    with pytest.raises(ProbeConfigError) as caught:
        parse_probes([{"name": "x", "service": "y", "kind": "ftp"}])
    assert caught.value.key == "probes[0] (x).kind"
    assert caught.value.expected == "one of http, postgres, redis, dns, tls, tcp, disk"


def test_a_config_no_kind_owns_is_refused() -> None:
    class Stray(ProbeConfig):
        pass

    with pytest.raises(TypeError, match="no probe for kind 'http'"):
        build_probe(Stray(name="x", service="y", kind="http"))  # the name, not the model
    with pytest.raises(TypeError, match="no probe for kind 'ftp'"):
        build_probe(Stray(name="x", service="y", kind="ftp"))


def test_the_package_exports_its_curated_surface() -> None:
    for name in probes.__all__:
        assert getattr(probes, name) is not None
    assert probes.KINDS is KINDS
    assert probes.build_probe is build_probe
