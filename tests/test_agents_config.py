"""The agents file (SRE_AGENTS_PATH): validated at start, one clear line for the first problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.agents import load_agents
from bot.domain.diagnosis import Role
from bot.errors import ConfigError


def test_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "agents.yml"
    path.write_text(
        "agents:\n"
        "  - {name: monitoring, role: monitoring, url: 'http://127.0.0.1:9001/', timeout_s: 5}\n"
        "  - {name: k8s-autopilot, role: kubernetes, url: 'https://autopilot.example', skill: k8s_operator}\n"
        "  - {name: k8s-observability, role: monitoring, url: 'https://autopilot.example', skill: observability}\n"
    )
    agents = load_agents(path)
    # the URL as written (it is where the JSON-RPC requests go); one endpoint serves two roles by two skills
    assert [(a.name, a.role, a.url, a.timeout_s, a.retries, a.skill) for a in agents] == [
        ("monitoring", Role.MONITORING, "http://127.0.0.1:9001/", 5.0, 2, None),
        ("k8s-autopilot", Role.KUBERNETES, "https://autopilot.example", 30.0, 2, "k8s_operator"),
        ("k8s-observability", Role.MONITORING, "https://autopilot.example", 30.0, 2, "observability"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agents:\n  - {name: m, role: astrology, url: 'http://x'}\n", "agents.yml: agents[0].role: Input should be"),
        (
            "agents:\n  - {name: m, role: cloud, url: 'ftp://x'}\n",
            "agents.yml: agents[0].url: expected an http:// or https:// URL, got 'ftp://x'",
        ),
        ("agents:\n  - {name: m, role: cloud, url: 'http://x', timeout_s: 0}\n", "agents.yml: agents[0].timeout_s:"),
        (
            "agents:\n  - {name: m, role: cloud, url: 'http://x'}\n  - {name: m, role: cloud, url: 'http://y'}\n",
            "agents.yml: agents[1].name: 'm' appears twice",
        ),
        ("agents:\n  - {role: cloud, url: 'http://x'}\n", "agents.yml: agents[0].name: required"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agents.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_agents(path)
    assert str(caught.value).replace(str(path), "agents.yml").startswith(message), str(caught.value)


def test_no_file(tmp_path: Path) -> None:
    assert load_agents(None) == []
    with pytest.raises(ConfigError, match="SRE_AGENTS_PATH: no file at"):
        load_agents(tmp_path / "none.yml")


def test_the_example_file_loads() -> None:
    agents = load_agents(Path(__file__).resolve().parents[1] / "examples" / "agents.yml")
    assert [(a.name, a.role) for a in agents] == [
        ("monitoring", Role.MONITORING),
        ("k8s-autopilot", Role.KUBERNETES),
        ("aws", Role.CLOUD),
    ]
