"""The PodMonitoring rules: what Managed Prometheus's CRD accepts, limited to the fields we write."""

import pytest

from planner.rules import pod_monitoring as rules
from components.operations.autoscaling import AutoscalingArgs, pod_monitoring
from components.serving.engines.tgi import METRICS as TGI_METRICS
from components.serving.engines.vllm import METRICS as VLLM_METRICS
from planner.validate import validate_object


def body(metrics=VLLM_METRICS):
    a = AutoscalingArgs(namespace="llm", deployment_name="llm", selector={"app": "llm"}, metrics=metrics,
                        min_replicas=1, max_replicas=2, target_queue_size=4, scale_down_stabilization_seconds=600)
    return pod_monitoring("llm-metrics", "llm", a)


@pytest.mark.parametrize("metrics", [TGI_METRICS, VLLM_METRICS], ids=["tgi", "vllm"])
def test_generated_pod_monitoring_passes_the_rules_and_the_plan_dispatches_to_them(metrics):
    assert rules.validate(body(metrics)) == []
    assert validate_object(body(metrics)) == []


def test_plan_validation_reports_the_object_and_field():
    obj = body()
    obj["spec"]["endpoints"][0]["interval"] = "fast"
    assert validate_object(obj) == [
        "PodMonitoring llm/llm-metrics: spec.endpoints[0].interval: 'fast' must be a positive Prometheus duration such as 15s or 1m"]


@pytest.mark.parametrize("text, ms", [("15s", 15000), ("1m", 60000), ("1m30s", 90000), ("500ms", 500), ("0", 0),
                                      ("1h", 3600000), ("15", None), ("1s1m", None), ("", None), (15, None)])
def test_prometheus_durations(text, ms):
    assert rules.duration_ms(text) == ms


@pytest.mark.parametrize("mutate, field", [
    (lambda o: o["spec"]["endpoints"][0].pop("port"), "spec.endpoints[0].port: required"),
    (lambda o: o["spec"]["endpoints"][0].update(port="HTTP"), "spec.endpoints[0].port: 'HTTP'"),
    (lambda o: o["spec"]["endpoints"][0].update(port="a-very-long-port-name"), "spec.endpoints[0].port"),
    (lambda o: o["spec"]["endpoints"][0].update(port=70000), "spec.endpoints[0].port: 70000"),
    (lambda o: o["spec"]["endpoints"][0].pop("interval"), "spec.endpoints[0].interval: required"),
    (lambda o: o["spec"]["endpoints"][0].update(interval="0"), "spec.endpoints[0].interval: '0'"),
    (lambda o: o["spec"]["endpoints"][0].update(timeout="30s"), "must not be longer than the interval"),
    (lambda o: o["spec"]["endpoints"][0].update(timeout="ten"), "spec.endpoints[0].timeout: 'ten'"),
    (lambda o: o["spec"]["endpoints"][0].update(path="metrics"), "spec.endpoints[0].path"),
    (lambda o: o["spec"]["endpoints"][0].update(scheme="grpc"), "spec.endpoints[0].scheme"),
    (lambda o: o["spec"]["endpoints"][0].update(honorLabels=True), "spec.endpoints[0].honorLabels: unknown field"),
    (lambda o: o["spec"].update(endpoints=[]), "spec.endpoints: required, a list of 1 to 10"),
    (lambda o: o["spec"].update(endpoints=[{"port": "http", "interval": "15s"}] * 11), "spec.endpoints: required, a list of 1 to 10"),
    (lambda o: o["spec"].update(selector={}), "spec.selector.matchLabels: required"),
    (lambda o: o["spec"]["selector"].update(matchExpressions=[]), "spec.selector.matchExpressions: unknown field"),
    (lambda o: o["spec"].pop("selector"), "spec.selector: required"),
    (lambda o: o["spec"].update(targetLabels={}), "spec.targetLabels: unknown field"),
    (lambda o: o["metadata"].pop("namespace"), "metadata.namespace: required"),
    (lambda o: o["metadata"].update(name="LLM"), "metadata.name: 'LLM'"),
    (lambda o: o.update(apiVersion="monitoring.googleapis.com/v1alpha1"), "apiVersion/kind"),
])
def test_rules_name_the_broken_field(mutate, field):
    obj = body()
    mutate(obj)
    errors = rules.validate(obj)
    assert any(field in e for e in errors), errors


def test_a_shorter_timeout_and_a_port_number_are_accepted():
    obj = body()
    obj["spec"]["endpoints"][0].update(port=8000, timeout="10s", scheme="http")
    assert rules.validate(obj) == []
