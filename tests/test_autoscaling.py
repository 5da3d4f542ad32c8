"""Queue-based autoscaling: the PodMonitoring that feeds Managed Prometheus and the HPA on the
engine's queue gauge, for both engines."""

import re

import pulumi
import pytest

from components.operations.autoscaling import (
    MAX_PERIOD_SECONDS, MAX_STABILIZATION_SECONDS, AutoscalingArgs, InvalidAutoscaling, ServerAutoscaling,
    adapter_metric_name,
)
from components.serving.engines.tgi import METRICS as TGI_METRICS
from components.serving.engines.vllm import METRICS as VLLM_METRICS
from conftest import server, evaluate
from planner.render import redact
from planner.validate import validate_object

POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
ENGINES = pytest.mark.parametrize("metrics", [TGI_METRICS, VLLM_METRICS], ids=["tgi", "vllm"])


def args(metrics=TGI_METRICS, **over) -> AutoscalingArgs:
    values = dict(namespace="llm", deployment_name="llm", selector={"app": "llm"}, metrics=metrics,
                  min_replicas=1, max_replicas=3, target_queue_size=4, scale_down_stabilization_seconds=1800)
    values.update(over)
    return AutoscalingArgs(**values)


def run(a: AutoscalingArgs):
    return evaluate(program=lambda: ServerAutoscaling("autoscaling", a))


@ENGINES
def test_hpa_scales_the_deployment_on_the_engines_queue_as_a_pods_metric(metrics):
    spec = run(args(metrics)).one(HPA).plain["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    assert spec["metrics"] == [{"type": "Pods", "pods": {
        "metric": {"name": f"prometheus.googleapis.com|{metrics.queue}|gauge"},
        "target": {"type": "AverageValue", "averageValue": "4"},
    }}]


def test_queue_metric_names_as_the_adapter_reads_them():
    # The adapter replaces '|' by '/' and leaves ':' alone.
    assert adapter_metric_name(TGI_METRICS.queue) == "prometheus.googleapis.com|tgi_queue_size|gauge"
    assert adapter_metric_name(VLLM_METRICS.queue) == "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"


def test_fractional_targets_become_milli_quantities():
    spec = run(args(target_queue_size=2.5)).one(HPA).plain["spec"]
    assert spec["metrics"][0]["pods"]["target"]["averageValue"] == "2500m"


@ENGINES
def test_scale_up_is_immediate_and_fast(metrics):
    up = run(args(metrics)).one(HPA).plain["spec"]["behavior"]["scaleUp"]
    assert up["stabilizationWindowSeconds"] == 0
    assert up["selectPolicy"] == "Max"
    assert up["policies"] == [{"type": "Pods", "value": 4, "periodSeconds": 15},
                              {"type": "Percent", "value": 100, "periodSeconds": 15}]


@ENGINES
def test_scale_down_waits_out_the_cold_start_and_removes_one_pod_per_period(metrics):
    down = run(args(metrics, scale_down_stabilization_seconds=2400, scale_down_period_seconds=600)).one(HPA).plain["spec"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] == 2400
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 600}]


def test_no_hpa_when_the_replica_count_is_fixed_but_metrics_are_still_scraped():
    ev = run(args(min_replicas=2, max_replicas=2))
    assert ev.of_type(HPA) == []
    assert len(ev.of_type(POD_MONITORING)) == 1


def test_exports_name_the_objects():
    def program():
        a = ServerAutoscaling("autoscaling", args())
        pulumi.export("pm", a.pod_monitoring_name)
        pulumi.export("hpa", a.hpa_name)

    assert evaluate(program=program).outputs == {"pm": "llm-metrics", "hpa": "llm"}

    def fixed():
        a = ServerAutoscaling("autoscaling", args(max_replicas=1))
        assert a.hpa_name is None and a.hpa is None

    evaluate(program=fixed)


@ENGINES
def test_pod_monitoring_scrapes_the_engines_named_port_and_path(metrics):
    pm = run(args(metrics)).one(POD_MONITORING).plain
    assert pm["apiVersion"] == "monitoring.googleapis.com/v1" and pm["kind"] == "PodMonitoring"
    assert pm["metadata"]["namespace"] == "llm" and pm["metadata"]["name"] == "llm-metrics"
    assert pm["spec"] == {
        "selector": {"matchLabels": {"app": "llm"}},
        "endpoints": [{"port": metrics.port_name, "path": "/metrics", "interval": "15s"}],
    }


def test_pod_monitoring_selects_the_servers_pods_and_names_a_port_they_have():
    """Against the Deployment the program renders today (TGI): the selector is a subset of the pod
    labels and the port name is one of the container's ports."""
    deployment = server(evaluate()).plain
    template = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    pm = run(args(TGI_METRICS, selector=selector)).one(POD_MONITORING).plain
    assert pm["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"]}
    assert pm["spec"]["endpoints"][0]["port"] in ports
    assert ports[TGI_METRICS.port_name] == 8080  # TGI serves /metrics on its main port


@ENGINES
def test_every_rendered_object_passes_strict_validation(metrics):
    ev = run(args(metrics))
    objects = ev.k8s_objects()
    assert {o.inputs["kind"] for o in objects} == {"PodMonitoring", "HorizontalPodAutoscaler"}
    for o in objects:
        assert validate_object(redact(o.inputs, [], ev.computed)) == []


@pytest.mark.parametrize("over, message", [
    (dict(min_replicas=3, max_replicas=2), "max_replicas 2: must be >= min_replicas 3"),
    (dict(min_replicas=0), "min_replicas 0: must be at least 1"),
    (dict(target_queue_size=0), "target_queue_size 0: must be > 0"),
    (dict(target_queue_size=-1), "target_queue_size -1: must be > 0"),
    (dict(scale_down_stabilization_seconds=MAX_STABILIZATION_SECONDS + 1), "scale_down_stabilization_seconds 3601"),
    (dict(scale_down_period_seconds=MAX_PERIOD_SECONDS + 1), "scale_down_period_seconds 1801"),
    (dict(scrape_interval="15"), "scrape_interval '15'"),
    (dict(selector={}), "selector: must name the pods' labels"),
])
def test_bad_arguments_fail_before_anything_is_created(over, message):
    def program():
        with pytest.raises(InvalidAutoscaling, match=re.escape(message)):
            ServerAutoscaling("autoscaling", args(**over))

    assert evaluate(program=program).resources == []
