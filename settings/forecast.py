"""The `forecast` config object: the assumptions behind the plan's availability and cost forecast
(catalog/forecast.py), each with a default and where that default comes from, and the design the
forecast is made for, derived from the stack's own settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import catalog
import catalog.forecast
import catalog.loading
from settings.reader import ConfigError, Reader

if TYPE_CHECKING:  # settings/__init__.py imports this module
    from settings import Settings

_FACTS = "team facts availability.md"
# google/skills@1af777529501, plugins/cloud/google-cloud-gke/skills/gke-compute-classes/references/
_SKILLS = "google/skills@1af7775 gke-compute-classes/references"


@dataclass(frozen=True)
class Parameter:
    key: str  # the camelCase key under `forecast`
    field: str  # catalog.forecast.Assumptions attribute
    default: float
    low: float
    high: float
    low_open: bool  # the low bound itself is not allowed
    unit: str
    source: str


PARAMETERS = (
    Parameter("spotPreemptionsPerHour", "spot_preemptions_per_hour", 0.05, 0, 10, False, "per node-hour",
              "assumed: no public L4 reclaim trace; between Google's fleet-wide 5-15%/day for preemptible VMs "
              f"(0.002-0.006/h) and GPU traces (GCP A100 0.02-1.8/h, AWS V100 0.06-0.45/h), {_FACTS} §6.3"),
    Parameter("zoneSpotOutagesPerDay", "zone_spot_outages_per_day", 0.5, 0, 100, False, "per zone-day",
              f"assumed for L4: GCP H100 Spot zones in us-central1/us-east4 measured 2-10 a day (SkyNomad probes, {_FACTS} §1.2a, §6.3)"),
    Parameter("zoneSpotOutageHours", "zone_spot_outage_hours", 0.5, 0, 240, True, "hours",
              f"measured for H100 in US central/east zones: 0.2-0.5 h mean (SkyNomad probes, {_FACTS} §1.2a)"),
    Parameter("regionSpotOutageFraction", "region_spot_outage_fraction", 0.0043, 0, 0.5, False, "of the time",
              f"measured for H100 in us-central1: all zones without Spot 0.43% of the time (SkyNomad probes, {_FACTS} §0, §1.2)"),
    Parameter("regionSpotOutageHours", "region_spot_outage_hours", 0.25, 0, 240, True, "hours",
              f"measured 10-20 min region-wide (H100 us-central1 about 10 min; {_FACTS} §6.3): 15 min"),
    Parameter("outageReclaimFraction", "outage_reclaim_fraction", 0.9, 0, 1, False, "of Spot nodes",
              f"assumed: that a zone running out of Spot reclaims its running Spot nodes is not published; "
              f"the nearest figure is that over 92% of same-zone reclaims come within 3 min of each other "
              f"(Spot-and-Scoot, AWS/Azure; {_FACTS} §1.1, §6.3)"),
    Parameter("flexStartObtainProbability", "flex_start_obtain_probability", 0.7, 0, 1, True, "per attempt",
              f"assumed: no public flex-start obtainability data ({_FACTS} §2, §6.3)"),
    Parameter("flexStartQueueMinutes", "flex_start_queue_minutes", 3, 0, 1440, False, "minutes",
              f"GKE's flex-start queue, about 3 min ({_SKILLS}/compute-class-gotchas-and-cuds.md: \"Queued (~3 min)\")"),
    Parameter("fallbackBackoffMinutes", "fallback_backoff_minutes", 5, 0, 60, False, "minutes",
              f"unobtainable shapes get a 5-minute cooldown ({_SKILLS}/compute-class-prioritization.md)"),
    Parameter("migrationDelayMinutes", "migration_delay_minutes", 15, 0, 1440, False, "minutes",
              f"assumed: the drift controller acts when higher-priority capacity is available, no cadence "
              f"published ({_SKILLS}/compute-class-lifecycle.md)"),
    Parameter("nodeRecreationsPerMonth", "node_recreations_per_month", 1, 0, 100, False, "per node-month",
              "assumed: GKE node auto-upgrades (about monthly on a release channel) and host maintenance, "
              "which GPU VMs cannot live-migrate through (GKE \"Manage disruption to GKE nodes that don't "
              "live migrate\"); no published frequency"),
)
KEYS = tuple(p.key for p in PARAMETERS)

# A regional cluster puts its nodes in three zones of the region by default (GKE "Regional
# clusters": https://cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters); a zonal one in one.
REGIONAL_ZONES = 3


@dataclass(frozen=True)
class ForecastConfig:
    assumptions: catalog.forecast.Assumptions
    overridden: frozenset[str]  # keys the stack set

    def source_of(self, p: Parameter) -> str:
        return "config (forecast." + p.key + ")" if p.key in self.overridden else p.source


def read(r: Reader) -> ForecastConfig:
    """The `forecast` object: absent or {} means every default; unknown keys and out-of-range values stop."""
    value = r.object("forecast", KEYS, 'give an object such as {"spotPreemptionsPerHour": 0.1}') or {}
    numbers = {}
    for p in PARAMETERS:
        v = value.get(p.key, p.default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError("forecast", value, f"{p.key} must be a number ({p.unit})", f"use e.g. {p.default:g}")
        low_ok = v > p.low if p.low_open else v >= p.low
        if not low_ok or v > p.high:
            bounds = f"{'above' if p.low_open else 'from'} {p.low:g} {'up to' if not p.low_open else 'to'} {p.high:g}"
            # repr, not :g: six significant figures printed 1440.001 as the allowed "1440".
            raise ConfigError("forecast", value, f"{p.key} {v!r} is out of range",
                              f"give {p.key} {bounds} ({p.unit}), e.g. {p.default:g}")
        numbers[p.field] = float(v)
    return ForecastConfig(catalog.forecast.Assumptions(**numbers), frozenset(value))


# --- the stack's design ---------------------------------------------------------------------------


def recovery_seconds(s: "Settings") -> float:
    """Node requested -> serving, capacity available: the plan's cold-start estimate, whose first step
    is the GPU node's boot and driver install (catalog/loading.py)."""
    return sum(step.seconds for step in s.cold_start)


def design(s: "Settings", *, ladder: Optional[tuple[str, ...]] = None, replicas: Optional[int] = None,
           active_migration: Optional[bool] = None, regions: Optional[int] = None) -> catalog.forecast.Design:
    """The stack as the forecast sees it: one Region per region of `regions` (each with its own
    outages, ladder and replicas: replicas apply per region), else the one in `location`. The
    keywords derive alternatives for --compare (`regions`: keep only the first that many)."""
    prices = {tier: catalog.tier_price(s.machine, tier, s.price_overrides).per_hour for tier in catalog.forecast.TIERS}
    names = s.regions or (s.region,)
    if regions is not None:
        names = names[:regions]
    zones = REGIONAL_ZONES if s.regions or s.location == s.region else 1  # regions: always regional clusters
    built = tuple(catalog.forecast.Region(
        name=name,
        ladder=tuple(ladder if ladder is not None else s.capacity),
        replicas=s.replicas if replicas is None else replicas,  # with autoscaling, its minimum
        prices=prices,  # the us-central1 price table for every region (catalog.PRICE_SOURCE)
        zones=zones,
    ) for name in names)
    return catalog.forecast.Design(
        regions=built,
        recovery_seconds=recovery_seconds(s),
        flex_max_run_seconds=s.flex_max_run_seconds or catalog.forecast.FLEX_MAX_RUN_SECONDS,
        # The ComputeClass always sets nodeRecycling on its flex-start rung (components/platform/compute_class.py).
        flex_lead_time_seconds=s.flex_lead_time_seconds,
        active_migration=s.active_migration if active_migration is None else active_migration,
    )


def assumptions_table(s: "Settings", d: catalog.forecast.Design) -> list[dict]:
    """Every figure the forecast used, as {name, value, source}: the `forecast` keys, then what the
    stack's own settings supplied."""
    cfg = s.forecast
    rows = [{"name": p.key, "value": getattr(cfg.assumptions, p.field), "source": cfg.source_of(p)} for p in PARAMETERS]
    region = d.regions[0]
    rows.append({"name": "recoveryMinutes", "value": round(d.recovery_seconds / 60, 1),
                 "source": f"the plan's cold-start estimate for weightSource {s.weight_source} (catalog/loading.py), "
                           "node boot included; waiting for capacity is modelled by the ladder"})
    rows.append({"name": "zones", "value": region.zones,
                 "source": "zonal cluster (location is a zone)" if region.zones == 1 else
                 "GKE regional clusters use three zones by default (GKE docs, Regional clusters)"})
    for tier in catalog.forecast.TIERS:
        price = catalog.tier_price(s.machine, tier, s.price_overrides)
        rows.append({"name": f"price {tier} ($/h per node)", "value": price.per_hour,
                     "source": {"config": f"config ({_PRICE_KEYS[tier]})",
                                "price table": catalog.PRICE_SOURCE}.get(price.source, price.source)})
    rows.append({"name": "flexStartMaxRunHours", "value": round(d.flex_max_run_seconds / 3600, 1),
                 "source": "flexStartMaxRunDurationSeconds" if s.flex_max_run_seconds else "GKE's 7-day flex-start maximum"})
    rows.append({"name": "flexStartLeadTimeMinutes", "value": round((d.flex_lead_time_seconds or 0) / 60),
                 "source": "flexStartLeadTimeSeconds (nodeRecycling)"})
    rows.append({"name": "activeMigration", "value": d.active_migration, "source": "activeMigration"})
    rows.append({"name": "replicas", "value": region.replicas,
                 "source": ("autoscaling.minReplicas" if s.autoscaling else "replicas") + (" (in each region)" if s.regions else "")})
    if len(d.regions) > 1:
        rows.append({"name": "regions", "value": len(d.regions),
                     "source": "regions: " + ", ".join(r.name for r in d.regions) + "; outages independent across regions "
                               "(measured cross-region correlation near 0, team facts availability.md §1.2)"})
    return rows


_PRICE_KEYS = {"spot": "priceSpot", "flex-start": "priceFlexStart", "on-demand": "priceOnDemand"}
