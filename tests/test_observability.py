"""The dashboard and the alert policies: valid JSON, the configured engine's metric names, queries
scoped to this cluster and Deployment, and an e-mail channel only when one is configured."""

import json
import re

import pulumi
import pytest

from components.operations.observability import (
    InvalidObservability, Observability, ObservabilityArgs, dashboard_url, preemption_filter, prune,
)
from components.serving.engines.tgi import METRICS as TGI_METRICS
from components.serving.engines.vllm import METRICS as VLLM_METRICS
from conftest import PROJECT, evaluate
from planner.harness import MOCK_PROJECT_NUMBER

ENGINES = pytest.mark.parametrize("metrics", [TGI_METRICS, VLLM_METRICS], ids=["tgi", "vllm"])
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
CLUSTER = "llm-serving-dev"
SCOPE = f'cluster="{CLUSTER}",location="us-central1",namespace="llm"'
PODS = f'{SCOPE},pod=~"llm-[a-z0-9]+-[a-z0-9]+"'


def args(metrics=TGI_METRICS, **over) -> ObservabilityArgs:
    values = dict(project=PROJECT, cluster_name=CLUSTER, location="us-central1", namespace="llm",
                  deployment_name="llm", compute_class_name="dws-model-inference-class", engine=metrics.engine,
                  metrics=metrics, target_queue_size=4, max_replicas=3, autoscaled=True,
                  pending_budget_seconds=1800, alert_email=None)
    values.update(over)
    return ObservabilityArgs(**values)


def run(a: ObservabilityArgs):
    def program():
        o = Observability("obs", a)
        pulumi.export("dashboardUrl", o.dashboard_url)
        pulumi.export("policies", o.policy_names)
        pulumi.export("channel", o.notification_channel)

    return evaluate(program=program)


def board(ev) -> dict:
    return json.loads(ev.one(DASHBOARD).plain["dashboardJson"])


def charts(ev) -> dict:
    """chart title -> its PromQL queries."""
    return {t["widget"]["title"]: [d["timeSeriesQuery"]["prometheusQuery"] for d in t["widget"]["xyChart"]["dataSets"]]
            for t in board(ev)["mosaicLayout"]["tiles"]}


def policies(ev) -> dict:
    return {r.name.removeprefix("obs-"): r.plain for r in ev.of_type(POLICY)}


def query(policy: dict) -> str:
    return policy["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]


@ENGINES
def test_dashboard_json_parses_and_names_the_engines_metrics(metrics):
    text = json.dumps(board(run(args(metrics))))
    tokens = metrics.generated_tokens + ("" if metrics.generated_tokens_kind == "counter" else "_sum")
    for name in (metrics.queue, metrics.running, metrics.request_latency + "_bucket", tokens):
        assert f'__name__=\\"{name}\\"' in text, name
    other = VLLM_METRICS if metrics is TGI_METRICS else TGI_METRICS
    assert other.queue not in text and other.running not in text


@ENGINES
def test_dashboard_has_the_issues_panels(metrics):
    c = charts(run(args(metrics)))
    assert list(c) == [
        "Replicas: ready vs desired",
        f"Queue per pod ({metrics.queue}) vs target",
        f"Running requests per pod ({metrics.running})",
        f"Request latency ({metrics.request_latency})",
        f"Generated tokens per second ({metrics.generated_tokens})",
        "GPU utilization (DCGM_FI_DEV_GPU_UTIL)",
        "GPU memory used (DCGM_FI_DEV_FB_USED)",
        "Nodes of dws-model-inference-class by capacity tier",
    ]


def test_replica_chart_compares_ready_with_desired_and_the_hpa():
    ready, desired, hpa = charts(run(args()))["Replicas: ready vs desired"]
    assert ready == f'sum({{__name__="kube_deployment_status_replicas_available",{SCOPE},deployment="llm"}})'
    assert desired == f'sum({{__name__="kube_deployment_spec_replicas",{SCOPE},deployment="llm"}})'
    assert hpa == f'sum({{__name__="kube_horizontalpodautoscaler_status_desired_replicas",{SCOPE},horizontalpodautoscaler="llm"}})'
    assert len(charts(run(args(autoscaled=False)))["Replicas: ready vs desired"]) == 2


def test_queue_chart_draws_the_hpa_target():
    tiles = board(run(args(VLLM_METRICS, target_queue_size=5)))["mosaicLayout"]["tiles"]
    queue = tiles[1]["widget"]["xyChart"]
    assert queue["thresholds"] == [{"value": 5, "label": "HPA target", "targetAxis": "Y1"}]
    assert queue["dataSets"][1]["timeSeriesQuery"]["prometheusQuery"] == f'avg({{__name__="vllm:num_requests_waiting",{PODS}}})'


@ENGINES
def test_latency_and_tokens_come_from_the_engines_histograms_and_counters(metrics):
    c = charts(run(args(metrics)))
    latency = c[f"Request latency ({metrics.request_latency})"]
    assert latency[1] == (f'histogram_quantile(0.95, sum by (le) (rate({{__name__="{metrics.request_latency}_bucket",{PODS}}}[5m])))')
    if metrics.time_to_first_token:
        assert metrics.time_to_first_token + "_bucket" in latency[2]
    else:
        assert len(latency) == 2
    (tokens,) = c[f"Generated tokens per second ({metrics.generated_tokens})"]
    expected = {"tgi": "tgi_request_generated_tokens_sum", "vllm": "vllm:generation_tokens_total"}[metrics.engine]
    assert tokens == f'sum(rate({{__name__="{expected}",{PODS}}}[5m]))'


def test_gpu_charts_read_dcgm_for_the_servers_pods():
    c = charts(run(args()))
    (util,) = c["GPU utilization (DCGM_FI_DEV_GPU_UTIL)"]
    (memory,) = c["GPU memory used (DCGM_FI_DEV_FB_USED)"]
    assert util == ('avg by (exported_pod) ({__name__="DCGM_FI_DEV_GPU_UTIL",cluster="llm-serving-dev",'
                    'location="us-central1",exported_pod=~"llm-[a-z0-9]+-[a-z0-9]+"})')
    assert memory.startswith('sum by (exported_pod) ({__name__="DCGM_FI_DEV_FB_USED",')


def test_node_chart_counts_the_compute_class_nodes_by_capacity_tier():
    spot, flex, on_demand = charts(run(args()))["Nodes of dws-model-inference-class by capacity tier"]
    common = ('count({__name__="kubernetes.io/node/cpu/total_cores",monitored_resource="k8s_node",'
              'cluster_name="llm-serving-dev",location="us-central1",'
              '"metadata_user_cloud.google.com/compute-class"="dws-model-inference-class",')
    assert spot == common + '"metadata_user_cloud.google.com/gke-spot"="true"})'
    assert flex == common + '"metadata_user_cloud.google.com/gke-flex-start"="true"})'
    assert on_demand == common + ('"metadata_user_cloud.google.com/gke-spot"!="true",'
                                  '"metadata_user_cloud.google.com/gke-flex-start"!="true"})')


def test_dashboard_json_holds_nothing_the_api_would_drop():
    """No zero, false or empty value: the API omits them and the provider would show a diff forever."""
    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                assert x not in (0, False, "", [], {}) or x is True, k
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    b = board(run(args()))
    walk(b)
    assert "xPos" not in b["mosaicLayout"]["tiles"][0] and b["mosaicLayout"]["tiles"][1]["xPos"] == 24
    assert prune({"a": 0, "b": {"c": False, "d": ""}, "e": [{"f": 0, "g": 1}], "h": True}) == {"e": [{"g": 1}], "h": True}


def test_dashboard_json_is_stable_between_runs():
    assert run(args()).one(DASHBOARD).plain["dashboardJson"] == run(args()).one(DASHBOARD).plain["dashboardJson"]


def test_dashboard_url_is_the_console_builder_link_for_the_dashboards_id():
    ev = run(args())
    assert ev.outputs["dashboardUrl"] == ("https://console.cloud.google.com/monitoring/dashboards/builder/"
                                          f"mock-obs-dashboard?project={PROJECT}")
    assert dashboard_url("projects/123/dashboards/0b1c-uuid", "p") == (
        "https://console.cloud.google.com/monitoring/dashboards/builder/0b1c-uuid?project=p")


@ENGINES
def test_four_alert_policies_with_promql_conditions_that_may_precede_their_metrics(metrics):
    p = policies(run(args(metrics)))
    assert sorted(p) == ["no-ready-replica", "pending-pod", "queue-saturated", "spot-preemption"]
    for key in ("no-ready-replica", "pending-pod", "queue-saturated"):
        condition = p[key]["conditions"][0]["conditionPrometheusQueryLanguage"]
        assert condition["disableMetricValidation"] is True
        assert p[key]["combiner"] == "OR" and p[key]["project"] == PROJECT


def test_no_ready_replica_fires_after_n_minutes_without_an_available_replica():
    policy = policies(run(args(no_ready_seconds=300)))["no-ready-replica"]
    assert query(policy) == f'sum({{__name__="kube_deployment_status_replicas_available",{SCOPE},deployment="llm"}}) < 1'
    assert policy["conditions"][0]["conditionPrometheusQueryLanguage"]["duration"] == "300s"
    assert policy["severity"] == "CRITICAL"


@ENGINES
def test_queue_saturation_needs_the_queue_above_target_and_the_deployment_at_max_replicas(metrics):
    policy = policies(run(args(metrics, target_queue_size=4, max_replicas=5)))["queue-saturated"]
    assert query(policy) == (
        f'(avg({{__name__="{metrics.queue}",{PODS}}}) > 4) and on() '
        f'(sum({{__name__="kube_deployment_spec_replicas",{SCOPE},deployment="llm"}}) >= 5)')
    assert "raise maxReplicas" in policy["documentation"]["content"]
    fixed = policies(run(args(metrics, autoscaled=False)))["queue-saturated"]
    assert "turn autoscaling on" in fixed["documentation"]["content"]


def test_pending_pod_fires_after_the_provisioning_budget():
    policy = policies(run(args(pending_budget_seconds=2700)))["pending-pod"]
    assert query(policy) == f'max by (pod) ({{__name__="kube_pod_status_phase",{PODS},phase="Pending"}}) > 0'
    assert policy["conditions"][0]["conditionPrometheusQueryLanguage"]["duration"] == "2700s"


def test_spot_preemption_matches_gce_preemptions_of_this_clusters_nodes_with_a_rate_limit():
    policy = policies(run(args()))["spot-preemption"]
    log = policy["conditions"][0]["conditionMatchedLog"]
    assert log["filter"] == ('resource.type="gce_instance"\n'
                             'protoPayload.methodName="compute.instances.preempted"\n'
                             'protoPayload.resourceName:"/instances/gke-llm-serving-dev-"')
    assert set(log["labelExtractors"]) == {"instance", "zone"}
    assert policy["alertStrategy"]["notificationRateLimit"] == {"period": "600s"}


def test_preemption_prefix_survives_gkes_truncation_of_long_cluster_names():
    assert preemption_filter("a-very-long-cluster-name-of-forty").endswith('"/instances/gke-a-very-long-cluster-"')


def test_without_alert_email_the_policies_exist_with_no_channel():
    ev = run(args(alert_email=None))
    assert ev.of_type(CHANNEL) == []
    assert all("notificationChannels" not in p or p["notificationChannels"] == [] for p in policies(ev).values())
    assert ev.outputs["channel"] is None


def test_alert_email_creates_one_channel_attached_to_every_policy():
    ev = run(args(alert_email="oncall@example.com"))
    channel = ev.one(CHANNEL)
    assert channel.plain["type"] == "email" and channel.plain["labels"] == {"email_address": "oncall@example.com"}
    name = f"projects/{MOCK_PROJECT_NUMBER}/notificationChannels/mock-obs-email"
    assert ev.outputs["channel"] == name
    assert all(p["notificationChannels"] == [name] for p in policies(ev).values())


def test_policy_names_are_exported():
    names = run(args()).outputs["policies"]
    assert sorted(names) == ["no_ready_replica", "pending_pod", "queue_saturated", "spot_preemption"]
    assert all(re.fullmatch(rf"projects/{MOCK_PROJECT_NUMBER}/alertPolicies/mock-obs-[a-z-]+", n) for n in names.values())


def test_cluster_name_may_be_an_output():
    def program():
        Observability("obs", args(cluster_name=pulumi.Output.from_input("from-the-cluster")))

    ev = evaluate(program=program)
    assert 'cluster=\\"from-the-cluster\\"' in ev.one(DASHBOARD).plain["dashboardJson"]
    assert "gke-from-the-cluster-" in policies(ev)["spot-preemption"]["conditions"][0]["conditionMatchedLog"]["filter"]


@pytest.mark.parametrize("over, message", [
    (dict(alert_email="not-an-address"), "alert_email 'not-an-address': must be an e-mail address"),
    (dict(alert_email="a@b"), "alert_email 'a@b'"),
    (dict(target_queue_size=0), "target_queue_size 0: must be > 0"),
    (dict(pending_budget_seconds=0), "pending_budget_seconds 0: must be > 0"),
    (dict(engine="vllm"), "metrics are tgi's, engine is 'vllm'"),
])
def test_bad_arguments_fail_before_anything_is_created(over, message):
    def program():
        with pytest.raises(InvalidObservability, match=re.escape(message)):
            Observability("obs", args(**over))

    assert evaluate(program=program).resources == []
