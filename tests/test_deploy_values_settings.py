"""Values the settings reader, the `forecast` config object and the forecast's arithmetic depend on,
pinned as literals (issue 17): one-token slips in settings/reader.py, settings/forecast.py and
catalog/forecast.py that no other test noticed. The Reader is called under Pulumi's mocks with config
as the CLI passes it (strings), through a one-line program, so no stack is rendered."""

import json

import pulumi
import pytest

import settings
import settings.forecast as sf
from catalog import forecast as fc
from conftest import evaluate
from settings.reader import ConfigError, Reader, closest, listing, unknown_field

FIX = "use the fix"


def read(method: str, *args, **config):
    """Reader().<method>(*args) under the mocks, with `config` set as `pulumi config set` would."""
    return evaluate(program=lambda: getattr(Reader(), method)(*args), **config).result


def refusal(method: str, *args, **config) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        read(method, *args, **config)
    return error.value


# --- settings/reader.py: ConfigError's one line ------------------------------------------------------


def test_config_error_line_is_key_equals_repr_of_a_string_value_then_problem_then_fix():
    # `config KEY=VALUE: PROBLEM; FIX`: a string value shown with quotes, as the user typed it.
    e = ConfigError("someKey", "two", "not a whole number", "give 1 to 3")
    assert str(e) == "config someKey='two': not a whole number; give 1 to 3"
    assert (e.key, e.problem, e.fix) == ("someKey", "not a whole number", "give 1 to 3")


def test_config_error_shows_a_non_string_value_as_json():
    # Objects and numbers are shown as JSON (double quotes, null), the form the stack file takes.
    assert str(ConfigError("k", {"a": 1}, "p", "f")) == 'config k={"a": 1}: p; f'
    assert str(ConfigError("k", -1, "p", "f")) == "config k=-1: p; f"
    assert str(ConfigError("k", None, "p", "f")) == "config k=null: p; f"


def test_config_error_hides_a_secret_value():
    assert str(ConfigError("hfToken", "hf_abc", "empty", "set it", hide_value=True)) == "config hfToken=[secret]: empty; set it"


def test_config_error_shown_text_replaces_the_value():
    assert str(ConfigError("k", "v", "p", "f", shown="…")) == "config k=…: p; f"
    # shown wins over hide_value: it is what the caller chose to print.
    assert str(ConfigError("k", "v", "p", "f", hide_value=True, shown="x")) == "config k=x: p; f"


def test_config_error_is_a_run_error_so_the_cli_prints_no_traceback():
    assert isinstance(ConfigError("k", 1, "p", "f"), pulumi.RunError)


# --- closest / listing / unknown_field -------------------------------------------------------------


def test_listing_joins_with_comma_space():
    assert listing(["a", "b", "c"]) == "a, b, c"


def test_closest_names_a_near_key():
    assert closest("replica", ["engine", "replicas"]) == "did you mean replicas?"


def test_closest_accepts_a_similarity_of_exactly_the_0_6_cutoff():
    # difflib ratio 2*3/10 = 0.6 ("abc" shared by two 5-letter names): at the cutoff, so a suggestion.
    assert closest("abcxy", ["abcde"]) == "did you mean abcde?"


def test_closest_below_the_cutoff_lists_the_known_keys_sorted():
    # 2*3/11 = 0.545 < 0.6: nothing close, so every key, sorted, comma-separated.
    assert closest("abcxyz", ["zeta", "abcde"]) == "known keys: abcde, zeta"


def test_unknown_field_accepts_known_fields():
    assert unknown_field("autoscaling", {"maxReplicas": 3}, ("minReplicas", "maxReplicas")) is None


def test_unknown_field_names_the_first_unknown_field_sorted_and_lists_the_fields_in_order():
    # "aaa" sorts before "zzz"; known keys sorted in the hint, the fields in the given order after it.
    with pytest.raises(ConfigError) as error:
        unknown_field("autoscaling", {"maxReplicas": 3, "zzz": 1, "aaa": 2}, ("minReplicas", "maxReplicas"))
    assert str(error.value) == ('config autoscaling={"maxReplicas": 3, "zzz": 1, "aaa": 2}: unknown field \'aaa\'; '
                                "known keys: maxReplicas, minReplicas (fields: minReplicas, maxReplicas)")


def test_unknown_field_suggests_the_near_field():
    with pytest.raises(ConfigError) as error:
        unknown_field("autoscaling", {"minReplica": 1}, ("minReplicas", "maxReplicas"))
    assert str(error.value).endswith(": unknown field 'minReplica'; did you mean minReplicas? "
                                     "(fields: minReplicas, maxReplicas)")


# --- refuse_unknown / set_keys ---------------------------------------------------------------------


def test_a_misspelt_key_is_refused_with_its_value_hidden_and_the_near_key():
    # The value is never shown ("…"): a misspelt secret key holds a secret.
    e = refusal("refuse_unknown", settings.KNOWN_KEYS, replica="3")
    assert str(e) == ("config replica=…: is not a key this program reads; did you mean replicas? "
                      "(remove it, or see README's configuration table)")


def test_a_misspelt_secret_key_never_shows_its_value():
    e = refusal("refuse_unknown", settings.KNOWN_KEYS, hfTokn="hf_SECRETvalue123")
    assert "hf_SECRETvalue123" not in str(e) and e.key == "hfTokn"


def test_refuse_unknown_accepts_every_known_key_of_the_stack():
    assert read("refuse_unknown", settings.KNOWN_KEYS, replicas="2") is None


def test_set_keys_are_the_project_keys_without_their_namespace():
    keys = read("set_keys", someKey="1")
    # gcp:project is another namespace's; the project's keys lose "gke-llm-serving:".
    assert "someKey" in keys and "replicas" in keys and "hfToken" in keys
    assert "project" not in keys and not any(":" in k for k in keys)
    assert keys == sorted(keys)


def test_set_keys_include_the_cli_environment_bag(monkeypatch):
    # The Python language host passes config as PULUMI_CONFIG (JSON); those keys count too.
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"gke-llm-serving:fromEnvKey": "1", "gcp:zone": "x"}))
    keys = read("set_keys")
    assert "fromEnvKey" in keys and "zone" not in keys


# --- raw / string ----------------------------------------------------------------------------------


def test_string_returns_the_set_value():
    assert read("string", "someKey", "dflt", someKey="abc") == "abc"


def test_an_empty_string_counts_as_unset():
    # `pulumi config set k ""` and Pulumi.yaml's `default: ""` mean "use the default".
    assert read("string", "someKey", "dflt", someKey="") == "dflt"
    assert read("raw", "someKey", someKey="") is None


def test_an_absent_key_uses_the_default():
    assert read("string", "someKey", "dflt") == "dflt"


# --- integer ---------------------------------------------------------------------------------------


def test_integer_parses_the_cli_string():
    assert read("integer", "someKey", 1, 0, 100, FIX, someKey="7") == 7


def test_integer_absent_is_the_default_unchecked():
    # The default is the program's own: not checked against the bounds.
    assert read("integer", "someKey", 500, 0, 100, FIX) == 500


def test_integer_bounds_themselves_are_accepted():
    assert read("integer", "someKey", 5, 2, 9, FIX, someKey="2") == 2
    assert read("integer", "someKey", 5, 2, 9, FIX, someKey="9") == 9


def test_integer_just_below_the_low_bound_is_refused_with_the_range():
    # The number is shown as JSON (no quotes): it parsed, only its range is wrong.
    assert str(refusal("integer", "someKey", 5, 2, 9, FIX, someKey="1")) == "config someKey=1: outside 2..9; use the fix"


def test_integer_just_above_the_high_bound_is_refused_with_the_range():
    assert str(refusal("integer", "someKey", 5, 2, 9, FIX, someKey="10")) == "config someKey=10: outside 2..9; use the fix"


def test_integer_that_is_not_whole_is_refused_with_the_raw_string():
    assert str(refusal("integer", "someKey", 5, 2, 9, FIX, someKey="1.5")) == "config someKey='1.5': not a whole number; use the fix"
    assert refusal("integer", "someKey", 5, 2, 9, FIX, someKey="two").problem == "not a whole number"


# --- boolean ---------------------------------------------------------------------------------------


def test_boolean_true_and_false_in_any_case():
    assert read("boolean", "someKey", False, someKey="TRUE") is True
    assert read("boolean", "someKey", True, someKey="False") is False


@pytest.mark.parametrize("default", [True, False])
def test_boolean_absent_is_the_default(default):
    assert read("boolean", "someKey", default) is default


def test_boolean_anything_else_is_refused():
    assert str(refusal("boolean", "someKey", True, someKey="yes")) == "config someKey='yes': not a boolean; use true or false"


# --- string_list -----------------------------------------------------------------------------------


def test_string_list_reads_a_json_list():
    assert read("string_list", "someKey", [], FIX, someKey=["spot", "on-demand"]) == ["spot", "on-demand"]


def test_string_list_reads_a_plain_comma_separated_string_stripped():
    # `pulumi config set capacity "spot, on-demand"` stores a plain string.
    assert read("string_list", "someKey", [], FIX, someKey="spot, on-demand") == ["spot", "on-demand"]
    assert read("string_list", "someKey", [], FIX, someKey="spot") == ["spot"]


def test_string_list_absent_is_a_copy_of_the_default():
    default = ["spot", "flex-start"]
    got = read("string_list", "someKey", default, FIX)
    assert got == ["spot", "flex-start"] and got is not default  # the caller's list is not shared


@pytest.mark.parametrize("raw", ['[1, 2]', '["spot", 1]', '{"a": "b"}', '"spot"'])
def test_string_list_refuses_json_that_is_not_a_list_of_strings(raw):
    assert str(refusal("string_list", "someKey", [], FIX, someKey=raw)) == f"config someKey={raw!r}: not a list of strings; use the fix"


# --- price -----------------------------------------------------------------------------------------


def test_price_reads_dollars_per_hour():
    assert read("price", "someKey", someKey="0.80") == 0.8


def test_price_zero_is_accepted():
    assert read("price", "someKey", someKey="0") == 0.0


def test_price_absent_is_none():
    assert read("price", "someKey") is None


@pytest.mark.parametrize("raw", ["-0.01", "cheap", "inf", "nan"])
def test_price_refuses_negative_non_numeric_and_non_finite(raw):
    assert str(refusal("price", "someKey", someKey=raw)) == (
        f"config someKey={raw!r}: not a price; give US dollars per hour for one machine, e.g. 0.80")


# --- checked / object -------------------------------------------------------------------------------


def short(value: str):
    return "longer than 3" if len(value) > 3 else None


def test_checked_returns_a_value_the_rule_accepts():
    assert read("checked", "someKey", "dflt", short, FIX, someKey="abc") == "abc"


def test_checked_refuses_with_the_rules_problem():
    assert str(refusal("checked", "someKey", "d", short, FIX, someKey="abcd")) == "config someKey='abcd': longer than 3; use the fix"


def test_checked_applies_the_rule_to_the_default_too():
    assert refusal("checked", "someKey", "dflt", short, FIX).problem == "longer than 3"


def test_object_absent_or_empty_is_none():
    assert read("object", "someKey", ("a",), FIX) is None
    assert read("object", "someKey", ("a",), FIX, someKey="") is None


def test_object_reads_a_json_object_of_known_fields():
    assert read("object", "someKey", ("a", "b"), FIX, someKey={"a": 1}) == {"a": 1}


@pytest.mark.parametrize("raw", ["[1]", "often", "3"])
def test_object_refuses_anything_but_a_json_object(raw):
    assert str(refusal("object", "someKey", ("a",), FIX, someKey=raw)) == f"config someKey={raw!r}: not an object; use the fix"


def test_object_refuses_an_unknown_field():
    assert refusal("object", "someKey", ("a", "b"), FIX, someKey={"c": 1}).problem == "unknown field 'c'"


# --- settings/forecast.py: the `forecast` object ------------------------------------------------------


def forecast_config(value=None) -> sf.ForecastConfig:
    config = {} if value is None else {"forecast": value}
    return evaluate(program=lambda: sf.read(Reader()), **config).result


def forecast_refusal(value) -> str:
    with pytest.raises(ConfigError) as error:
        forecast_config(value)
    assert error.value.key == "forecast"
    return str(error.value)


def test_absent_forecast_is_every_default_and_nothing_overridden():
    # docs/forecast.md's table: 0.05 reclaims/h; 0.5 zone outages/day of 0.5 h; 0.43% of the time
    # region-wide in outages of 15 min; 90% reclaimed by an outage; flex-start 70% after a 3 min queue;
    # 5 min back-off; 15 min migration delay; 1 node recreation a month.
    cfg = forecast_config()
    assert cfg.assumptions == fc.Assumptions(0.05, 0.5, 0.5, 0.0043, 0.25, 0.9, 0.7, 3.0, 5.0, 15.0, 1.0)
    assert cfg.overridden == frozenset()


def test_an_empty_forecast_object_is_every_default():
    assert forecast_config({}).assumptions == forecast_config().assumptions


def test_the_forecast_keys_in_order():
    # The plan's assumptions table lists them in this order.
    assert sf.KEYS == ("spotPreemptionsPerHour", "zoneSpotOutagesPerDay", "zoneSpotOutageHours",
                       "regionSpotOutageFraction", "regionSpotOutageHours", "outageReclaimFraction",
                       "flexStartObtainProbability", "flexStartQueueMinutes", "fallbackBackoffMinutes",
                       "migrationDelayMinutes", "nodeRecreationsPerMonth")


# (key, Assumptions field, default, low, high, low bound refused, unit)
RANGES = [
    ("spotPreemptionsPerHour", "spot_preemptions_per_hour", 0.05, 0, 10, False, "per node-hour"),
    ("zoneSpotOutagesPerDay", "zone_spot_outages_per_day", 0.5, 0, 100, False, "per zone-day"),
    ("zoneSpotOutageHours", "zone_spot_outage_hours", 0.5, 0, 240, True, "hours"),
    ("regionSpotOutageFraction", "region_spot_outage_fraction", 0.0043, 0, 0.5, False, "of the time"),
    ("regionSpotOutageHours", "region_spot_outage_hours", 0.25, 0, 240, True, "hours"),
    ("outageReclaimFraction", "outage_reclaim_fraction", 0.9, 0, 1, False, "of Spot nodes"),
    ("flexStartObtainProbability", "flex_start_obtain_probability", 0.7, 0, 1, True, "per attempt"),
    ("flexStartQueueMinutes", "flex_start_queue_minutes", 3, 0, 1440, False, "minutes"),
    ("fallbackBackoffMinutes", "fallback_backoff_minutes", 5, 0, 60, False, "minutes"),
    ("migrationDelayMinutes", "migration_delay_minutes", 15, 0, 1440, False, "minutes"),
    ("nodeRecreationsPerMonth", "node_recreations_per_month", 1, 0, 100, False, "per node-month"),
]
IDS = [r[0] for r in RANGES]


def bounds_text(key, low, high, low_open, unit, default):
    return (f"give {key} above {low} to {high} ({unit}), e.g. {default}" if low_open
            else f"give {key} from {low} up to {high} ({unit}), e.g. {default}")


@pytest.mark.parametrize("key, field, default, low, high, low_open, unit", RANGES, ids=IDS)
def test_each_parameter_accepts_its_high_bound(key, field, default, low, high, low_open, unit):
    cfg = forecast_config({key: high})
    assert getattr(cfg.assumptions, field) == high and cfg.overridden == frozenset({key})


@pytest.mark.parametrize("key, field, default, low, high, low_open, unit", RANGES, ids=IDS)
def test_each_parameter_refuses_just_above_its_high_bound(key, field, default, low, high, low_open, unit):
    above = high + 0.001  # shown as given: "1440.001", never rounded (by :g) to the allowed "1440"
    assert forecast_refusal({key: above}) == (
        f'config forecast={{"{key}": {above}}}: {key} {above} is out of range; '
        + bounds_text(key, low, high, low_open, unit, default))


def test_a_value_just_past_a_bound_is_shown_unrounded():
    # Was "migrationDelayMinutes 1440 is out of range" (format :g keeps six figures) while 1440 is allowed.
    assert "migrationDelayMinutes 1440.001 is out of range" in forecast_refusal({"migrationDelayMinutes": 1440.001})


@pytest.mark.parametrize("key, field, default, low, high, low_open, unit", RANGES, ids=IDS)
def test_each_parameter_at_its_low_bound(key, field, default, low, high, low_open, unit):
    if low_open:  # a zero-length outage or a flex-start that never comes would divide by zero
        assert forecast_refusal({key: 0}) == (f'config forecast={{"{key}": 0}}: {key} 0 is out of range; '
                                              + bounds_text(key, low, high, low_open, unit, default))
        assert getattr(forecast_config({key: 0.001}).assumptions, field) == 0.001
    else:
        assert getattr(forecast_config({key: 0}).assumptions, field) == 0.0
        assert forecast_refusal({key: -0.001}) == (f'config forecast={{"{key}": -0.001}}: {key} -0.001 is out of range; '
                                                   + bounds_text(key, low, high, low_open, unit, default))


@pytest.mark.parametrize("value", ["often", True, None, "NaN"], ids=["string", "boolean", "null", "nan"])
def test_a_parameter_that_is_not_a_number_is_refused_with_its_unit_and_an_example(value):
    # NaN: the JSON the CLI passes can hold it (json.loads reads NaN); it compares false with every bound.
    shown = {"often": '"often"', True: "true", None: "null", "NaN": "NaN"}[value]
    raw = '{"outageReclaimFraction": ' + shown + "}"
    assert forecast_refusal(raw) == (f"config forecast={raw}: "
                                     "outageReclaimFraction must be a number (of Spot nodes); use e.g. 0.9")


def test_a_whole_number_becomes_a_float():
    got = forecast_config({"flexStartQueueMinutes": 4}).assumptions.flex_start_queue_minutes
    assert got == 4.0 and isinstance(got, float)


def test_forecast_that_is_not_an_object_says_what_to_give():
    assert forecast_refusal("often") == ("config forecast='often': not an object; "
                                         'give an object such as {"spotPreemptionsPerHour": 0.1}')


def test_an_unknown_forecast_field_names_the_near_key():
    assert "unknown field 'spotPreemptionPerHour'; did you mean spotPreemptionsPerHour?" in forecast_refusal(
        {"spotPreemptionPerHour": 0.1})


def test_overridden_keys_say_config_and_the_others_keep_their_source():
    cfg = forecast_config({"zoneSpotOutagesPerDay": 2})
    zone, spot = sf.PARAMETERS[1], sf.PARAMETERS[0]
    assert cfg.source_of(zone) == "config (forecast.zoneSpotOutagesPerDay)"
    assert cfg.source_of(spot) == spot.source and not spot.source.startswith("config")


def test_a_regional_cluster_has_three_zones():
    # GKE "Regional clusters": nodes in three zones of the region by default.
    assert sf.REGIONAL_ZONES == 3


# --- settings/forecast.py: the design and the assumptions table of a stack ------------------------------
# Two renders (about 1.5 s each): dev as it is, and dev made zonal, with a Spot price, a forecast
# override, a one-day flex-start run, a lead time of 45 1/3 minutes and autoscaling, so every row's
# other source shows.


def dev_settings():
    return evaluate("dev").result["s"]


def varied_settings():
    return evaluate("dev", location="us-central1-a", priceSpot="0.5", forecast={"spotPreemptionsPerHour": 0.1},
                    flexStartMaxRunDurationSeconds=86400, flexStartLeadTimeSeconds=2720, autoscaling={"minReplicas": 2, "maxReplicas": 3}).result["s"]


# g2-standard-24 in us-central1 (catalog/prices-us-central1.csv): Spot 0.79862, flex-start 0.94039
# (on-demand less 53%), on-demand 2.00083 $/h.
DEV_PRICES = {"spot": 0.79862, "flex-start": 0.94039, "on-demand": 2.00083}


def test_dev_design_is_one_regional_cluster_with_its_ladder_replicas_and_prices():
    d = sf.design(dev_settings())
    assert d.regions == (fc.Region("us-central1", ("spot", "flex-start"), 1, DEV_PRICES, 3),)
    # No flexStartMaxRunDurationSeconds: GKE's 7 days; node recycling 45 min ahead; no active migration.
    assert (d.flex_max_run_seconds, d.flex_lead_time_seconds, d.active_migration) == (604800, 2700, False)


def test_dev_recovery_is_the_sum_of_its_cold_start_steps():
    # Node boot 240 s + image 60 + reading 93.4 GB from the bucket 397.65 + NF4 46.7 + warm-up 120.
    assert sf.recovery_seconds(dev_settings()) == pytest.approx(864.348, abs=0.001)


def test_design_keywords_replace_the_ladder_replicas_migration_and_keep_the_first_regions():
    d = sf.design(dev_settings(), ladder=("on-demand",), replicas=3, active_migration=True)
    assert (d.regions[0].ladder, d.regions[0].replicas, d.active_migration) == (("on-demand",), 3, True)
    assert sf.design(dev_settings(), regions=0).regions == ()


def test_a_zonal_stack_has_one_zone_its_price_override_and_its_autoscaling_minimum():
    d = sf.design(varied_settings())
    assert d.regions == (fc.Region("us-central1", ("spot", "flex-start"), 2, {**DEV_PRICES, "spot": 0.5}, 1),)
    assert d.flex_max_run_seconds == 86400


def test_dev_assumptions_table_rows_and_values_in_order():
    s = dev_settings()
    rows = [(r["name"], r["value"]) for r in sf.assumptions_table(s, sf.design(s))]
    assert rows == [
        ("spotPreemptionsPerHour", 0.05), ("zoneSpotOutagesPerDay", 0.5), ("zoneSpotOutageHours", 0.5),
        ("regionSpotOutageFraction", 0.0043), ("regionSpotOutageHours", 0.25), ("outageReclaimFraction", 0.9),
        ("flexStartObtainProbability", 0.7), ("flexStartQueueMinutes", 3.0), ("fallbackBackoffMinutes", 5.0),
        ("migrationDelayMinutes", 15.0), ("nodeRecreationsPerMonth", 1.0),
        ("recoveryMinutes", 14.4),  # 864.35 s, to a tenth of a minute
        ("zones", 3),
        ("price spot ($/h per node)", 0.79862), ("price flex-start ($/h per node)", 0.94039),
        ("price on-demand ($/h per node)", 2.00083),
        ("flexStartMaxRunHours", 168.0), ("flexStartLeadTimeMinutes", 45), ("activeMigration", False),
        ("replicas", 1),
    ]


def test_dev_assumptions_table_sources_of_the_stack_rows():
    s = dev_settings()
    sources = {r["name"]: r["source"] for r in sf.assumptions_table(s, sf.design(s))}
    assert sources["zones"] == "GKE regional clusters use three zones by default (GKE docs, Regional clusters)"
    assert sources["flexStartMaxRunHours"] == "GKE's 7-day flex-start maximum"
    assert sources["flexStartLeadTimeMinutes"] == "flexStartLeadTimeSeconds (nodeRecycling)"
    assert sources["replicas"] == "replicas" and sources["activeMigration"] == "activeMigration"
    assert sources["recoveryMinutes"].startswith("the plan's cold-start estimate for weightSource bucket (catalog/loading.py)")
    assert sources["price on-demand ($/h per node)"].startswith("catalog/prices-us-central1.csv")


def test_assumptions_table_sources_name_the_config_that_set_them():
    s = varied_settings()
    rows = {r["name"]: (r["value"], r["source"]) for r in sf.assumptions_table(s, sf.design(s))}
    assert rows["spotPreemptionsPerHour"] == (0.1, "config (forecast.spotPreemptionsPerHour)")
    assert rows["zones"] == (1, "zonal cluster (location is a zone)")
    assert rows["price spot ($/h per node)"] == (0.5, "config (priceSpot)")
    assert rows["flexStartMaxRunHours"] == (24.0, "flexStartMaxRunDurationSeconds")  # 86400 s
    assert rows["replicas"] == (2, "autoscaling.minReplicas")
    assert rows["flexStartLeadTimeMinutes"] == (45, "flexStartLeadTimeSeconds (nodeRecycling)")  # whole minutes
    assert "regions" not in rows  # one region: no regions row


# --- catalog/forecast.py: the closed form -----------------------------------------------------------

PRICES = {"spot": 0.8, "flex-start": 1.0, "on-demand": 2.0}
# No correlated outages and no recreations: a Spot-first replica is an alternating renewal process.
CALM = fc.Assumptions(spot_preemptions_per_hour=0.05, zone_spot_outages_per_day=0, zone_spot_outage_hours=0.5,
                      region_spot_outage_fraction=0, region_spot_outage_hours=0.25, outage_reclaim_fraction=0.9,
                      flex_start_obtain_probability=0.7, flex_start_queue_minutes=3, fallback_backoff_minutes=5,
                      migration_delay_minutes=15)


def one_region(ladder=("spot",), replicas=1, recovery_seconds=864.0, **kw) -> fc.Design:
    return fc.Design(regions=(fc.Region("r", tuple(ladder), replicas, dict(PRICES)),),
                     recovery_seconds=recovery_seconds, **kw)


def test_replica_availability_is_one_over_one_plus_rate_times_recovery():
    # 0.05/h x 0.24 h (14.4 min) = 0.012: 1/1.012 = 250/253.
    assert fc.replica_availability(0.05, 0.24) == pytest.approx(250 / 253, rel=1e-12)


def test_one_spot_replica_serves_250_of_253_with_a_14_4_minute_recovery():
    f = fc.forecast(one_region(), CALM)
    assert f.method == "closed form"
    assert f.availability_any == pytest.approx(250 / 253, rel=1e-12)
    assert f.availability_full == pytest.approx(250 / 253, rel=1e-12)
    assert f.recovery_minutes == pytest.approx(14.4)


def test_two_spot_replicas_any_and_full():
    # Independent: any = 1 - (3/253)^2, full = (250/253)^2.
    f = fc.forecast(one_region(replicas=2), CALM)
    assert f.availability_any == pytest.approx(1 - (3 / 253) ** 2, rel=1e-12)
    assert f.availability_full == pytest.approx((250 / 253) ** 2, rel=1e-12)


def test_reclaims_while_serving_per_month():
    # 730 h x 0.05/h x 250/253 of the time serving = 9125/253 losses a month.
    assert fc.forecast(one_region(), CALM).losses_per_month == pytest.approx(9125 / 253, rel=1e-12)


def test_node_recreations_add_to_the_reclaim_rate():
    # 7.3 recreations a month = 0.01/h; 0.05 + 0.01 = 0.06/h x 0.24 h: 1/1.0144.
    a = fc.Assumptions(**{**CALM.__dict__, "node_recreations_per_month": 7.3})
    assert fc.forecast(one_region(), a).availability_any == pytest.approx(1 / 1.0144, rel=1e-12)


def test_an_on_demand_replica_is_only_lost_to_recreations():
    # On-demand is never reclaimed: 73/month = 0.1/h, recovery 6 h: 1/1.6 = 0.625; without recreations 1.
    a = fc.Assumptions(**{**CALM.__dict__, "node_recreations_per_month": 73})
    assert fc.forecast(one_region(("on-demand",), recovery_seconds=21600), a).availability_any == pytest.approx(0.625)
    assert fc.forecast(one_region(("on-demand",)), CALM).availability_any == 1.0


def test_all_on_demand_costs_price_times_730_hours_and_ratio_one():
    # Two replicas at $2.00/h for Google's 730-hour month: 2920 both ways.
    f = fc.forecast(one_region(("on-demand",), replicas=2), CALM)
    assert f.node_hours == {"on-demand": 1460}
    assert f.monthly_cost_by_tier == {"on-demand": pytest.approx(2920.0)}
    assert f.monthly_cost == pytest.approx(2920.0) and f.on_demand_cost == pytest.approx(2920.0)
    assert f.cost_ratio == pytest.approx(1.0)


def test_spot_first_is_billed_all_month_at_the_spot_price():
    # The node always exists (a reclaimed one is replaced at once): 730 x 0.8 = 584; vs 1460 on-demand.
    f = fc.forecast(one_region(("spot", "on-demand")), CALM)
    assert f.monthly_cost_by_tier == {"spot": pytest.approx(584.0)}
    assert f.on_demand_cost == pytest.approx(1460.0) and f.cost_ratio == pytest.approx(0.4)


def test_no_replicas_never_serves_costs_nothing_and_has_no_ratio():
    f = fc.forecast(one_region(replicas=0), CALM)
    assert (f.availability_any, f.availability_full) == (0.0, 1.0)
    assert f.monthly_cost == 0 and f.node_hours == {} and f.cost_ratio is None


def test_a_tier_without_a_price_has_no_cost():
    d = fc.Design(regions=(fc.Region("r", ("spot",), 1, {"spot": None, "on-demand": 2.0}),), recovery_seconds=864)
    f = fc.forecast(d, CALM)
    assert f.monthly_cost is None and f.monthly_cost_by_tier == {"spot": None} and f.cost_ratio is None


@pytest.mark.parametrize("rate_low, rate_high", [(0.01, 0.02), (0.05, 0.5)])
def test_availability_falls_as_the_reclaim_rate_rises(rate_low, rate_high):
    assert fc.replica_availability(rate_low, 0.24) > fc.replica_availability(rate_high, 0.24)


def test_availability_falls_as_the_recovery_lengthens():
    short_ = fc.forecast(one_region(recovery_seconds=600), CALM).availability_any
    long_ = fc.forecast(one_region(recovery_seconds=1200), CALM).availability_any
    assert short_ > long_


def test_more_replicas_raise_any_and_lower_full():
    one, two = fc.forecast(one_region(replicas=1), CALM), fc.forecast(one_region(replicas=2), CALM)
    assert two.availability_any > one.availability_any and two.availability_full < one.availability_full


def test_the_closed_form_refuses_what_it_is_not_exact_for():
    with pytest.raises(ValueError, match="^the closed form is exact only without correlated outages, "
                                         "with Spot first or on-demand only$"):
        fc.closed_form(one_region(("flex-start",)), CALM)


def test_exact_only_for_spot_first_without_outages_or_on_demand_first():
    stormy = fc.Assumptions(**{**CALM.__dict__, "zone_spot_outages_per_day": 0.5})
    assert fc.exact(one_region(("spot", "flex-start")), CALM)
    assert not fc.exact(one_region(("spot",)), stormy)
    assert fc.exact(one_region(("on-demand",)), stormy)
    assert not fc.exact(one_region(("flex-start", "on-demand")), CALM)
    assert fc.exact(one_region(("flex-start",), replicas=0), CALM)  # a region with no replicas is not modelled


def test_correlated_means_any_zone_or_region_outage():
    assert not CALM.correlated
    assert fc.Assumptions(**{**CALM.__dict__, "zone_spot_outages_per_day": 0.01}).correlated
    assert fc.Assumptions(**{**CALM.__dict__, "region_spot_outage_fraction": 0.001}).correlated


def test_design_defaults_flex_start_to_seven_days_without_recycling_or_migration():
    d = fc.Design(regions=(), recovery_seconds=1)
    # GKE flex-start nodes run at most 7 days = 604800 s.
    assert (d.flex_max_run_seconds, d.flex_lead_time_seconds, d.active_migration) == (604800, None, False)
    assert fc.Region("r", ("spot",), 1, {}).zones == 3
    assert CALM.node_recreations_per_month == 0.0


def test_with_ladder_and_with_extra_replica():
    d = fc.Design(regions=(fc.Region("a", ("spot",), 2, {}), fc.Region("b", ("spot",), 1, {})), recovery_seconds=1)
    assert [r.ladder for r in fc.with_ladder(d, ("on-demand",)).regions] == [("on-demand",), ("on-demand",)]
    assert [r.replicas for r in fc.with_extra_replica(d).regions] == [3, 1]
    assert d.replicas == 3


# --- catalog/forecast.py: the Monte Carlo and its horizon -----------------------------------------------

STORMY = fc.Assumptions(spot_preemptions_per_hour=0.05, zone_spot_outages_per_day=2, zone_spot_outage_hours=0.5,
                        region_spot_outage_fraction=0.01, region_spot_outage_hours=0.5, outage_reclaim_fraction=0.9,
                        flex_start_obtain_probability=0.7, flex_start_queue_minutes=3, fallback_backoff_minutes=5,
                        migration_delay_minutes=15, node_recreations_per_month=1)


def test_the_monte_carlo_is_the_same_for_the_same_seed_and_differs_for_another():
    d = one_region(("spot", "flex-start", "on-demand"), replicas=2, flex_lead_time_seconds=3600)
    first = fc.monte_carlo(d, STORMY, seed=7, years=2)
    assert fc.monte_carlo(d, STORMY, seed=7, years=2) == first
    assert fc.monte_carlo(d, STORMY, seed=8, years=2).availability_full != first.availability_full
    assert first.method == "monte carlo, 2 simulated years, seed 7"


def test_the_default_seed_is_named_in_the_method():
    d = one_region(("flex-start", "on-demand"))
    assert fc.forecast(d, CALM, years=2).method == "monte carlo, 2 simulated years, seed 20261130"


def test_an_on_demand_replica_in_the_monte_carlo_serves_all_the_time_at_the_on_demand_price():
    # Never reclaimed, never recreated: up the whole horizon, 730 node-hours a month at $2.00.
    f = fc.monte_carlo(one_region(("on-demand",)), CALM, years=2)
    assert f.availability_any == pytest.approx(1.0) and f.availability_full == pytest.approx(1.0)
    assert f.node_hours == {"on-demand": pytest.approx(730.0)} and f.monthly_cost == pytest.approx(1460.0)
    assert f.losses_per_month == 0


def test_no_replicas_in_the_monte_carlo_never_serves():
    f = fc.monte_carlo(one_region(("flex-start",), replicas=0), CALM, years=2)
    assert (f.availability_any, f.availability_full) == (0.0, 1.0)


HUGE_FLEX = 1e9  # seconds: the flex-start end term (1/277778 per hour) is then negligible


def years_for(design=None, **over) -> float:
    a = fc.Assumptions(**{**CALM.__dict__, "spot_preemptions_per_hour": 0, **over})
    return fc.simulated_years(design or one_region(flex_max_run_seconds=HUGE_FLEX), a)


def test_years_from_the_spot_rate_and_the_flex_start_end():
    # 0.05/h + 1/168 h (7-day flex-start) = 490.14 events a year: 5000 / 490.14 = 10.2 -> 10 years.
    assert years_for(one_region(), spot_preemptions_per_hour=0.05) == 10.0


def test_years_from_node_recreations():
    # 73 a month = 0.1/h = 876 a year: 5000 / 876 = 5.7 -> 5.
    assert years_for(node_recreations_per_month=73) == 5.0


def test_years_from_zone_outages_times_the_reclaim_fraction():
    # 2.4 a day = 0.1/h, half reclaim: 0.05/h = 438 a year: 5000 / 438 = 11.4 -> 11.
    assert years_for(zone_spot_outages_per_day=2.4, outage_reclaim_fraction=0.5) == 11.0


def test_years_from_region_outage_onsets():
    # 1% of the time in 0.5 h outages: 0.01 / 0.5 = 0.02 onsets/h, all reclaimed: 175.2 a year: 28.5 -> 28.
    assert years_for(region_spot_outage_fraction=0.01, region_spot_outage_hours=0.5, outage_reclaim_fraction=1) == 28.0


def test_years_never_below_two():
    # 0.25/h = 2190 a year: 5000 / 2190 = 2.28 -> 2; 1/h: 0.57 -> still 2.
    assert years_for(spot_preemptions_per_hour=0.25) == 2.0
    assert years_for(spot_preemptions_per_hour=1) == 2.0


def test_years_never_above_forty():
    # Almost no events: 5000 / 0.03 a year would be 158,000 years.
    assert years_for() == 40.0


# --- catalog/forecast.py: the interval helpers of the Monte Carlo ----------------------------------------


def test_timeline_intervals_are_half_open():
    t = fc._Timeline([(1.0, 2.0), (5.0, 6.0)])
    assert [t.covers(x) for x in (0.5, 1.0, 1.5, 2.0, 5.5, 6.0)] == [False, True, True, False, True, False]
    assert (t.end_of(1.5), t.end_of(3.0)) == (2.0, 3.0)


def test_timeline_clear_for_waits_for_the_delay_after_every_interval():
    t = fc._Timeline([(1.0, 2.0), (2.5, 3.0)])
    assert t.clear_for(0.0, 0.5) == 0.0  # nothing in the half hour before
    assert t.clear_for(1.5, 0.25) == 2.25  # 2.0 + 0.25, before the next interval starts
    assert t.clear_for(1.5, 0.6) == 3.6  # 2.0 + 0.6 falls in the next interval: 3.0 + 0.6
    assert t.clear_for(2.4, 0.5) == 3.5


def test_intersect_and_union_of_interval_lists():
    a, b = [(0.0, 2.0), (4.0, 6.0)], [(1.0, 5.0)]
    assert fc._intersect(a, b) == [(1.0, 2.0), (4.0, 5.0)]
    assert fc._union(a, b) == [(0.0, 6.0)]
    assert fc._union([(0.0, 1.0)], [(1.0, 2.0)]) == [(0.0, 2.0)]  # touching intervals merge
    assert fc._intersect([(0.0, 1.0)], [(1.0, 2.0)]) == []  # touching intervals share no time
