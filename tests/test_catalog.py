"""The service catalog: a bad file names the file, the place in it and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.catalog import load_catalog
from bot.errors import ConfigError


def _load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "catalog.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_catalog(path, required=True)
    return str(caught.value).replace(str(path), "catalog.yml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services:\n  - {name: a}\n  - {name: b, tier: 7}\n",
            "catalog.yml: services[1].tier: Input should be less than or equal to 4, got 7",
        ),
        ("services:\n  - {name: a, colour: red}\n", "catalog.yml: services[0].colour: unknown key"),
        ("services:\n  - {tier: 1}\n", "catalog.yml: services[0].name: required"),
        ("services:\n  - {name: Payments API}\n", "catalog.yml: services[0].name: 'Payments API' is not a slug"),
        (
            "services:\n  - {name: a, aliases: [pay]}\n  - {name: b, aliases: [Pay]}\n",
            "catalog.yml: services[1].aliases: 'pay' already names 'a'",
        ),
        ("services:\n  - {name: a, depends_on: [ghost]}\n", "catalog.yml: services[0].depends_on: no service 'ghost'"),
        ("services:\n  - {name: a}\n  - {name: a}\n", "catalog.yml: services[1].name: 'a' appears twice"),
        ("services: [\n", "catalog.yml: not valid YAML"),
        (
            "services:\n  - {name: a, pagerduty: {service: P1, policy: X}}\n",
            "catalog.yml: services[0].pagerduty.policy: unknown key",
        ),
        (
            "services:\n  - {name: a, statuspage: {component: 'not an id'}}\n",
            "catalog.yml: services[0].statuspage.component: String should match pattern",
        ),
    ],
)
def test_a_bad_catalog_names_file_place_and_problem(tmp_path: Path, text: str, message: str) -> None:
    assert _load(tmp_path, text).startswith(message)


def test_missing_file(tmp_path: Path) -> None:
    assert not len(load_catalog(tmp_path / "none.yml", required=False))
    with pytest.raises(ConfigError, match="SRE_CATALOG_PATH: no file at"):
        load_catalog(tmp_path / "none.yml", required=True)


def test_the_example_catalog_loads() -> None:
    catalog = load_catalog(Path(__file__).resolve().parents[1] / "examples" / "catalog.yml", required=True)
    assert catalog.names() == ["auth-service", "checkout-service", "payments-api", "search-service"]
    checkout = catalog.get("checkout-service")
    assert checkout is not None and checkout.pager_service_id == "PF9KMXH" and checkout.namespace == "shop"
    assert (checkout.status_component, checkout.public_name) == ("ckt4mz8q1r0w", "Checkout")
