"""cadencia's Grafana dashboard, built with Grafana's own Foundation SDK.

    python ops/dashboard.py > ops/grafana/cadencia.json

The JSON is what Grafana provisions as is (a file provider pointed at `ops/grafana/`) or
imports from its UI; it asks for one Prometheus data source. A unit test checks the committed
file is what this builds, and an integration test runs every query against a real Prometheus
scraping a running engine. Panels read the series of `engine/metrics.py`; the Redis row reads
the usual names of oliver006/redis_exporter and is empty without it.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

UID = "cadencia-engine"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
DECIDE_SLO_S = 0.003
FLOW_LAG_SLO_S = 0.25


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Plot:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    stat: bool = False  # one number (the last value) rather than a time series
    slo: float | None = None  # drawn as a red threshold line
    width: int = 8


def quantiles(series: str, by: str = "", where: str = "") -> tuple[Query, ...]:
    group = f"{by}, le" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({group}) (rate({series}_bucket{where}[{RATE}])))",
            f"p{str(q * 100).rstrip('0').rstrip('.')}{suffix}",
        )
        for q in (0.5, 0.99, 0.999)
    )


def rate_by(series: str, *labels: str) -> tuple[Query, ...]:
    """Per-second rate of a counter, one line per value of `labels`."""
    legend = " ".join(f"{{{{{label}}}}}" for label in labels)
    return (Query(f"sum by ({', '.join(labels)}) (rate({series}[{RATE}]))", legend),)


ROWS: tuple[tuple[str, tuple[Plot, ...]], ...] = (
    (
        "Decisions",
        (
            Plot(
                "Decisions per second",
                (
                    Query(
                        f"sum by (endpoint, action) (rate(cadencia_decision_duration_seconds_count[{RATE}]))",
                        "{{endpoint}} {{action}}",
                    ),
                ),
                unit="reqps",
            ),
            Plot(
                "decide latency against the 3 ms SLO",
                quantiles("cadencia_decision_duration_seconds", where='{endpoint="decide"}'),
                unit="s",
                slo=DECIDE_SLO_S,
            ),
            Plot(
                "p99 latency by endpoint",
                (
                    Query(
                        "histogram_quantile(0.99, sum by (endpoint, le) "
                        f"(rate(cadencia_decision_duration_seconds_bucket[{RATE}])))",
                        "{{endpoint}}",
                    ),
                ),
                unit="s",
                slo=DECIDE_SLO_S,
            ),
            Plot(
                "decide answers within 3 ms, last hour",
                (
                    Query(
                        'sum(rate(cadencia_decision_duration_seconds_bucket{endpoint="decide",le="0.003"}[1h]))'
                        ' / sum(rate(cadencia_decision_duration_seconds_count{endpoint="decide"}[1h]))',
                    ),
                ),
                unit="percentunit",
                stat=True,
                description="The latency SLI; the objective is 99%.",
                width=6,
            ),
            Plot(
                "Requests answered 503, last hour",
                (
                    Query(
                        'sum(increase(cadencia_requests_rejected_total{code=~"unavailable|outcome_unknown"}[1h]))'
                    ),
                ),
                stat=True,
                description="Storage unavailable or a write unconfirmed; the objective is 99.9% answered.",
                width=6,
            ),
            Plot(
                "Contacts held back, by rule",
                rate_by("cadencia_policy_blocks_total", "rule"),
                unit="ops",
                description="Why decisions answered wait (or left a channel out).",
                width=12,
            ),
            Plot(
                "Requests refused, by error code",
                rate_by("cadencia_requests_rejected_total", "code"),
                unit="reqps",
                width=12,
            ),
            Plot(
                "Single decides decided together",
                quantiles("cadencia_decide_batch_size"),
                description="How many single decide requests one turn of the process decided as a batch.",
                width=12,
            ),
        ),
    ),
    (
        "Events",
        (
            Plot(
                "Events accepted, by type and source",
                rate_by("cadencia_events_total", "type", "source"),
                unit="ops",
                width=12,
            ),
            Plot(
                "Events refused, by reason",
                rate_by("cadencia_events_rejected_total", "reason"),
                unit="ops",
                width=12,
            ),
            Plot(
                "Dead letters, last hour",
                (Query('sum(increase(cadencia_events_rejected_total{reason="unmatched"}[1h]))'),),
                stat=True,
                description="Well-signed vendor callbacks that matched no account (cad:v1:deadletter).",
                width=6,
            ),
            Plot(
                "Gateway confirms, by result",
                rate_by("cadencia_confirms_total", "result"),
                unit="ops",
                description="sent: the decision stood; the others: what revoked it before the send.",
                width=18,
            ),
        ),
    ),
    (
        "Dataflow",
        (
            Plot(
                "Flow lag against the 250 ms SLO",
                quantiles("cadencia_flow_lag_seconds"),
                unit="s",
                slo=FLOW_LAG_SLO_S,
                description="From an event's acceptance to its features being updated.",
            ),
            Plot(
                "Oldest event not applied yet",
                (Query("max(cadencia_flow_backlog_seconds)", "backlog"),),
                unit="s",
            ),
            Plot(
                "Examples learned, by model",
                rate_by("cadencia_model_updates_total", "model"),
                unit="ops",
            ),
            Plot(
                "Model in use: age",
                (Query("time() - max(cadencia_model_published_timestamp_seconds)"),),
                unit="s",
                stat=True,
                width=6,
            ),
            Plot("Model in use: version", (Query("max(cadencia_model_version)"),), stat=True, width=6),
            Plot(
                "API processes ready",
                (Query("sum(cadencia_ready)"),),
                stat=True,
                description="Processes whose /readyz answers 200: Redis, models and the dataflow's lag.",
                width=6,
            ),
            Plot(
                "Event-loop lag, p99",
                (
                    Query(
                        "histogram_quantile(0.99, sum by (instance, le) "
                        f"(rate(cadencia_event_loop_lag_seconds_bucket[{RATE}])))",
                        "{{instance}}",
                    ),
                ),
                unit="s",
                description="The longest a step of work held an API process's event loop.",
                width=6,
            ),
        ),
    ),
    (
        "Carriers",
        (
            Plot(
                "Carrier selections",
                rate_by("cadencia_carrier_selections_total", "carrier"),
                unit="ops",
            ),
            Plot(
                "Answer ratio by carrier and network",
                (
                    Query(
                        "max by (carrier, network) (cadencia_carrier_answer_ratio)", "{{carrier}} {{network}}"
                    ),
                ),
                unit="percentunit",
                description="The routing model's posterior mean answer-seizure ratio.",
            ),
            Plot(
                "Breakers open",
                (
                    Query(
                        'max by (carrier, network) (cadencia_carrier_breaker_open{network!="all"})',
                        "{{carrier}} {{network}}",
                    ),
                ),
                description="1 while a carrier is shut off for a network.",
            ),
        ),
    ),
    (
        "Redis (redis_exporter)",
        (
            Plot(
                "Commands per second",
                rate_by("redis_commands_processed_total", "instance"),
                unit="ops",
            ),
            Plot(
                "Slowest commands (mean)",
                (
                    Query(
                        f"topk(5, sum by (cmd) (rate(redis_commands_duration_seconds_total[{RATE}]))"
                        f" / sum by (cmd) (rate(redis_commands_total[{RATE}])))",
                        "{{cmd}}",
                    ),
                ),
                unit="s",
            ),
            Plot(
                "Memory used",
                (Query("sum by (instance) (redis_memory_used_bytes)", "{{instance}}"),),
                unit="bytes",
            ),
        ),
    ),
)


def panel(plot: Plot, panel_id: int) -> Stat | Timeseries:
    builder = (Stat() if plot.stat else Timeseries()).id(panel_id).title(plot.title).unit(plot.unit)
    builder = builder.datasource(DATASOURCE)
    builder = builder.span(plot.width).height(4 if plot.stat else 8)
    if plot.description:
        builder = builder.description(plot.description)
    for ref, query in zip("ABCDEFGH", plot.queries, strict=False):
        target = Dataquery().ref_id(ref).expr(query.expr).legend_format(query.legend or "__auto")
        builder = builder.with_target(target)
    if plot.slo is not None and isinstance(builder, Timeseries):
        steps = [Threshold(value=None, color="green"), Threshold(value=plot.slo, color="red")]
        builder = builder.thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
        builder = builder.thresholds_style(_line())
    return builder


def _line() -> GraphThresholdsStyleConfig:
    return GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE)


def build() -> Dashboard:
    dashboard = (
        Dashboard("cadencia")
        .uid(UID)
        .description("Decisions, events, the dataflow, carriers and Redis of a cadencia engine.")
        .tags(["cadencia"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    ids = iter(range(1, 1000))
    for title, plots in ROWS:
        dashboard = dashboard.with_row(Row(title).id(next(ids)))
        for plot in plots:
            dashboard = dashboard.with_panel(panel(plot, next(ids)))
    return dashboard


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


if __name__ == "__main__":
    print(render(), end="")
