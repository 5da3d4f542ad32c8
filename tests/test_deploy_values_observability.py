"""Values a real deploy depends on in the dashboard and the alert policies, pinned as literals: each
was a surviving mutant of `make mutants` (or a module constant, which mutmut does not mutate), a
one-token slip no other test noticed. See tests/MUTANTS.md."""

import json
import re

import pulumi
import pytest

from components.serving.engines.tgi import METRICS as TGI_METRICS
from components.serving.engines.vllm import METRICS as VLLM_METRICS
from components.operations.observability import InvalidObservability, Observability, ObservabilityArgs, preemption_filter
from conftest import PROJECT, evaluate

DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
PODS = 'cluster="c",location="us-central1",namespace="llm",pod=~"llm-[a-z0-9]+-[a-z0-9]+"'


def args(metrics=TGI_METRICS, **over) -> ObservabilityArgs:
    values = dict(project=PROJECT, cluster_name="c", location="us-central1", namespace="llm",
                  deployment_name="llm", compute_class_name="cc", engine=metrics.engine, metrics=metrics,
                  target_queue_size=4, max_replicas=3, autoscaled=True, pending_budget_seconds=1800)
    values.update(over)
    return ObservabilityArgs(**values)


def run(a: ObservabilityArgs):
    return evaluate(program=lambda: Observability("obs", a))


def board(ev) -> dict:
    return json.loads(ev.one(DASHBOARD).plain["dashboardJson"])


def tiles(ev) -> list:
    return board(ev)["mosaicLayout"]["tiles"]


def policies(ev) -> dict:
    return {r.name.removeprefix("obs-").removeprefix("observability-"): r.plain for r in ev.of_type(POLICY)}


def condition(policy: dict) -> dict:
    return policy["conditions"][0]["conditionPrometheusQueryLanguage"]


def rejected(a: ObservabilityArgs) -> str:
    seen = []

    def program():
        try:
            Observability("obs", a)
        except InvalidObservability as e:
            seen.append(str(e))

    evaluate(program=program)
    return seen[0] if seen else ""


# --- alert durations and severities ---------------------------------------------------------------

def test_queue_saturation_must_last_ten_minutes_before_it_alerts():
    # Long enough for the HPA (15 s loop) and a new GPU node to have had a go; "600s" is also what
    # the documentation text promises ("10 minutes").
    policy = policies(run(args()))["queue-saturated"]
    assert condition(policy)["duration"] == "600s"
    assert "for 10 minutes" in policy["documentation"]["content"]


def test_program_pages_after_ten_minutes_without_a_ready_replica():
    policy = policies(evaluate())["no-ready-replica"]
    assert condition(policy)["duration"] == "600s"


def test_program_flags_a_pending_server_pod_after_the_twenty_minute_provisioning_budget():
    # settings.NODE_PROVISIONING_SECONDS: Spot, then flex-start, then on-demand each get their turn.
    policy = policies(evaluate())["pending-pod"]
    assert condition(policy)["duration"] == "1200s"
    assert "Pending for more than 20 minutes" in policy["documentation"]["content"]


def test_every_incident_closes_itself_after_thirty_minutes_quiet():
    assert {p["alertStrategy"]["autoClose"] for p in policies(run(args())).values()} == {"1800s"}


def test_severities_say_how_urgent_each_alert_is():
    # Down is critical; a stuck pod is an error; saturation and a Spot reclaim are warnings.
    assert {k: p["severity"] for k, p in policies(run(args())).items()} == {
        "no-ready-replica": "CRITICAL", "pending-pod": "ERROR",
        "queue-saturated": "WARNING", "spot-preemption": "WARNING"}


def test_alert_text_is_markdown_and_names_the_deployment():
    p = policies(run(args()))
    assert {x["documentation"]["mimeType"] for x in p.values()} == {"text/markdown"}
    assert p["no-ready-replica"]["displayName"] == "llm/llm: no ready replica"
    assert p["queue-saturated"]["displayName"] == "llm/llm: queue above target at maxReplicas"
    assert condition(p["queue-saturated"]) | {"query": ""} == {
        "query": "", "duration": "600s", "disableMetricValidation": True}


def test_a_fractional_target_reads_the_same_in_the_query_and_the_condition_name():
    p = policies(run(args(target_queue_size=2.5)))["queue-saturated"]
    assert "> 2.5) and on()" in condition(p)["query"]
    assert p["conditions"][0]["displayName"] == "average queue > 2.5 at 3 replicas"


def test_policies_are_labelled_with_the_deployment_and_engine_in_label_form():
    # Cloud Monitoring user labels take lowercase letters, digits, '_' and '-' only.
    p = policies(run(args(VLLM_METRICS, deployment_name="Chat.Server")))
    assert {json.dumps(x["userLabels"], sort_keys=True) for x in p.values()} == {
        '{"app": "chat-server", "engine": "vllm"}'}


# --- the dashboard: engine metric names and layout --------------------------------------------------

def test_tgi_dashboard_reads_tgis_own_metric_names():
    # TGI 3.x metrics reference: a wrong name is an empty chart on a real deploy.
    text = json.dumps(board(run(args(TGI_METRICS))))
    for name in ("tgi_queue_size", "tgi_batch_current_size", "tgi_request_duration_bucket",
                 "tgi_request_generated_tokens_sum"):
        assert f'__name__=\\"{name}\\"' in text, name


def test_vllm_dashboard_reads_vllms_own_metric_names_and_its_ttft():
    text = json.dumps(board(run(args(VLLM_METRICS))))
    for name in ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:e2e_request_latency_seconds_bucket",
                 "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds_bucket"):
        assert f'__name__=\\"{name}\\"' in text, name


def test_latency_chart_draws_the_median_and_the_95th_percentile():
    latency = tiles(run(args(VLLM_METRICS)))[3]["widget"]
    queries = [d["timeSeriesQuery"]["prometheusQuery"] for d in latency["xyChart"]["dataSets"]]
    assert queries == [
        f'histogram_quantile(0.5, sum by (le) (rate({{__name__="vllm:e2e_request_latency_seconds_bucket",{PODS}}}[5m])))',
        f'histogram_quantile(0.95, sum by (le) (rate({{__name__="vllm:e2e_request_latency_seconds_bucket",{PODS}}}[5m])))',
        f'histogram_quantile(0.95, sum by (le) (rate({{__name__="vllm:time_to_first_token_seconds_bucket",{PODS}}}[5m])))',
    ]
    assert [d["legendTemplate"] for d in latency["xyChart"]["dataSets"]] == [
        "p50 end-to-end", "p95 end-to-end", "p95 time to first token"]


def test_running_and_queue_charts_are_per_pod():
    t = tiles(run(args()))
    assert t[1]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"] == (
        f'sum by (pod) ({{__name__="tgi_queue_size",{PODS}}})')
    assert t[2]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"] == (
        f'sum by (pod) ({{__name__="tgi_batch_current_size",{PODS}}})')
    assert t[1]["widget"]["xyChart"]["dataSets"][0]["legendTemplate"] == "${labels.pod}"


def test_charts_carry_the_units_the_console_scales_by():
    units = [[d["timeSeriesQuery"].get("unitOverride") for d in t["widget"]["xyChart"]["dataSets"]][0]
             for t in tiles(run(args()))]
    assert units == ["1", "1", "1", "s", "1/s", "%", "MiBy", "1"]


def test_the_node_chart_stacks_the_tiers_and_the_others_are_lines():
    plots = [t["widget"]["xyChart"]["dataSets"][0]["plotType"] for t in tiles(run(args()))]
    assert plots == ["LINE"] * 7 + ["STACKED_AREA"]


def test_dashboard_is_a_48_column_mosaic_two_24_by_16_charts_per_row():
    b = board(run(args()))
    assert b["mosaicLayout"]["columns"] == 48
    places = [(t.get("xPos", 0), t.get("yPos", 0), t["width"], t["height"]) for t in b["mosaicLayout"]["tiles"]]
    assert places == [(0, 0, 24, 16), (24, 0, 24, 16), (0, 16, 24, 16), (24, 16, 24, 16),
                      (0, 32, 24, 16), (24, 32, 24, 16), (0, 48, 24, 16), (24, 48, 24, 16)]
    assert b["displayName"] == "LLM serving: llm (tgi) on c"


def test_replica_chart_marks_max_replicas_and_the_queue_chart_a_fixed_target():
    t = tiles(run(args(autoscaled=False, max_replicas=2)))
    assert t[0]["widget"]["xyChart"]["thresholds"] == [{"value": 2, "label": "maxReplicas", "targetAxis": "Y1"}]
    assert t[1]["widget"]["xyChart"]["thresholds"] == [{"value": 4, "label": "queue target", "targetAxis": "Y1"}]
    assert t[0]["widget"]["xyChart"]["yAxis"] == {"label": "replicas", "scale": "LINEAR"}


def test_the_hpa_series_is_read_under_the_hpas_own_name():
    q = json.dumps(board(run(args(hpa_name="chat-hpa"))))
    assert 'horizontalpodautoscaler=\\"chat-hpa\\"' in q


def test_pods_of_a_dotted_deployment_name_match_the_dot_literally():
    q = json.dumps(board(run(args(deployment_name="a.b"))))
    assert 'pod=~\\"a[.]b-[a-z0-9]+-[a-z0-9]+\\"' in q


# --- preemption filter: GKE node names --------------------------------------------------------------

def test_a_twenty_character_cluster_name_is_matched_whole_with_its_dash():
    assert preemption_filter("a" * 20).endswith(f'"/instances/gke-{"a" * 20}-"')


def test_a_twenty_one_character_cluster_name_is_cut_to_twenty_without_a_dash():
    assert preemption_filter("a" * 21).endswith(f'"/instances/gke-{"a" * 20}"')


# --- argument checks at their boundaries --------------------------------------------------------------

@pytest.mark.parametrize("over, message", [
    (dict(max_replicas=0), "max_replicas 0: must be at least 1"),
    (dict(no_ready_seconds=0), "no_ready_seconds 0: must be > 0"),
    (dict(alert_email="oncall@example.c"), "alert_email 'oncall@example.c'"),
])
def test_just_past_the_limits_is_refused(over, message):
    assert message in rejected(args(**over))


@pytest.mark.parametrize("over", [dict(max_replicas=1), dict(no_ready_seconds=1), dict(pending_budget_seconds=1),
                                  dict(alert_email="oncall@example.co"), dict(target_queue_size=0.01)])
def test_at_the_limits_is_accepted(over):
    assert rejected(args(**over)) == ""


def test_every_problem_is_reported_at_once():
    message = rejected(args(max_replicas=0, no_ready_seconds=0))
    assert message == "observability: max_replicas 0: must be at least 1; no_ready_seconds 0: must be > 0"


def test_the_email_channel_names_the_deployment():
    ev = run(args(alert_email="oncall@example.com"))
    channel = ev.one("gcp:monitoring/notificationChannel:NotificationChannel").plain
    assert channel["displayName"] == "LLM serving alerts (llm)" and channel["project"] == PROJECT


def test_every_chart_states_its_legends_unit_axis_and_thresholds():
    # What an operator reads on the dashboard during an incident: the legend says which series is
    # which, the unit lets the console scale seconds and MiB, the threshold lines show the limits.
    def summary(tile):
        chart = tile["widget"]["xyChart"]
        sets = chart["dataSets"]
        return ([d["legendTemplate"] for d in sets], {d["timeSeriesQuery"]["unitOverride"] for d in sets},
                {d["targetAxis"] for d in sets}, chart["yAxis"], chart.get("thresholds", []))

    y = "Y1"
    assert [summary(t) for t in tiles(run(args(VLLM_METRICS, max_replicas=3, target_queue_size=4)))] == [
        (["available (ready)", "desired (Deployment)", "desired (HPA)"], {"1"}, {y},
         {"label": "replicas", "scale": "LINEAR"}, [{"value": 3, "label": "maxReplicas", "targetAxis": y}]),
        (["${labels.pod}", "average"], {"1"}, {y}, {"label": "waiting requests", "scale": "LINEAR"},
         [{"value": 4, "label": "HPA target", "targetAxis": y}]),
        (["${labels.pod}"], {"1"}, {y}, {"label": "requests", "scale": "LINEAR"}, []),
        (["p50 end-to-end", "p95 end-to-end", "p95 time to first token"], {"s"}, {y},
         {"label": "seconds", "scale": "LINEAR"}, []),
        (["tokens/s"], {"1/s"}, {y}, {"label": "tokens/s", "scale": "LINEAR"}, []),
        (["${labels.exported_pod}"], {"%"}, {y}, {"label": "%", "scale": "LINEAR"}, []),
        (["${labels.exported_pod}"], {"MiBy"}, {y}, {"label": "MiB", "scale": "LINEAR"}, []),
        (["Spot", "flex-start", "on-demand"], {"1"}, {y}, {"label": "nodes", "scale": "LINEAR"}, []),
    ]


def test_gpu_memory_chart_sums_dcgm_framebuffer_per_pod_of_this_cluster():
    memory = tiles(run(args()))[6]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"]
    assert memory == ('sum by (exported_pod) ({__name__="DCGM_FI_DEV_FB_USED",cluster="c",location="us-central1",'
                      'exported_pod=~"llm-[a-z0-9]+-[a-z0-9]+"})')
