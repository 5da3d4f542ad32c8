"""The global front door: one multi-cluster Gateway in the config cluster in front of every region's
model Service, routing only the OpenAI API paths."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from planner.rules import gateway as rules

# Only these reach the engines: vLLM's /invocations (same inference, no API key check) and every
# other non-/v1 path stay unreachable from outside (components/serving/engines/vllm.py check_image).
ROUTED_PATHS = ("/v1/completions", "/v1/chat/completions", "/v1/models")
CLASSES = {"public": "gke-l7-global-external-managed-mc", "internal": "gke-l7-cross-regional-internal-managed-mc"}
GATEWAY_NAME = "llm-gateway"
ROUTE_NAME = "llm-route"
LISTENER_PORT = 80

# Health checks: a region whose replicas all fail /health (down, or still loading: both engines
# answer 200 only once the model is loaded) is out of the load balancer after
# UNHEALTHY_THRESHOLD x CHECK_INTERVAL_SECONDS = 10 s, and back after HEALTHY_THRESHOLD x 5 s.
CHECK_INTERVAL_SECONDS = 5
CHECK_TIMEOUT_SECONDS = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 2

# The load balancer's backend timeout is 30 s by default (GKE "Configure Gateway resources using
# Policies": GCPBackendPolicy timeoutSec); a streamed completion runs as long as its tokens take.
# The slowest decode we plan for is 10 tokens/s per sequence (assumed: L4 decodes a Mixtral-class
# MoE sequence at about 10-20 tokens/s in a full batch), so the longest answer allowed by the token
# limit fits, between 5 minutes and 1 hour.
SLOWEST_TOKENS_PER_SECOND = 10
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 300, 3600
# Capacity per replica in requests per second: past it the load balancer spills to other regions
# before health checks fail (GKE "Deploy a multi-cluster Gateway for capacity-based load
# balancing"). Assumed: about 8 concurrent sequences per L4 replica at ~4 s per 128-token answer;
# measure with `make benchmark` and adjust.
MAX_RATE_PER_ENDPOINT = 2

# Proxy-only subnets for the cross-regional internal class, one per region (GKE: "If you are using
# a regional or cross-regional GatewayClass, you must enable a proxy-only subnet"; purpose
# GLOBAL_MANAGED_PROXY for cross-region internal Application Load Balancers). From 172.30.0.0/16,
# outside the auto-mode default network's 10.128.0.0/9 and GKE's default Pod and Service ranges.
PROXY_SUBNET_BASE = "172.30"


def request_timeout_seconds(max_total_tokens: int) -> int:
    """The backend timeout a streamed answer of max_total_tokens needs at the slowest planned decode."""
    if max_total_tokens <= 0:
        return MAX_TIMEOUT_SECONDS
    return min(MAX_TIMEOUT_SECONDS, max(MIN_TIMEOUT_SECONDS, math.ceil(max_total_tokens / SLOWEST_TOKENS_PER_SECOND)))


def proxy_subnet_cidr(index: int) -> str:
    return f"{PROXY_SUBNET_BASE}.{index * 2}.0/23"  # /23: the smallest GCP recommends for proxy-only subnets


class InvalidFrontDoor(ValueError):
    pass


class _ObservedResource(pulumi.CustomResource):
    """A Kubernetes custom object whose `status` the program reads back (the Gateway's addresses);
    pulumi_kubernetes' CustomResource exposes only apiVersion, kind, metadata and spec."""

    status: pulumi.Output[Any]

    def __init__(self, name: str, body: dict, opts: pulumi.ResourceOptions):
        props = {**body, "status": None}
        super().__init__(f"kubernetes:{body['apiVersion']}:{body['kind']}", name, props, opts)


@dataclass(frozen=True)
class Backend:
    region: str
    provider: pulumi.ProviderResource  # the region's cluster
    namespace: pulumi.Resource  # the Namespace object in that cluster
    service: pulumi.Input[str]  # the model Service's name
    server: pulumi.Resource  # the model server component (its Service must exist to be exported)


@dataclass(frozen=True)
class GatewayArgs:
    project: str
    network: str
    exposure: str  # public | internal
    namespace: str
    service_name: str
    port: int
    health_path: str
    max_total_tokens: int
    backends: Sequence[Backend]  # the first is in the config cluster
    depends_on: Sequence[pulumi.Resource] = ()  # the fleet features and grants


def internal_addresses(args: GatewayArgs) -> list[dict]:
    """The cross-regional internal class gets one ephemeral frontend address per region, as GKE's
    multi-cluster Gateway samples give it (type networking.gke.io/ephemeral-ipv4-address/<region>,
    value the region): clients in each region reach a frontend in their own region."""
    return [{"type": f"{rules.EPHEMERAL_ADDRESS}/{b.region}", "value": b.region} for b in args.backends]


def bodies(args: GatewayArgs) -> dict[str, dict]:
    """The config cluster's Gateway, HTTPRoute, HealthCheckPolicy and GCPBackendPolicy, as rendered."""
    meta = lambda name: {"name": name, "namespace": args.namespace}  # noqa: E731
    target = {"group": "net.gke.io", "kind": "ServiceImport", "name": args.service_name}
    return {
        "gateway": {"apiVersion": rules.GATEWAY_API, "kind": "Gateway", "metadata": meta(GATEWAY_NAME), "spec": {
            "gatewayClassName": CLASSES[args.exposure],
            **({"addresses": internal_addresses(args)} if args.exposure == "internal" else {}),
            "listeners": [{"name": "http", "port": LISTENER_PORT, "protocol": "HTTP"}]}},
        "route": {"apiVersion": rules.GATEWAY_API, "kind": "HTTPRoute", "metadata": meta(ROUTE_NAME), "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME}],
            "rules": [{"matches": [{"path": {"type": "Exact", "value": p}} for p in ROUTED_PATHS],
                       "backendRefs": [{**target, "port": args.port}]}]}},
        "health": {"apiVersion": rules.GKE_POLICY_API, "kind": "HealthCheckPolicy", "metadata": meta(f"{args.service_name}-health"),
                   "spec": {"default": {"checkIntervalSec": CHECK_INTERVAL_SECONDS, "timeoutSec": CHECK_TIMEOUT_SECONDS,
                                        "healthyThreshold": HEALTHY_THRESHOLD, "unhealthyThreshold": UNHEALTHY_THRESHOLD,
                                        "config": {"type": "HTTP", "httpHealthCheck": {"port": args.port, "requestPath": args.health_path}}},
                            "targetRef": target}},
        "backend": {"apiVersion": rules.GKE_POLICY_API, "kind": "GCPBackendPolicy", "metadata": meta(f"{args.service_name}-backend"),
                    "spec": {"default": {"timeoutSec": request_timeout_seconds(args.max_total_tokens),
                                         "maxRatePerEndpoint": MAX_RATE_PER_ENDPOINT},
                             "targetRef": target}},
    }


def gateway_url(status: Any, exposure: str, kubectl: str) -> str:
    """http://ADDRESS once the Gateway has one, else what to run to read it."""
    addresses = (status or {}).get("addresses") if isinstance(status, dict) else None
    values = [a.get("value") for a in addresses or [] if isinstance(a, dict) and a.get("value")]
    if values:
        return f"http://{values[0]}"
    return (f"pending: the {exposure} Gateway gets its address a few minutes after pulumi up "
            f"(pulumi refresh shows it, or: {kubectl})")


class GlobalGateway(pulumi.ComponentResource):
    """Creates a ServiceExport of the model Service in every region's cluster, proxy-only subnets
    per region (internal only), and in the config cluster (the first backend's) the Gateway, the
    HTTPRoute of the OpenAI paths to the ServiceImport, its HealthCheckPolicy and GCPBackendPolicy.

    Exports `endpoint` (http://ADDRESS, or "pending: ..." until the Gateway has an address) and `gateway_name`.
    """

    def __init__(self, name: str, args: GatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        if args.exposure not in CLASSES:
            raise InvalidFrontDoor(f"exposure {args.exposure!r}: a multi-cluster Gateway is public or internal")
        if len(args.backends) < 2:
            raise InvalidFrontDoor("a multi-cluster Gateway needs two or more backends")
        rendered = bodies(args)
        problems = [f"{b['kind']}: {e}" for b in rendered.values() for e in rules.validate(b)]
        if problems:
            raise InvalidFrontDoor("; ".join(problems))
        super().__init__("llmserving:gke:GlobalGateway", name, None, opts)

        # Exported in every cluster, the config cluster's included: the ServiceImport merges the
        # exports of the same namespace/name from every member (GKE multi-cluster Services).
        # No await: pulumi-kubernetes waits only on kinds it knows (Deployment, Service, Job, ...)
        # and treats other custom resources as ready once created (pulumi/pulumi-kubernetes#3143:
        # generic await only behind PULUMI_K8S_AWAIT_ALL); the Gateway's load balancer takes minutes.
        self.exports = []
        for b in args.backends:
            body = {"apiVersion": rules.MCS_API, "kind": "ServiceExport",
                    "metadata": {"name": args.service_name, "namespace": args.namespace}}
            assert not rules.validate(body)
            self.exports.append(k8s.apiextensions.CustomResource(
                f"{name}-export-{b.region}", api_version=body["apiVersion"], kind=body["kind"],
                metadata=k8s.meta.v1.ObjectMetaArgs(name=b.service, namespace=args.namespace),
                opts=pulumi.ResourceOptions(parent=self, provider=b.provider,
                                            depends_on=[b.namespace, b.server, *args.depends_on])))

        subnets = []
        if args.exposure == "internal":
            for i, b in enumerate(args.backends):
                # purpose and region are ForceNew; a network may hold one active subnet of this
                # purpose per region, so a network that has one already refuses this one.
                subnets.append(gcp.compute.Subnetwork(
                    f"{name}-proxy-{b.region}", project=args.project, region=b.region, network=args.network,
                    name=f"llm-gw-proxy-{b.region}", ip_cidr_range=proxy_subnet_cidr(i),
                    purpose="GLOBAL_MANAGED_PROXY", role="ACTIVE", opts=pulumi.ResourceOptions(parent=self)))

        config = args.backends[0]
        on_config = pulumi.ResourceOptions(parent=self, provider=config.provider,
                                           depends_on=[config.namespace, *self.exports, *subnets, *args.depends_on])
        # Deleting the Gateway returns once the object is gone; the controller removes the load
        # balancer first, so destroy waits up to 20 minutes for it (the fleet features it needs
        # are deleted only after, as they are its dependencies).
        self.gateway = _ObservedResource(f"{name}-gateway", rendered["gateway"], pulumi.ResourceOptions.merge(
            on_config, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(delete="20m"))))
        after_gateway = pulumi.ResourceOptions.merge(on_config, pulumi.ResourceOptions(depends_on=[self.gateway]))
        self.route = self._object(f"{name}-route", rendered["route"], after_gateway)
        self.health_check = self._object(f"{name}-health", rendered["health"], on_config)
        self.backend_policy = self._object(f"{name}-backend", rendered["backend"], on_config)

        kubectl = (f"kubectl -n {args.namespace} get gateway {GATEWAY_NAME} -o jsonpath='{{.status.addresses[0].value}}' "
                   "in the config cluster")
        self.gateway_name = GATEWAY_NAME
        self.endpoint = self.gateway.status.apply(lambda st: gateway_url(st, args.exposure, kubectl))
        self.register_outputs({"endpoint": self.endpoint})

    @staticmethod
    def _object(name: str, body: dict, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        meta = body["metadata"]
        return k8s.apiextensions.CustomResource(
            name, api_version=body["apiVersion"], kind=body["kind"],
            metadata=k8s.meta.v1.ObjectMetaArgs(name=meta["name"], namespace=meta["namespace"]),
            spec=body["spec"], opts=opts)
