"""The scripted world the sandbox peers serve: team, bot identity, people, services, escalation policies.

`World.from_dict` validates a YAML-derived dict and names the failing path in its error
(``world.people[2].email: missing``). `World.default()` is the small world used by tests and the demo.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "BOT_PERSON",
    "DEFAULT_WORLD",
    "BotIdentity",
    "EscalationPolicy",
    "IncidentsChannel",
    "PagerDutyAccount",
    "Person",
    "Service",
    "SlackIdentity",
    "Team",
    "World",
    "WorldError",
]


class WorldError(ValueError):
    """A world definition is invalid; the message starts with the path of the offending value."""


@dataclass(frozen=True)
class Team:
    id: str
    domain: str


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    name: str
    token: str
    bot_id: str = "B0SREBOT"
    app_id: str = "A0SREAGENT"
    app_token: str = "xapp-1-sandbox-app-token"  # the app-level token Socket Mode connects with (DEFAULT_APP_TOKEN)


@dataclass(frozen=True)
class IncidentsChannel:
    id: str
    name: str


@dataclass(frozen=True)
class PagerDutyAccount:
    api_token: str
    subdomain: str
    next_incident_number: int = 1


@dataclass(frozen=True)
class SlackIdentity:
    id: str
    name: str


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    email: str
    slack: SlackIdentity | None = None
    pagerduty_id: str | None = None


@dataclass(frozen=True)
class Service:
    name: str
    pagerduty_id: str
    routing_key: str
    escalation_policy: str


@dataclass(frozen=True)
class UserGroup:
    """A Slack user group (`@sre-leads`): its members are people's keys."""

    id: str
    handle: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class EscalationPolicy:
    id: str
    name: str
    levels: tuple[tuple[str, ...], ...]


@dataclass
class World:
    team: Team
    bot: BotIdentity
    incidents_channel: IncidentsChannel
    pagerduty: PagerDutyAccount
    people: list[Person]
    services: list[Service]
    escalation_policies: list[EscalationPolicy]
    usergroups: list[UserGroup] = field(default_factory=list)
    _by_key: dict[str, Person] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_slack: dict[str, Person] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_email: dict[str, Person] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_pd: dict[str, Person] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for p in self.people:
            self._by_key[p.key] = p
            self._by_email[p.email.lower()] = p
            if p.slack is not None:
                self._by_slack[p.slack.id] = p
            if p.pagerduty_id is not None:
                self._by_pd[p.pagerduty_id] = p

    # ---- lookups -------------------------------------------------------------------------------
    def person(self, key: str) -> Person:
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"unknown person {key!r}") from None

    def person_by_key(self, key: str) -> Person | None:
        return self._by_key.get(key)

    def person_by_slack_id(self, user_id: str) -> Person | None:
        return self._by_slack.get(user_id)

    def person_by_email(self, email: str) -> Person | None:
        return self._by_email.get(email.lower())

    def person_by_pagerduty_id(self, pd_id: str) -> Person | None:
        return self._by_pd.get(pd_id)

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(f"unknown service {name!r}")

    def service_by_id(self, pd_id: str) -> Service | None:
        return next((s for s in self.services if s.pagerduty_id == pd_id), None)

    def service_by_routing_key(self, key: str) -> Service | None:
        return next((s for s in self.services if s.routing_key == key), None)

    def escalation_policy(self, ep_id: str) -> EscalationPolicy | None:
        return next((e for e in self.escalation_policies if e.id == ep_id), None)

    def summary(self) -> dict[str, Any]:
        return {
            "team": {"id": self.team.id, "domain": self.team.domain},
            "bot": {"user_id": self.bot.user_id, "name": self.bot.name},
            "incidents_channel": {"id": self.incidents_channel.id, "name": self.incidents_channel.name},
            "pagerduty": {"subdomain": self.pagerduty.subdomain},
            "people": [
                {
                    "key": p.key,
                    "name": p.name,
                    "email": p.email,
                    "slack_id": p.slack.id if p.slack else None,
                    "pagerduty_id": p.pagerduty_id,
                }
                for p in self.people
            ],
            "services": [
                {"name": s.name, "pagerduty_id": s.pagerduty_id, "escalation_policy": s.escalation_policy}
                for s in self.services
            ],
            "escalation_policies": [
                {"id": e.id, "name": e.name, "levels": [list(lv) for lv in e.levels]} for e in self.escalation_policies
            ],
            "usergroups": [{"id": g.id, "handle": g.handle, "members": list(g.members)} for g in self.usergroups],
        }

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> World:
        return _Parser().world(d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> World:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        return cls.from_dict(data)

    @classmethod
    def default(cls) -> World:
        return cls.from_dict(DEFAULT_WORLD)


BOT_PERSON = "sre-agent"
DEFAULT_APP_TOKEN = "xapp-1-sandbox-app-token"

DEFAULT_WORLD: dict[str, Any] = {
    "team": {"id": "T0123ABCD", "domain": "acme"},
    "bot": {"user_id": "U0SREBOT", "name": "sre", "token": "xoxb-sandbox-token"},
    "incidents_channel": {"id": "C0INCIDENTS", "name": "incidents"},
    "pagerduty": {"api_token": "sandbox-pd-token", "subdomain": "acme", "next_incident_number": 4211},
    "people": [
        {
            "key": "dana",
            "name": "Dana Ortiz",
            "email": "dana@example.com",
            "slack": {"id": "U0DANA", "name": "dana"},
            "pagerduty": {"id": "PABC123"},
        },
        {
            "key": "sam",
            "name": "Sam Lee",
            "email": "sam@example.com",
            "slack": {"id": "U0SAM", "name": "sam"},
            "pagerduty": {"id": "PSAM456"},
        },
        {"key": "jo", "name": "Jo Park", "email": "jo@example.com", "pagerduty": {"id": "PJO789"}},
        # sre-agent's own PagerDuty user: the `From` of its REST calls (PAGERDUTY_FROM_EMAIL)
        {"key": BOT_PERSON, "name": "sre-agent", "email": "sre-agent@example.com", "pagerduty": {"id": "PSREBOT"}},
    ],
    "services": [
        {
            "name": "checkout-service",
            "pagerduty": {
                "id": "PF9KMXH",
                "routing_key": "R0CHECKOUTSERVICE0000000000000000",
                "escalation_policy": "PXPGF42",
            },
        }
    ],
    "escalation_policies": [{"id": "PXPGF42", "name": "Checkout on-call", "levels": [["dana", "jo"], ["sam"]]}],
}

_SLACK_USER_RE = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_CHANNEL_RE = re.compile(r"^[CG][A-Z0-9]{2,}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Parser:
    """Validating reader; every error names the path of the value it complains about."""

    def _map(self, v: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise WorldError(f"{path}: expected a mapping, got {type(v).__name__}")
        return v

    def _list(self, v: Any, path: str) -> list[Any]:
        if not isinstance(v, list):
            raise WorldError(f"{path}: expected a list, got {type(v).__name__}")
        return v

    def _str(self, m: Mapping[str, Any], key: str, path: str, *, pattern: re.Pattern[str] | None = None) -> str:
        if key not in m or m[key] is None:
            raise WorldError(f"{path}.{key}: missing")
        v = m[key]
        if not isinstance(v, str) or not v.strip():
            raise WorldError(f"{path}.{key}: expected a non-empty string")
        if pattern is not None and not pattern.match(v):
            raise WorldError(f"{path}.{key}: invalid value {v!r}")
        return v

    def world(self, d: Any) -> World:
        root = self._map(d, "world")
        team_d = self._map(root.get("team"), "world.team") if "team" in root else None
        if team_d is None:
            raise WorldError("world.team: missing")
        team = Team(id=self._str(team_d, "id", "world.team"), domain=self._str(team_d, "domain", "world.team"))

        if "bot" not in root:
            raise WorldError("world.bot: missing")
        bot_d = self._map(root["bot"], "world.bot")
        bot = BotIdentity(
            user_id=self._str(bot_d, "user_id", "world.bot", pattern=_SLACK_USER_RE),
            name=self._str(bot_d, "name", "world.bot"),
            token=self._str(bot_d, "token", "world.bot"),
            bot_id=self._str(bot_d, "bot_id", "world.bot") if "bot_id" in bot_d else "B0SREBOT",
            app_id=self._str(bot_d, "app_id", "world.bot") if "app_id" in bot_d else "A0SREAGENT",
            app_token=self._str(bot_d, "app_token", "world.bot") if "app_token" in bot_d else DEFAULT_APP_TOKEN,
        )

        if "incidents_channel" not in root:
            raise WorldError("world.incidents_channel: missing")
        ch_d = self._map(root["incidents_channel"], "world.incidents_channel")
        channel = IncidentsChannel(
            id=self._str(ch_d, "id", "world.incidents_channel", pattern=_SLACK_CHANNEL_RE),
            name=self._str(ch_d, "name", "world.incidents_channel"),
        )

        if "pagerduty" not in root:
            raise WorldError("world.pagerduty: missing")
        pd_d = self._map(root["pagerduty"], "world.pagerduty")
        num = pd_d.get("next_incident_number", 1)
        if not isinstance(num, int) or isinstance(num, bool) or num < 1:
            raise WorldError("world.pagerduty.next_incident_number: expected a positive integer")
        pd = PagerDutyAccount(
            api_token=self._str(pd_d, "api_token", "world.pagerduty"),
            subdomain=self._str(pd_d, "subdomain", "world.pagerduty"),
            next_incident_number=num,
        )

        people_raw = self._list(root.get("people", []), "world.people")
        people = [self.person(p, f"world.people[{i}]") for i, p in enumerate(people_raw)]
        self._unique([p.key for p in people], "world.people", "key")
        self._unique([p.email.lower() for p in people], "world.people", "email")
        self._unique([p.slack.id if p.slack else None for p in people], "world.people", "slack.id")
        self._unique([p.pagerduty_id for p in people], "world.people", "pagerduty.id")
        if bot.user_id in {p.slack.id for p in people if p.slack}:
            raise WorldError("world.people: a person has the bot's slack id")
        keys = {p.key: p for p in people}

        eps: list[EscalationPolicy] = []
        for i, e in enumerate(self._list(root.get("escalation_policies", []), "world.escalation_policies")):
            path = f"world.escalation_policies[{i}]"
            em = self._map(e, path)
            levels_raw = self._list(em.get("levels"), f"{path}.levels") if "levels" in em else None
            if not levels_raw:
                raise WorldError(f"{path}.levels: missing")
            levels: list[tuple[str, ...]] = []
            for j, lv in enumerate(levels_raw):
                lv_list = self._list(lv, f"{path}.levels[{j}]")
                if not lv_list:
                    raise WorldError(f"{path}.levels[{j}]: empty level")
                for k, key in enumerate(lv_list):
                    if not isinstance(key, str) or key not in keys:
                        raise WorldError(f"{path}.levels[{j}][{k}]: unknown person {key!r}")
                    if keys[key].pagerduty_id is None:
                        raise WorldError(f"{path}.levels[{j}][{k}]: person {key!r} has no pagerduty id")
                levels.append(tuple(lv_list))
            eps.append(
                EscalationPolicy(id=self._str(em, "id", path), name=self._str(em, "name", path), levels=tuple(levels))
            )
        self._unique([e.id for e in eps], "world.escalation_policies", "id")
        ep_ids = {e.id for e in eps}

        services: list[Service] = []
        for i, s in enumerate(self._list(root.get("services", []), "world.services")):
            path = f"world.services[{i}]"
            sm = self._map(s, path)
            if "pagerduty" not in sm:
                raise WorldError(f"{path}.pagerduty: missing")
            spd = self._map(sm["pagerduty"], f"{path}.pagerduty")
            ep = self._str(spd, "escalation_policy", f"{path}.pagerduty")
            if ep not in ep_ids:
                raise WorldError(f"{path}.pagerduty.escalation_policy: unknown escalation policy {ep!r}")
            services.append(
                Service(
                    name=self._str(sm, "name", path),
                    pagerduty_id=self._str(spd, "id", f"{path}.pagerduty"),
                    routing_key=self._str(spd, "routing_key", f"{path}.pagerduty"),
                    escalation_policy=ep,
                )
            )
        self._unique([s.name for s in services], "world.services", "name")
        self._unique([s.pagerduty_id for s in services], "world.services", "pagerduty.id")
        self._unique([s.routing_key for s in services], "world.services", "pagerduty.routing_key")

        groups: list[UserGroup] = []
        for i, g in enumerate(self._list(root.get("usergroups", []), "world.usergroups")):
            path = f"world.usergroups[{i}]"
            gm = self._map(g, path)
            members = self._list(gm.get("members", []), f"{path}.members")
            for k, key in enumerate(members):
                if not isinstance(key, str) or key not in keys or keys[key].slack is None:
                    raise WorldError(f"{path}.members[{k}]: {key!r} is not a person with a Slack account")
            groups.append(
                UserGroup(id=self._str(gm, "id", path), handle=self._str(gm, "handle", path), members=tuple(members))
            )
        self._unique([g.id for g in groups], "world.usergroups", "id")

        return World(
            team=team,
            bot=bot,
            incidents_channel=channel,
            pagerduty=pd,
            people=people,
            services=services,
            escalation_policies=eps,
            usergroups=groups,
        )

    def person(self, v: Any, path: str) -> Person:
        m = self._map(v, path)
        slack: SlackIdentity | None = None
        if m.get("slack") is not None:
            sm = self._map(m["slack"], f"{path}.slack")
            slack = SlackIdentity(
                id=self._str(sm, "id", f"{path}.slack", pattern=_SLACK_USER_RE),
                name=self._str(sm, "name", f"{path}.slack"),
            )
        pd_id: str | None = None
        if m.get("pagerduty") is not None:
            pm = self._map(m["pagerduty"], f"{path}.pagerduty")
            pd_id = self._str(pm, "id", f"{path}.pagerduty")
        return Person(
            key=self._str(m, "key", path),
            name=self._str(m, "name", path),
            email=self._str(m, "email", path, pattern=_EMAIL_RE),
            slack=slack,
            pagerduty_id=pd_id,
        )

    def _unique(self, values: list[str | None], path: str, what: str) -> None:
        seen: set[str] = set()
        for i, v in enumerate(values):
            if v is None:
                continue
            if v in seen:
                raise WorldError(f"{path}[{i}].{what}: duplicate {v!r}")
            seen.add(v)
