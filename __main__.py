"""gke-llm-serving: a GKE cluster whose GPU nodes come from a Spot -> flex-start ComputeClass, serving an
open LLM with Text Generation Inference or vLLM, its weights read from a regional bucket. `pulumi up`
creates it; `make plan` shows it offline."""

import pulumi

import settings
from components.cell import Placement, ServingCell
from outputs import query_command

s = settings.load()  # the offline plan reads `s` for its summary

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
