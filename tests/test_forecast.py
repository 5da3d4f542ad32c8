"""The availability and cost forecast: the model's closed form, its Monte Carlo, what they must agree
on, what can only make a design better, the `forecast` config object, and the plan's section."""

import dataclasses
import json

import pytest

import settings
from catalog import forecast as fc
from conftest import evaluate
from test_plan import plan, stack_dir_with

# g2-standard-24 in us-central1 (catalog/prices-us-central1.csv): Spot 0.79862, on-demand 2.00083 $/h.
PRICES = {"spot": 0.79862, "flex-start": 0.94039, "on-demand": 2.00083}
QUIET = fc.Assumptions(  # no correlated outages: the closed form is exact
    spot_preemptions_per_hour=0.5, zone_spot_outages_per_day=0, zone_spot_outage_hours=0.5,
    region_spot_outage_fraction=0, region_spot_outage_hours=0.25, outage_reclaim_fraction=0.9,
    flex_start_obtain_probability=0.7, flex_start_queue_minutes=3, fallback_backoff_minutes=5,
    migration_delay_minutes=15)
# The shape of the project's defaults, with outages frequent enough to show in a short simulation.
STORMY = fc.Assumptions(
    spot_preemptions_per_hour=0.05, zone_spot_outages_per_day=2, zone_spot_outage_hours=0.5,
    region_spot_outage_fraction=0.01, region_spot_outage_hours=0.5, outage_reclaim_fraction=0.9,
    flex_start_obtain_probability=0.7, flex_start_queue_minutes=3, fallback_backoff_minutes=5,
    migration_delay_minutes=15)


def design(ladder=("spot",), replicas=1, recovery_minutes=30, regions=1, migration=False, lead_minutes=60):
    return fc.Design(
        regions=tuple(fc.Region(f"r{i}", tuple(ladder), replicas, dict(PRICES)) for i in range(regions)),
        recovery_seconds=recovery_minutes * 60, flex_lead_time_seconds=lead_minutes * 60 if lead_minutes else None,
        active_migration=migration)


# --- the closed form -------------------------------------------------------------------------------


def test_one_spot_replica_serves_one_over_one_plus_rate_times_recovery():
    # 0.5 reclaims an hour, 30 min back: 1 / (1 + 0.25) = 0.8 of the time.
    f = fc.forecast(design(), QUIET)
    assert f.method == "closed form"
    assert f.availability_any == pytest.approx(0.8) and f.availability_full == pytest.approx(0.8)


def test_three_independent_replicas_at_least_one_and_all():
    # Each serves 0.8: none down together 1 - 0.2^3 = 0.992; all three 0.8^3 = 0.512.
    f = fc.forecast(design(replicas=3), QUIET)
    assert f.availability_any == pytest.approx(0.992)
    assert f.availability_full == pytest.approx(0.512)


def test_recovery_minutes_is_the_design_recovery():
    assert fc.forecast(design(recovery_minutes=15.4), QUIET).recovery_minutes == pytest.approx(15.4)


def test_correlated_outages_switch_to_the_monte_carlo():
    assert fc.forecast(design(), STORMY).method.startswith("monte carlo")


def test_a_ladder_starting_with_flex_start_is_never_given_the_closed_form():
    assert not fc.exact(design(ladder=("flex-start", "on-demand")), QUIET)


# --- Monte Carlo against the closed form -----------------------------------------------------------


def test_monte_carlo_agrees_with_the_closed_form_for_one_replica():
    f = fc.monte_carlo(design(), QUIET, years=20)
    assert f.availability_any == pytest.approx(0.8, abs=0.005)


def test_monte_carlo_agrees_with_the_closed_form_for_three_replicas():
    f = fc.monte_carlo(design(replicas=3), QUIET, years=20)
    assert f.availability_any == pytest.approx(0.992, abs=0.002)
    assert f.availability_full == pytest.approx(0.512, abs=0.01)


def test_monte_carlo_is_reproducible_with_its_fixed_seed():
    assert fc.forecast(design(replicas=2), STORMY) == fc.forecast(design(replicas=2), STORMY)


def test_the_horizon_is_bounded_above_and_below():
    calm = fc.Assumptions(**{**QUIET.__dict__, "spot_preemptions_per_hour": 0.0})
    assert fc.simulated_years(design(), calm) == 40  # almost nothing happens: the longest horizon
    busy = fc.Assumptions(**{**QUIET.__dict__, "spot_preemptions_per_hour": 10.0})
    assert fc.simulated_years(design(), busy) == 2  # 87,600 reclaims a year: the shortest


def test_outages_that_reclaim_no_running_node_leave_replicas_serving():
    # No one-by-one reclaims and outage_reclaim_fraction 0: outages only deny new Spot, nobody needs it.
    calm = fc.Assumptions(**{**STORMY.__dict__, "spot_preemptions_per_hour": 0.0, "outage_reclaim_fraction": 0.0})
    f = fc.forecast(design(replicas=2), calm)
    assert f.availability_any == 1.0 and f.availability_full == 1.0 and f.losses_per_month == 0


def test_a_zonal_cluster_has_no_other_zone_to_fall_back_to():
    # Zone outages only: with three zones a lost replica restarts next door; in one zone it waits.
    zonal_only = fc.Assumptions(**{**STORMY.__dict__, "spot_preemptions_per_hour": 0.0, "region_spot_outage_fraction": 0.0})
    regional = fc.forecast(design(), zonal_only)
    one_zone = fc.forecast(fc.Design(regions=(fc.Region("z", ("spot",), 1, dict(PRICES), zones=1),),
                                     recovery_seconds=1800), zonal_only)
    assert one_zone.availability_any < regional.availability_any


# --- cost ------------------------------------------------------------------------------------------


def test_all_on_demand_costs_one_times_on_demand():
    f = fc.forecast(design(ladder=("on-demand",), replicas=2), STORMY)
    assert f.cost_ratio == pytest.approx(1.0)
    assert f.on_demand_cost == pytest.approx(2 * 730 * 2.00083)
    assert f.availability_any == 1.0


def test_spot_only_without_reclaims_costs_the_spot_to_on_demand_price_ratio():
    none = fc.Assumptions(**{**QUIET.__dict__, "spot_preemptions_per_hour": 0.0})
    expected = 0.79862 / 2.00083  # 0.399
    assert fc.forecast(design(replicas=2), none).cost_ratio == pytest.approx(expected)
    assert fc.monte_carlo(design(replicas=2), none, years=2).cost_ratio == pytest.approx(expected)


def test_a_reclaimed_spot_node_is_replaced_at_once_so_spot_is_billed_all_month():
    # Spot stays obtainable: every hour of the month one Spot node exists (serving or loading).
    f = fc.monte_carlo(design(), QUIET, years=2)
    assert f.node_hours == {"spot": pytest.approx(730)}


def test_a_recycled_flex_start_node_overlaps_its_replacement_and_both_are_billed():
    # Flex-start only, always obtained after the 3-minute queue, 7-day nodes, replacement asked 60 min
    # ahead: each 168 h node is followed 167.05 h after it started, so 730 x 168 / 167.05 = 734.15 h.
    always = fc.Assumptions(**{**QUIET.__dict__, "flex_start_obtain_probability": 1.0})
    f = fc.monte_carlo(design(ladder=("flex-start",), lead_minutes=60), always, years=5)
    assert f.node_hours["flex-start"] == pytest.approx(734.15, abs=0.1)
    assert f.availability_any == pytest.approx(1.0, abs=1e-5)  # down only for the very first 3-minute queue


def test_without_node_recycling_a_flex_start_node_ends_in_a_reload():
    # Each 168 h node ends, then 3 min of queue and 30 min of load: 0.55 / 168.55 of the time down.
    always = fc.Assumptions(**{**QUIET.__dict__, "flex_start_obtain_probability": 1.0})
    f = fc.monte_carlo(design(ladder=("flex-start",), lead_minutes=None), always, years=5)
    assert f.availability_any == pytest.approx(1 - 0.55 / 168.55, abs=0.0005)


def test_without_active_migration_a_replica_that_fell_back_to_on_demand_stays_there():
    f = fc.forecast(design(ladder=("spot", "on-demand"), replicas=2), STORMY)
    assert f.node_hours["on-demand"] > 0.9 * 2 * 730


def test_node_recreation_brings_a_fallen_back_replica_to_the_top_of_the_ladder():
    # Upgrades and host maintenance recreate GPU nodes (they cannot live-migrate); a new node asks
    # Spot first. At 4 a month on-demand falls from nearly all of the 1,460 node-hours to 1,143.
    stays = fc.forecast(design(ladder=("spot", "on-demand"), replicas=2), STORMY)
    moves = fc.forecast(design(ladder=("spot", "on-demand"), replicas=2),
                        dataclasses.replace(STORMY, node_recreations_per_month=4))
    assert stays.node_hours["on-demand"] > 1450 and moves.node_hours["on-demand"] < 1150
    assert moves.cost_ratio < 0.87 < stays.cost_ratio


def test_a_recreated_on_demand_node_costs_one_recovery_in_the_closed_form():
    # One recreation a month (730 h), 15 min back: 1 / (1 + 0.25 / 730) of the time.
    f = fc.forecast(design(ladder=("on-demand",), recovery_minutes=15),
                    dataclasses.replace(QUIET, node_recreations_per_month=1))
    assert f.method == "closed form" and f.availability_any == pytest.approx(0.99965765, abs=1e-8)


def test_recreations_add_to_spot_reclaims_and_monte_carlo_agrees():
    q = dataclasses.replace(QUIET, node_recreations_per_month=2)
    closed = fc.closed_form(design(), q)
    assert closed.availability_any == pytest.approx(1 / (1 + (0.5 + 2 / 730) * 0.5))
    assert fc.monte_carlo(design(), q, years=20).availability_any == pytest.approx(closed.availability_any, abs=0.003)


def test_active_migration_brings_replicas_back_to_spot_at_the_price_of_a_reload():
    off = fc.forecast(design(ladder=("spot", "on-demand"), replicas=2), STORMY)
    on = fc.forecast(design(ladder=("spot", "on-demand"), replicas=2, migration=True), STORMY)
    assert on.node_hours.get("on-demand", 0) < 0.05 * 2 * 730
    assert on.monthly_cost < off.monthly_cost
    assert on.availability_full < off.availability_full  # each move back reloads a replica


def test_a_tier_without_a_price_leaves_the_cost_unknown_rather_than_zero():
    d = fc.Design(regions=(fc.Region("r", ("spot",), 1, {"spot": None, "on-demand": 2.0}),), recovery_seconds=1800)
    f = fc.forecast(d, QUIET)
    assert f.monthly_cost is None and f.cost_ratio is None


def test_each_region_is_billed_at_its_own_prices():
    # No reclaims: one Spot node all month in each region, at $1/h and $2/h: 730 + 1,460 = $2,190.
    none = fc.Assumptions(**{**QUIET.__dict__, "spot_preemptions_per_hour": 0.0})
    d = fc.Design(regions=(fc.Region("a", ("spot",), 1, {"spot": 1.0, "on-demand": 3.0}),
                           fc.Region("b", ("spot",), 1, {"spot": 2.0, "on-demand": 4.0})), recovery_seconds=1800)
    for f in (fc.forecast(d, none), fc.monte_carlo(d, none, years=2)):
        assert f.monthly_cost == pytest.approx(2190)
        assert f.on_demand_cost == pytest.approx(730 * 3 + 730 * 4)


# --- monotonicity ----------------------------------------------------------------------------------


def test_more_replicas_never_lower_availability_any():
    values = [fc.forecast(design(ladder=("spot", "flex-start"), replicas=n), STORMY).availability_any for n in (1, 2, 3, 4)]
    assert values == sorted(values) and values[0] < values[-1]


def test_a_lower_reclaim_rate_never_lowers_availability():
    # The same horizon for every rate, so each run sees the same zone and region history.
    for a in (QUIET, STORMY):
        values = [fc.forecast(design(replicas=2), fc.Assumptions(**{**a.__dict__, "spot_preemptions_per_hour": rate}),
                              years=10).availability_any for rate in (1.0, 0.3, 0.1, 0.01)]
        assert values == sorted(values), (a, values)


def test_a_shorter_cold_start_never_lowers_availability():
    for a in (QUIET, STORMY):
        values = [fc.forecast(design(replicas=2, recovery_minutes=m), a).availability_any for m in (60, 30, 15, 5)]
        assert values == sorted(values), (a, values)


def test_an_extra_rung_never_lowers_availability():
    for replicas in (1, 2):
        spot = fc.forecast(design(("spot",), replicas), STORMY)
        flex = fc.forecast(design(("spot", "flex-start"), replicas), STORMY)
        full = fc.forecast(design(("spot", "flex-start", "on-demand"), replicas), STORMY)
        assert spot.availability_any <= flex.availability_any <= full.availability_any
        assert spot.availability_any <= fc.forecast(design(("spot", "on-demand"), replicas), STORMY).availability_any


def test_a_second_region_with_its_own_outages_serves_while_the_first_is_out():
    # Region-wide outages only: two replicas in one region go down together, one in each region do not.
    regional = fc.Assumptions(**{**STORMY.__dict__, "zone_spot_outages_per_day": 0, "spot_preemptions_per_hour": 0.0})
    one = fc.forecast(design(replicas=2), regional)
    two = fc.forecast(design(replicas=1, regions=2), regional)
    assert two.replicas == 2
    assert 1 - two.availability_any < (1 - one.availability_any) / 10


# --- the `forecast` config object --------------------------------------------------------------------


def test_absent_forecast_uses_the_documented_defaults():
    a = evaluate().result["s"].forecast.assumptions
    # docs/forecast.md's table: 0.05 reclaims/h, 0.5 zone outages/day of 0.5 h, 0.43% region-wide.
    assert (a.spot_preemptions_per_hour, a.zone_spot_outages_per_day, a.zone_spot_outage_hours,
            a.region_spot_outage_fraction, a.flex_start_obtain_probability) == (0.05, 0.5, 0.5, 0.0043, 0.7)


def test_an_override_is_used_and_its_source_says_config():
    s = evaluate(forecast={"spotPreemptionsPerHour": 0.2}).result["s"]
    assert s.forecast.assumptions.spot_preemptions_per_hour == 0.2
    from settings.forecast import PARAMETERS
    assert s.forecast.source_of(PARAMETERS[0]) == "config (forecast.spotPreemptionsPerHour)"


BAD = [
    ({"spotPreemptionsPerHour": -0.1}, "spotPreemptionsPerHour -0.1 is out of range"),
    ({"spotPreemptionsPerHour": 10.5}, "spotPreemptionsPerHour 10.5 is out of range"),
    ({"regionSpotOutageFraction": 0.6}, "regionSpotOutageFraction 0.6 is out of range"),
    ({"flexStartObtainProbability": 0}, "flexStartObtainProbability 0 is out of range"),
    ({"flexStartObtainProbability": 1.01}, "flexStartObtainProbability 1.01 is out of range"),
    ({"zoneSpotOutageHours": 0}, "zoneSpotOutageHours 0 is out of range"),
    ({"outageReclaimFraction": "most"}, "outageReclaimFraction must be a number"),
    ({"fallbackBackoffMinutes": True}, "fallbackBackoffMinutes must be a number"),
    ({"spotPreemptionPerHour": 0.1}, "unknown field 'spotPreemptionPerHour'; did you mean spotPreemptionsPerHour?"),
    ("often", "not an object"),
]


@pytest.mark.parametrize("value, words", BAD, ids=[w.split()[0] for _, w in BAD])
def test_bad_forecast_values_name_the_key_the_value_and_the_fix(value, words):
    with pytest.raises(settings.ConfigError) as error:
        evaluate(forecast=value)
    message = str(error.value)
    assert error.value.key == "forecast" and message.startswith("config forecast=")
    assert words in message and error.value.fix
    assert "\n" not in message


def test_the_bounds_themselves_are_accepted():
    s = evaluate(forecast={"spotPreemptionsPerHour": 0, "regionSpotOutageFraction": 0.5,
                           "flexStartObtainProbability": 1}).result["s"]
    assert s.forecast.assumptions.region_spot_outage_fraction == 0.5


# --- in the plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, replicas", [("dev", 1), ("prod", 2)])
def test_plan_prints_the_forecast_and_writes_forecast_json(tmp_path, capsys, stack, replicas):
    code, out, err, files = plan(tmp_path, capsys, stack)
    assert code == 0, err
    headline = {"dev": "Forecast: the one replica serves ", "prod": "Forecast: at least one replica "}[stack]
    assert headline in out and "x on-demand)" in out
    report = json.loads((files / "forecast.json").read_text())
    assert report["replicas"] == replicas  # prod: autoscaling.minReplicas
    # The figures themselves (seed 20261130; 14.4 min recovery; the documented defaults): a change in
    # the model or its inputs shows here first.
    expected = {"dev": (0.9925, 0.9925, 0.448), "prod": (0.9997, 0.9928, 0.748)}[stack]
    assert (round(report["availability_any"], 4), round(report["availability_full"], 4), report["cost_ratio"]) == expected
    assert 0 < report["availability_full"] <= report["availability_any"] <= 1
    assert report["on_demand_cost"] == pytest.approx(replicas * 730 * 2.00083, abs=0.01)
    assert report["monthly_cost"] == pytest.approx(sum(report["monthly_cost_by_tier"].values()), abs=0.05)
    assert report["cost_ratio"] == pytest.approx(report["monthly_cost"] / report["on_demand_cost"], abs=0.001)
    assert report["recovery_minutes"] > 5
    names = [a["name"] for a in report["assumptions"]]
    assert {"spotPreemptionsPerHour", "zoneSpotOutagesPerDay", "zoneSpotOutageHours", "regionSpotOutageFraction",
            "flexStartObtainProbability", "recoveryMinutes"} <= set(names)
    assert all(set(a) == {"name", "value", "source"} and a["source"] for a in report["assumptions"])


def test_dev_one_replica_has_the_same_any_and_full_availability(tmp_path, capsys):
    _, _, _, files = plan(tmp_path, capsys, "dev")
    report = json.loads((files / "forecast.json").read_text())
    assert report["availability_any"] == report["availability_full"]


def test_a_bad_forecast_value_stops_the_plan_with_exit_2_and_one_line(tmp_path, capsys):
    d = stack_dir_with(tmp_path, {"gke-llm-serving:forecast": {"spotPreemptionsPerHour": -1}})
    code, out, err, _ = plan(tmp_path, capsys, "t", d)
    assert code == 2 and err.strip().count("\n") == 0
    assert err.startswith("error: config forecast=") and "spotPreemptionsPerHour -1 is out of range" in err


def test_an_override_reaches_the_plan_with_its_source(tmp_path, capsys):
    d = stack_dir_with(tmp_path, {"gke-llm-serving:forecast": {"spotPreemptionsPerHour": 0.2}})
    _, _, _, files = plan(tmp_path, capsys, "t", d)
    row = next(a for a in json.loads((files / "forecast.json").read_text())["assumptions"] if a["name"] == "spotPreemptionsPerHour")
    assert row == {"name": "spotPreemptionsPerHour", "value": 0.2, "source": "config (forecast.spotPreemptionsPerHour)"}


def test_price_overrides_price_the_forecast_and_say_so(tmp_path, capsys):
    d = stack_dir_with(tmp_path, {"gke-llm-serving:priceSpot": "0.5", "gke-llm-serving:priceOnDemand": "1.5"})
    _, _, _, files = plan(tmp_path, capsys, "t", d)
    report = json.loads((files / "forecast.json").read_text())
    rows = {a["name"]: a for a in report["assumptions"]}
    assert rows["price spot ($/h per node)"] == {"name": "price spot ($/h per node)", "value": 0.5, "source": "config (priceSpot)"}
    assert report["on_demand_cost"] == pytest.approx(730 * 1.5)  # one replica on the overridden on-demand price


def test_compare_shows_the_stack_beside_its_alternatives_on_one_screen(capsys):
    from planner.__main__ import main

    assert main(["--stack", "prod", "--compare"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) <= 24 and max(len(line) for line in lines) <= 120
    for label in ("prod: spot > flex-start > on-demand, 2 replica(s)", "one more replica (3)", "without on-demand",
                  "without flex-start", "Spot only", "activeMigration on", "all on-demand"):
        assert label in out


def test_compare_with_a_bad_forecast_value_exits_2_with_one_line(tmp_path, capsys):
    from planner.__main__ import main

    d = stack_dir_with(tmp_path, {"gke-llm-serving:forecast": {"zoneSpotOutagesPerDay": 101}})
    assert main(["--stack", "t", "--stack-dir", str(d), "--compare"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "zoneSpotOutagesPerDay 101 is out of range" in err
