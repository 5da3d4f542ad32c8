"""The Custom Metrics Stackdriver Adapter, which serves Cloud Monitoring series (the engine's queue
gauge that Managed Prometheus ingests) to the HorizontalPodAutoscaler through the
custom.metrics.k8s.io and external.metrics.k8s.io APIs.

Vendored, pinned form: the objects below are written as typed Pulumi resources from what Google's
manifest declares; the manifest itself is not copied into this repository.
- Source read: GoogleCloudPlatform/k8s-stackdriver,
  custom-metrics-stackdriver-adapter/deploy/production/adapter_new_resource_model.yaml at commit
  673c7dd872a7d8b7c1a26c2af7cca7c33549efa0 (2026-08-18, "Merge pull request #1242 ... release-0.16.9";
  the file last changed in af49d863 "update custom-metrics-stackdriver-adapter image to v0.16.9-gke.0").
  This is the install manifest Google's GMP HPA page points at
  (https://cloud.google.com/stackdriver/docs/managed-prometheus/hpa), which needs adapter >= 0.13.1.
- Licence of that repository: Apache License 2.0 (LICENSE at the same commit).
- Image: gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.9-gke.0, the newest release.
  Pinned here, not taken from a release tag: the manifest at tag cm-sd-adapter-v0.16.9 still names
  v0.16.7-gke.0 (the image bump lands after the tag), so "the manifest of tag X" is not "version X".

Where this differs from Google's manifest, and why:
- nodeSelector llm-serving/role=system and no GPU/TPU tolerations (Google's tolerates
  nvidia.com/gpu=present and cloud.google.com/gke-tpu=present, added in d192d57d/8229ebc6 for
  Autopilot): here GPU nodes are Spot or flex-start and come and go with the load. An adapter that
  landed on one would be killed by every preemption and every scale-down, freezing every HPA exactly
  when capacity changes, and would keep a GPU node from being removed while it ran there.
- A restricted pod security context (no privilege escalation, RuntimeDefault seccomp, NET_RAW
  dropped). The other capabilities stay: the adapter binds port 443, which may need NET_BIND_SERVICE.
- A NetworkPolicy admitting only 443 to the adapter (the API server proxies metric requests there),
  like the model server's; egress stays open for the Cloud Monitoring API.

Workload Identity: the adapter reads Cloud Monitoring as its Kubernetes ServiceAccount through a
`principal://` grant of roles/monitoring.viewer, no Google service account and no annotation
(https://cloud.google.com/kubernetes-engine/docs/tutorials/autoscaling-metrics; gke-fleet-management
multi-cluster-orchestrator/samples/gemma_vllm/1-infrastructure/main.tf uses the same member).
It cannot coexist with prometheus-adapter or KEDA: each registers the same metrics APIServices
(GMP HPA page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.platform import identity
from components.platform.cluster import SYSTEM_POOL_LABELS as SYSTEM_POOL_SELECTOR  # the CPU pool

IMAGE = "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.9-gke.0"
SOURCE = ("GoogleCloudPlatform/k8s-stackdriver@673c7dd872a7d8b7c1a26c2af7cca7c33549efa0:"
          "custom-metrics-stackdriver-adapter/deploy/production/adapter_new_resource_model.yaml")
NAMESPACE = "custom-metrics"
NAME = "custom-metrics-stackdriver-adapter"  # the Deployment, Service and ServiceAccount
ROLE = "roles/monitoring.viewer"

# group, version, versionPriority, as Google's manifest registers them. v1beta2 of custom metrics has
# the higher priority, so clients that negotiate get it; the HPA controller asks for what it needs.
API_SERVICES = (
    ("custom.metrics.k8s.io", "v1beta1", 100),
    ("custom.metrics.k8s.io", "v1beta2", 200),
    ("external.metrics.k8s.io", "v1beta1", 100),
)


@dataclass(frozen=True)
class MetricsAdapterArgs:
    project: str
    project_number: pulumi.Input[str]  # identity.project_number(project); the principal needs it
    # The cluster: the Workload Identity pool PROJECT.svc.id.goog exists only once a cluster with
    # Workload Identity does, and granting a role to a principal of a missing pool fails.
    depends_on_cluster: Optional[pulumi.Resource] = None
    node_selector: dict = field(default_factory=lambda: dict(SYSTEM_POOL_SELECTOR))
    image: str = IMAGE
    # False in a multi-region stack: every cluster's adapter is the same principal of the project's
    # one identity pool, so one grant (components/platform/fleet.py) serves all, and removing one region's
    # copy would remove the binding the others rely on.
    grant_role: bool = True


def member(number: str, project: str) -> str:
    return identity.principal(number, project, NAMESPACE, NAME)


class MetricsAdapter(pulumi.ComponentResource):
    """Creates the Custom Metrics Stackdriver Adapter as in Google's manifest (Namespace
    custom-metrics, its ServiceAccount, the auth-delegator ClusterRoleBinding, the
    extension-apiserver-authentication-reader RoleBinding in kube-system, the resource-reader
    ClusterRole and binding, the adapter Deployment and its Service, the three metrics APIServices,
    the external-metrics-reader ClusterRole bound to the HPA controller), pinned to IMAGE and placed
    on the CPU system pool; a NetworkPolicy that admits only its port 443; and a project IAM member
    granting roles/monitoring.viewer to the adapter's Kubernetes ServiceAccount.

    Exports `namespace`, `service_account_name` and `member` (the principal:// string granted the role).
    Kubernetes objects go to the provider given in `opts` (the cluster's).
    """

    def __init__(self, name: str, args: MetricsAdapterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:k8s:MetricsAdapter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        meta = k8s.meta.v1.ObjectMetaArgs
        rbac = k8s.rbac.v1
        labels = {"run": NAME, "k8s-app": NAME}  # Google's selector labels; the Service selects them

        # Grant first (independent of the cluster's API server): IAM changes take a while to
        # propagate, and the adapter only needs them when the HPA first asks for a metric.
        # Non-authoritative (adds this one member to the role's binding, leaves the others); role
        # and member are ForceNew (terraform-provider-google tpgiamresource/resource_iam_member.go),
        # which cannot happen here: both are constants of this module and the project.
        self.member = pulumi.Output.from_input(args.project_number).apply(lambda n: member(n, args.project))
        self.iam = gcp.projects.IAMMember(
            f"{name}-monitoring-viewer",
            project=args.project,
            role=ROLE,
            member=self.member,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.depends_on_cluster] if args.depends_on_cluster else None),
        ) if args.grant_role else None

        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata=meta(name=NAMESPACE), opts=child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.ns])
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta(name=NAME, namespace=NAMESPACE), opts=in_ns)
        subject = [rbac.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=NAMESPACE)]

        # Lets the adapter delegate authentication and authorization of incoming metric requests to
        # the Kubernetes API server, as every aggregated API server does.
        self.auth_delegator = rbac.ClusterRoleBinding(
            f"{name}-auth-delegator",
            metadata=meta(name="custom-metrics:system:auth-delegator"),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:auth-delegator"),
            subjects=subject, opts=in_ns)
        self.auth_reader = rbac.RoleBinding(
            f"{name}-auth-reader",
            metadata=meta(name="custom-metrics-auth-reader", namespace="kube-system"),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                      name="extension-apiserver-authentication-reader"),
            subjects=subject, opts=in_ns)
        self.resource_reader = rbac.ClusterRole(
            f"{name}-resource-reader",
            metadata=meta(name="custom-metrics-resource-reader"),
            rules=[rbac.PolicyRuleArgs(api_groups=[""], resources=["pods", "nodes", "nodes/stats"], verbs=["get", "list", "watch"])],
            opts=child)
        self.resource_reader_binding = rbac.ClusterRoleBinding(
            f"{name}-resource-reader",
            metadata=meta(name="custom-metrics-resource-reader"),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="custom-metrics-resource-reader"),
            subjects=subject, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ns, self.resource_reader]))

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(name=NAME, namespace=NAMESPACE, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # One replica, as Google ships it: while it restarts, HPAs keep their current count
                # (they cannot read a metric, so they do not scale) rather than misbehave.
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=meta(labels={**labels, "kubernetes.io/cluster-service": "true"}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=NAME,
                        node_selector=dict(args.node_selector),
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="pod-custom-metrics-stackdriver-adapter",
                            image=args.image,
                            # As Google's manifest; the tag is pinned, so this only re-checks it.
                            image_pull_policy="Always",
                            command=[
                                "/adapter",
                                # Reads k8s_pod / prometheus_target series (the new resource model);
                                # GMP writes prometheus_target, which this model supports.
                                "--use-new-resource-model=true",
                                "--fallback-for-container-metrics=true",
                            ],
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "250m", "memory": "200Mi"}, limits={"cpu": "250m", "memory": "200Mi"}),
                            readiness_probe=k8s.core.v1.ProbeArgs(
                                http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port=443, scheme="HTTPS"),
                                initial_delay_seconds=40, period_seconds=10, timeout_seconds=5),
                            # NET_RAW is dropped (the adapter speaks TCP only); the others stay,
                            # the bind to 443 may need NET_BIND_SERVICE.
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["NET_RAW"])),
                        )],
                    ),
                ),
            ),
            # pulumi-kubernetes waits (10 minutes by default) for the roll-out; the readiness probe
            # starts after 40 s, and the system pool already exists (the provider depends on it).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service_account, self.auth_delegator,
                                                                 self.auth_reader, self.resource_reader_binding]),
        )

        # The Service's await logic waits until it has ready endpoints (pulumi-kubernetes
        # provider/pkg/await/service.go): here that is the adapter pod passing its readiness probe,
        # quickly once the Deployment above is ready.
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(name=NAME, namespace=NAMESPACE,
                          labels={**labels, "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "Adapter"}),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=labels,
                ports=[k8s.core.v1.ServicePortArgs(port=443, target_port=443, protocol="TCP")]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployment]),
        )

        # Only the API port is reachable (from the control plane, whose source range the cluster
        # does not publish here, so by port); enforced by Dataplane V2, which the cluster enables.
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=meta(name=f"{NAME}-ingress", namespace=NAMESPACE, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=443, protocol="TCP")])],
            ),
            opts=in_ns,
        )

        # After the Service: the API server proxies these groups to it, and an APIService whose
        # Service is missing or has no endpoints is marked unavailable, which makes API discovery
        # report errors for the whole cluster (kubectl warns on every call) until it is fixed.
        # pulumi-kubernetes has no await logic for APIService (awaiters.go lists none), so ask it to
        # wait for condition Available via the generic waitFor annotation (metadata/overrides.go
        # ReadyCondition, "condition=" prefix): `pulumi up` then fails here, not silently, if the
        # adapter cannot serve.
        self.api_services = [
            k8s.apiregistration.v1.APIService(
                f"{name}-{version}-{group.split('.')[0]}",
                metadata=meta(name=f"{version}.{group}", annotations={
                    "pulumi.com/waitFor": "condition=Available",
                    "pulumi.com/timeoutSeconds": "300",
                }),
                spec=k8s.apiregistration.v1.APIServiceSpecArgs(
                    group=group, version=version,
                    group_priority_minimum=100, version_priority=priority,
                    # As Google's manifest: the adapter serves a self-signed certificate.
                    insecure_skip_tls_verify=True,
                    service=k8s.apiregistration.v1.ServiceReferenceArgs(name=NAME, namespace=NAMESPACE),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service]),
            )
            for group, version, priority in API_SERVICES
        ]

        # The HPA controller reads external metrics under its own identity; resources are metric
        # names, hence the wildcard (Google's manifest).
        self.external_reader = rbac.ClusterRole(
            f"{name}-external-metrics-reader",
            metadata=meta(name="external-metrics-reader"),
            rules=[rbac.PolicyRuleArgs(api_groups=["external.metrics.k8s.io"], resources=["*"], verbs=["list", "get", "watch"])],
            opts=child)
        self.external_reader_binding = rbac.ClusterRoleBinding(
            f"{name}-external-metrics-reader",
            metadata=meta(name="external-metrics-reader"),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="external-metrics-reader"),
            subjects=[rbac.SubjectArgs(kind="ServiceAccount", name="horizontal-pod-autoscaler", namespace="kube-system")],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.external_reader]))

        self.namespace = NAMESPACE
        self.service_account_name = NAME
        self.register_outputs({"namespace": NAMESPACE, "service_account_name": NAME, "member": self.member})
