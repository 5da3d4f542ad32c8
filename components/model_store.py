"""The model store: a regional Cloud Storage bucket holding the checkpoint, the two Kubernetes
ServiceAccounts that may read it (the server) and write it (the loader), their IAM grants through
Workload Identity, and the loader Job that fills the bucket once.

Why: with weights in a bucket in the cluster's region, a replica that replaces one Spot took reads
the checkpoint through Cloud Storage FUSE at hundreds of MB/s instead of downloading it from the
Hugging Face Hub onto a fresh disk and reading it back (team facts, model-loading.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components import identity

CSI_DRIVER = "gcsfuse.csi.storage.gke.io"
LOADER_MOUNT = "/gcs"
# What the loader takes from the Hub: the Hugging Face-format shards, configs and tokenizer, and not
# the duplicate original-format copies some repos also hold (consolidated.*.pt, consolidated.safetensors,
# *.bin), which would double the bytes (model-loading.md §0).
INCLUDE = ("model*.safetensors", "*.json", "tokenizer*", "*.model", "*.tiktoken", "merges.txt", "vocab.txt")
COMPLETE_MARKER = ".complete"
# Files written through Cloud Storage FUSE are staged whole on the node's disk until closed
# (gcsfuse docs/semantics.md), beside the serving image the loader pulls, on a 50 GB system node.
# Two files at a time (checkpoint shards are 5-10 GB) bounds the staging; the sidecar requests it.
LOADER_WORKERS = 2
LOADER_STAGING_GIB = 20

# Runs in the serving image, which ships huggingface_hub. Idempotent: a prefix with the marker is done;
# an interrupted run resumes (snapshot_download skips files it already has in local_dir). The token is
# read by huggingface_hub from HF_TOKEN (env from the Secret), never passed in args or printed.
LOADER_SCRIPT = """\
import os, pathlib, sys, time
from huggingface_hub import snapshot_download
target = pathlib.Path(os.environ["TARGET"])
marker = target / os.environ["MARKER"]
if marker.exists():
    print(f"{target} is complete ({marker.read_text().strip()}); nothing to download", flush=True)
    sys.exit(0)
started = time.time()
snapshot_download(repo_id=os.environ["MODEL_ID"], revision=os.environ["REVISION"], local_dir=str(target),
                  allow_patterns=os.environ["INCLUDE"].split(), max_workers=int(os.environ["WORKERS"]))
size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
marker.write_text(f"{os.environ['MODEL_ID']}@{os.environ['REVISION']}")  # written last: the prefix is whole
print(f"copied {size / 1e9:.1f} GB in {time.time() - started:.0f} s", flush=True)
"""

# The Cloud Storage FUSE sidecar gets requests (so the scheduler counts it) and no limits ("0"), as in
# Google's serving samples: tight limits throttle it or OOM-kill the mount (model-loading.md §1.3).
def sidecar_annotations(cpu: int, memory_gib: int, ephemeral_gib: int = 0) -> dict[str, str]:
    extra = {"gke-gcsfuse/ephemeral-storage-request": f"{ephemeral_gib}Gi"} if ephemeral_gib else {}
    return {
        "gke-gcsfuse/volumes": "true",  # asks the CSI driver's webhook to inject the sidecar
        "gke-gcsfuse/cpu-request": str(cpu),
        "gke-gcsfuse/memory-request": f"{memory_gib}Gi",
        **extra,
        "gke-gcsfuse/cpu-limit": "0",
        "gke-gcsfuse/memory-limit": "0",
        "gke-gcsfuse/ephemeral-storage-limit": "0",
    }


@dataclass(frozen=True)
class ModelStoreArgs:
    project: str
    region: str
    bucket_name: str
    create_bucket: bool  # False: use an existing bucket, created elsewhere
    namespace: pulumi.Input[str]
    model_id: str
    revision: str
    prefix: str  # <model id>/<revision> inside the bucket
    image: str  # the serving image (it has huggingface_hub)
    secret_name: pulumi.Input[str]
    token_key: str
    loader_timeout_seconds: int
    loader_node_selector: dict[str, str] = field(default_factory=dict)  # a CPU node
    server_account: str = "llm-server"
    loader_account: str = "model-loader"
    depends_on: Sequence[pulumi.Resource] = ()  # the cluster: the identity pool exists only with it
    apis: Sequence[pulumi.Resource] = ()  # the Cloud Storage API being enabled


class ModelStore(pulumi.ComponentResource):
    """Creates (or adopts) the bucket, the ServiceAccounts `llm-server` (read) and `model-loader`
    (write), their bucket-scoped IAM grants and the loader Job.

    Exports `bucket_name`, `server_account` (the name the Deployment runs as) and `loader` (the Job,
    for the Deployment to depend on).
    """

    def __init__(self, name: str, args: ModelStoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:gcp:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.create_bucket:
            bucket = gcp.storage.Bucket(
                f"{name}-bucket",
                name=args.bucket_name,
                project=args.project,
                # Regional, beside the cluster: reads stay in the region (no transfer charge) and work
                # from whichever zone Spot or flex-start finds a GPU in. name and location are ForceNew.
                location=args.region.upper(),
                uniform_bucket_level_access=True,  # Workload Identity principals need it (CSI docs/authentication.md)
                public_access_prevention="enforced",
                # Hierarchical namespace: higher initial QPS for many parallel reads (Cloud Storage FUSE
                # performance docs); needs uniform access. ForceNew, so fixed at creation.
                hierarchical_namespace=gcp.storage.BucketHierarchicalNamespaceArgs(enabled=True),
                # The weights can always be copied again from the Hub: `pulumi destroy` deletes them with
                # the bucket (force_destroy), and deleted objects are not kept (and billed) for 7 days.
                force_destroy=True,
                soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=0),
                labels={"app": "gke-llm-serving"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.apis)),
            )
            bucket_name: pulumi.Output[str] = bucket.name
        else:
            bucket_name = pulumi.Output.from_input(args.bucket_name)
        self.bucket_name = bucket_name

        def account(suffix: str, ksa: str) -> k8s.core.v1.ServiceAccount:
            return k8s.core.v1.ServiceAccount(
                f"{name}-{suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ksa, namespace=args.namespace,
                                                    labels={"app.kubernetes.io/part-of": "gke-llm-serving"}),
                automount_service_account_token=False,  # the CSI driver gets its own token from the kubelet
                opts=child,
            )

        server_sa, loader_sa = account("server-sa", args.server_account), account("loader-sa", args.loader_account)
        number = identity.project_number(args.project, pulumi.InvokeOptions(parent=self))
        after_cluster = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        grants = [
            gcp.storage.BucketIAMMember(
                f"{name}-{suffix}",
                bucket=bucket_name,
                role=role,
                # Granted to the Kubernetes ServiceAccount itself (its name comes from the object, so
                # the grant follows it), scoped to this bucket: no node-wide storage access, no keys.
                member=identity.principal_output(number, args.project, sa.metadata.namespace, sa.metadata.name),
                opts=after_cluster,
            )
            for suffix, role, sa in (("server-reads", "roles/storage.objectViewer", server_sa),
                                     ("loader-writes", "roles/storage.objectUser", loader_sa))
        ]
        self.server_account = server_sa.metadata.name
        self.server_grants = [server_sa, grants[0]]

        self.loader = k8s.batch.v1.Job(
            f"{name}-loader",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                # Auto-named: a new model or revision changes the (immutable) pod template, and the
                # provider replaces the Job; auto-named, the new one is created before the old is deleted.
                namespace=args.namespace,
                labels={"app": "model-loader", "app.kubernetes.io/part-of": "gke-llm-serving"},
                annotations={
                    # pulumi-kubernetes waits for a Job to complete (10 minutes by default) and fails
                    # `pulumi up` with the Job's reason; a first download of ~90 GB needs longer.
                    "pulumi.com/timeoutSeconds": str(args.loader_timeout_seconds),
                    # A Job that failed is replaced (run again) on the next `pulumi up` instead of
                    # being awaited again as failed.
                    "pulumi.com/replaceUnready": "true",
                },
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=3,  # each retry resumes where the last one stopped
                active_deadline_seconds=args.loader_timeout_seconds,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={"app": "model-loader"},
                        annotations=sidecar_annotations(cpu=1, memory_gib=1, ephemeral_gib=LOADER_STAGING_GIB)),
                    spec=self._loader_pod(args, bucket_name),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*grants, loader_sa]),
        )
        # The loader serves nothing: no ingress at all (egress stays open for the Hub and Cloud Storage).
        self.loader_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-loader-isolation",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="model-loader-isolation", namespace=args.namespace,
                                                labels={"app.kubernetes.io/part-of": "gke-llm-serving"}),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "model-loader"}),
                policy_types=["Ingress"]),
            opts=child,
        )
        self.register_outputs({"bucket_name": self.bucket_name, "server_account": self.server_account})

    @staticmethod
    def _loader_pod(args: ModelStoreArgs, bucket_name: pulumi.Input[str]) -> k8s.core.v1.PodSpecArgs:
        token = k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
            name=args.secret_name, key=args.token_key))
        plain = {"MODEL_ID": args.model_id, "REVISION": args.revision, "TARGET": f"{LOADER_MOUNT}/{args.prefix}",
                 "MARKER": COMPLETE_MARKER, "INCLUDE": " ".join(INCLUDE), "HF_HOME": "/tmp/hf",
                 "WORKERS": str(LOADER_WORKERS),
                 # hf_transfer writes many chunks of many files at once: off, to keep staging bounded.
                 "HF_HUB_ENABLE_HF_TRANSFER": "0",
                 "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
        return k8s.core.v1.PodSpecArgs(
            service_account_name=args.loader_account,
            restart_policy="Never",
            # A CPU node (the system pool), not a GPU node: downloading needs no GPU.
            node_selector=args.loader_node_selector or None,
            automount_service_account_token=False,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
            containers=[k8s.core.v1.ContainerArgs(
                name="loader",
                image=args.image,
                command=["python3", "-c", LOADER_SCRIPT],
                env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in plain.items()]
                + [k8s.core.v1.EnvVarArgs(name="HF_TOKEN", value_from=token)],
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "1", "memory": "2Gi"}, limits={"cpu": "2", "memory": "4Gi"}),
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="models", mount_path=LOADER_MOUNT)],
                security_context=k8s.core.v1.SecurityContextArgs(
                    allow_privilege_escalation=False, privileged=False,
                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
            )],
            volumes=[k8s.core.v1.VolumeArgs(name="models", csi=k8s.core.v1.CSIVolumeSourceArgs(
                driver=CSI_DRIVER,
                # Same up-front access check skipped as for the server (components/inference_server.py).
                volume_attributes={"bucketName": bucket_name, "mountOptions": "implicit-dirs",
                                   "skipCSIBucketAccessCheck": "true"},
            ))],
        )
