"""The model server: the engine's Deployment on the ComputeClass, its Service, NetworkPolicy and disruption budget."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from catalog.loading import WORK_DIR_GIB  # HF_HOME in bucket mode: caches the engine writes, no weights
from catalog.nodes import SIDECAR_EPHEMERAL_GIB
from components.serving.engines import Engine, Launch
from components.serving.model_store import CSI_DRIVER, sidecar_annotations

# Shutdown timing (preStop pause, the engine's drain, the grace period) is the engine's: see the
# timeline in components/serving/engines/tgi.py.

STARTUP_PROBE_PERIOD = 15

# Spot VMs carry this label (GKE "Spot VMs": select them with cloud.google.com/gke-spot=true);
# flex-start and on-demand nodes do not, so it splits replicas across capacity tiers.
SPOT_LABEL = "cloud.google.com/gke-spot"
ZONE_LABEL = "topology.kubernetes.io/zone"
HOST_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True)
class InferenceServerArgs:
    namespace: pulumi.Input[str]
    compute_class_name: pulumi.Input[str]
    engine: Engine
    image: str
    launch: Launch  # what to serve and with which limits
    cpu: int
    memory_gib: int
    gpus: int
    replicas: int
    startup_seconds: int
    replica_budget_seconds: int  # node provisioning + cold start of one replica
    secret_name: pulumi.Input[str]  # an output of the Secret: pods roll when it is replaced
    token_key: str
    cache_gib: int
    cache_storage_class: str = "premium-rwo"
    api_key_key: Optional[str] = None
    exposure: str = "cluster-ip"  # cluster-ip | internal | public
    name: str = "llm"  # the tutorial's names
    service_name: str = "llm-service"
    # What must exist before the pods (the ComputeClass their selector names, the Secret) and must
    # outlive them on destroy; passed as resources, not names, so Pulumi orders both ways.
    depends_on: Sequence[pulumi.Resource] = ()
    weights: Optional["BucketWeights"] = None  # None: the engine downloads from the Hub (weightSource hub)
    # With an HPA the replica count is its business: the Deployment states none (a count here would
    # be reset by every `pulumi up`, or conflict under server-side apply with the HPA's field
    # manager, pulumi-kubernetes #2569). Sizing (timeouts, budget, spread) follows the most replicas.
    max_replicas: Optional[int] = None  # set when autoscaled
    # The reference pods pull: `image` through the cell's Artifact Registry mirror (components/
    # registry.py), so nodes stream it. None: `image` itself (an image outside the mirrored upstreams).
    pull_image: Optional[pulumi.Input[str]] = None


MODEL_PATH = "/models"  # where the bucket's prefix is mounted, read-only; the engine's model path


@dataclass(frozen=True)
class BucketWeights:
    """The checkpoint in a bucket, read through the Cloud Storage FUSE CSI driver."""
    bucket_name: pulumi.Input[str]
    prefix: str  # <model id>/<revision>
    service_account: pulumi.Input[str]  # the Kubernetes ServiceAccount allowed to read the bucket
    cache_medium: str  # "memory", "disk" (the node's boot disk) or "none" (catalog.loading.pod_memory)
    cache_gib: int
    sidecar_cpu: int
    sidecar_memory_gib: int
    # "fuse": mounted through the Cloud Storage FUSE CSI driver (sidecar, file cache); "streamer": the
    # engine reads gs:// itself (vLLM's Run:ai Model Streamer), so no mount, no sidecar, no cache.
    reader: str = "fuse"

    @property
    def mounted(self) -> bool:
        return self.reader == "fuse"


def mount_options(weights: BucketWeights) -> str:
    """Google's recommended options for serving from a bucket (gcsfuse samples/gke-csi-yaml/gpu/
    serving-pv.yaml, GKE "Optimize Cloud Storage FUSE CSI driver for GKE performance"): only the
    model's prefix, metadata cached for the pod's life (a revision never changes in place: a new one
    is a new prefix), and a file cache filled by parallel downloads when there is room for one."""
    options = ["implicit-dirs", f"only-dir={weights.prefix}",
               "metadata-cache:ttl-secs:-1", "metadata-cache:stat-cache-max-size-mb:-1",
               "metadata-cache:type-cache-max-size-mb:-1", "metadata-cache:negative-ttl-secs:0"]
    if weights.cache_medium != "none":
        options += ["file-cache:max-size-mb:-1", "file-cache:cache-file-for-range-read:true",
                    "file-cache:enable-parallel-downloads:true"]
    return ",".join(options)


def weight_volumes(weights: BucketWeights) -> list[k8s.core.v1.VolumeArgs]:
    work = k8s.core.v1.VolumeArgs(name="work", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=f"{WORK_DIR_GIB}Gi"))
    if not weights.mounted:
        return [work]
    volumes = [
        k8s.core.v1.VolumeArgs(name="weights", csi=k8s.core.v1.CSIVolumeSourceArgs(
            driver=CSI_DRIVER,
            read_only=True,
            volume_attributes={
                "bucketName": weights.bucket_name,
                "mountOptions": mount_options(weights),
                # Skip the driver's up-front access check (as Google's serving samples do): the
                # grants here are object roles on one bucket, and a failed check would keep the pod
                # from starting where the mount itself works. Fetching metadata at mount saves
                # round trips at load.
                "skipCSIBucketAccessCheck": "true",
                "gcsfuseMetadataPrefetchOnMount": "true",
            },
        )),
        work,
    ]
    if weights.cache_medium != "none":
        # The sidecar takes a pod volume of this name as its file cache (CSI pkg/webhook/sidecar_spec.go):
        # RAM for the best parallel-download speed, else the node's ephemeral storage (its boot disk,
        # sized for it), which the sidecar requests so the scheduler counts it (sidecar_ephemeral_gib).
        volumes.append(k8s.core.v1.VolumeArgs(name="gke-gcsfuse-cache", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
            medium="Memory" if weights.cache_medium == "memory" else None, size_limit=f"{weights.cache_gib}Gi")))
    return volumes


def sidecar_ephemeral_gib(weights: BucketWeights) -> int:
    """A disk file cache plus the webhook's default buffer; 0 (the webhook's default) otherwise."""
    return weights.cache_gib + SIDECAR_EPHEMERAL_GIB if weights.cache_medium == "disk" else 0


def rollout_seconds(replicas: int, replica_budget_seconds: int) -> int:
    """How long `pulumi up` may wait for a roll-out. One replica is recreated: one budget. More roll
    with maxUnavailable 1 and no surge (see strategy), so replicas are replaced one after another,
    each with its own cold start (and maybe a new node): one budget per replica."""
    return max(1, replicas) * replica_budget_seconds


def strategy(replicas: int) -> k8s.apps.v1.DeploymentStrategyArgs:
    """Never ask for more GPUs than the replicas hold: a surge pod needs a whole extra GPU node that
    Spot or flex-start may not have. With one replica, replace it (downtime while the new one loads);
    with more, take one down at a time while the others serve."""
    if replicas <= 1:
        return k8s.apps.v1.DeploymentStrategyArgs(type="Recreate")
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=0, max_unavailable=1),
    )


def affinity(labels: dict[str, str], replicas: int) -> Optional[k8s.core.v1.AffinityArgs]:
    if replicas < 2:
        return None
    selector = k8s.meta.v1.LabelSelectorArgs(match_labels=labels)

    def prefer(weight: int, key: str) -> k8s.core.v1.WeightedPodAffinityTermArgs:
        return k8s.core.v1.WeightedPodAffinityTermArgs(
            weight=weight,
            pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(label_selector=selector, topology_key=key),
        )

    return k8s.core.v1.AffinityArgs(pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
        # One replica per node: a node loss takes at most one replica.
        required_during_scheduling_ignored_during_execution=[
            k8s.core.v1.PodAffinityTermArgs(label_selector=selector, topology_key=HOST_LABEL)],
        preferred_during_scheduling_ignored_during_execution=[
            prefer(100, ZONE_LABEL),
            # Nodes without the label (flex-start, on-demand) are outside the Spot domain, so a
            # second replica prefers them once one runs on Spot: one reclaim wave cannot take all.
            prefer(50, SPOT_LABEL),
        ],
    ))


def service_annotations(exposure: str) -> dict[str, str]:
    annotations = {
        # pulumi-kubernetes waits up to 10 minutes for a Service to have ready endpoints (and, for a
        # load balancer, an address). Ours get endpoints only after GPU provisioning and a cold start,
        # and never with replicas 0, so that wait would fail `pulumi up`. The Deployment's own wait
        # (with its roll-out budget) is the one that says whether the model came up.
        "pulumi.com/skipAwait": "true",
    }
    if exposure == "internal":
        annotations["networking.gke.io/load-balancer-type"] = "Internal"
    return annotations


PENDING_ADDRESS = "pending"


def load_balancer_url(status, port: int) -> str:
    """The load balancer's URL, or a sentence saying it has no address yet: the Service is not awaited,
    so right after it is created (or when the exposure changes) its status has no ingress."""
    ingress = (getattr(getattr(status, "load_balancer", None), "ingress", None) or []) if status else []
    address = next((i.ip or i.hostname for i in ingress if i.ip or i.hostname), None)
    if not address:
        return (f"{PENDING_ADDRESS}: the load balancer has no address yet; run `pulumi refresh` "
                "(or kubectl get service) in a minute or two")
    return f"http://{address}:{port}"


def probe(path: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        period_seconds=period,
        timeout_seconds=5,
        failure_threshold=failures,
    )


class InferenceServer(pulumi.ComponentResource):
    """Creates the serving engine's Deployment (pods on the ComputeClass, every GPU of a node, probes
    sized for a long cold start, the model bucket mounted read-only through Cloud Storage FUSE when
    `weights` is given, no replica count when an HPA owns it), its Service, a NetworkPolicy that admits
    only the model port and, with two or more replicas, a PodDisruptionBudget.

    Exports `deployment`, `name` and `selector` (for the PodMonitoring and HPA), `service_name`, `port`
    and `endpoint` (URL that follows the exposure, or "pending: ..." while a load balancer has none).
    """

    def __init__(self, name: str, args: InferenceServerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:k8s:InferenceServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        port = args.engine.port
        most = args.max_replicas or args.replicas
        labels = {"app": args.name, "app.kubernetes.io/name": args.name, "app.kubernetes.io/part-of": "gke-llm-serving"}
        selector = {"app": args.name}

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                namespace=args.namespace,
                labels=labels,
                # The provider waits for the whole roll-out (10 minutes by default): cover node
                # provisioning plus the cold start of every replica it replaces in turn.
                annotations={"pulumi.com/timeoutSeconds": str(rollout_seconds(most, args.replica_budget_seconds))},
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=None if args.max_replicas else args.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=strategy(most),
                # Kubernetes marks the roll-out failed when no pod became ready for this long; the
                # clock restarts at each ready pod, so one replica's budget is the right size.
                progress_deadline_seconds=args.replica_budget_seconds,
                revision_history_limit=3,
                template=self._pod_template(args, labels),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )

        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.service_name,
                namespace=args.namespace,
                labels=labels,
                annotations=service_annotations(args.exposure),
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP" if args.exposure == "cluster-ip" else "LoadBalancer",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=port, target_port="http", protocol="TCP")],
            ),
            opts=child,
        )

        # Only the model port is reachable; egress stays open (the weights come from the Hugging Face
        # Hub). Enforced by Dataplane V2, which the cluster enables.
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{args.name}-ingress", namespace=args.namespace, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")])],
            ),
            opts=child,
        )

        if most >= 2:
            self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{args.name}-pdb", namespace=args.namespace, labels=labels),
                # Voluntary disruptions (node upgrades, consolidation, active migration) take one
                # replica at a time. With one replica a budget would block every drain, so none.
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
                opts=child,
            )

        self.service_name = self.service.metadata.name
        self.name = args.name  # the Deployment's fixed name
        self.selector = selector  # what selects the pods (the PodMonitoring and HPA use it)
        if args.exposure == "cluster-ip":
            self.endpoint = pulumi.Output.all(self.service.metadata.name, self.service.metadata.namespace).apply(
                lambda p: f"http://{p[0]}.{p[1]}.svc.cluster.local:{port}")
        else:
            self.endpoint = self.service.status.apply(lambda status: load_balancer_url(status, port))
        self.register_outputs({"service_name": self.service_name, "endpoint": self.endpoint})

    @staticmethod
    def _pod_template(args: InferenceServerArgs, labels: dict[str, str]) -> k8s.core.v1.PodTemplateSpecArgs:
        engine, weights = args.engine, args.weights
        run = engine.container(args.launch, args.image)
        env = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in run.env.items()]

        def from_secret(var: str, key: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(name=var, value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=args.secret_name, key=key)))

        if args.weights is None:  # from the bucket the server needs no Hub token at all
            env += [from_secret(var, args.token_key) for var in engine.token_envs]
        if args.api_key_key:
            env.append(from_secret(engine.api_key_env, args.api_key_key))

        quantity = {"cpu": str(args.cpu), "memory": f"{args.memory_gib}Gi", "nvidia.com/gpu": str(args.gpus)}
        # The work directory's emptyDir is requested (not limited: a pod-level limit would also count
        # the container's own layer and evict it), so the scheduler keeps room for it.
        requests = {**quantity, "ephemeral-storage": f"{WORK_DIR_GIB}Gi"} if args.weights else quantity
        container = k8s.core.v1.ContainerArgs(
            name="llm",
            image=args.pull_image or args.image,
            command=run.command,
            args=run.args or None,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=engine.port, protocol="TCP")],
            env=env,
            # Requests = limits: the pod owns the node's GPUs and the memory it needs is known.
            resources=k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=quantity),
            # Download, shard load and warm-up come before the port opens. Until this passes no
            # other probe runs; its budget is the cold-start budget.
            startup_probe=probe(engine.health_path, STARTUP_PROBE_PERIOD, math.ceil(args.startup_seconds / STARTUP_PROBE_PERIOD)),
            readiness_probe=probe(engine.health_path, 10, 3),
            # No liveness probe: /health also fails under overload, and a restart costs a 30-60
            # minute reload. Readiness takes an unhealthy pod out of the Service instead.
            lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["sleep", str(engine.prestop_seconds)]))),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="dshm", mount_path="/dev/shm")] + (
                [k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=args.launch.hf_home)] if weights is None else
                ([k8s.core.v1.VolumeMountArgs(name="weights", mount_path=MODEL_PATH, read_only=True)] if weights.mounted else [])
                + [k8s.core.v1.VolumeMountArgs(name="work", mount_path=args.launch.hf_home)]),
            # Left out, with reason: readOnlyRootFilesystem (the engines and PyTorch write caches under
            # $HOME and /usr/src at run time) and runAsNonRoot (the image runs as root and its
            # files belong to root; no non-root user is defined in it).
            security_context=k8s.core.v1.SecurityContextArgs(
                allow_privilege_escalation=False,
                privileged=False,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            ),
        )
        return k8s.core.v1.PodTemplateSpecArgs(
            # No token digest or version here: a rotation replaces the auto-named Secret, and the new
            # name in the env's secretKeyRef is what rolls the pods (components/serving/model_secret.py).
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels=labels,
                # A RAM file cache lives in a memory emptyDir, charged to the pod: it is part of the
                # sidecar's memory request, so the scheduler counts it and the kubelet does not pick
                # this pod first under memory pressure.
                # A disk cache is in the sidecar's ephemeral request for the same reason: a node without
                # room for it is refused up front, not evicted mid-load.
                annotations=None if weights is None or not weights.mounted else sidecar_annotations(
                    weights.sidecar_cpu,
                    weights.sidecar_memory_gib + (weights.cache_gib if weights.cache_medium == "memory" else 0),
                    ephemeral_gib=sidecar_ephemeral_gib(weights))),
            spec=k8s.core.v1.PodSpecArgs(
                # On the pod template (the tutorial put it on the Deployment spec, which the API
                # rejects), and alone: GKE rejects gke-spot or gke-accelerator selectors beside it.
                node_selector={"cloud.google.com/compute-class": args.compute_class_name},
                affinity=affinity({"app": args.name}, args.max_replicas or args.replicas),
                termination_grace_period_seconds=engine.grace_seconds,
                automount_service_account_token=False,
                # Its own ServiceAccount, allowed to read the model bucket and nothing else.
                service_account_name=None if weights is None else weights.service_account,
                enable_service_links=False,
                security_context=k8s.core.v1.PodSecurityContextArgs(
                    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                containers=[container],
                volumes=[
                    # NCCL exchanges data through shared memory between the GPUs (L4s have no NVLink).
                    k8s.core.v1.VolumeArgs(name="dshm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Gi")),
                ] + (weight_volumes(weights) if weights is not None else [
                    # A disk per pod for the downloaded checkpoint, created and deleted with the pod.
                    k8s.core.v1.VolumeArgs(name="model-cache", ephemeral=k8s.core.v1.EphemeralVolumeSourceArgs(
                        volume_claim_template=k8s.core.v1.PersistentVolumeClaimTemplateArgs(
                            metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": args.name}),
                            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                                access_modes=["ReadWriteOnce"],
                                storage_class_name=args.cache_storage_class,
                                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{args.cache_gib}Gi"}),
                            ),
                        ))),
                ]),
            ),
        )
