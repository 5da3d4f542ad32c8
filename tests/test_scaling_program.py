"""Queue-based autoscaling, metrics collection, dashboard and alerts as the whole program wires them,
for both engines: names, ports and selectors must line up across objects that never see each other."""

import json

import pytest

import catalog
from components.platform.cluster import MONITORING_COMPONENTS
from conftest import PROJECT, container, evaluate, server
from planner.harness import MOCK_PROJECT_NUMBER

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
SCALED = {"autoscaling": {"minReplicas": 1, "maxReplicas": 3, "targetQueueSize": 5}}
QUEUE = {"tgi": "tgi_queue_size", "vllm": "vllm:num_requests_waiting"}


def vllm(**config):
    return {"engine": "vllm", "model": "casperhansen/mixtral-instruct-awq", **config}


@pytest.mark.parametrize("engine", ["tgi", "vllm"])
def test_hpa_scales_the_server_on_the_engines_queue(engine):
    ev = evaluate(**(vllm(**SCALED) if engine == "vllm" else SCALED))
    hpa = ev.one(HPA).plain
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == f"prometheus.googleapis.com|{QUEUE[engine]}|gauge"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "5"}
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    # Down only after the queue stayed low for a replacement's whole budget (provisioning + cold start).
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == ev.result["s"].replica_budget_seconds
    assert "replicas" not in server(ev).plain["spec"]


def test_without_autoscaling_the_count_is_fixed_and_there_is_no_hpa_or_adapter():
    ev = evaluate(replicas=2)
    assert not ev.of_type(HPA)
    assert server(ev).plain["spec"]["replicas"] == 2
    assert not [r for r in ev.k8s_objects() if r.plain["metadata"].get("namespace") == "custom-metrics"]
    equal = evaluate(autoscaling={"minReplicas": 3, "maxReplicas": 3})
    assert not equal.of_type(HPA) and server(equal).plain["spec"]["replicas"] == 3


@pytest.mark.parametrize("engine", ["tgi", "vllm"])
def test_pod_monitoring_scrapes_a_port_the_pods_have(engine):
    ev = evaluate(**(vllm() if engine == "vllm" else {}))
    pm = ev.one(POD_MONITORING).plain
    labels = server(ev).plain["spec"]["template"]["metadata"]["labels"]
    assert pm["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"]: p["containerPort"] for p in container(ev)["ports"]}
    [endpoint] = pm["spec"]["endpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    assert ports[endpoint["port"]] == {"tgi": 8080, "vllm": 8000}[engine]


def test_adapter_reads_cloud_monitoring_as_its_own_service_account():
    ev = evaluate("prod")
    grant = next(m.plain for m in ev.of_type("gcp:projects/iAMMember:IAMMember") if m.plain["role"] == "roles/monitoring.viewer")
    assert grant["member"] == (f"principal://iam.googleapis.com/projects/{MOCK_PROJECT_NUMBER}/locations/global/"
                               f"workloadIdentityPools/{PROJECT}.svc.id.goog/subject/ns/custom-metrics/sa/custom-metrics-stackdriver-adapter")
    accounts = {(a.plain["metadata"]["namespace"], a.plain["metadata"]["name"]) for a in ev.of_type("kubernetes:core/v1:ServiceAccount")}
    assert ("custom-metrics", "custom-metrics-stackdriver-adapter") in accounts


def test_nap_limits_and_timeouts_follow_max_replicas():
    ev = evaluate(**SCALED)
    limits = {l["resourceType"]: l["maximum"] for l in ev.one("gcp:container/cluster:Cluster").plain["clusterAutoscaling"]["resourceLimits"]}
    assert limits["nvidia-l4"] == (3 + 1) * 2
    budget = ev.result["s"].replica_budget_seconds
    assert int(server(ev).plain["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) == 3 * budget


def test_managed_prometheus_and_the_metric_packages_are_on():
    config = evaluate().one("gcp:container/cluster:Cluster").plain["monitoringConfig"]
    assert config["managedPrometheus"] == {"enabled": True}
    assert set(config["enableComponents"]) == set(MONITORING_COMPONENTS) >= {"POD", "DEPLOYMENT", "HPA", "DCGM"}


@pytest.mark.parametrize("engine", ["tgi", "vllm"])
def test_dashboard_names_the_engines_metrics_and_its_url_is_exported(engine):
    ev = evaluate(**(vllm() if engine == "vllm" else {}))
    board = json.loads(ev.one("gcp:monitoring/dashboard:Dashboard").plain["dashboardJson"])
    text = json.dumps(board)
    assert QUEUE[engine] in text
    assert {"tgi": "tgi_request_duration", "vllm": "vllm:e2e_request_latency_seconds"}[engine] in text
    assert "DCGM_FI_DEV_GPU_UTIL" in text and "kube_deployment_status_replicas_available" in text
    assert ev.outputs["dashboardUrl"].startswith("https://console.cloud.google.com/monitoring/dashboards/")
    assert f"project={PROJECT}" in ev.outputs["dashboardUrl"]


def test_alert_email_creates_a_channel_every_policy_notifies():
    quiet, loud = evaluate(), evaluate(alertEmail="oncall@example.com")
    assert len(quiet.of_type("gcp:monitoring/alertPolicy:AlertPolicy")) == 4
    assert not quiet.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    channel = loud.one("gcp:monitoring/notificationChannel:NotificationChannel").plain
    assert channel["type"] == "email" and channel["labels"] == {"email_address": "oncall@example.com"}
    assert all(p.plain.get("notificationChannels") for p in loud.of_type("gcp:monitoring/alertPolicy:AlertPolicy"))


def test_plan_cost_shows_min_and_max_replicas(tmp_path, capsys):
    from planner.__main__ import main
    main(["--stack", "prod", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    spot = catalog.prices()["g2-standard-24"].spot
    assert f"${spot * 2:,.2f}" in out and f"${spot * 4:,.2f}" in out
    assert "2-4 replica(s)" in out
