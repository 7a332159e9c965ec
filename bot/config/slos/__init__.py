"""Reading SLOs from OpenSLO YAML (SRE_SLOS_PATH: a file, or a folder of `*.yml` / `*.yaml`).

`openslo/v1` is the format: kinds `SLO`, `SLI`, `AlertPolicy`, `AlertCondition`, `AlertNotificationTarget`,
`DataSource` and `Service`, several to a file (`---`). `openslo/v1alpha` SLOs (what Sloth reads) are read too. A file
that breaks the spec is refused with one line naming the file, the object, the field and the reason
(``slos.yml: SLO checkout-availability: spec.objectives[0].target: Input should be less than 1, got 1.0``).

The metric queries (`metricSource.spec`, v1alpha's `query`) are handed to the monitoring delegate as written: it knows
PromQL or Datadog, sre-agent does not. Each objective of an SLO is one `Slo` (named `<slo>` when there is one,
`<slo>/<objective>` when there are several). Budgeting by `Occurrences` (events) or `Timeslices` (the delegate counts
good and total slices); `RatioTimeslices` and composite SLOs (an indicator on an objective) are refused with the
reason. The alerting tiers are sre-agent's own multi-window, multi-burn-rate tiers; the alert policies are read and
checked so that a file written for other tools loads.
"""

from bot.config.slos.common import period_of
from bot.config.slos.reading import SloDefinition, load_slos, parse_slos, slo_documents

__all__ = ["SloDefinition", "load_slos", "parse_slos", "period_of", "slo_documents"]
