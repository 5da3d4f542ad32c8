"""gke-llm-serving: a GKE cluster whose GPU nodes come from a Spot -> flex-start ComputeClass, serving an
open LLM with Text Generation Inference or vLLM, its weights read from a regional bucket. `pulumi up`
creates it; `make plan` shows it offline."""

import pulumi
import pulumi_kubernetes as k8s

import catalog
import settings
from catalog import loading
from components import identity
from components.autoscaling import AutoscalingArgs, ServerAutoscaling
from components.cluster import SYSTEM_POOL_LABELS, ClusterArgs, GkeCluster
from components.compute_class import ComputeClass, ComputeClassArgs
from components.engines import Launch
from components.inference_server import MODEL_PATH, BucketWeights, InferenceServer, InferenceServerArgs
from components.model_secret import ModelSecret, ModelSecretArgs
from components.metrics_adapter import MetricsAdapter, MetricsAdapterArgs
from components.model_store import ModelStore, ModelStoreArgs
from components.observability import Observability, ObservabilityArgs
from outputs import query_command

s = settings.load()  # the offline plan reads `s` for its summary

cluster = GkeCluster("llm", ClusterArgs(
    project=s.project, name=s.cluster_name, location=s.location, region=s.region,
    nap=catalog.nap_limits(s.machine, s.max_replicas, s.system_machine_type),
    system_machine_type=s.system_machine_type, network=s.network,
    deletion_protection=s.deletion_protection, private_nodes=s.private_nodes,
    authorized_networks=s.authorized_networks,
))
on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])

compute_class = ComputeClass("gpu", ComputeClassArgs(
    name=s.compute_class_name, tiers=s.capacity,
    machine_type=s.machine.gce_machine_type, gpu_type=s.machine.accelerator, gpu_count=s.machine.gpu_count,
    flex_lead_time_seconds=s.flex_lead_time_seconds, flex_max_run_seconds=s.flex_max_run_seconds,
    active_migration=s.active_migration, driver_version=s.engine.gpu_driver,
    boot_disk_gb=s.gpu_boot_disk_gb,
), opts=on_cluster)

namespace = k8s.core.v1.Namespace("llm-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=s.namespace),
                                  opts=pulumi.ResourceOptions(provider=cluster.provider))

secret = ModelSecret("model", ModelSecretArgs(
    namespace=namespace.metadata.name, token=s.hf_token, api_key=s.api_key,
), opts=on_cluster)

weights, loaded = None, []
if s.weight_source == "bucket":
    store = ModelStore("models", ModelStoreArgs(
        project=s.project, region=s.region, bucket_name=s.bucket_name, create_bucket=not s.bucket_existing,
        namespace=namespace.metadata.name, model_id=s.model.model_id, revision=s.model_revision,
        prefix=s.weights_prefix, secret_name=secret.secret_name, token_key=secret.token_key,
        loader_timeout_seconds=loading.loader_timeout_seconds(s.model), loader_node_selector=SYSTEM_POOL_LABELS,
        depends_on=[cluster.cluster], apis=cluster.apis,
    ), opts=on_cluster)
    memory = s.pod_memory
    weights = BucketWeights(
        bucket_name=store.bucket_name, prefix=s.weights_prefix, service_account=store.server_account,
        cache_medium=memory.cache.medium, cache_gib=memory.cache.size_gib,
        sidecar_cpu=loading.SIDECAR_CPU, sidecar_memory_gib=loading.SIDECAR_MEMORY_GIB)
    loaded = [store.loader, *store.server_grants]
    pulumi.export("modelBucket", store.bucket_name)

# One logical name for every engine: it predates engines being pluggable, and a name per engine
# would make switching `engine` create the new Deployment, Service and policy (same Kubernetes names)
# before deleting the old ones, which collide.
server = InferenceServer("tgi", InferenceServerArgs(
    namespace=namespace.metadata.name, compute_class_name=compute_class.class_name,
    engine=s.engine, image=s.image, launch=Launch(
        model=MODEL_PATH if weights else s.model.model_id, served_name=s.model.model_id,
        quantize=s.quantize.name, shards=s.shards,
        max_input_tokens=s.max_input_tokens, max_total_tokens=s.max_total_tokens,
        max_batch_prefill_tokens=s.max_prefill_tokens, gpu_memory_fraction=1 - catalog.GPU_RUNTIME_OVERHEAD,
        hf_home=s.hf_home, offline=weights is not None),
    cpu=s.pod_memory.server_cpu, memory_gib=s.pod_memory.server_memory_gib, gpus=s.pod.gpus, replicas=s.replicas,
    startup_seconds=s.startup_seconds, replica_budget_seconds=s.replica_budget_seconds,
    secret_name=secret.secret_name, token_key=secret.token_key, api_key_key=secret.api_key_key,
    cache_gib=catalog.weight_cache_gib(s.model), cache_storage_class=s.cache_storage_class, exposure=s.exposure,
    weights=weights, depends_on=[compute_class.resource, secret.secret, *loaded],
    max_replicas=s.autoscaling.max_replicas if s.autoscaling else None,
), opts=on_cluster)

# Metrics, the queue-based autoscaler and what operators look at.
scaling = ServerAutoscaling("scaling", AutoscalingArgs(
    namespace=namespace.metadata.name, deployment_name=server.name,
    selector=server.selector, metrics=s.engine.metrics,
    min_replicas=s.autoscaling.min_replicas if s.autoscaling else max(1, s.replicas),
    max_replicas=s.autoscaling.max_replicas if s.autoscaling else max(1, s.replicas),
    target_queue_size=s.autoscaling.target_queue_size if s.autoscaling else settings.DEFAULT_TARGET_QUEUE_SIZE,
    # Scale down only after the queue stayed low for as long as a replacement takes to come back.
    scale_down_stabilization_seconds=min(3600, max(300, s.replica_budget_seconds)),
), opts=on_cluster)
if s.autoscaling:
    MetricsAdapter("metrics-adapter", MetricsAdapterArgs(
        project=s.project, project_number=identity.project_number(s.project), depends_on_cluster=cluster.cluster,
    ), opts=on_cluster)
observability = Observability("observability", ObservabilityArgs(
    project=s.project, cluster_name=cluster.cluster_name, location=s.location, namespace=s.namespace,
    deployment_name=server.name, compute_class_name=s.compute_class_name, engine=s.engine.name,
    metrics=s.engine.metrics, max_replicas=max(1, s.max_replicas), autoscaled=s.autoscaling is not None,
    target_queue_size=s.autoscaling.target_queue_size if s.autoscaling else settings.DEFAULT_TARGET_QUEUE_SIZE,
    pending_budget_seconds=settings.NODE_PROVISIONING_SECONDS, alert_email=s.alert_email,
    hpa_name=server.name if s.autoscaling else None,  # the HPA takes the Deployment's name
    depends_on=cluster.apis,
))
pulumi.export("dashboardUrl", observability.dashboard_url)

pulumi.export("endpoint", server.endpoint)
pulumi.export("engine", s.engine.name)
pulumi.export("computeClassName", compute_class.class_name)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("namespace", namespace.metadata.name)
pulumi.export("queryCommand", pulumi.Output.all(cluster.cluster_name, namespace.metadata.name, server.service_name, server.endpoint).apply(
    lambda p: query_command(s, cluster_name=p[0], namespace=p[1], service=p[2], endpoint=p[3], port=s.engine.port)))
