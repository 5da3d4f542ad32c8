"""gke-llm-serving: a GKE cluster whose GPU nodes come from a Spot -> flex-start ComputeClass, serving an
open LLM with Text Generation Inference. `pulumi up` creates it; `make plan` shows it offline."""

import pulumi
import pulumi_kubernetes as k8s

import catalog
import settings
from components.engines import Launch
from components.cluster import ClusterArgs, GkeCluster
from components.compute_class import ComputeClass, ComputeClassArgs
from components.inference_server import InferenceServer, InferenceServerArgs
from components.model_secret import ModelSecret, ModelSecretArgs
from outputs import query_command

s = settings.load()  # the offline plan reads `s` for its summary

cluster = GkeCluster("llm", ClusterArgs(
    project=s.project, name=s.cluster_name, location=s.location, region=s.region,
    nap=catalog.nap_limits(s.machine, s.replicas, s.system_machine_type),
    system_machine_type=s.system_machine_type, network=s.network,
    deletion_protection=s.deletion_protection, private_nodes=s.private_nodes,
    authorized_networks=s.authorized_networks,
))
on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])

compute_class = ComputeClass("gpu", ComputeClassArgs(
    name=s.compute_class_name, tiers=s.capacity,
    machine_type=s.machine.gce_machine_type, gpu_type=s.machine.accelerator, gpu_count=s.machine.gpu_count,
    flex_lead_time_seconds=s.flex_lead_time_seconds, flex_max_run_seconds=s.flex_max_run_seconds,
    active_migration=s.active_migration,
), opts=on_cluster)

namespace = k8s.core.v1.Namespace("llm-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=s.namespace),
                                  opts=pulumi.ResourceOptions(provider=cluster.provider))

secret = ModelSecret("model", ModelSecretArgs(
    namespace=namespace.metadata.name, token=s.hf_token, api_key=s.api_key,
), opts=on_cluster)

# Named after the engine: the TGI server keeps the resource names it had before engines were pluggable.
server = InferenceServer(s.engine.name, InferenceServerArgs(
    namespace=namespace.metadata.name, compute_class_name=compute_class.class_name,
    engine=s.engine, image=s.image, launch=Launch(
        model=s.model.model_id, served_name=s.model.model_id, quantize=s.quantize.name, shards=s.shards,
        max_input_tokens=s.max_input_tokens, max_total_tokens=s.max_total_tokens,
        max_batch_prefill_tokens=s.max_prefill_tokens, gpu_memory_fraction=1 - catalog.GPU_RUNTIME_OVERHEAD,
        hf_home=s.hf_home, offline=False),
    cpu=s.pod.cpu, memory_gib=s.pod.memory_gib, gpus=s.pod.gpus, replicas=s.replicas,
    startup_seconds=s.startup_seconds, replica_budget_seconds=s.replica_budget_seconds,
    secret_name=secret.secret_name, token_key=secret.token_key, api_key_key=secret.api_key_key,
    cache_gib=catalog.weight_cache_gib(s.model), cache_storage_class=s.cache_storage_class, exposure=s.exposure,
    depends_on=[compute_class.resource, secret.secret],
), opts=on_cluster)

pulumi.export("endpoint", server.endpoint)
pulumi.export("computeClassName", compute_class.class_name)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("namespace", namespace.metadata.name)
pulumi.export("queryCommand", pulumi.Output.all(cluster.cluster_name, namespace.metadata.name, server.service_name, server.endpoint).apply(
    lambda p: query_command(s, cluster_name=p[0], namespace=p[1], service=p[2], endpoint=p[3], port=s.engine.port)))
pulumi.export("engine", s.engine.name)
