"""The model store: a regional Cloud Storage bucket holding the checkpoint, the two Kubernetes
ServiceAccounts that may read it (the server) and write it (the loader), their IAM grants through
Workload Identity, and the loader Job that fills the bucket once.

Why: with weights in a bucket in the cluster's region, a replica that replaces one Spot took reads
the checkpoint through Cloud Storage FUSE at hundreds of MB/s instead of downloading it from the
Hugging Face Hub onto a fresh disk and reading it back (team facts, model-loading.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.platform import identity

CSI_DRIVER = "gcsfuse.csi.storage.gke.io"
LOADER_MOUNT = "/gcs"
LOADER_WORK = "/work"  # the loader's only writable local path: an emptyDir it requests
HERE = Path(__file__).parent
# What the loader takes from the Hub: the Hugging Face-format shards, configs and tokenizer, and not
# the duplicate original-format copies some repos also hold (consolidated.*.pt, consolidated.safetensors,
# *.bin), which would double the bytes (model-loading.md §0). No *.bin fallback: see model_loader.py.
INCLUDE = ("model*.safetensors", "*.json", "tokenizer*", "*.model", "*.tiktoken", "merges.txt", "vocab.txt")
COMPLETE_MARKER = ".complete"

# The loader's image: a small Python image, pinned by digest, that installs the pinned, hash-checked
# wheels of components/loader_requirements.txt (7 MB, 24 MB installed) at start. Not the serving image:
# TGI 3.3.7's is about 8 GB (third-party figure) with huggingface_hub 0.30.1, whose snapshot_download
# returns a partial snapshot as if whole (review-engines A2), and vLLM's is 28.6 GB unpacked
# (vllm-project/vllm#22377), more than a system node's disk holds beside the staging (review A1).
# The cost: the pod needs PyPI beside the Hub (egress, through Cloud NAT on private nodes), and a
# failed install ends the pod like any other transient failure, which the Job retries.
# Digest: the one several public Dockerfiles pin for this tag (code index, e.g. id 66884794006).
LOADER_IMAGE = "python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c"
LOADER_REQUIREMENTS = (HERE / "loader_requirements.txt").read_text()
LOADER_PROGRAM = (HERE / "model_loader.py").read_text()

# What the loader stages on the node's ephemeral storage, bounded:
# - huggingface_hub 2.4.0 downloads each file to a temporary name in the target while it holds one
#   handle open and hf-xet writes through another (file_download.py `_download_to_tmp_and_move`).
#   hf-xet >= 1.6 writes in order (xet-core #623 removed HF_XET_RECONSTRUCT_WRITE_SEQUENTIALLY and
#   its parallel writer; `SequentialWriter`), but Cloud Storage FUSE streams only a new file written
#   in order through one handle and stages anything else whole on local disk (gcsfuse v2.9.1 and
#   v3.0.0 release notes). So count each file in flight as staged whole, in the sidecar.
# - One file at a time (snapshot_download max_workers and HF_XET_DATA_MAX_CONCURRENT_FILE_DOWNLOADS,
#   xet-core data.rs, default 8): hf-xet still fetches that file's ranges in parallel.
# - The loader refuses, before downloading, any file above LOADER_FILE_CAP_GIB (the largest catalogued
#   shard is casperhansen/mixtral-instruct-awq's 9.98 GB, review-engines), so the request is a bound.
# - hf-xet's chunk cache: 0 (HF_XET_CHUNK_CACHE_SIZE_BYTES; xet-core chunk_cache.rs, the Python
#   package's default is 0 too, "no-default-cache"); its shard cache (default 16 GB, shard.rs) and
#   logs (250 MB, log.rs) are capped below and live in the loader's own emptyDir.
LOADER_WORKERS = 1
LOADER_FILE_CAP_GIB = 10
LOADER_STAGING_GIB = LOADER_FILE_CAP_GIB * LOADER_WORKERS
LOADER_WORK_GIB = 1  # wheels (24 MB installed), hf-xet shard cache and logs, temp files
# What the loader's pod asks of its (system) node: the container, and the FUSE sidecar that stages
# the file in flight. Settings refuse a system machine these do not fit (catalog/nodes.py).
LOADER_CPU, LOADER_MEMORY_GIB = 1, 3
LOADER_SIDECAR_CPU, LOADER_SIDECAR_MEMORY_GIB = 1, 1


def loader_pod_requests() -> dict[str, float]:
    """(cores, GiB) the scheduler counts for the loader pod, sidecar included."""
    return {"cpu": LOADER_CPU + LOADER_SIDECAR_CPU, "memory": LOADER_MEMORY_GIB + LOADER_SIDECAR_MEMORY_GIB,
            "ephemeral-storage": LOADER_WORK_GIB + LOADER_STAGING_GIB}
# The lock: renewed every fifth of this, taken over after it; a Job's pods never overlap longer than this.
LOCK_STALE_SECONDS = 300

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
    secret_name: pulumi.Input[str]
    token_key: str
    loader_timeout_seconds: int
    loader_node_selector: dict[str, str] = field(default_factory=dict)  # a CPU node
    loader_image: str = LOADER_IMAGE
    server_account: str = "llm-server"
    loader_account: str = "model-loader"
    depends_on: Sequence[pulumi.Resource] = ()  # the cluster: the identity pool exists only with it
    apis: Sequence[pulumi.Resource] = ()  # the Cloud Storage API being enabled


class ModelStore(pulumi.ComponentResource):
    """Creates (or adopts) the bucket, the ServiceAccounts `llm-server` (read) and `model-loader`
    (write), their bucket-scoped IAM grants, the ConfigMap holding the loader's program and pinned
    requirements, and the loader Job that copies one pinned revision into `<model>/<revision>`.

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
                # A flat namespace. Hierarchical namespace (the earlier choice, for initial read QPS) buys
                # little for a checkpoint of a few dozen large files, and `pulumi destroy` could not
                # remove it: force_destroy deletes objects (and versions), not HNS folders, which the
                # loader's gcsfuse mkdirs create (terraform-provider-google resource_storage_bucket.go
                # delete; folder deletion only proposed in magic-modules #11852).
                # The weights can always be copied again from the Hub: `pulumi destroy` deletes them with
                # the bucket (force_destroy), and deleted objects are not kept (and billed) for 7 days.
                force_destroy=True,
                soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=0),
                labels={"app": "gke-llm-serving"},
                # hierarchicalNamespace is ForceNew and the name is fixed: a bucket made with HNS by an
                # earlier version is kept as it is rather than replaced (create-before-delete would
                # collide on the name). README "Tear down" says how to empty such a bucket.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.apis),
                                            ignore_changes=["hierarchicalNamespace"]),
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

        # Auto-named: a new program or requirements make a new ConfigMap, so a new pod template,
        # so a new Job (which finds the marker and exits if the prefix is already whole).
        program = k8s.core.v1.ConfigMap(
            f"{name}-loader-program",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.namespace,
                                                labels={"app.kubernetes.io/part-of": "gke-llm-serving"}),
            data={"model_loader.py": LOADER_PROGRAM, "requirements.txt": LOADER_REQUIREMENTS},
            immutable=True,
            opts=child,
        )
        self.loader = k8s.batch.v1.Job(
            f"{name}-loader",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                # Auto-named: a new model or revision changes the (immutable) pod template, and the
                # provider replaces the Job; auto-named, the new one is created before the old is deleted.
                # Two loaders on one prefix meanwhile wait on the lock in model_loader.py.
                namespace=args.namespace,
                labels={"app": "model-loader", "app.kubernetes.io/part-of": "gke-llm-serving"},
                annotations={
                    # pulumi-kubernetes waits for a Job to complete (10 minutes by default); a first
                    # download of ~90 GB needs longer.
                    "pulumi.com/timeoutSeconds": str(args.loader_timeout_seconds),
                    # A Job that failed is replaced (run again) on the next `pulumi up` instead of
                    # being awaited again as failed.
                    "pulumi.com/replaceUnready": "true",
                },
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=3,  # each retry resumes where the last one stopped
                active_deadline_seconds=args.loader_timeout_seconds,
                # Exit 2 is a refusal a retry cannot change (gated repo, unknown revision, a file too
                # big for the staging): fail the Job at once. An evicted or preempted pod
                # (DisruptionTarget) does not count against the retries. Pod failure policy: GA in
                # Kubernetes 1.31 (Kubernetes docs, "Handling retriable and non-retriable pod failures").
                pod_failure_policy=k8s.batch.v1.PodFailurePolicyArgs(rules=[
                    k8s.batch.v1.PodFailurePolicyRuleArgs(
                        action="FailJob",
                        on_exit_codes=k8s.batch.v1.PodFailurePolicyOnExitCodesRequirementArgs(
                            container_name="loader", operator="In", values=[2])),
                    k8s.batch.v1.PodFailurePolicyRuleArgs(
                        action="Ignore",
                        on_pod_conditions=[k8s.batch.v1.PodFailurePolicyOnPodConditionsPatternArgs(
                            type="DisruptionTarget", status="True")]),
                ]),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={"app": "model-loader"},
                        annotations=sidecar_annotations(cpu=LOADER_SIDECAR_CPU, memory_gib=LOADER_SIDECAR_MEMORY_GIB,
                                                        ephemeral_gib=LOADER_STAGING_GIB)),
                    spec=self._loader_pod(args, bucket_name, program.metadata.name),
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
    def _loader_pod(args: ModelStoreArgs, bucket_name: pulumi.Input[str], program: pulumi.Input[str]) -> k8s.core.v1.PodSpecArgs:
        token = k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
            name=args.secret_name, key=args.token_key))
        plain = {
            "MODEL_ID": args.model_id, "REVISION": args.revision, "PREFIX": args.prefix, "MOUNT": LOADER_MOUNT,
            "MARKER": COMPLETE_MARKER, "INCLUDE": " ".join(INCLUDE), "WORKERS": str(LOADER_WORKERS),
            "MAX_FILE_BYTES": str(LOADER_FILE_CAP_GIB * 2**30), "LOCK_STALE_SECONDS": str(LOCK_STALE_SECONDS),
            # hf-xet 1.8.0 reads these (xet-core config groups; names confirmed in the 1.8.0 wheel):
            "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
            "HF_XET_DATA_MAX_CONCURRENT_FILE_DOWNLOADS": str(LOADER_WORKERS),
            "HF_XET_SHARD_CACHE_SIZE_LIMIT": "256mb",
            "HF_XET_LOG_DIR_MAX_SIZE": "64mb",
            # Download buffers in RAM (defaults 2 GB + 512 MB a file, up to 8 GB: reconstruction.rs),
            # kept under the container's memory limit.
            "HF_XET_RECONSTRUCTION_DOWNLOAD_BUFFER_SIZE": "1gb",
            "HF_XET_RECONSTRUCTION_DOWNLOAD_BUFFER_LIMIT": "2gb",
            "HF_HOME": f"{LOADER_WORK}/hf", "HOME": LOADER_WORK, "TMPDIR": f"{LOADER_WORK}/tmp",
            "PYTHONPATH": f"{LOADER_WORK}/site", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore",
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
        install = (f"mkdir -p {LOADER_WORK}/tmp {LOADER_WORK}/site && "
                   f"python3 -m pip install --quiet --require-hashes --only-binary=:all: --no-deps "
                   f"--target {LOADER_WORK}/site -r /loader/requirements.txt && "
                   f"exec python3 /loader/model_loader.py")
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
                image=args.loader_image,
                command=["/bin/sh", "-c", install],
                env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in plain.items()]
                + [k8s.core.v1.EnvVarArgs(name="BUCKET", value=bucket_name),
                   k8s.core.v1.EnvVarArgs(name="HF_TOKEN", value_from=token)],
                # The loader writes its one-line reason to /dev/termination-log; if it dies before
                # (pip without egress, OOM), the kubelet takes the log's tail instead.
                termination_message_policy="FallbackToLogsOnError",
                # Everything it writes locally is in the /work emptyDir (the root filesystem is
                # read-only); the checkpoint's bytes are staged in the sidecar, which requests them.
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": str(LOADER_CPU), "memory": f"{LOADER_MEMORY_GIB}Gi",
                              "ephemeral-storage": f"{LOADER_WORK_GIB}Gi"},
                    limits={"cpu": "2", "memory": "4Gi", "ephemeral-storage": f"{2 * LOADER_WORK_GIB}Gi"}),
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="models", mount_path=LOADER_MOUNT),
                               k8s.core.v1.VolumeMountArgs(name="program", mount_path="/loader", read_only=True),
                               k8s.core.v1.VolumeMountArgs(name="work", mount_path=LOADER_WORK)],
                security_context=k8s.core.v1.SecurityContextArgs(
                    allow_privilege_escalation=False, privileged=False, read_only_root_filesystem=True,
                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
            )],
            volumes=[
                k8s.core.v1.VolumeArgs(name="models", csi=k8s.core.v1.CSIVolumeSourceArgs(
                    driver=CSI_DRIVER,
                    # Same up-front access check skipped as for the server (components/serving/inference_server.py).
                    volume_attributes={"bucketName": bucket_name, "mountOptions": "implicit-dirs",
                                       "skipCSIBucketAccessCheck": "true"},
                )),
                k8s.core.v1.VolumeArgs(name="program", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=program)),
                k8s.core.v1.VolumeArgs(name="work", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                    size_limit=f"{LOADER_WORK_GIB}Gi")),
            ],
        )
