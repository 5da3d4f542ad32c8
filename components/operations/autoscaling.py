"""Scaling the model server on its queue: a PodMonitoring that has Managed Prometheus scrape the
engine, and an `autoscaling/v2` HorizontalPodAutoscaler on the engine's queue gauge.

Google's documented method for LLM servers on GKE ("Configure autoscaling for LLM workloads on
GPUs", https://cloud.google.com/kubernetes-engine/docs/how-to/machine-learning/inference/autoscaling
and its best-practices page): GMP scrapes the server, the Custom Metrics Stackdriver Adapter
(components/operations/metrics_adapter.py) serves the series to the HPA, which scales on the queue size as a
Pods metric with an AverageValue target. The cluster autoscaler then brings GPU nodes through the
ComputeClass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from planner.rules import pod_monitoring as pod_monitoring_rules
from components.operations.server_metrics import ServerMetrics

# Kubernetes' own limits (kubernetes pkg/apis/autoscaling/validation/validation.go:
# MaxStabilizationWindowSeconds = 3600, MaxPeriodSeconds = 1800); the API server rejects more.
MAX_STABILIZATION_SECONDS = 3600
MAX_PERIOD_SECONDS = 1800

# Scale-up: the Kubernetes default policies, stated so they are visible and tested ("Default
# Behavior", https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/): add up to
# 4 pods or double the count every 15 s, whichever is more, with no stabilization window.
SCALE_UP_POLICIES = (("Pods", 4, 15), ("Percent", 100, 15))


class InvalidAutoscaling(pulumi.RunError):
    pass


def adapter_metric_name(metric: str, kind: str = "gauge") -> str:
    """The name the HPA asks the Custom Metrics Stackdriver Adapter for.

    The adapter turns '|' back into '/' and nothing else (k8s-stackdriver
    custom-metrics-stackdriver-adapter/pkg/adapter/provider/provider.go getExternalMetricName
    @673c7dd8; README "Metric names"), so a ':' as in vllm:num_requests_waiting stays as it is:
    prometheus.googleapis.com/vllm:num_requests_waiting/gauge is the Cloud Monitoring type GMP writes
    (monitoring-dashboard-samples dashboards/vllm/vllm-prometheus-2.json @25d8c3e8), and Google's
    samples scale on prometheus.googleapis.com|vllm:num_requests_waiting|gauge
    (kubernetes-engine-samples ai-ml/llm-multihost-gpus/vllm-hpa.yaml @2b503651).
    """
    return f"prometheus.googleapis.com|{metric}|{kind}"


@dataclass(frozen=True)
class AutoscalingArgs:
    namespace: pulumi.Input[str]
    deployment_name: pulumi.Input[str]
    selector: dict  # the pods' labels to select (the Deployment's selector)
    metrics: ServerMetrics
    min_replicas: int
    max_replicas: int
    target_queue_size: float  # average waiting requests per pod the HPA aims at
    # How long the queue must have stayed low before a replica is removed (the caller derives it
    # from the cold start): see behavior() for why.
    scale_down_stabilization_seconds: int
    scrape_interval: str = "15s"
    scale_down_period_seconds: int = 300  # at most one replica removed per this many seconds
    name: Optional[str] = None  # fixed object names; the Deployment's name when None


def check(args: AutoscalingArgs) -> list[str]:
    """What is wrong with the arguments, each naming the value and what would work."""
    errors = []
    if args.min_replicas < 1:
        # Never 0: a scaled-to-zero server exports no queue metric, so nothing would scale it up.
        errors.append(f"min_replicas {args.min_replicas}: must be at least 1 (with no pod there is no queue metric to scale up on)")
    if args.max_replicas < args.min_replicas:
        errors.append(f"max_replicas {args.max_replicas}: must be >= min_replicas {args.min_replicas}")
    if not args.target_queue_size > 0:
        errors.append(f"target_queue_size {args.target_queue_size}: must be > 0 (waiting requests per pod)")
    if not 0 <= args.scale_down_stabilization_seconds <= MAX_STABILIZATION_SECONDS:
        errors.append(f"scale_down_stabilization_seconds {args.scale_down_stabilization_seconds}: "
                      f"must be 0-{MAX_STABILIZATION_SECONDS} (the Kubernetes maximum)")
    if not 1 <= args.scale_down_period_seconds <= MAX_PERIOD_SECONDS:
        errors.append(f"scale_down_period_seconds {args.scale_down_period_seconds}: must be 1-{MAX_PERIOD_SECONDS}")
    if not args.selector:
        errors.append("selector: must name the pods' labels (an empty selector would scrape every pod in the namespace)")
    ms = pod_monitoring_rules.duration_ms(args.scrape_interval)
    if not ms:
        errors.append(f"scrape_interval {args.scrape_interval!r}: must be a Prometheus duration such as 15s")
    return errors


def pod_monitoring(name: str, namespace: str, args: AutoscalingArgs) -> dict:
    """The PodMonitoring object (the component passes name and namespace as Pulumi inputs)."""
    return {
        "apiVersion": pod_monitoring_rules.API_VERSION,
        "kind": pod_monitoring_rules.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": dict(args.selector)},
            "endpoints": [{
                # By name, not number: the collector then also records the `container` label, and the
                # scrape follows the port if the engine's number changes (TGI 8080, vLLM 8000).
                "port": args.metrics.port_name,
                "path": args.metrics.path,
                # 15 s: the HPA re-reads metrics every 15 s, and GMP's default (1m in older CRDs) would
                # add up to a minute of lag to every scale-up decision.
                "interval": args.scrape_interval,
            }],
        },
    }


def behavior(args: AutoscalingArgs) -> k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs:
    """Fast up, slow down.

    Up: a new replica needs a GPU node (minutes, longer when Spot is short and the ComputeClass
    falls through to flex-start) and then a model load; a queue that grows now needs capacity
    asked for now, so no stabilization window and the default fast policies. Pods still Pending
    have no metric, which the HPA counts as 0 when scaling up (Kubernetes HPA "Algorithm
    details"), so this does not run away; maxReplicas bounds it.

    Down: a replica removed in a lull costs a full cold start (node + download + load, often tens of
    minutes) when the load comes back. The window makes the HPA act on the highest recommendation of
    the last `scale_down_stabilization_seconds`, so a replica goes only after the queue has stayed low
    that long; then at most one replica per period, so a mistaken scale-down costs one replica.
    """
    return k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
        scale_up=k8s.autoscaling.v2.HPAScalingRulesArgs(
            stabilization_window_seconds=0,
            select_policy="Max",
            policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(type=t, value=v, period_seconds=p)
                      for t, v, p in SCALE_UP_POLICIES],
        ),
        scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
            stabilization_window_seconds=args.scale_down_stabilization_seconds,
            select_policy="Max",
            policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(
                type="Pods", value=1, period_seconds=args.scale_down_period_seconds)],
        ),
    )


def _quantity(value: float) -> str:
    """A Kubernetes quantity: 4 -> "4", 2.5 -> "2500m" (HPA targets accept milli-units)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


class ServerAutoscaling(pulumi.ComponentResource):
    """Creates a `monitoring.googleapis.com/v1` PodMonitoring that scrapes the model server's metrics
    port and path (always: the dashboard and alerts need the series even at a fixed replica count)
    and, when max_replicas > min_replicas, an `autoscaling/v2` HorizontalPodAutoscaler on the
    Deployment that scales on the engine's queue gauge (Pods metric, AverageValue target), read
    through the Custom Metrics Stackdriver Adapter.

    Exports `pod_monitoring_name` (also the `job` label of the scraped series) and `hpa_name` (None
    when the replica count is fixed). When the HPA exists the Deployment must not set
    `spec.replicas` on updates, or each `pulumi up` resets what the HPA chose.
    """

    def __init__(self, name: str, args: AutoscalingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Checked with stand-in names (the real ones may be outputs); the plan re-checks the result.
        body = pod_monitoring("metrics", "namespace", args)
        errors = check(args) + [f"PodMonitoring {e}" for e in pod_monitoring_rules.validate(body)]
        if errors:  # before anything is registered
            raise InvalidAutoscaling("autoscaling: " + "; ".join(errors))
        super().__init__("llmserving:k8s:ServerAutoscaling", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        base = args.name or args.deployment_name
        labels = {"app.kubernetes.io/part-of": "gke-llm-serving"}

        monitoring_name = pulumi.Output.from_input(base).apply(lambda b: f"{b}-metrics")
        self.pod_monitoring = k8s.apiextensions.CustomResource(
            f"{name}-podmonitoring",
            api_version=body["apiVersion"],
            kind=body["kind"],
            metadata=k8s.meta.v1.ObjectMetaArgs(name=monitoring_name, namespace=args.namespace, labels=labels),
            spec=body["spec"],
            opts=child,
        )
        self.pod_monitoring_name = monitoring_name

        self.hpa = None
        self.hpa_name = None
        if args.max_replicas > args.min_replicas:
            self.hpa = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=base, namespace=args.namespace, labels=labels),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=args.deployment_name),
                    min_replicas=args.min_replicas,
                    max_replicas=args.max_replicas,
                    metrics=[k8s.autoscaling.v2.MetricSpecArgs(
                        # Pods: the adapter serves a pod-attached series per pod through the Custom
                        # Metrics API, the latest value of a gauge (k8s-stackdriver adapter README
                        # "Metrics available from Stackdriver", "Metric kinds"), and the HPA averages
                        # them: the queue per replica, as Google's autoscaling how-to scales on. A new series can return 404 for up to ~10 minutes after the first
                        # scrape (k8s-stackdriver issue #771): the HPA then reports FailedGetPodsMetric
                        # and keeps the current count, it does not scale to the minimum.
                        type="Pods",
                        pods=k8s.autoscaling.v2.PodsMetricSourceArgs(
                            metric=k8s.autoscaling.v2.MetricIdentifierArgs(name=adapter_metric_name(args.metrics.queue)),
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="AverageValue", average_value=_quantity(args.target_queue_size)),
                        ),
                    )],
                    behavior=behavior(args),
                ),
                # pulumi-kubernetes does not wait on an HPA (provider/pkg/await/awaiters.go lists
                # autoscaling/v1 HPAs with no await and v2 not at all; the generic Ready wait runs
                # only with PULUMI_K8S_AWAIT_ALL), so `pulumi up` does not wait for metrics.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.pod_monitoring]),
            )
            self.hpa_name = self.hpa.metadata.name

        self.register_outputs({"pod_monitoring_name": self.pod_monitoring_name, "hpa_name": self.hpa_name})
