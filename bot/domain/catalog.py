"""The service catalog: what services exist, what people call them, who owns them and what depends on what.

Pure data; `bot/config/catalog.py` reads it from YAML. Names are slugs (``payments-api``); aliases are what people type
(``payments``, ``payments API``, ``pay``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Catalog", "CatalogError", "Service", "normalise"]

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the path of the value (``services[2].aliases``)."""


def normalise(text: str) -> str:
    """Lower case, words separated by single spaces: ``"Payments-API"`` -> ``"payments api"``."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass(frozen=True)
class Service:
    name: str
    aliases: tuple[str, ...] = ()
    tier: int = 3
    team: str | None = None
    slack_channel: str | None = None
    slack_usergroup: str | None = None
    # where the pager in use (SRE_PAGER) pages for it: its PagerDuty service, or for OpsGenie the alert's entity;
    # and the escalation its pages follow there (a PagerDuty escalation policy, an OpsGenie escalation)
    pager_service_id: str | None = None
    escalation_policy_id: str | None = None
    depends_on: tuple[str, ...] = ()
    user_facing: bool = False
    users: int | None = None
    namespace: str | None = None
    release: str | None = None
    # on the public status page: its component there (Statuspage's id), and the name customers know it by
    status_component: str | None = None
    public_name: str | None = None

    @property
    def spoken_names(self) -> tuple[str, ...]:
        """Every way of naming the service, normalised: the name itself, the name without a generic suffix
        (``checkout-service`` -> ``checkout``), and the aliases."""
        names = [normalise(self.name)]
        stem = re.sub(r"[- ](service|svc|api|app)$", "", self.name)
        if stem != self.name:
            names.append(normalise(stem))
        names.extend(normalise(a) for a in self.aliases)
        return tuple(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class Catalog:
    services: tuple[Service, ...] = ()
    _by_name: dict[str, Service] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for index, service in enumerate(self.services):
            if not SLUG.match(service.name):
                raise CatalogError(f"services[{index}].name: {service.name!r} is not a slug (a-z, 0-9, '-')")
            if service.name in self._by_name:
                raise CatalogError(f"services[{index}].name: {service.name!r} appears twice")
            self._by_name[service.name] = service
            for spoken in service.spoken_names:
                owner = seen.setdefault(spoken, service.name)
                if owner != service.name:
                    raise CatalogError(
                        f"services[{index}].aliases: {spoken!r} already names {owner!r}; an alias names one service"
                    )
        for index, service in enumerate(self.services):
            for dep in service.depends_on:
                if dep not in self._by_name:
                    raise CatalogError(f"services[{index}].depends_on: no service {dep!r} in the catalog")

    def __len__(self) -> int:
        return len(self.services)

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    def get(self, name: str) -> Service | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)
