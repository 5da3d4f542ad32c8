"""The TGI Deployment and its Service: the tutorial's container with its defects fixed."""

import math

from conftest import server, container, env_of, evaluate, pod_spec, secret_name

GIB_PER_REPLICA = 82  # allocatable memory of g2-standard-24 (on the kubelet's 93.7 GiB) less GKE's DaemonSets and 2 GiB of margin


def test_node_selector_is_the_compute_class_alone_on_the_pod_template():
    ev = evaluate()
    deployment = server(ev).plain
    assert "nodeSelector" not in deployment["spec"]
    assert pod_spec(ev)["nodeSelector"] == {"cloud.google.com/compute-class": "dws-model-inference-class"}


def test_container_env_sets_model_shards_quantize_and_port():
    env = env_of(evaluate(weightSource="hub"))
    assert env["MODEL_ID"] == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    assert env["NUM_SHARD"] == "2"
    assert env["QUANTIZE"] == "bitsandbytes-nf4"
    assert env["PORT"] == "8080"
    assert env["HF_HOME"] == "/data"  # the upstream image's
    assert int(env["MAX_INPUT_TOKENS"]) < int(env["MAX_TOTAL_TOKENS"]) <= 32768


def test_shards_follow_the_gpus_of_the_machine():
    ev = evaluate(machineType="g2-standard-48")
    assert env_of(ev)["NUM_SHARD"] == "4"
    assert container(ev)["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_token_reaches_tgi_only_through_secret_key_refs():
    ev = evaluate(weightSource="hub")
    env = env_of(ev)
    ref = {"secretKeyRef": {"name": secret_name(ev), "key": "hf_api_token"}}
    assert env["HF_TOKEN"] == ref and env["HUGGING_FACE_HUB_TOKEN"] == ref
    assert "API_KEY" not in env


def test_requests_equal_limits_sized_from_the_machine():
    resources = container(evaluate(weightSource="hub"))["resources"]
    assert resources["requests"] == resources["limits"] == {"cpu": "22", "memory": f"{GIB_PER_REPLICA}Gi", "nvidia.com/gpu": "2"}


def test_shared_memory_and_a_weight_cache_at_hf_home():
    ev = evaluate(weightSource="hub")
    volumes = {v["name"]: v for v in pod_spec(ev)["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    claim = volumes["model-cache"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "100Gi"
    mounts = {m["name"]: m["mountPath"] for m in container(ev)["volumeMounts"]}
    assert mounts == {"dshm": "/dev/shm", "model-cache": "/data"}


def test_weight_cache_grows_with_the_model():
    ev = evaluate(model="meta-llama/Llama-3.1-70B-Instruct", machineType="a2-ultragpu-2g", quantize="bitsandbytes-nf4", weightSource="hub")
    claim = {v["name"]: v for v in pod_spec(ev)["volumes"]}["model-cache"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "150Gi"  # 70.6e9 x 2 bytes x 1.1 = 145 GiB, rounded up


def test_upstream_image_gets_its_own_hf_home():
    ev = evaluate(image="ghcr.io/huggingface/text-generation-inference:3.3.7", weightSource="hub")
    assert env_of(ev)["HF_HOME"] == "/data"
    assert {m["name"]: m["mountPath"] for m in container(ev)["volumeMounts"]}["model-cache"] == "/data"


def test_probes_on_health_with_a_startup_budget_and_no_liveness():
    c = container(evaluate())
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/health"
    # Derived: twice the estimate after the node is up (TGI image streamed through the ghcr.io mirror
    # 60 s + 93.4 GB at the 300 GB pd-balanced cache disk's 0.235 GB/s + NF4 quantization 46.7 x 1 s +
    # warm-up 120 s = 624 s), rounded up to whole minutes: 1249 s -> 21 min.
    assert startup["periodSeconds"] * startup["failureThreshold"] == 21 * 60
    assert "livenessProbe" not in c


def test_startup_budget_is_configurable_and_pulumi_waits_for_it():
    ev = evaluate(startupTimeoutMinutes=60, flexStartLeadTimeSeconds=4500)
    startup = container(ev)["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 3600
    deployment = server(ev).plain
    assert deployment["spec"]["progressDeadlineSeconds"] >= 3600
    assert int(deployment["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) >= 3600


def test_shutdown_fits_spot_notice():
    ev = evaluate()
    spec, c = pod_spec(ev), container(ev)
    # GKE gives non-system pods 15 s on a Spot reclaim: a 5 s pause and a 9 s drain end inside it.
    assert spec["terminationGracePeriodSeconds"] == 15
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert {e["name"]: e.get("value") for e in c["env"]}["GRACEFUL_TERMINATION_TIMEOUT"] == "9"


def test_single_replica_recreates_instead_of_surging_a_second_gpu_node():
    deployment = server(evaluate()).plain
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_several_replicas_roll_one_at_a_time_without_surge():
    deployment = server(evaluate(replicas=3)).plain
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_service_is_cluster_ip_named_as_the_tutorial_expects():
    service = evaluate().one("kubernetes:core/v1:Service").plain
    assert service["metadata"]["name"] == "llm-service"
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {"app": "llm"}
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]


def test_service_selector_matches_the_pods():
    ev = evaluate()
    labels = server(ev).plain["spec"]["template"]["metadata"]["labels"]
    selector = ev.one("kubernetes:core/v1:Service").plain["spec"]["selector"]
    assert selector.items() <= labels.items()


def test_rollout_budget_covers_node_provisioning_and_cold_start():
    deployment = server(evaluate()).plain
    assert deployment["spec"]["progressDeadlineSeconds"] == 21 * 60 + 20 * 60
    assert math.isclose(int(deployment["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]), 41 * 60)


def test_tgi_drain_is_set_only_where_the_launcher_has_it():
    # GRACEFUL_TERMINATION_TIMEOUT exists from TGI 3.2.2; an older router stops at SIGTERM.
    new = env_of(evaluate(image="ghcr.io/huggingface/text-generation-inference:3.3.7"))
    old = env_of(evaluate(image="ghcr.io/huggingface/text-generation-inference:3.2.1"))
    assert new["GRACEFUL_TERMINATION_TIMEOUT"] == "9"  # 5 s preStop + 9 s drain < the 15 s a Spot node gives
    assert "GRACEFUL_TERMINATION_TIMEOUT" not in old


def test_tgi_gets_a_4096_token_prefill_chunk_and_the_full_32k_context():
    # TGI 3.x chunks the prefill: MAX_BATCH_PREFILL_TOKENS is a step, not a cap on the prompt.
    env = env_of(evaluate())
    assert (env["MAX_INPUT_TOKENS"], env["MAX_TOTAL_TOKENS"], env["MAX_BATCH_PREFILL_TOKENS"]) == ("31744", "32768", "4096")


def test_tgi_runs_marlin_and_bitsandbytes_mixtral_on_the_dense_moe_path():
    # can_use_marlin_moe_gemm (TGI 3.3.7 layers/moe/gptq_marlin.py) accepts quantize awq or gptq only.
    from components.serving.engines import tgi
    assert [tgi.ENGINE.dense_moe(q) for q in ("marlin", "bitsandbytes-nf4", "awq", "gptq", "fp8", "none")] == \
        [True, True, False, False, False, False]


def test_tgi_chunks_the_prefill_from_ampere_on_only():
    from components.serving.engines import tgi
    assert tgi.ENGINE.chunk_for("nvidia-l4") == 4096
    assert tgi.ENGINE.chunk_for("nvidia-tesla-a100") == 4096
    assert tgi.ENGINE.chunk_for("nvidia-tesla-t4") == 0  # sm75: no flash attention, one-batch prefill


def test_query_command_says_tgi_lists_the_bucket_path_on_v1_models():
    # TGI's /v1/models lists MODEL_ID ("/models" from the bucket) and accepts any model name.
    command = evaluate().outputs["queryCommand"]
    assert command.startswith("echo 'Text Generation Inference (tgi) serving mistralai/Mixtral-8x7B-Instruct-v0.1 "
                              "(listed on /v1/models as /models; requests may name either)'")
    assert '"model": "mistralai/Mixtral-8x7B-Instruct-v0.1"' in command


def test_query_command_from_the_hub_needs_no_note_on_the_listed_name():
    command = evaluate(weightSource="hub").outputs["queryCommand"]
    assert command.startswith("echo 'Text Generation Inference (tgi) serving mistralai/Mixtral-8x7B-Instruct-v0.1' &&")
