"""gke-llm-serving: a GKE cluster whose GPU nodes come from a Spot -> flex-start ComputeClass, serving an
open LLM with Text Generation Inference or vLLM, its weights read from a regional bucket. `pulumi up`
creates it; `make plan` shows it offline. With `regions`, one such cell per region behind one
multi-cluster Gateway (docs/regions.md)."""

import pulumi

import settings
from components.cell import Placement, ServingCell
from outputs import query_command

s = settings.load()  # the offline plan reads `s` for its summary

if not s.regions:
    cell = ServingCell(s, Placement(region=s.region, location=s.location, cluster_name=s.cluster_name,
                                    bucket_name=s.bucket_name))
    cluster, server, namespace = cell.cluster, cell.server, cell.namespace

    if cell.store:
        pulumi.export("modelBucket", cell.store.bucket_name)
    pulumi.export("dashboardUrl", cell.observability.dashboard_url)
    pulumi.export("endpoint", server.endpoint)
    pulumi.export("engine", s.engine.name)
    pulumi.export("computeClassName", cell.compute_class.class_name)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("namespace", namespace.metadata.name)
    pulumi.export("queryCommand", pulumi.Output.all(cluster.cluster_name, namespace.metadata.name, server.service_name, server.endpoint).apply(
        lambda p: query_command(s, cluster_name=p[0], namespace=p[1], service=p[2], endpoint=p[3], port=s.engine.port)))
else:
    from components.platform import identity
    from components.platform.fleet import Fleet, FleetArgs, Member
    from components.platform.gateway import Backend, GatewayArgs, GlobalGateway
    from components.serving.inference_server import InferenceServerArgs  # its Service's fixed name, which the route targets
    from settings import regions

    # One cell per region, named so nothing collides (settings/regions.py); the first is the config cluster.
    cells = [ServingCell(s, Placement(region=n.region, location=n.region, cluster_name=n.cluster_name,
                                      bucket_name=n.bucket_name, suffix=n.suffix, node_account_id=n.node_account_id,
                                      behind_gateway=True))
             for n in (regions.names(r, s.cluster_name, s.bucket_name) for r in s.regions)]
    number = identity.project_number(s.project)
    fleet = Fleet("fleet", FleetArgs(project=s.project, project_number=number, grant_metrics_viewer=s.autoscaling is not None,
                                     members=[Member(c.placement.region, c.placement.location, c.cluster.cluster_name,
                                                     c.cluster.cluster, c.placement.suffix) for c in cells]))
    gateway = GlobalGateway("gateway", GatewayArgs(
        project=s.project, network=s.network, exposure=s.exposure, namespace=s.namespace,
        service_name=InferenceServerArgs.service_name, port=s.engine.port,
        health_path=s.engine.health_path, max_total_tokens=s.max_total_tokens, depends_on=fleet.ready,
        backends=[Backend(c.placement.region, c.cluster.provider, c.namespace, c.server.service_name, c.server) for c in cells]))
    config = cells[0]
    pulumi.export("endpoint", gateway.endpoint)
    pulumi.export("engine", s.engine.name)
    pulumi.export("computeClassName", config.compute_class.class_name)
    pulumi.export("clusterName", config.cluster.cluster_name)  # the config cluster (the Gateway's)
    pulumi.export("kubeconfig", config.cluster.kubeconfig)
    pulumi.export("namespace", config.namespace.metadata.name)
    pulumi.export("dashboardUrl", config.observability.dashboard_url)
    pulumi.export("regions", {c.placement.region: {
        "clusterName": c.cluster.cluster_name, "dashboardUrl": c.observability.dashboard_url,
        **({"modelBucket": c.store.bucket_name} if c.store else {})} for c in cells})
    pulumi.export("kubeconfigs", pulumi.Output.secret({c.placement.region: c.cluster.kubeconfig for c in cells}))
    pulumi.export("queryCommand", pulumi.Output.all(config.cluster.cluster_name, gateway.endpoint).apply(lambda p: query_command(
        s, cluster_name=p[0], namespace=s.namespace, service=gateway.gateway_name, endpoint=p[1], port=s.engine.port)))
