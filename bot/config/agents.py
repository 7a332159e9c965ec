"""The agents sre-agent delegates to (SRE_AGENTS_PATH, YAML): name, role, URL, timeout, retries, action timeout, and
the card's skill that serves the role (one endpoint such as K8s Autopilot serves several roles: one entry per role,
each naming its skill). A bad file stops the start with one line naming the file, the place in it and the problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config.files import describe, read_yaml
from bot.domain.diagnosis import Role
from bot.errors import ConfigError

__all__ = ["AgentConfig", "load_agents", "parse_agents"]


@dataclass(frozen=True)
class AgentConfig:
    name: str
    role: Role
    url: str
    timeout_s: float = 30.0
    retries: int = 2
    action_timeout_s: float = 600.0  # how long a change it carries out (a rollout) may take
    skill: str | None = None  # the skill of its card that serves this role (observability, k8s_operator...)


class _Agent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    role: Role
    url: str
    timeout_s: float = Field(30.0, gt=0, le=120)  # the event's lease is renewed while the agents are asked
    retries: int = Field(2, ge=0, le=10)
    action_timeout_s: float = Field(600.0, gt=0, le=3600)  # carried out after the answer to Slack: no lease
    skill: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value  # as written: the agent's JSON-RPC endpoint, whose card is under it


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    agents: list[_Agent] = Field(default_factory=list)


def parse_agents(data: Any, origin: str) -> list[AgentConfig]:
    try:
        parsed = _File.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(describe(exc, origin, data=data)) from None
    names = [a.name for a in parsed.agents]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise ConfigError(f"{origin}: agents[{index}].name: {name!r} appears twice")
    return [
        AgentConfig(a.name, a.role, a.url, a.timeout_s, a.retries, a.action_timeout_s, a.skill) for a in parsed.agents
    ]


def load_agents(path: Path | None) -> list[AgentConfig]:
    """The agents at `path`; none when no path is configured (triage then works from the catalog alone)."""
    if path is None:
        return []
    if not path.is_file():
        raise ConfigError(f"SRE_AGENTS_PATH: no file at {path}")
    return parse_agents(read_yaml(path), str(path))
