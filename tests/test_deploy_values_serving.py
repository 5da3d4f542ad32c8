"""Values a real deploy depends on in the serving path (the TGI and vLLM engines, the model store and
its loader, the inference server, the query command), pinned as literals: each was a surviving
mutant of `make mutants` (a one-token slip no other test noticed). See tests/MUTANTS-serving.md."""

import pytest

import settings
from components.serving import model_store
from components.serving.engines import tgi, vllm
from conftest import container, env_of, evaluate, pod_spec, server

AWQ = "casperhansen/mixtral-instruct-awq"
GOOGLE_TGI_2_3 = ("us-docker.pkg.dev/deeplearning-platform-release/gcr.io/"
                  "huggingface-text-generation-inference-cu124.2-3.ubuntu2204.py311")
GOOGLE_TGI_2_4 = ("us-docker.pkg.dev/deeplearning-platform-release/gcr.io/"
                  "huggingface-text-generation-inference-cu124.2-4.ubuntu2204.py311")


# --- TGI ------------------------------------------------------------------------------------------

def test_tgi_usage_statistics_are_switched_off():
    # TGI sends start/stop events and a heartbeat every 15 minutes to Hugging Face from a container
    # unless USAGE_STATS=off (huggingface.co/docs/text-generation-inference usage_statistics). A typo in the value turns it back on.
    assert env_of(evaluate())["USAGE_STATS"] == "off"


def test_tgi_reads_bucket_weights_offline_and_hub_weights_online():
    # From the bucket MODEL_ID is the mount path and the pod has no Hub token: a Hub lookup would
    # only fail. From the Hub it must be allowed to download.
    assert env_of(evaluate())["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in env_of(evaluate(weightSource="hub"))


def test_tgi_version_is_read_from_google_and_upstream_image_names():
    # Google's builds carry the version as cu<cuda>.<major>-<minor>[-<patch>]; upstream as a tag.
    assert tgi.version_of(GOOGLE_TGI_2_3) == (2, 3)
    assert tgi.version_of(GOOGLE_TGI_2_3.replace("2-3.", "2-4-1.")) == (2, 4, 1)
    assert tgi.version_of("ghcr.io/huggingface/text-generation-inference:3.3.7") == (3, 3, 7)
    assert tgi.version_of("ghcr.io/huggingface/text-generation-inference:v2.4") == (2, 4)
    assert tgi.version_of("ghcr.io/huggingface/text-generation-inference@sha256:" + "a" * 64) is None


def test_tgi_below_2_4_is_refused_behind_a_public_load_balancer_with_the_reason():
    # TGI before 2.4 serves /invocations without the API key (TGI #2683): public would be open.
    with pytest.raises(settings.ConfigError) as error:
        evaluate(image=GOOGLE_TGI_2_3, exposure="public", apiKey="k" * 24)
    assert error.value.key == "image"
    assert ("TGI 2.3 serves /invocations without checking the API key; a public load balancer "
            "needs TGI 2.4 or later") in str(error.value)


def test_tgi_2_4_is_accepted_behind_a_public_load_balancer():
    # The boundary: 2.4 is the first release that checks the key on /invocations.
    ev = evaluate(image=GOOGLE_TGI_2_4, exposure="public", apiKey="k" * 24)
    assert ev.one("kubernetes:core/v1:Service").plain["spec"]["type"] == "LoadBalancer"


def test_tgi_old_image_is_fine_inside_the_cluster():
    # Without a public load balancer nobody outside reaches /invocations: no refusal.
    assert tgi.check_image(GOOGLE_TGI_2_3, "internal") is None
    assert tgi.check_image(GOOGLE_TGI_2_3, "cluster-ip") is None


def test_tgi_drains_from_3_2_2_exactly():
    # GRACEFUL_TERMINATION_TIMEOUT exists from TGI 3.2.2; before, SIGTERM stops the router at once.
    assert env_of(evaluate(image="ghcr.io/huggingface/text-generation-inference:3.2.2"))[
        "GRACEFUL_TERMINATION_TIMEOUT"] == "9"


def test_tgi_image_without_a_version_still_gets_the_drain():
    # A digest-pinned image names no version: assume a current launcher rather than drop the drain.
    image = "ghcr.io/huggingface/text-generation-inference@sha256:" + "a" * 64
    assert tgi.drains(image) is True


def test_googles_tgi_image_uses_tmp_as_hub_cache():
    # Google's image sets HF_HOME=/tmp; a cache mounted elsewhere would leave the weights on the
    # container's own layer (team facts, tgi.md).
    ev = evaluate(image=GOOGLE_TGI_2_4, weightSource="hub")
    assert env_of(ev)["HF_HOME"] == "/tmp"
    assert {m["name"]: m["mountPath"] for m in container(ev)["volumeMounts"]}["model-cache"] == "/tmp"


def test_tgi_model_outside_the_catalog_leaves_limits_and_quantization_to_tgi():
    # 0 means "the engine decides" (no catalog row): MAX_TOTAL_TOKENS=0 would make the launcher
    # refuse to start, QUANTIZE=none is not a value it accepts.
    env = tgi.container(launch(model="org/unknown", served_name="org/unknown", offline=False), tgi.DEFAULT_IMAGE).env
    assert env == {"MODEL_ID": "org/unknown", "NUM_SHARD": "2", "PORT": "8080", "HF_HOME": "/root/.cache/huggingface",
                   "USAGE_STATS": "off", "GRACEFUL_TERMINATION_TIMEOUT": "9"}


def test_tgi_told_offline_stays_offline_even_under_the_hub_id():
    # Launch.offline is the contract: whatever MODEL_ID names, a pod with local weights has no Hub
    # token, so a Hub lookup can only fail or hang.
    env = tgi.container(launch(model=AWQ, served_name=AWQ, offline=True), tgi.DEFAULT_IMAGE).env
    assert env["HF_HUB_OFFLINE"] == "1"


# --- vLLM -----------------------------------------------------------------------------------------

def launch(**over) -> vllm.Launch:
    values = dict(model="/models", served_name=AWQ, quantize="none", shards=2, max_input_tokens=0,
                  max_total_tokens=0, max_batch_prefill_tokens=0, gpu_memory_fraction=0.9,
                  hf_home="/root/.cache/huggingface", offline=True)
    values.update(over)
    return vllm.Launch(**values)


def test_vllm_telemetry_is_off_twice():
    # vLLM reports usage unless VLLM_NO_USAGE_STATS=1 or DO_NOT_TRACK=1 (docs.vllm.ai usage/usage_stats,
    # "Opt-out"); a typo in either name is silent.
    env = env_of(evaluate(engine="vllm", model=AWQ))
    assert (env["VLLM_NO_USAGE_STATS"], env["DO_NOT_TRACK"]) == ("1", "1")


def test_vllm_from_the_hub_is_not_offline():
    # Hub weights: vLLM downloads them itself, HF_HUB_OFFLINE=1 would make it fail at start.
    assert "HF_HUB_OFFLINE" not in env_of(evaluate(engine="vllm", model=AWQ, weightSource="hub"))


@pytest.mark.parametrize("quantize, flag", [("gptq", "--quantization=gptq_marlin"), ("fp8", "--quantization=fp8"),
                                            ("awq", "--quantization=awq_marlin")])
def test_vllm_quantization_flag_names_the_marlin_kernels(quantize, flag):
    # awq/gptq through Marlin (never the slow awq kernel an older image would pick for "awq").
    args = vllm.container(launch(quantize=quantize), vllm.DEFAULT_IMAGE).args
    assert [a for a in args if a.startswith("--quantization")] == [flag]


def test_vllm_unquantized_model_gets_no_quantization_flag():
    args = vllm.container(launch(quantize="none"), vllm.DEFAULT_IMAGE).args
    assert not [a for a in args if a.startswith("--quantization")]


def test_vllm_model_outside_the_catalog_leaves_context_and_chunk_to_vllm():
    # 0 means "the engine decides": passing --max-model-len=0 would make vLLM refuse to start.
    args = vllm.container(launch(), vllm.DEFAULT_IMAGE).args
    assert not [a for a in args if a.startswith(("--max-model-len", "--max-num-batched-tokens"))]


def test_vllm_listens_on_every_interface_of_port_8000():
    # The Service, probes and NetworkPolicy target 8000; 127.0.0.1 would make every probe fail.
    args = vllm.container(launch(), vllm.DEFAULT_IMAGE).args
    assert args[:4] == ["/models", f"--served-model-name={AWQ}", "--host=0.0.0.0", "--port=8000"]


def test_vllm_public_exposure_is_refused_with_the_reason():
    assert vllm.check_image(vllm.DEFAULT_IMAGE, "public") == (
        "vLLM serves /invocations (the same inference as /v1) without checking the API key, "
        "so it cannot sit behind a public load balancer")
    assert vllm.check_image(vllm.DEFAULT_IMAGE, "internal") is None


# --- the model store and its loader ----------------------------------------------------------------

JOB = "kubernetes:batch/v1:Job"


def loader(ev=None) -> dict:
    return (ev or evaluate()).one(JOB).plain


def loader_env(ev=None) -> dict:
    c = loader(ev)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_loader_pod_asks_two_cores_4_gib_and_11_gib_of_its_node():
    # What settings check a system machine against (the loader and its FUSE sidecar together, as the
    # scheduler counts them): an e2-standard-2 leaves 1.46 cores and is refused before `pulumi up`.
    assert model_store.loader_pod_requests() == {"cpu": 2, "memory": 4, "ephemeral-storage": 11}


def test_sidecar_annotations_without_a_staging_disk_ask_no_ephemeral_storage():
    # Requests only (the scheduler counts them), limits "0" (unlimited: a tight limit throttles or
    # OOM-kills the mount); an ephemeral request only when something is staged.
    assert model_store.sidecar_annotations(cpu=1, memory_gib=2) == {
        "gke-gcsfuse/volumes": "true", "gke-gcsfuse/cpu-request": "1", "gke-gcsfuse/memory-request": "2Gi",
        "gke-gcsfuse/cpu-limit": "0", "gke-gcsfuse/memory-limit": "0", "gke-gcsfuse/ephemeral-storage-limit": "0"}
    assert model_store.sidecar_annotations(cpu=1, memory_gib=2, ephemeral_gib=7)[
        "gke-gcsfuse/ephemeral-storage-request"] == "7Gi"


def test_every_project_number_lookup_names_the_stacks_project():
    # The bucket grants' principals carry the project's number: a lookup without the project would
    # take the provider's default project, which need not be the stack's (gcp:project).
    invokes = evaluate("prod").invokes
    assert invokes and {(token, str(args)) for token, args in invokes} == {
        ("gcp:organizations/getProject:getProject", "{'projectId': 'test-project'}")}


def test_loader_copies_exactly_the_hugging_face_format_files():
    # Shards, configs and tokenizer files, space-separated for model_loader.py; not consolidated.*
    # or *.bin, which would double the bytes (model-loading.md §0). A missing pattern (say
    # tokenizer*) leaves a checkpoint the engine cannot load; the marker would still say complete.
    assert loader_env()["INCLUDE"] == "model*.safetensors *.json tokenizer* *.model *.tiktoken merges.txt vocab.txt"


def test_loader_marks_a_whole_prefix_with_the_complete_marker():
    # The name model_loader.py writes last and checks first; a new Job finds it and exits at once.
    assert loader_env()["MARKER"] == ".complete"


def test_loader_caps_hf_xet_caches_and_buffers_under_its_limits():
    # hf-xet 1.8.0 names (xet-core config): no chunk cache, small shard cache and logs in the 1 GiB
    # work dir, download buffers within the 4 GiB memory limit.
    env = loader_env()
    assert {k: env[k] for k in env if k.startswith("HF_XET_")} == {
        "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
        "HF_XET_DATA_MAX_CONCURRENT_FILE_DOWNLOADS": "1",
        "HF_XET_SHARD_CACHE_SIZE_LIMIT": "256mb",
        "HF_XET_LOG_DIR_MAX_SIZE": "64mb",
        "HF_XET_RECONSTRUCTION_DOWNLOAD_BUFFER_SIZE": "1gb",
        "HF_XET_RECONSTRUCTION_DOWNLOAD_BUFFER_LIMIT": "2gb",
    }


def test_loader_writes_only_inside_its_work_dir():
    # The root filesystem is read-only: pip, the Hub cache and temp files must all land in /work.
    env = loader_env()
    assert (env["HOME"], env["HF_HOME"], env["TMPDIR"], env["PYTHONPATH"]) == ("/work", "/work/hf", "/work/tmp", "/work/site")


def test_loader_installs_the_pinned_wheels_then_execs_the_program():
    # exec: the program gets SIGTERM and its exit code (2 = refusal) is the container's.
    command = loader()["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == ["/bin/sh", "-c",
                       "mkdir -p /work/tmp /work/site && python3 -m pip install --quiet --require-hashes "
                       "--only-binary=:all: --no-deps --target /work/site -r /loader/requirements.txt && "
                       "exec python3 /loader/model_loader.py"]


def test_loader_mounts_the_whole_bucket_skipping_the_access_check():
    # The loader writes <model>/<revision> itself, so no only-dir; implicit-dirs lets it see prefixes
    # it created in an earlier attempt.
    volume = {v["name"]: v for v in loader()["spec"]["template"]["spec"]["volumes"]}["models"]["csi"]
    assert volume["driver"] == "gcsfuse.csi.storage.gke.io"
    assert volume["volumeAttributes"] == {"bucketName": "test-project-dev-llm-models", "mountOptions": "implicit-dirs",
                                          "skipCSIBucketAccessCheck": "true"}


def test_loader_mounts_bucket_program_and_work_dir_where_the_program_expects_them():
    mounts = loader()["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert mounts == [{"name": "models", "mountPath": "/gcs"},
                      {"name": "program", "mountPath": "/loader", "readOnly": True},
                      {"name": "work", "mountPath": "/work"}]


def test_loader_is_retried_three_times_and_never_restarted_in_place():
    spec = loader()["spec"]
    assert spec["backoffLimit"] == 3  # each retry resumes where the last stopped
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 4602  # the same budget pulumi waits for


def test_loader_sidecar_requests_one_core_one_gib_and_the_staging_disk():
    annotations = loader()["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"gke-gcsfuse/volumes": "true", "gke-gcsfuse/cpu-request": "1",
                           "gke-gcsfuse/memory-request": "1Gi", "gke-gcsfuse/ephemeral-storage-request": "10Gi",
                           "gke-gcsfuse/cpu-limit": "0", "gke-gcsfuse/memory-limit": "0",
                           "gke-gcsfuse/ephemeral-storage-limit": "0"}


def test_loader_container_requests_and_limits():
    resources = loader()["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "3Gi", "ephemeral-storage": "1Gi"},
                         "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"}}


def test_loader_accepts_no_inbound_traffic():
    policy = next(p.plain for p in evaluate().of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                  if p.plain["metadata"]["name"] == "model-loader-isolation")
    assert policy["spec"] == {"podSelector": {"matchLabels": {"app": "model-loader"}}, "policyTypes": ["Ingress"]}


def test_service_accounts_mount_no_token():
    # The CSI driver gets its own token from the kubelet; an automounted one is an API credential
    # any process in the pod could use.
    accounts = evaluate().of_type("kubernetes:core/v1:ServiceAccount")
    assert {a.plain["metadata"]["name"]: a.plain["automountServiceAccountToken"] for a in accounts} == {
        "llm-server": False, "model-loader": False}


# --- the inference server ----------------------------------------------------------------------------

from components.serving import inference_server  # noqa: E402


def test_readiness_probe_checks_every_10_s_with_5_s_timeout_and_3_failures():
    # 30 s of failed /health takes a replica out of the Service; a shorter window would flap under
    # load, a longer one would keep sending requests to a dead engine.
    probe = container(evaluate())["readinessProbe"]
    assert probe == {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5,
                     "failureThreshold": 3}


def test_startup_probe_polls_every_15_s_for_the_cold_start_budget():
    # 21 min budget (test_inference_server) in 15 s steps: 84 failures allowed, not fewer.
    probe = container(evaluate())["startupProbe"]
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (15, 5, 84)


def test_autoscaled_server_gets_a_disruption_budget_of_one():
    # With an HPA the Deployment states no replica count, but up to maxReplicas pods run: node
    # upgrades and consolidation must still take them one at a time.
    ev = evaluate(autoscaling={"maxReplicas": 3})
    assert server(ev).plain["spec"].get("replicas") is None
    pdb = ev.one("kubernetes:policy/v1:PodDisruptionBudget").plain
    assert pdb["metadata"]["name"] == "llm-pdb"
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "llm"}}}


def test_autoscaled_server_spreads_and_rolls_like_its_largest_size():
    # Sized for maxReplicas: one pod per node, zones and Spot preferred apart, one-at-a-time roll.
    ev = evaluate(autoscaling={"maxReplicas": 3})
    assert server(ev).plain["spec"]["strategy"] == {"type": "RollingUpdate",
                                                   "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    anti = pod_spec(ev)["affinity"]["podAntiAffinity"]
    selector = {"matchLabels": {"app": "llm"}}
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"] == [
        {"weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": "topology.kubernetes.io/zone"}},
        {"weight": 50, "podAffinityTerm": {"labelSelector": selector, "topologyKey": "cloud.google.com/gke-spot"}}]


def test_disruption_budget_and_anti_affinity_start_at_two_replicas():
    # The boundary: two replicas already need "one at a time" and "one per node" (a node upgrade
    # draining both at once is an outage); one replica gets neither (nothing to keep apart, and a
    # budget on a lone replica only gets in the way of drains).
    two = evaluate(replicas=2)
    assert two.one("kubernetes:policy/v1:PodDisruptionBudget").plain["spec"]["maxUnavailable"] == 1
    assert "podAntiAffinity" in pod_spec(two)["affinity"]
    one = evaluate()
    assert not one.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    assert "affinity" not in pod_spec(one)


def test_rollout_wait_scales_with_the_most_replicas():
    # One 41-minute budget per replica replaced in turn (21 min cold start + 20 min provisioning).
    assert server(evaluate()).plain["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "2460"
    assert server(evaluate(autoscaling={"maxReplicas": 3})).plain["metadata"]["annotations"][
        "pulumi.com/timeoutSeconds"] == str(3 * 2460)


def test_rollout_seconds_never_drops_below_one_budget():
    # replicas 0 (parked) still waits one budget, not 0 s (which pulumi would treat as its default).
    assert inference_server.rollout_seconds(0, 600) == 600
    assert inference_server.rollout_seconds(2, 600) == 1200


def test_service_is_not_awaited_and_an_internal_one_gets_an_internal_load_balancer():
    ev = evaluate(exposure="internal", apiKey="k" * 24)
    service = ev.one("kubernetes:core/v1:Service").plain
    assert service["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true",
                                                  "networking.gke.io/load-balancer-type": "Internal"}
    assert service["spec"]["type"] == "LoadBalancer"
    assert ev.outputs["endpoint"] == "http://10.128.0.50:8080"


def test_a_load_balancer_without_an_address_says_pending_and_how_to_look():
    assert inference_server.load_balancer_url(None, 8080) == (
        "pending: the load balancer has no address yet; run `pulumi refresh` (or kubectl get service) in a minute or two")
    # A status the provider returns before the load balancer exists: no loadBalancer, or no ingress.
    import types
    pending = inference_server.load_balancer_url(None, 8080)
    assert inference_server.load_balancer_url(types.SimpleNamespace(), 8080) == pending
    assert inference_server.load_balancer_url(types.SimpleNamespace(load_balancer=types.SimpleNamespace()), 8080) == pending
    lb = types.SimpleNamespace(load_balancer=types.SimpleNamespace(ingress=[types.SimpleNamespace(ip=None, hostname="lb.example")]))
    assert inference_server.load_balancer_url(lb, 8080) == "http://lb.example:8080"


def test_server_pod_keeps_out_of_the_api_and_service_links():
    spec = pod_spec(evaluate())
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert container(evaluate())["securityContext"] == {"allowPrivilegeEscalation": False, "privileged": False,
                                                        "capabilities": {"drop": ["ALL"]}}


def test_shared_memory_for_nccl_is_one_gib_of_ram():
    volumes = {v["name"]: v for v in pod_spec(evaluate())["volumes"]}
    assert volumes["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}


def test_bucket_weights_mount_read_only_with_metadata_prefetch():
    volume = {v["name"]: v for v in pod_spec(evaluate())["volumes"]}["weights"]["csi"]
    assert volume["readOnly"] is True
    assert volume["volumeAttributes"]["skipCSIBucketAccessCheck"] == "true"
    assert volume["volumeAttributes"]["gcsfuseMetadataPrefetchOnMount"] == "true"


def test_bucket_mode_requests_the_work_dir_on_ephemeral_storage():
    # HF_HOME is a 10 GiB emptyDir: requested so the scheduler keeps room, not limited.
    resources = container(evaluate())["resources"]
    assert resources["requests"]["ephemeral-storage"] == "10Gi"
    assert "ephemeral-storage" not in resources["limits"]


def test_revision_history_keeps_three_replica_sets():
    assert server(evaluate()).plain["spec"]["revisionHistoryLimit"] == 3


# --- queryCommand (outputs.py) -------------------------------------------------------------------------

REQUEST = ('\'{"model": "mistralai/Mixtral-8x7B-Instruct-v0.1", "prompt": "[INST] How do I deploy a container on '
           'Kubernetes? [/INST]", "max_tokens": 128, "temperature": 0.7}\'')


def test_query_command_for_a_cluster_ip_service_is_credentials_port_forward_then_curl():
    # What a user pastes after `pulumi up`: every token of it matters (the port-forward must run in
    # the background and have 3 s to open before curl; the JSON must be quoted for the shell).
    assert evaluate().outputs["queryCommand"] == (
        "echo 'Text Generation Inference (tgi) serving mistralai/Mixtral-8x7B-Instruct-v0.1 (listed on /v1/models "
        "as /models; requests may name either)' && "
        "gcloud container clusters get-credentials llm-serving-dev --location us-central1 --project test-project && "
        "(kubectl -n llm port-forward service/llm-service 8080:8080 >/dev/null &) && sleep 3 && "
        "curl -s http://localhost:8080/v1/completions -H 'Content-Type: application/json' -d " + REQUEST)


def test_query_command_for_a_load_balancer_sends_the_api_key_header_and_skips_the_port_forward():
    assert evaluate(exposure="internal", apiKey="k" * 24, weightSource="hub").outputs["queryCommand"] == (
        "echo 'Text Generation Inference (tgi) serving mistralai/Mixtral-8x7B-Instruct-v0.1' && "
        "gcloud container clusters get-credentials llm-serving-dev --location us-central1 --project test-project && "
        "curl -s http://10.128.0.50:8080/v1/completions -H 'Content-Type: application/json' "
        "-H \"Authorization: Bearer $API_KEY\" -d " + REQUEST)


def test_query_command_through_a_gateway_without_an_address_reads_it_from_the_config_cluster():
    ev = evaluate(regions=["us-central1", "us-east4"], exposure="public", apiKey="k" * 24)
    assert ev.outputs["queryCommand"] == (
        "echo 'Text Generation Inference (tgi) serving mistralai/Mixtral-8x7B-Instruct-v0.1 (listed on /v1/models "
        "as /models; requests may name either)' && "
        "gcloud container clusters get-credentials llm-serving-dev-usc1 --location us-central1 --project test-project && "
        "ADDRESS=$(kubectl -n llm get gateway llm-gateway -o jsonpath='{.status.addresses[0].value}') && "
        "curl -s http://$ADDRESS/v1/completions -H 'Content-Type: application/json' "
        "-H \"Authorization: Bearer $API_KEY\" -d " + REQUEST)
