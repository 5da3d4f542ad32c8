"""What operators look at instead of logs: a Cloud Monitoring dashboard and four alert policies for
the model server, its autoscaler and the GPU capacity ladder.

Every chart and alert is a PromQL query over what Managed Prometheus stores, scoped to this
cluster (resource labels `cluster`, `location`) and the server's namespace and pods:
- the engine's own series, scraped by the PodMonitoring (components/operations/autoscaling.py), named by
  ServerMetrics (components/operations/server_metrics.py);
- kube state metrics of GKE's managed package, monitoring_config enable_components DEPLOYMENT,
  POD and HPA (names and labels from "Collect and view kube state metrics",
  https://cloud.google.com/kubernetes-engine/docs/how-to/kube-state-metrics): kube_deployment_spec_replicas,
  kube_deployment_status_replicas_available (label deployment), kube_pod_status_phase (labels phase,
  pod), kube_horizontalpodautoscaler_status_desired_replicas (label horizontalpodautoscaler);
- GPU series of GKE's managed DCGM exporter, enable_components DCGM: DCGM_FI_DEV_GPU_UTIL (%) and
  DCGM_FI_DEV_FB_USED (MiB), with the GPU's pod in `exported_pod`
  (monitoring-dashboard-samples integrations/dcgm/prometheus_metadata.yaml @25d8c3e8);
- GKE system metrics for nodes, which carry each node's Kubernetes labels as `metadata_user_<key>`
  (as Google's dashboards/google-kubernetes-engine/gke-jobset-interruption-playbook.json @25d8c3e8
  queries them): the ComputeClass's nodes by capacity tier.

Metric names are written in PromQL's quoted form, {__name__="..."}: Cloud Monitoring maps a bare
name's first ':' to a domain separator (kubernetes_io:container_... is kubernetes.io/container/...,
https://cloud.google.com/monitoring/promql/promql-mapping), which a vLLM name such as
vllm:num_requests_waiting must not go through; the quoted form is the UTF-8 selector Cloud
Monitoring documents (https://cloud.google.com/monitoring/promql) and Google's vLLM dashboard uses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_gcp as gcp

from components.operations.server_metrics import ServerMetrics

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
CONSOLE = "https://console.cloud.google.com/monitoring/dashboards/builder"
QUEUE_SATURATION_SECONDS = 600  # queue above target at the maximum this long: capacity is exhausted
SPOT_NOTIFICATION_PERIOD = "600s"  # at most one preemption e-mail per 10 minutes (a wave is one mail)

# Node labels GKE sets: Spot VMs carry cloud.google.com/gke-spot=true (GKE "Spot VMs",
# https://cloud.google.com/kubernetes-engine/docs/concepts/spot-vms); flex-start VMs
# cloud.google.com/gke-flex-start=true (GKE's flex-start how-to Jobs select them with that
# nodeSelector; GKE's cluster-autoscaler label constants FlexStartLabel/FlexStartValue, read in a
# public copy through the code index); nodes of a ComputeClass carry cloud.google.com/compute-class=
# <name>, the very label our pods' nodeSelector matches, or they could not be scheduled there.
SPOT, FLEX, CLASS = "cloud.google.com/gke-spot", "cloud.google.com/gke-flex-start", "cloud.google.com/compute-class"


class InvalidObservability(pulumi.RunError):
    pass


@dataclass(frozen=True)
class ObservabilityArgs:
    project: str
    cluster_name: pulumi.Input[str]
    location: str  # the cluster's region or zone: the `location` resource label of its series
    namespace: str
    deployment_name: str
    compute_class_name: str
    engine: str
    metrics: ServerMetrics
    target_queue_size: float
    max_replicas: int
    autoscaled: bool
    pending_budget_seconds: int  # how long a server pod may stay Pending (node provisioning on every tier)
    alert_email: Optional[str] = None
    no_ready_seconds: int = 600  # no ready replica this long: page
    hpa_name: Optional[str] = None  # the HPA's name when autoscaled; the Deployment's when None
    depends_on: Sequence[pulumi.Resource] = ()  # the Monitoring API being enabled
    title_suffix: str = ""  # " (us-east4)" in a multi-region stack: the policies' names tell the regions apart


def check(args: ObservabilityArgs) -> list[str]:
    errors = []
    if args.alert_email is not None and not EMAIL.fullmatch(args.alert_email):
        errors.append(f"alert_email {args.alert_email!r}: must be an e-mail address such as oncall@example.com")
    if not args.target_queue_size > 0:
        errors.append(f"target_queue_size {args.target_queue_size}: must be > 0")
    if args.max_replicas < 1:
        errors.append(f"max_replicas {args.max_replicas}: must be at least 1")
    for key in ("pending_budget_seconds", "no_ready_seconds"):
        if getattr(args, key) <= 0:
            errors.append(f"{key} {getattr(args, key)}: must be > 0")
    if args.metrics.engine != args.engine:
        errors.append(f"metrics are {args.metrics.engine}'s, engine is {args.engine!r}")
    return errors


# --- PromQL --------------------------------------------------------------------------------------

def _q(value: str) -> str:
    """A PromQL string literal (double-quoted, backslash and quote escaped)."""
    return json.dumps(value)


def pod_regex(deployment: str) -> str:
    """The Deployment's pods: <deployment>-<pod-template-hash>-<suffix>, nothing else in the namespace."""
    return deployment.replace(".", "[.]") + "-[a-z0-9]+-[a-z0-9]+"


@dataclass(frozen=True)
class Scope:
    """Label matchers that pin a query to this cluster, namespace and Deployment."""

    cluster: str
    location: str
    namespace: str
    deployment: str

    @property
    def target(self) -> str:  # a prometheus_target series of this namespace
        return f"cluster={_q(self.cluster)},location={_q(self.location)},namespace={_q(self.namespace)}"

    @property
    def pods(self) -> str:  # the server's own series
        return f"{self.target},pod=~{_q(pod_regex(self.deployment))}"


def series(name: str, matchers: str) -> str:
    return f"{{__name__={_q(name)},{matchers}}}"


def queries(args: ObservabilityArgs, scope: Scope) -> dict[str, str]:
    """Every PromQL expression the dashboard and alerts use, by purpose."""
    m = args.metrics
    deployment = f"{scope.target},deployment={_q(args.deployment_name)}"
    tokens = m.generated_tokens if m.generated_tokens_kind == "counter" else f"{m.generated_tokens}_sum"

    def quantile(q: float, histogram: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({series(histogram + '_bucket', scope.pods)}[5m])))"

    def nodes(tier_matchers: str) -> str:
        return ("count(" + series("kubernetes.io/node/cpu/total_cores",
                                  f'monitored_resource="k8s_node",cluster_name={_q(scope.cluster)},'
                                  f'location={_q(scope.location)},'
                                  f'"metadata_user_{CLASS}"={_q(args.compute_class_name)},{tier_matchers}') + ")")

    out = {
        "ready": f"sum({series('kube_deployment_status_replicas_available', deployment)})",
        "desired": f"sum({series('kube_deployment_spec_replicas', deployment)})",
        "queue_per_pod": f"sum by (pod) ({series(m.queue, scope.pods)})",
        "queue_average": f"avg({series(m.queue, scope.pods)})",
        "running_per_pod": f"sum by (pod) ({series(m.running, scope.pods)})",
        "latency_p50": quantile(0.5, m.request_latency),
        "latency_p95": quantile(0.95, m.request_latency),
        "tokens_per_second": f"sum(rate({series(tokens, scope.pods)}[5m]))",
        # DCGM series live in GKE's exporter namespace; the GPU's workload is in exported_pod.
        "gpu_utilization": "avg by (exported_pod) (" + series(
            "DCGM_FI_DEV_GPU_UTIL", f"cluster={_q(scope.cluster)},location={_q(scope.location)},"
                                    f"exported_pod=~{_q(pod_regex(args.deployment_name))}") + ")",
        "gpu_memory_used": "sum by (exported_pod) (" + series(
            "DCGM_FI_DEV_FB_USED", f"cluster={_q(scope.cluster)},location={_q(scope.location)},"
                                   f"exported_pod=~{_q(pod_regex(args.deployment_name))}") + ")",
        "nodes_spot": nodes(f'"metadata_user_{SPOT}"="true"'),
        "nodes_flex_start": nodes(f'"metadata_user_{FLEX}"="true"'),
        # Neither label set to true: on-demand (a missing label matches != in PromQL).
        "nodes_on_demand": nodes(f'"metadata_user_{SPOT}"!="true","metadata_user_{FLEX}"!="true"'),
        "pending_pods": f"max by (pod) ({series('kube_pod_status_phase', scope.pods + ',phase=' + _q('Pending'))}) > 0",
    }
    if m.time_to_first_token:
        out["ttft_p95"] = quantile(0.95, m.time_to_first_token)
    if args.autoscaled:
        hpa = f"{scope.target},horizontalpodautoscaler={_q(args.hpa_name or args.deployment_name)}"
        out["hpa_desired"] = f"sum({series('kube_horizontalpodautoscaler_status_desired_replicas', hpa)})"
    out["no_ready"] = f"{out['ready']} < 1"
    # Saturated: the average queue per pod (what the HPA compares with its target) stays above the
    # target while the Deployment already asks for maxReplicas (the HPA writes spec.replicas, so this
    # also holds at a fixed count, where it means "raise replicas or turn autoscaling on").
    out["queue_saturated"] = (f"({out['queue_average']} > {_num(args.target_queue_size)}) and on() "
                              f"({out['desired']} >= {args.max_replicas})")
    return out


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# --- dashboard -----------------------------------------------------------------------------------

def prune(value: Any) -> Any:
    """Drop what the Monitoring API drops when it stores a dashboard: zero numbers, false, empty
    strings, lists and maps (proto3 JSON omits default values; a mosaic tile at xPos 0 comes back
    without xPos). The provider's diff only ignores keys the API *adds*
    (terraform-provider-google resource_monitoring_dashboard.go removeComputedKeys), so any key we
    send that the API omits is a permanent diff on every `pulumi preview`
    (terraform-provider-google issue #7242 and #16173; magic-modules PR #18515 was declined)."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is True or v not in (None, "", [], {}, False, 0)}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def _chart(title: str, datasets: list[tuple[str, str]], unit: str = "1", y_label: str = "",
           thresholds: Optional[list[tuple[float, str]]] = None, stacked: bool = False) -> dict:
    return {
        "title": title,
        "xyChart": {
            "dataSets": [{
                "plotType": "STACKED_AREA" if stacked else "LINE",
                "targetAxis": "Y1",
                "legendTemplate": legend,
                "timeSeriesQuery": {"prometheusQuery": query, "unitOverride": unit},
            } for legend, query in datasets],
            "thresholds": [{"value": v, "label": label, "targetAxis": "Y1"} for v, label in thresholds or []],
            "yAxis": {"label": y_label, "scale": "LINEAR"},
        },
    }


def dashboard(args: ObservabilityArgs, cluster: str) -> dict:
    """The dashboard as a dict: a 48-column mosaic, two charts per row."""
    scope = Scope(cluster, args.location, args.namespace, args.deployment_name)
    q = queries(args, scope)
    m = args.metrics
    replicas = [("available (ready)", q["ready"]), ("desired (Deployment)", q["desired"])]
    if args.autoscaled:
        replicas.append(("desired (HPA)", q["hpa_desired"]))
    latency = [("p50 end-to-end", q["latency_p50"]), ("p95 end-to-end", q["latency_p95"])]
    if "ttft_p95" in q:
        latency.append(("p95 time to first token", q["ttft_p95"]))
    widgets = [
        _chart("Replicas: ready vs desired", replicas, y_label="replicas",
               thresholds=[(args.max_replicas, "maxReplicas")]),
        _chart(f"Queue per pod ({m.queue}) vs target", [("${labels.pod}", q["queue_per_pod"]), ("average", q["queue_average"])],
               y_label="waiting requests",
               thresholds=[(args.target_queue_size, "HPA target" if args.autoscaled else "queue target")]),
        _chart(f"Running requests per pod ({m.running})", [("${labels.pod}", q["running_per_pod"])], y_label="requests"),
        _chart(f"Request latency ({m.request_latency})", latency, unit="s", y_label="seconds"),
        _chart(f"Generated tokens per second ({m.generated_tokens})", [("tokens/s", q["tokens_per_second"])],
               unit="1/s", y_label="tokens/s"),
        _chart("GPU utilization (DCGM_FI_DEV_GPU_UTIL)", [("${labels.exported_pod}", q["gpu_utilization"])],
               unit="%", y_label="%"),
        _chart("GPU memory used (DCGM_FI_DEV_FB_USED)", [("${labels.exported_pod}", q["gpu_memory_used"])],
               unit="MiBy", y_label="MiB"),
        _chart(f"Nodes of {args.compute_class_name} by capacity tier",
               [("Spot", q["nodes_spot"]), ("flex-start", q["nodes_flex_start"]), ("on-demand", q["nodes_on_demand"])],
               y_label="nodes", stacked=True),
    ]
    width, height = 24, 16
    tiles = [{"xPos": (i % 2) * width, "yPos": (i // 2) * height, "width": width, "height": height, "widget": w}
             for i, w in enumerate(widgets)]
    return prune({
        "displayName": f"LLM serving: {args.deployment_name} ({args.engine}) on {cluster}",
        "mosaicLayout": {"columns": 48, "tiles": tiles},
    })


def dashboard_json(args: ObservabilityArgs, cluster: str) -> str:
    # Sorted keys: the same program gives the same string, so Pulumi sees no change between runs.
    return json.dumps(dashboard(args, cluster), sort_keys=True)


def dashboard_url(dashboard_id: str, project: str) -> str:
    """The console link. The provider's id is the API's name, projects/NUMBER/dashboards/ID
    (resource_monitoring_dashboard.go: SetId(res["name"])); the console's builder page wants the
    last segment and the project (e.g. https://console.cloud.google.com/monitoring/dashboards/builder/<ID>?project=<PROJECT>)."""
    return f"{CONSOLE}/{dashboard_id.rsplit('/', 1)[-1]}?project={project}"


# --- alerts --------------------------------------------------------------------------------------

def preemption_filter(cluster: str) -> str:
    """Cloud Logging filter for GCE preemptions of this cluster's nodes.

    GCE records a Spot reclaim as the audit event compute.instances.preempted on the gce_instance
    (resourceName projects/P/zones/Z/instances/NAME; thought-machine/spot-interruption-exporter
    README and test fixture). The entry does not name the cluster, and GKE node VMs are named
    gke-<cluster>-<pool>-..., the cluster part cut when long (kubernetes/ingress-gce PR #1623: names
    "truncated up to 24 characters"). So: match the first 20 characters of the cluster's name after
    "gke-", and the '-' after it when the name is that short. Limit: another cluster in the project
    whose name starts the same is matched too.
    """
    prefix = "gke-" + cluster[:20] + ("-" if len(cluster) <= 20 else "")
    return ('resource.type="gce_instance"\n'
            'protoPayload.methodName="compute.instances.preempted"\n'
            f'protoPayload.resourceName:"/instances/{prefix}"')


def _promql(display: str, query: str, duration_s: int) -> gcp.monitoring.AlertPolicyConditionArgs:
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=display,
        condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
            query=query,
            duration=f"{duration_s}s",
            # The series exist only once the pods, the HPA or KSM have reported; without this the
            # API rejects a policy on a metric it has not seen yet (a first deploy).
            disable_metric_validation=True,
        ),
    )


class Observability(pulumi.ComponentResource):
    """Creates a Cloud Monitoring dashboard (replicas ready vs desired, queue per pod against the
    target, running requests, request latency, generated tokens per second, GPU utilization and
    memory, and the ComputeClass's nodes by capacity tier), four alert policies (no ready replica;
    queue above target at maxReplicas; a server pod Pending past the provisioning budget; Spot
    preemptions of the cluster's nodes) and, when `alert_email` is set, an e-mail notification
    channel attached to every policy. Without it the policies open incidents in the console only.

    Exports `dashboard_url`, `policy_names` (key -> the policy's resource name) and
    `notification_channel` (its resource name, or None).

    Only `project` forces a replacement of these resources (terraform-provider-google
    resource_monitoring_{dashboard,alert_policy,notification_channel}.go: the only ForceNew field);
    changed panels, queries or channels are updated in place.
    """

    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        errors = check(args)
        if errors:  # before anything is registered
            raise InvalidObservability("observability: " + "; ".join(errors))
        super().__init__("llmserving:gcp:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        cluster = pulumi.Output.from_input(args.cluster_name)

        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=cluster.apply(lambda c: dashboard_json(args, c)),
            opts=child,
        )
        self.dashboard_url = self.dashboard.id.apply(lambda i: dashboard_url(i, args.project))

        self.channel = None
        channels: list = []
        if args.alert_email:
            self.channel = gcp.monitoring.NotificationChannel(
                f"{name}-email",
                project=args.project,
                type="email",
                display_name=f"LLM serving alerts ({args.deployment_name})",
                labels={"email_address": args.alert_email},
                opts=child,
            )
            channels = [self.channel.name]

        scoped = cluster.apply(lambda c: queries(args, Scope(c, args.location, args.namespace, args.deployment_name)))
        labels = {"app": re.sub(r"[^a-z0-9_-]", "-", args.deployment_name.lower()), "engine": args.engine}
        where = f"{args.namespace}/{args.deployment_name}{args.title_suffix}"

        def policy(key: str, display: str, severity: str, conditions: list, doc: str, strategy=None):
            return gcp.monitoring.AlertPolicy(
                f"{name}-{key.replace('_', '-')}",
                project=args.project,
                display_name=display,
                combiner="OR",
                conditions=conditions,
                severity=severity,
                notification_channels=channels,
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(content=doc, mime_type="text/markdown"),
                alert_strategy=strategy or gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
                user_labels=labels,
                opts=child,
            )

        budget_min = round(args.pending_budget_seconds / 60)
        self.policies = {
            "no_ready_replica": policy(
                "no_ready_replica", f"{where}: no ready replica", "CRITICAL",
                [_promql(f"no available replica for {args.no_ready_seconds}s",
                         scoped.apply(lambda q: q["no_ready"]), args.no_ready_seconds)],
                f"The Deployment {where} has had no available replica for {args.no_ready_seconds} s: the model "
                "endpoint is down. Expected during the first cold start. Look at the dashboard's replica and "
                f"node charts, then `kubectl -n {args.namespace} describe pods`."),
            "queue_saturated": policy(
                "queue_saturated", f"{where}: queue above target at maxReplicas", "WARNING",
                [_promql(f"average queue > {_num(args.target_queue_size)} at {args.max_replicas} replicas",
                         scoped.apply(lambda q: q["queue_saturated"]), QUEUE_SATURATION_SECONDS)],
                f"Requests have queued above {_num(args.target_queue_size)} per pod for {QUEUE_SATURATION_SECONDS // 60} "
                f"minutes while the Deployment already asks for maxReplicas ({args.max_replicas}). Latency is "
                + ("above target and the autoscaler cannot add more: raise maxReplicas (and the GPU quota)."
                   if args.autoscaled else "above target: raise replicas or turn autoscaling on.")),
            "pending_pod": policy(
                "pending_pod", f"{where}: server pod Pending past the provisioning budget", "ERROR",
                [_promql(f"pod Pending > {args.pending_budget_seconds}s",
                         scoped.apply(lambda q: q["pending_pods"]), args.pending_budget_seconds)],
                f"A model-server pod has been Pending for more than {budget_min} minutes: no tier of the "
                f"ComputeClass {args.compute_class_name} had capacity (or the GPU quota or NAP limits are "
                "reached). See the cluster autoscaler's events: "
                f"`kubectl -n {args.namespace} describe pod` and the ComputeClass's status."),
            "spot_preemption": policy(
                "spot_preemption", f"{where}: Spot preemption of a GKE node", "WARNING",
                [gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="compute.instances.preempted on a node of the cluster",
                    condition_matched_log=gcp.monitoring.AlertPolicyConditionConditionMatchedLogArgs(
                        filter=cluster.apply(preemption_filter),
                        label_extractors={
                            "instance": 'REGEXP_EXTRACT(protoPayload.resourceName, "instances/([^/]+)$")',
                            "zone": "EXTRACT(resource.labels.zone)",
                        },
                    ),
                )],
                "GCE reclaimed a Spot VM of the cluster. The ComputeClass replaces it, on Spot or the next tier; "
                "the replica it carried reloads the model meanwhile.",
                # Required for log-match conditions (AlertPolicyAlertStrategyNotificationRateLimit in
                # terraform-provider-google: "Required for alert policies with a LogMatch condition").
                gcp.monitoring.AlertPolicyAlertStrategyArgs(
                    auto_close="1800s",
                    notification_rate_limit=gcp.monitoring.AlertPolicyAlertStrategyNotificationRateLimitArgs(
                        period=SPOT_NOTIFICATION_PERIOD),
                )),
        }
        self.policy_names = {k: p.name for k, p in self.policies.items()}
        self.notification_channel = self.channel.name if self.channel else None
        self.register_outputs({
            "dashboard_url": self.dashboard_url,
            "policy_names": self.policy_names,
            "notification_channel": self.notification_channel,
        })
