"""Run configuration files: one JSON or TOML file with ``model``, ``training``, ``data`` and
``inference`` sections (each optional, each a dict of that config's fields), plus
command-line overrides ``section.field=value`` (value parsed as JSON, else a string)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sound2sheet.errors import ConfigError
from sound2sheet.model.config import DataConfig, InferenceConfig, ModelConfig, TrainingConfig

SECTIONS = {"model": ModelConfig, "training": TrainingConfig, "data": DataConfig, "inference": InferenceConfig}


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=lambda: ModelConfig(pretrained=False, encoder_size="small"))
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: getattr(self, name).to_dict() for name in SECTIONS}


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in SECTIONS:
            raise ConfigError(f"override {pair!r} must look like section.field=value with section in {sorted(SECTIONS)}")
        out.setdefault(section, {})[name] = _parse_value(value)
    return out


def read_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            import tomllib

            raw = tomllib.loads(text)
        else:
            raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"cannot parse config file {path}: {exc}") from None
    if not isinstance(raw, dict) or set(raw) - set(SECTIONS):
        raise ConfigError(f"{path}: top-level keys must be among {sorted(SECTIONS)}, got {sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    return raw


def load_run_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults (a from-scratch ``small`` model) <- config file <- overrides."""
    merged: dict[str, dict[str, Any]] = {"model": {"pretrained": False, "encoder_size": "small"}}
    sources = [read_config_file(path)] if path else []
    sources.append(parse_overrides(overrides or []))
    for source in sources:
        for section, values in source.items():
            merged.setdefault(section, {}).update(values or {})
    return RunConfig(**{name: cls.from_dict(merged.get(name, {})) for name, cls in SECTIONS.items()})
