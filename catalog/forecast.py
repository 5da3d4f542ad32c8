"""Availability and cost forecast of a serving design, before it exists: pure arithmetic, no Pulumi.

What it answers, for a design (regions, each with its capacity ladder and replica count) under stated
assumptions (Spot reclaim and outage rates, flex-start odds, GKE's fallback delays):

- `availability_any`: the fraction of time at least one replica serves (in any region);
- `availability_full`: the fraction of time every desired replica serves;
- the expected monthly cost of the GPU nodes (730 h) per tier, the same design all on-demand, their
  ratio, and the recovery time of one replica when capacity is there.

The model
---------
Each replica alternates between serving and recovering. A replica's node is billed from the moment
the VM exists (boot and model load included) until it goes; waiting for capacity costs nothing.

- **Spot** nodes are reclaimed one by one at `spot_preemptions_per_hour` while they serve (a Poisson
  process per replica, independent of the others; a replica alternates between serving and
  recovering, as the issue's model has it). Correlated events come from the environment of each region:
  every zone alternates between "Spot obtainable" and a zone-wide Spot outage (onsets at
  `zone_spot_outages_per_day`, mean length `zone_spot_outage_hours`, both exponential); the region as
  a whole alternates likewise, out of Spot `region_spot_outage_fraction` of the time in outages of
  mean `region_spot_outage_hours`. When an outage starts, each running Spot node it covers is
  reclaimed with probability `outage_reclaim_fraction`. Regions are independent of each other
  (measured cross-region correlation near 0: team facts availability.md §1.2).
- **The ladder** (the ComputeClass priorities, top first). A lost replica asks the top rung again.
  Spot is obtained at once when any zone of its region has Spot (in its own zone if that has Spot,
  else the first zone that does); a failed rung costs GKE's back-off (`fallback_backoff_minutes`)
  before the next rung is tried ("unobtainable shapes get a 5-minute cooldown", google/skills
  compute-class-prioritization.md); flex-start is obtained with `flex_start_obtain_probability` after
  its queue (`flex_start_queue_minutes`, a success is counted at the end of the queue); on-demand is
  always obtained (quota permitting: quota is not modelled). After the last rung the cluster
  autoscaler starts again from the top. With capacity, the replica serves `recovery_seconds` after
  its node is requested: the plan's own cold-start estimate, whose first step is the node's boot.
- **Flex-start** nodes are not reclaimed (no public statement says they are: availability.md §2) and
  end at their maximum run duration. With node recycling (the project always sets it), the
  replacement is requested `flex_lead_time_seconds` before the end through the ladder, and the
  replica keeps serving if the replacement is loaded by then (the project derives the lead time so
  that it is); the overlap is billed on both nodes.
- **On-demand** nodes are never reclaimed; without active migration a replica that fell back to
  on-demand stays there until its node is rescheduled ("Without ActiveMigration: old-spec nodes
  persist until rescheduled (rollout, drain, preemption)", google/skills@1af7775
  gke-compute-classes/references/compute-class-lifecycle.md).
- **Node recreation**: every GPU node, whatever its tier, is recreated at `node_recreations_per_month`
  (GKE node auto-upgrades, and Compute Engine host maintenance, which GPU VMs cannot live-migrate
  through: GKE "Manage disruption to GKE nodes that don't live migrate"). The replica goes down for a
  recovery and its new node walks the ladder from the top, so a replica on on-demand returns to Spot
  at its next recreation when Spot is obtainable: what a Spot-first ladder with an on-demand rung
  costs in the long run.
- **Active migration** (`optimizeRulePriority`) moves a replica on a lower rung back to Spot once
  Spot has been obtainable in its region for `migration_delay_minutes` (GKE publishes no cadence:
  assumed). The project's README says the move evicts the pod, so it costs one full recovery of
  downtime and the new Spot node's boot; replicas of a region move one at a time (the
  PodDisruptionBudget), modelled as replica i waiting i recoveries longer.

Two engines
-----------
- **Closed form**, used where it is exact: no correlated outages and every ladder starting with Spot
  (Spot is then always obtainable, so the ladder below it is never used) or on-demand only. A replica
  is then an alternating renewal process, up Exp(lambda), down `recovery`: it serves
  1 / (1 + lambda x recovery) of the time, and replicas are independent, so
  availability_any = 1 - prod(1 - a_i) and availability_full = prod(a_i). Its node always exists.
- **Monte Carlo** for everything else: an event-driven simulation of every replica against sampled
  zone and region timelines, with a fixed seed (so a plan is reproducible) and a bounded horizon:
  the simulated years are chosen from the expected number of events so the run stays near
  `EVENT_BUDGET` events per replica (between `MIN_YEARS` and `MAX_YEARS`), well under a second. Every replica
  has its own random stream, so adding a replica leaves the others' histories unchanged.

The figures are assumptions, not measurements: no public Spot reclaim trace exists for L4 GPUs.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field, replace
from typing import Optional

HOURS_PER_MONTH = 730  # Google Cloud's pricing month
HOURS_PER_YEAR = 8760
FLEX_MAX_RUN_SECONDS = 604800  # flex-start nodes live at most 7 days (GKE DWS docs)
TIERS = ("spot", "flex-start", "on-demand")

SEED = 20261130
# About this many serving segments per replica keep a run near 0.05 s per replica on one core (`make
# bench`). The horizon depends on the assumptions, not on the replica count, so designs that differ
# only in replicas, ladder or migration are simulated against the same zone and region history
# (common random numbers): adding a replica can never lower availability_any. Never below MIN_YEARS
# (one simulated year resolves 1/525,600 of the time) nor above MAX_YEARS.
EVENT_BUDGET = 5000
MIN_YEARS = 2
MAX_YEARS = 40


@dataclass(frozen=True)
class Assumptions:
    """The environment and GKE behaviour the forecast assumes (settings/forecast.py gives the
    defaults and their sources). Rates are per hour or per day as named; durations as named."""

    spot_preemptions_per_hour: float
    zone_spot_outages_per_day: float
    zone_spot_outage_hours: float
    region_spot_outage_fraction: float
    region_spot_outage_hours: float
    outage_reclaim_fraction: float
    flex_start_obtain_probability: float
    flex_start_queue_minutes: float
    fallback_backoff_minutes: float
    migration_delay_minutes: float
    node_recreations_per_month: float = 0.0

    @property
    def correlated(self) -> bool:
        """Zone or region Spot outages: replicas are no longer independent."""
        return self.zone_spot_outages_per_day > 0 or self.region_spot_outage_fraction > 0


@dataclass(frozen=True)
class Region:
    """One regional (or zonal) cluster: its ladder, its desired replicas and its prices (USD per
    node-hour per tier; None when unknown). `zones`: how many zones its nodes may use."""

    name: str
    ladder: tuple[str, ...]
    replicas: int
    prices: dict[str, Optional[float]]
    zones: int = 3


@dataclass(frozen=True)
class Design:
    """What the stack deploys, as far as availability and cost go. Several regions serve one
    endpoint (each with its own outages and ladder); the endpoint is up while any region serves."""

    regions: tuple[Region, ...]
    recovery_seconds: float  # node requested -> replica serving, capacity available
    flex_max_run_seconds: float = FLEX_MAX_RUN_SECONDS
    flex_lead_time_seconds: Optional[float] = None  # node recycling lead; None: no recycling
    active_migration: bool = False

    @property
    def replicas(self) -> int:
        return sum(r.replicas for r in self.regions)


@dataclass(frozen=True)
class Forecast:
    availability_any: float
    availability_full: float
    replicas: int  # desired replicas, all regions
    node_hours: dict[str, float]  # per month, per tier (boot and load included)
    monthly_cost: Optional[float]  # USD, GPU nodes only; None when a used tier has no price
    monthly_cost_by_tier: dict[str, Optional[float]]
    on_demand_cost: Optional[float]  # the same replicas all on-demand, never lost
    recovery_minutes: float
    method: str  # "closed form" or "monte carlo, <n> simulated years, seed <s>"
    losses_per_month: float = 0.0  # replicas lost (reclaimed, ended, migrated) per month, all replicas

    @property
    def cost_ratio(self) -> Optional[float]:
        if self.monthly_cost is None or not self.on_demand_cost:
            return None
        return self.monthly_cost / self.on_demand_cost


def replica_availability(rate_per_hour: float, recovery_hours: float) -> float:
    """An alternating renewal process, up Exp(rate) and down `recovery`: the fraction of time up."""
    return 1.0 / (1.0 + rate_per_hour * recovery_hours)


def exact(design: Design, a: Assumptions) -> bool:
    """Whether the closed form is exact for this design (see the module docstring). Node recreations
    keep it exact: a recreated node gets the first rung again, as a reclaimed one does."""
    return all(r.ladder[0] == "on-demand" or (r.ladder[0] == "spot" and not a.correlated)
               for r in design.regions if r.replicas)


def forecast(design: Design, a: Assumptions, *, seed: int = SEED, years: Optional[float] = None) -> Forecast:
    """The forecast: the closed form where it is exact, else the seeded Monte Carlo."""
    if years is None and exact(design, a):
        return closed_form(design, a)
    return monte_carlo(design, a, seed=seed, years=years)


def closed_form(design: Design, a: Assumptions) -> Forecast:
    if not exact(design, a):
        raise ValueError("the closed form is exact only without correlated outages, with Spot first or on-demand only")
    recovery_h = design.recovery_seconds / 3600
    down_all, up_all = 1.0, 1.0
    hours = [{t: 0.0 for t in TIERS} for _ in design.regions]
    losses = 0.0
    for r_index, region in enumerate(design.regions):
        tier = region.ladder[0]
        # A recreated node walks the ladder from the top and gets its first rung again (Spot is
        # obtainable, or the ladder is on-demand only): the same renewal process, one more rate.
        rate = (a.spot_preemptions_per_hour if tier == "spot" else 0.0) + a.node_recreations_per_month / HOURS_PER_MONTH
        avail = replica_availability(rate, recovery_h)
        for _ in range(region.replicas):
            down_all *= 1 - avail
            up_all *= avail
            # The node always exists: a reclaimed Spot node is replaced at once (Spot is obtainable).
            hours[r_index][tier] += HOURS_PER_MONTH
            losses += HOURS_PER_MONTH * rate * avail  # reclaims and recreations while serving
    if design.replicas == 0:
        down_all, up_all = 1.0, 1.0  # nothing desired: never serving, trivially "full"
    return _result(design, 1 - down_all, up_all, hours, "closed form", losses)


# --- Monte Carlo ------------------------------------------------------------------------------------


class _Timeline:
    """Sorted, disjoint [start, end) intervals in hours, with point queries."""

    def __init__(self, intervals: list[tuple[float, float]]):
        self.starts = [s for s, _ in intervals]
        self.ends = [e for _, e in intervals]

    def covers(self, t: float) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and self.ends[i] > t

    def end_of(self, t: float) -> float:
        """The end of the interval covering t (t itself when none does)."""
        i = bisect.bisect_right(self.starts, t) - 1
        return self.ends[i] if i >= 0 and self.ends[i] > t else t

    def clear_for(self, t: float, delay: float) -> float:
        """The earliest time >= t that follows at least `delay` hours outside every interval."""
        while True:
            i = bisect.bisect_right(self.starts, t) - 1
            if i >= 0 and self.ends[i] > t - delay:
                t = self.ends[i] + delay
                continue
            return t


def _alternating(rng: random.Random, horizon: float, up_mean: float, down_mean: float) -> list[tuple[float, float]]:
    """Down intervals of a two-state process with exponential up and down times."""
    out, t = [], rng.expovariate(1 / up_mean)
    while t < horizon:
        d = rng.expovariate(1 / down_mean)
        out.append((t, t + d))
        t += d + rng.expovariate(1 / up_mean)
    return out


def _intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _union(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted(a + b):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


@dataclass
class _Environment:
    zones: list[_Timeline]  # zone-wide Spot outages, per zone
    region: _Timeline  # region-wide Spot outages
    no_spot: _Timeline  # Spot unobtainable anywhere in the region: region outage or every zone out


def _environment(rng: random.Random, region: Region, a: Assumptions, horizon: float) -> _Environment:
    zones = []
    for _ in range(max(1, region.zones)):
        rate = a.zone_spot_outages_per_day / 24
        zones.append(_alternating(rng, horizon, 1 / rate, a.zone_spot_outage_hours) if rate > 0 else [])
    f = a.region_spot_outage_fraction
    whole = (_alternating(rng, horizon, a.region_spot_outage_hours * (1 - f) / f, a.region_spot_outage_hours)
             if f > 0 else [])
    every_zone = zones[0]
    for z in zones[1:]:
        every_zone = _intersect(every_zone, z)
    return _Environment([_Timeline(z) for z in zones], _Timeline(whole), _Timeline(_union(whole, every_zone)))


@dataclass
class _Tally:
    hours: dict[str, float] = field(default_factory=lambda: {t: 0.0 for t in TIERS})
    serving: list[tuple[float, float]] = field(default_factory=list)
    losses: int = 0


def _replica(rng: random.Random, index: int, region: Region, env: _Environment, design: Design, a: Assumptions,
             horizon: float) -> _Tally:
    """One replica's history: serving intervals and node-hours per tier."""
    rec = design.recovery_seconds / 3600
    backoff = a.fallback_backoff_minutes / 60
    queue = a.flex_start_queue_minutes / 60
    n_zones = len(env.zones)
    home = index % n_zones
    # The pods prefer zones apart (the Deployment's preferred zone anti-affinity): a replica's node
    # goes to its own zone, else first to a zone no replica calls home, so two replicas share a zone
    # only when the spare zones are out too (or when there are more replicas than zones).
    spare = [z for z in range(region.replicas, n_zones)]
    zone_order = [home] + spare + [(home + k) % n_zones for k in range(1, n_zones) if (home + k) % n_zones not in spare]
    # The replica's own reclaim clock: a Poisson process; a Spot node dies at its first tick once it serves.
    lam = a.spot_preemptions_per_hour
    ticks: list[float] = []
    if lam > 0:
        t = rng.expovariate(lam)
        while t < horizon + 1:
            ticks.append(t)
            t += rng.expovariate(lam)

    def acquire(t: float) -> tuple[str, float, int]:
        """Walk the ladder from the top at t: (tier, time the node starts, zone)."""
        for _ in range(100000):
            for tier in region.ladder:
                if tier == "spot":
                    if not env.no_spot.covers(t):
                        return "spot", t, next(z for z in zone_order if not env.zones[z].covers(t))
                    t += backoff
                elif tier == "flex-start":
                    if rng.random() < a.flex_start_obtain_probability:
                        return "flex-start", t + queue, home
                    t += queue + backoff
                else:
                    return "on-demand", t, home
            if region.ladder == ("spot",) and env.no_spot.covers(t):
                # Nothing else to try: the autoscaler retries each back-off until Spot returns.
                wait = env.no_spot.end_of(t) - t
                t += math.ceil(wait / backoff) * backoff if backoff > 0 else wait
        raise RuntimeError("the ladder never obtained a node")  # flex-start odds are > 0 (settings)

    reclaim = a.outage_reclaim_fraction
    outage_starts = [timeline.starts for timeline in env.zones], env.region.starts
    # Node recreations (upgrades, host maintenance) hit any tier's node while it serves, from their
    # own stream so that the reclaim clock above is the same with or without them.
    recreate = a.node_recreations_per_month / HOURS_PER_MONTH
    rerng = random.Random(f"{rng.random()}:recreations")
    recreations: list[float] = []
    if recreate > 0:
        t = rerng.expovariate(recreate)
        while t < horizon + 1:
            recreations.append(t)
            t += rerng.expovariate(recreate)

    def recreated(ready: float) -> float:
        i = bisect.bisect_right(recreations, ready)
        return recreations[i] if i < len(recreations) else math.inf

    def spot_end(start: float, zone: int, ready: float) -> float:
        # One by one reclaims hit serving replicas (the alternating model, which makes the
        # closed form exact); an outage takes a zone's Spot nodes whether they serve or still load.
        i = bisect.bisect_right(ticks, ready)
        end = ticks[i] if i < len(ticks) else math.inf
        for starts in (outage_starts[0][zone], outage_starts[1]):
            for j in range(bisect.bisect_right(starts, start), len(starts)):
                if starts[j] >= end:
                    break
                if rng.random() < reclaim:
                    end = starts[j]
                    break
        return end

    out = _Tally()
    migrate = design.active_migration and region.ladder[0] == "spot"
    tier, start, zone = acquire(0.0)
    serve_from = start  # the history starts in the steady state: the first node is loaded
    while start < horizon:
        replacement = None
        if tier == "spot":
            end = spot_end(start, zone, serve_from)
        elif tier == "flex-start":
            end = start + design.flex_max_run_seconds / 3600
            if design.flex_lead_time_seconds:
                replacement = acquire(max(start, end - design.flex_lead_time_seconds / 3600))
        else:
            end = math.inf
        again = recreated(serve_from)
        if again < end:  # recreated first: a flex-start replacement asked for the later end is not used
            end, replacement = again, None
        if migrate and tier != "spot":
            # Back to Spot once Spot has been obtainable for the delay; one replica at a time (PDB).
            move = env.no_spot.clear_for(serve_from, a.migration_delay_minutes / 60) + index * rec
            if move < end and (replacement is None or move < replacement[1]):
                end, replacement = move, None
        end = min(end, horizon)
        out.hours[tier] += end - start
        if serve_from < end:
            out.serving.append((serve_from, end))
        if end >= horizon:
            break
        out.losses += 1
        if replacement is not None:
            # Recycled flex-start: the replacement was requested ahead of the end; it serves from
            # when it is loaded, and not before the old node is gone (one pod per replica).
            tier, start, zone = replacement
        else:
            tier, start, zone = acquire(end)
        serve_from = max(start + rec, end)
    return out


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return _union(intervals, [])


def monte_carlo(design: Design, a: Assumptions, *, seed: int = SEED, years: Optional[float] = None) -> Forecast:
    """The seeded, event-driven simulation (module docstring). `years`: the horizon; by default
    chosen from the expected event count (EVENT_BUDGET), so the run time is bounded."""
    if years is None:
        years = simulated_years(design, a)
    horizon = years * HOURS_PER_YEAR
    hours = [{t: 0.0 for t in TIERS} for _ in design.regions]
    edges: list[tuple[float, int]] = []
    losses = 0
    for r_index, region in enumerate(design.regions):
        env = _environment(random.Random(f"{seed}:{r_index}:environment"), region, a, horizon)
        for i in range(region.replicas):
            tally = _replica(random.Random(f"{seed}:{r_index}:{i}"), i, region, env, design, a, horizon)
            for tier, h in tally.hours.items():
                hours[r_index][tier] += h * HOURS_PER_MONTH / horizon
            losses += tally.losses
            for s, e in _merged(tally.serving):
                edges.append((s, 1))
                edges.append((min(e, horizon), -1))
    edges.sort()
    n = design.replicas
    any_time = full_time = 0.0
    count, last = 0, 0.0
    for t, step in edges:
        if count >= 1:
            any_time += t - last
        if count >= n:
            full_time += t - last
        count += step
        last = t
    if n == 0:
        any_time, full_time = 0.0, horizon
    method = f"monte carlo, {years:g} simulated years, seed {seed}"
    return _result(design, any_time / horizon, full_time / horizon, hours, method, losses * HOURS_PER_MONTH / horizon)


def simulated_years(design: Design, a: Assumptions) -> float:
    """The horizon that keeps a run near EVENT_BUDGET serving segments per replica (MIN_YEARS..MAX_YEARS)."""
    per_replica_hour = (a.spot_preemptions_per_hour + a.node_recreations_per_month / HOURS_PER_MONTH
                        + a.outage_reclaim_fraction * (a.zone_spot_outages_per_day / 24
                                                       + _region_onsets_per_hour(a))
                        + 1 / (design.flex_max_run_seconds / 3600))
    per_year = max(1e-9, per_replica_hour * HOURS_PER_YEAR)
    return float(min(MAX_YEARS, max(MIN_YEARS, math.floor(EVENT_BUDGET / per_year))))


def _region_onsets_per_hour(a: Assumptions) -> float:
    f = a.region_spot_outage_fraction
    return 0.0 if f <= 0 else f / a.region_spot_outage_hours  # one outage per (up + down) cycle of D / f hours


def _result(design: Design, any_: float, full: float, hours: list[dict[str, float]], method: str,
            losses: float) -> Forecast:
    """Price each region's node-hours at that region's prices; None where a used tier has no price."""
    by_tier: dict[str, Optional[float]] = {}
    total_hours = {t: sum(h[t] for h in hours) for t in TIERS}
    for tier in TIERS:
        if total_hours[tier] <= 0:
            continue
        costs = [h[tier] * region.prices.get(tier) if region.prices.get(tier) is not None else None
                 for region, h in zip(design.regions, hours) if h[tier] > 0]
        by_tier[tier] = None if None in costs else sum(costs)
    total = None if None in by_tier.values() else sum(by_tier.values())
    on_demand: Optional[float] = 0.0
    for region in design.regions:
        price = region.prices.get("on-demand")
        if region.replicas and price is None:
            on_demand = None
            break
        on_demand += region.replicas * HOURS_PER_MONTH * (price or 0.0)
    return Forecast(
        availability_any=any_, availability_full=full, replicas=design.replicas,
        node_hours={t: h for t, h in total_hours.items() if h > 0}, monthly_cost=total, monthly_cost_by_tier=by_tier,
        on_demand_cost=on_demand, recovery_minutes=design.recovery_seconds / 60, method=method,
        losses_per_month=losses,
    )


def with_ladder(design: Design, ladder: tuple[str, ...]) -> Design:
    """The same design with another ladder in every region (for comparisons)."""
    return replace(design, regions=tuple(replace(r, ladder=ladder) for r in design.regions))


def with_extra_replica(design: Design) -> Design:
    """One more replica in the first region."""
    first, *rest = design.regions
    return replace(design, regions=(replace(first, replicas=first.replicas + 1), *rest))
