"""Weights in a regional bucket, read through Cloud Storage FUSE (issue: recover from a Spot reclaim
in minutes): the bucket, the grants to the exact Kubernetes service accounts, the loader Job, the CSI
volume and the estimate the probe budgets derive from."""

import dataclasses

import pytest

import catalog
import settings
from catalog import loading
from components.serving import model_store
from conftest import server, PROJECT, TOKEN, container, env_of, evaluate, pod_spec, secret_name
from planner import render, validate
from planner.harness import MOCK_PROJECT_NUMBER

JOB = "kubernetes:batch/v1:Job"
BUCKET = "gcp:storage/bucket:Bucket"
GRANT = "gcp:storage/bucketIAMMember:BucketIAMMember"
POOL = f"principal://iam.googleapis.com/projects/{MOCK_PROJECT_NUMBER}/locations/global/workloadIdentityPools/{PROJECT}.svc.id.goog"


def principal(namespace: str, account: str) -> str:
    return f"{POOL}/subject/ns/{namespace}/sa/{account}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_regional_private_bucket_per_stack(stack):
    ev = evaluate(stack)
    bucket = ev.one(BUCKET).plain
    assert bucket["name"] == f"{PROJECT}-{stack}-llm-models"
    assert bucket["location"] == "US-CENTRAL1"  # the cluster's region, not a multi-region
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    # Flat: force_destroy cannot remove HNS folders, so destroy would stop at the bucket.
    assert "hierarchicalNamespace" not in bucket
    assert ev.one(BUCKET).opts.ignore_changes == ("hierarchicalNamespace",)  # old HNS buckets kept, not replaced
    assert bucket["forceDestroy"] is True  # destroy must not fail on the weights inside
    assert ev.outputs["modelBucket"] == bucket["name"]


def test_an_existing_bucket_is_used_not_created():
    ev = evaluate(modelBucket="team-llm-weights")
    assert not ev.of_type(BUCKET)
    assert {g.plain["bucket"] for g in ev.of_type(GRANT)} == {"team-llm-weights"}
    assert ev.outputs["modelBucket"] == "team-llm-weights"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_server_may_only_read_and_loader_only_write_this_bucket(stack):
    ev = evaluate(stack)
    grants = {g.plain["role"]: g.plain for g in ev.of_type(GRANT)}
    assert set(grants) == {"roles/storage.objectViewer", "roles/storage.objectUser"}
    assert grants["roles/storage.objectViewer"]["member"] == principal("llm", "llm-server")
    assert grants["roles/storage.objectUser"]["member"] == principal("llm", "model-loader")
    # Nothing project-wide for storage: the weights' grants are on the bucket only.
    assert not any("storage" in m.plain["role"] for m in ev.of_type("gcp:projects/iAMMember:IAMMember"))
    accounts = {a.plain["metadata"]["name"] for a in ev.of_type("kubernetes:core/v1:ServiceAccount")}
    assert {"llm-server", "model-loader"} <= accounts
    # The identity pool exists only once the cluster does.
    assert all("gcp:container/cluster:Cluster::llm-gke" in g.opts.depends_on for g in ev.of_type(GRANT))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_pods_mount_the_models_prefix_read_only_through_the_csi_driver(stack):
    ev = evaluate(stack)
    spec = pod_spec(ev)
    annotations = server(ev).plain["spec"]["template"]["metadata"]["annotations"]
    assert annotations["gke-gcsfuse/volumes"] == "true"
    assert annotations["gke-gcsfuse/cpu-request"] == str(loading.SIDECAR_CPU)
    assert annotations["gke-gcsfuse/memory-limit"] == "0"
    assert spec["serviceAccountName"] == "llm-server"
    volume = {v["name"]: v for v in spec["volumes"]}["weights"]["csi"]
    assert volume["driver"] == "gcsfuse.csi.storage.gke.io" and volume["readOnly"] is True
    attrs = volume["volumeAttributes"]
    assert attrs["bucketName"] == f"{PROJECT}-{stack}-llm-models"
    options = attrs["mountOptions"].split(",")
    # Named after the commit the catalog records for Mixtral, not a branch: the prefix never moves.
    assert "only-dir=mistralai/Mixtral-8x7B-Instruct-v0.1/eba92302a2861cdc0098cc54bc9f17cb2c47eb61" in options
    assert {"implicit-dirs", "metadata-cache:ttl-secs:-1", "file-cache:enable-parallel-downloads:true"} <= set(options)
    mounts = {m["name"]: m for m in container(ev)["volumeMounts"]}
    assert mounts["weights"] == {"name": "weights", "mountPath": "/models", "readOnly": True}


def test_engine_loads_from_the_local_path_without_the_hub_or_its_token():
    ev = evaluate()
    env = env_of(ev)
    assert env["MODEL_ID"] == "/models" and env["HF_HUB_OFFLINE"] == "1"
    assert "HF_TOKEN" not in env and "HUGGING_FACE_HUB_TOKEN" not in env
    assert "model-cache" not in {v["name"] for v in pod_spec(ev)["volumes"]}  # no per-pod 100Gi disk


def test_the_93_gb_checkpoint_is_cached_on_the_boot_disk_and_a_25_gb_one_in_ram():
    big = evaluate()
    cache = {v["name"]: v for v in pod_spec(big)["volumes"]}["gke-gcsfuse-cache"]["emptyDir"]
    assert "medium" not in cache and cache["sizeLimit"] == "92Gi"
    # ... and requested, so the scheduler counts it: the cache plus the sidecar's default 5 GiB.
    assert server(big).plain["spec"]["template"]["metadata"]["annotations"]["gke-gcsfuse/ephemeral-storage-request"] == "97Gi"
    priorities = big.one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"]
    assert all(p["storage"] == {"bootDiskType": "pd-balanced", "bootDiskSize": 300} for p in priorities)
    small = evaluate(model="casperhansen/mixtral-instruct-awq")
    cache = {v["name"]: v for v in pod_spec(small)["volumes"]}["gke-gcsfuse-cache"]["emptyDir"]
    assert cache == {"medium": "Memory", "sizeLimit": "25Gi"}
    # ... and counted: the sidecar's memory request carries it (2 GiB of its own + 25 GiB).
    template = server(small).plain["spec"]["template"]["metadata"]["annotations"]
    assert template["gke-gcsfuse/memory-request"] == "27Gi"
    # The RAM cache comes out of the server's memory request: 80 GiB less 25 GiB.
    assert container(small)["resources"]["requests"]["memory"] == "55Gi"
    assert all("localSSDCount" not in p["storage"] for p in small.one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"])


def test_a_cache_too_big_for_ram_goes_to_the_boot_disk_and_only_an_unsized_model_has_none():
    m = catalog.models()["meta-llama/Llama-3.1-70B-Instruct"]
    memory = loading.pod_memory(m, catalog.machines()["a2-ultragpu-1g"], "bucket")
    # 141 GB (131.5 GiB, +5% for gcsfuse's bookkeeping): not beside the server in 170 GB of RAM.
    assert (memory.cache.medium, memory.cache.size_gib) == ("disk", 139)
    unsized = dataclasses.replace(catalog.unknown_model("acme/x", 7), checkpoint_gb=0)
    assert loading.pod_memory(unsized, catalog.machines()["g2-standard-24"], "bucket").cache.medium == "none"


def test_a_machine_too_small_for_server_and_sidecar_is_refused():
    model = catalog.models()["mistralai/Mistral-7B-Instruct-v0.3"]
    tiny = catalog.Machine("tiny", 4, 12, "L4", "nvidia-l4", 1, 24, True)
    with pytest.raises(ValueError, match="host memory"):
        loading.pod_memory(model, tiny, "bucket")


MIXTRAL_COMMIT = "eba92302a2861cdc0098cc54bc9f17cb2c47eb61"  # catalog/models.csv, checked 2026-08-26


def loader_pod(ev) -> dict:
    return ev.one(JOB).plain["spec"]["template"]["spec"]


def loader_env(ev) -> dict:
    c = loader_pod(ev)["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_loader_job_copies_the_model_once_on_a_cpu_node_with_the_token_from_the_secret():
    ev = evaluate()
    job = ev.one(JOB).plain
    assert "name" not in job["metadata"]  # auto-named: a new revision replaces it create-first
    annotations = job["metadata"]["annotations"]
    assert annotations["pulumi.com/replaceUnready"] == "true"
    # 93.4 GB at a third of the assumed 0.1 GB/s Hub speed (2802 s) plus 30 minutes.
    assert int(annotations["pulumi.com/timeoutSeconds"]) == 4602
    assert int(annotations["pulumi.com/timeoutSeconds"]) > 93.4 / 0.1  # slower than the assumed Hub speed
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "model-loader"
    assert pod["nodeSelector"] == {"llm-serving/role": "system"}  # the CPU pool, not a GPU node
    c = pod["containers"][0]
    assert "nvidia.com/gpu" not in c["resources"]["requests"]
    env = loader_env(ev)
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": secret_name(ev), "key": "hf_api_token"}}
    assert env["PREFIX"] == f"mistralai/Mixtral-8x7B-Instruct-v0.1/{MIXTRAL_COMMIT}" and env["REVISION"] == MIXTRAL_COMMIT
    assert env["BUCKET"] == f"{PROJECT}-dev-llm-models" and env["MOUNT"] == "/gcs"
    # A lock is renewed every minute and taken over after 5 minutes unrenewed: a killed loader's lock
    # blocks the next for 5 minutes at most; files of up to 10 GiB, one at a time.
    assert (env["LOCK_STALE_SECONDS"], env["MAX_FILE_BYTES"], env["WORKERS"]) == ("300", str(10 * 2**30), "1")
    assert "consolidated" not in env["INCLUDE"] and "model*.safetensors" in env["INCLUDE"].split()
    assert TOKEN not in str(job) and TOKEN not in str(ev.of_type("kubernetes:core/v1:ConfigMap"))


def test_loader_runs_in_a_small_pinned_python_image_not_the_serving_image():
    ev = evaluate()
    image = loader_pod(ev)["containers"][0]["image"]
    # The serving image is 8-28 GB and TGI's has huggingface_hub 0.30.1 (partial snapshots pass as whole).
    # Same digest, through the region's Docker Hub mirror (official images under library/).
    assert image == ("us-central1-docker.pkg.dev/test-project/llm-serving-dev-docker-hub/library/"
                     "python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c")
    assert image != container(ev)["image"]
    command = " ".join(loader_pod(ev)["containers"][0]["command"])
    assert "--require-hashes" in command and "--only-binary=:all:" in command  # exactly the pinned wheels


def test_loader_requirements_pin_every_wheel_by_version_and_hash():
    lines = [l for l in model_store.LOADER_REQUIREMENTS.splitlines() if l and not l.startswith("#")]
    pins = dict(l.split(" ", 1)[0].split("==") for l in lines)
    assert pins["huggingface-hub"] == "2.4.0"  # >= 1.22: snapshot_download raises on an incomplete snapshot
    assert pins["hf-xet"] == "1.8.0"  # >= 1.6: sequential writer, chunk cache off by default
    assert all(" --hash=sha256:" in l and len(l.split("sha256:")[1]) == 64 for l in lines)


def test_loader_ships_its_program_and_requirements_in_an_immutable_config_map():
    ev = evaluate()
    cm = ev.one("kubernetes:core/v1:ConfigMap").plain
    assert cm["immutable"] is True
    assert "def run(" in cm["data"]["model_loader.py"] and "huggingface-hub==2.4.0" in cm["data"]["requirements.txt"]
    volumes = {v["name"]: v for v in loader_pod(ev)["volumes"]}
    assert "configMap" in volumes["program"]


def test_loader_staging_is_bounded_and_requested():
    ev = evaluate()
    env = loader_env(ev)
    # One file at a time, each at most 10 GiB (the loader refuses bigger ones before downloading),
    # staged whole by gcsfuse in the sidecar: the sidecar requests 1 x 10 GiB.
    assert env["WORKERS"] == "1" and env["HF_XET_DATA_MAX_CONCURRENT_FILE_DOWNLOADS"] == "1"
    assert env["MAX_FILE_BYTES"] == str(10 * 2**30)
    assert ev.one(JOB).plain["spec"]["template"]["metadata"]["annotations"]["gke-gcsfuse/ephemeral-storage-request"] == "10Gi"
    assert env["HF_XET_CHUNK_CACHE_SIZE_BYTES"] == "0"  # no chunk cache on the node's disk
    c = loader_pod(ev)["containers"][0]
    # Its own writes (wheels, hf-xet shard cache and logs) go to a 1 GiB emptyDir it requests.
    assert c["resources"]["requests"]["ephemeral-storage"] == "1Gi"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    work = {v["name"]: v for v in loader_pod(ev)["volumes"]}["work"]
    assert work["emptyDir"]["sizeLimit"] == "1Gi"
    assert env["HF_HOME"].startswith("/work/") and env["TMPDIR"].startswith("/work/")


def test_a_failing_loader_reports_its_reason_and_permanent_refusals_are_not_retried():
    ev = evaluate()
    c = loader_pod(ev)["containers"][0]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    rules = ev.one(JOB).plain["spec"]["podFailurePolicy"]["rules"]
    assert {"action": "FailJob", "onExitCodes": {"containerName": "loader", "operator": "In", "values": [2]}} in rules
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]} in rules


def test_model_revision_defaults_to_the_catalog_commit():
    assert evaluate().result["s"].model_revision == MIXTRAL_COMMIT
    awq = evaluate(model="casperhansen/mixtral-instruct-awq").result["s"]
    assert awq.model_revision == "87dd4ec502dde74fb3a624835c776b000d190c3b"


@pytest.mark.parametrize("revision", ["main", "v1.0", "87dd4ec"])
def test_a_moving_or_short_revision_is_refused_in_bucket_mode(revision):
    with pytest.raises(settings.ConfigError) as error:
        evaluate(modelRevision=revision)
    assert error.value.key == "modelRevision" and "40-character commit" in str(error.value)


def test_a_branch_is_accepted_in_hub_mode_where_no_prefix_is_named_after_it():
    assert evaluate(weightSource="hub", modelRevision="main").result["s"].model_revision == "main"


def test_every_catalogued_model_carries_the_commit_it_was_checked_at():
    # A bucket prefix is named after the revision, so the default must be a commit that never moves.
    import re

    assert all(re.fullmatch(r"[0-9a-f]{40}", m.revision) for m in catalog.models().values())
    assert evaluate(model="google/gemma-2-27b-it", machineType="g2-standard-48").result["s"].model_revision == \
        "aaf20e6b9f4c0fcf043f6fb2a2068419086d77b0"


def test_deployment_waits_for_the_loader_and_the_read_grant():
    deployment = server(evaluate())
    assert any(d.startswith("kubernetes:batch/v1:Job::models-loader") for d in deployment.opts.depends_on)
    assert "gcp:storage/bucketIAMMember:BucketIAMMember::models-server-reads" in deployment.opts.depends_on


def test_hub_mode_keeps_todays_behaviour():
    ev = evaluate(weightSource="hub")
    assert not ev.of_type(JOB) and not ev.of_type(BUCKET) and "modelBucket" not in ev.outputs
    env = env_of(ev)
    assert env["MODEL_ID"] == "mistralai/Mixtral-8x7B-Instruct-v0.1" and "HF_TOKEN" in env
    assert "serviceAccountName" not in pod_spec(ev)


def test_cluster_runs_the_cloud_storage_fuse_csi_driver():
    cluster = evaluate().one("gcp:container/cluster:Cluster").plain
    assert cluster["addonsConfig"]["gcsFuseCsiDriverConfig"] == {"enabled": True}


@pytest.mark.parametrize("model, source, minutes", [
    # node 4 + TGI image 2 + (Hub 93.4 GB at 0.1 GB/s + pd-ssd read at 0.3 GB/s | bucket at 0.5 GB/s)
    # + NF4 46.7 x 1 s + warm-up 2 minutes
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "hub", 29.5),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "bucket", 11.9),
    ("casperhansen/mixtral-instruct-awq", "bucket", 8.8),
])
def test_cold_start_estimate(model, source, minutes):
    m = catalog.models()[model]
    q = catalog.quantizations()[m.checkpoint_quant if m.checkpoint_quant != "none" else "bitsandbytes-nf4"]
    assert round(loading.minutes(loading.cold_start(m, q, source)), 1) == minutes


def test_probe_budget_and_lead_time_follow_the_estimate():
    hub, bucket, awq = evaluate(weightSource="hub"), evaluate(), evaluate(model="casperhansen/mixtral-instruct-awq")
    budgets = [e.result["s"].startup_minutes for e in (hub, bucket, awq)]
    assert budgets == [50, 21, 10]  # twice the estimate after the node (image streamed), at least 10 min
    leads = [p["flexStart"]["nodeRecycling"]["leadTimeSeconds"] for e in (hub, bucket, awq)
             for p in e.one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"] if "flexStart" in p]
    assert leads == [4200, 2700, 1800]  # budget + 20 min provisioning, rounded up to 5 min


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_object_validates_strictly(stack):
    ev = evaluate(stack)
    objects = [render.redact(r.inputs, [], ev.computed) for r in ev.k8s_objects()]
    assert [p for o in objects for p in validate.validate_object(o)] == []


def test_a_gated_model_is_named_in_a_warning_before_any_download():
    gated = evaluate().warnings  # Mixtral Instruct: gated on the Hub (catalog/models.csv)
    assert any("mistralai/Mixtral-8x7B-Instruct-v0.1 is gated" in w and "accept its licence" in w for w in gated)
    open_model = evaluate(model="casperhansen/mixtral-instruct-awq").warnings
    assert not any("is gated" in w for w in open_model)


def test_a_file_cache_on_the_boot_disk_reads_at_the_disks_speed():
    # 300 GB pd-balanced: (140 + 0.28 x 300) MiB/s = 0.235 GB/s, below FUSE's 0.5 GB/s: 93.4 GB takes
    # 6.6 min instead of 3.1, and the estimate grows from 11.9 to 15.4 min.
    m = catalog.models()["mistralai/Mixtral-8x7B-Instruct-v0.1"]
    steps = loading.cold_start(m, catalog.quantizations()["bitsandbytes-nf4"], "bucket", "tgi", cache_disk_gb=300)
    read = next(s for s in steps if s.name.startswith("read"))
    assert round(read.seconds / 60, 1) == 6.6 and "300 GB pd-balanced boot disk" in read.basis
    assert round(loading.minutes(steps), 1) == 15.4
