"""One serving cell: everything a region serves the model with.

A cell is the cluster (GKE, node auto-provisioning, system pool, node identity), the ComputeClass
ladder, the namespace, the token Secret, the weights near the GPUs (bucket, loader, grants), the
inference server, its autoscaling (and the metrics adapter when autoscaled) and its dashboard and
alerts. A single-region stack is one cell in `location`; a stack with `regions` is one cell per region
behind a global front door.

It is a plain Python class, not a Pulumi ComponentResource, on purpose: a component would become the
parent of everything here and so change every resource's URN, and a stack that existed before cells
did would see its cluster deleted and created again. Inside a cell each resource keeps the name and
parent it always had; a cell of a multi-region stack adds its placement's suffix to the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

import catalog
from catalog import loading
from components.platform import identity
from components.operations.autoscaling import AutoscalingArgs, ServerAutoscaling
from components.platform.cluster import SYSTEM_POOL_LABELS, ClusterArgs, GkeCluster
from components.platform.compute_class import ComputeClass, ComputeClassArgs
from components.serving.engines import Launch
from components.serving.inference_server import MODEL_PATH, BucketWeights, InferenceServer, InferenceServerArgs
from components.operations.metrics_adapter import MetricsAdapter, MetricsAdapterArgs
from components.serving.model_secret import ModelSecret, ModelSecretArgs
from components.serving.model_store import LOADER_IMAGE, ModelStore, ModelStoreArgs
from components.operations.observability import Observability, ObservabilityArgs
from components.platform.registry import ImageMirror, ImageMirrorArgs
from settings import DEFAULT_TARGET_QUEUE_SIZE, NODE_PROVISIONING_SECONDS


@dataclass(frozen=True)
class Placement:
    """Where a cell runs and the names that must not collide with another cell's."""
    region: str
    location: str  # the cluster's region, or a zone of it
    cluster_name: str
    bucket_name: str
    suffix: str = ""  # added to the Pulumi names of the cell's resources ("" for a single region)
    # Multi-region only (settings/regions.py): the node account id with the region's code, and the
    # cell sits behind the multi-cluster Gateway (its Service stays a cluster IP, Gateway API on).
    node_account_id: Optional[str] = None
    behind_gateway: bool = False


class ServingCell:
    """Creates one region's cluster, ComputeClass, namespace, Secret, model store, server, autoscaling
    and observability from the stack's settings (`s`, settings.Settings) and its `placement`.

    Exposes `cluster`, `compute_class`, `namespace`, `store` (None when weights come from the Hub),
    `server`, `scaling` and `observability`.
    """

    def __init__(self, s, placement: Placement):
        p, n = placement, placement.suffix
        self.placement = p
        self.cluster = GkeCluster(f"llm{n}", ClusterArgs(
            project=s.project, name=p.cluster_name, location=p.location, region=p.region,
            nap=catalog.nap_limits(s.machine, s.max_replicas, s.system_machine_type),
            system_machine_type=s.system_machine_type, network=s.network,
            deletion_protection=s.deletion_protection, private_nodes=s.private_nodes,
            authorized_networks=s.authorized_networks,
            node_account_id=p.node_account_id, gateway_api=p.behind_gateway,
        ))
        on_cluster = pulumi.ResourceOptions(providers=[self.cluster.provider])
        # Docker Hub and ghcr.io through Artifact Registry in the region, so GPU nodes stream the images.
        self.images = ImageMirror(f"images{n}", ImageMirrorArgs(
            project=s.project, region=p.region, cluster_name=p.cluster_name,
            node_service_account=self.cluster.node_service_account, apis=self.cluster.apis))

        self.compute_class = ComputeClass(f"gpu{n}", ComputeClassArgs(
            name=s.compute_class_name, tiers=s.capacity,
            machine_type=s.machine.gce_machine_type, gpu_type=s.machine.accelerator, gpu_count=s.machine.gpu_count,
            flex_lead_time_seconds=s.flex_lead_time_seconds, flex_max_run_seconds=s.flex_max_run_seconds,
            active_migration=s.active_migration, driver_version=s.engine.gpu_driver,
            boot_disk_gb=s.gpu_boot_disk_gb,
        ), opts=on_cluster)

        self.namespace = k8s.core.v1.Namespace(
            f"llm-namespace{n}", metadata=k8s.meta.v1.ObjectMetaArgs(name=s.namespace),
            opts=pulumi.ResourceOptions(provider=self.cluster.provider))

        secret = ModelSecret(f"model{n}", ModelSecretArgs(
            namespace=self.namespace.metadata.name, token=s.hf_token, api_key=s.api_key,
        ), opts=on_cluster)

        weights, loaded = self._weights(s, p, secret, on_cluster)
        streamed = weights is not None and not weights.mounted

        # One logical name for every engine: it predates engines being pluggable, and a name per
        # engine would make switching `engine` create the new Deployment, Service and policy (same
        # Kubernetes names) before deleting the old ones, which collide.
        self.server = InferenceServer(f"tgi{n}", InferenceServerArgs(
            namespace=self.namespace.metadata.name, compute_class_name=self.compute_class.class_name,
            engine=s.engine, image=s.image, pull_image=self.images.image_for(s.image), launch=Launch(
                model=(f"gs://{p.bucket_name}/{s.weights_prefix}" if streamed else MODEL_PATH) if weights else s.model.model_id,
                served_name=s.model.model_id, stream_weights=streamed,
                quantize=s.quantize.name, shards=s.shards,
                max_input_tokens=s.max_input_tokens, max_total_tokens=s.max_total_tokens,
                max_batch_prefill_tokens=s.max_prefill_tokens, gpu_memory_fraction=1 - catalog.GPU_RUNTIME_OVERHEAD,
                hf_home=s.hf_home, offline=weights is not None),
            cpu=s.pod_memory.server_cpu, memory_gib=s.pod_memory.server_memory_gib, gpus=s.pod.gpus,
            replicas=s.replicas, startup_seconds=s.startup_seconds, replica_budget_seconds=s.replica_budget_seconds,
            secret_name=secret.secret_name, token_key=secret.token_key, api_key_key=secret.api_key_key,
            cache_gib=catalog.weight_cache_gib(s.model), cache_storage_class=s.cache_storage_class,
            exposure="cluster-ip" if p.behind_gateway else s.exposure, weights=weights,
            depends_on=[self.compute_class.resource, secret.secret, *loaded, *self.images.grants],
            max_replicas=s.autoscaling.max_replicas if s.autoscaling else None,
        ), opts=on_cluster)

        # Metrics, the queue-based autoscaler and what operators look at.
        low, high, target = _scaling_range(s)
        self.scaling = ServerAutoscaling(f"scaling{n}", AutoscalingArgs(
            namespace=self.namespace.metadata.name, deployment_name=self.server.name,
            selector=self.server.selector, metrics=s.engine.metrics,
            min_replicas=low, max_replicas=high, target_queue_size=target,
            # Scale down only after the queue stayed low for as long as a replacement takes to come back.
            scale_down_stabilization_seconds=min(3600, max(300, s.replica_budget_seconds)),
        ), opts=on_cluster)
        if s.autoscaling:
            MetricsAdapter(f"metrics-adapter{n}", MetricsAdapterArgs(
                project=s.project, project_number=identity.project_number(s.project),
                depends_on_cluster=self.cluster.cluster,
                grant_role=not p.behind_gateway,  # granted once for every region (components/platform/fleet.py)
            ), opts=on_cluster)
        self.observability = Observability(f"observability{n}", ObservabilityArgs(
            project=s.project, cluster_name=self.cluster.cluster_name, location=p.location, namespace=s.namespace,
            deployment_name=self.server.name, compute_class_name=s.compute_class_name, engine=s.engine.name,
            metrics=s.engine.metrics, max_replicas=max(1, s.max_replicas), autoscaled=s.autoscaling is not None,
            target_queue_size=target, pending_budget_seconds=NODE_PROVISIONING_SECONDS,
            alert_email=s.alert_email,
            hpa_name=self.server.name if s.autoscaling else None,  # the HPA takes the Deployment's name
            depends_on=self.cluster.apis,
            title_suffix=f" ({p.region})" if p.behind_gateway else "",
        ))

    def _weights(self, s, p: Placement, secret: ModelSecret, on_cluster: pulumi.ResourceOptions
                 ) -> tuple[Optional[BucketWeights], list[pulumi.Resource]]:
        """The bucket, its loader and grants (bucket mode), and how the server mounts it."""
        self.store = None
        if s.weight_source != "bucket":
            return None, []
        self.store = store = ModelStore(f"models{p.suffix}", ModelStoreArgs(
            project=s.project, region=p.region, bucket_name=p.bucket_name, create_bucket=not s.bucket_existing,
            namespace=self.namespace.metadata.name, model_id=s.model.model_id, revision=s.model_revision,
            prefix=s.weights_prefix, secret_name=secret.secret_name, token_key=secret.token_key,
            loader_timeout_seconds=loading.loader_timeout_seconds(s.model), loader_node_selector=SYSTEM_POOL_LABELS,
            loader_image=self.images.image_for(LOADER_IMAGE) or LOADER_IMAGE,
            depends_on=[self.cluster.cluster, *self.images.grants], apis=self.cluster.apis,
        ), opts=on_cluster)
        memory = s.pod_memory
        weights = BucketWeights(
            bucket_name=store.bucket_name, prefix=s.weights_prefix, service_account=store.server_account,
            cache_medium=memory.cache.medium, cache_gib=memory.cache.size_gib,
            sidecar_cpu=loading.SIDECAR_CPU, sidecar_memory_gib=loading.SIDECAR_MEMORY_GIB,
            reader="streamer" if s.weight_reader == "streamer" else "fuse")
        return weights, [store.loader, *store.server_grants]


def _scaling_range(s) -> tuple[int, int, float]:
    """(min, max, queue target): the autoscaler's, or a fixed count the HPA holds."""
    if s.autoscaling:
        return s.autoscaling.min_replicas, s.autoscaling.max_replicas, s.autoscaling.target_queue_size
    fixed = max(1, s.replicas)
    return fixed, fixed, DEFAULT_TARGET_QUEUE_SIZE
