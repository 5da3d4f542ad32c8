"""vLLM as the second engine, chosen by `engine: vllm`: the same Deployment, probes, Service,
NetworkPolicy and exports, with vLLM's image, flags, port and variables."""

import json

import pytest

import settings
from components.serving.engines import ENGINES, vllm as vllm_engine
from conftest import TOKEN, container, env_of, evaluate, pod_spec, secret_name, server

AWQ = "casperhansen/mixtral-instruct-awq"


def vllm(**config):
    return evaluate(engine="vllm", model=AWQ, **config)


def args_of(ev) -> dict:
    """--flag=value arguments as a dict, the positional model under "model"."""
    args = container(ev)["args"]
    parsed = {"model": args[0]}
    parsed.update(a[2:].split("=", 1) for a in args[1:])
    return parsed


def test_image_is_vllms_pinned_release_pulled_through_the_regions_docker_hub_mirror():
    c = container(vllm())
    # vllm/vllm-openai:v0.32.0, same tag, through the Artifact Registry remote repository of Docker Hub
    # in the cluster's region (us-central1 by default), so GKE can stream it.
    assert c["image"] == "us-central1-docker.pkg.dev/test-project/llm-serving-dev-docker-hub/vllm/vllm-openai:v0.32.0"
    assert c["command"] == ["vllm", "serve"]


def test_flags_stream_the_bucket_copy_under_the_hub_name_with_derived_limits():
    ev = vllm()
    a = args_of(ev)
    s = ev.result["s"]
    # The bucket's prefix itself (config and tokenizer beside the shards), read by the Run:ai streamer.
    assert a["model"] == f"gs://{s.bucket_name}/{AWQ}/87dd4ec502dde74fb3a624835c776b000d190c3b"
    assert a["served-model-name"] == AWQ  # clients still send the Hub id
    assert a["tensor-parallel-size"] == "2"  # every GPU of g2-standard-24
    assert a["quantization"] == "awq_marlin"  # not the slow awq kernel
    assert a["max-model-len"] == str(s.max_total_tokens) == "32768"
    assert a["max-num-batched-tokens"] == "2048"
    assert a["gpu-memory-utilization"] == "0.90"  # 1 - the catalog's 10% runtime overhead
    assert a["shutdown-timeout"] == "9"  # drain on SIGTERM instead of aborting (default 0), inside Spot's 15 s
    assert (a["host"], a["port"]) == ("0.0.0.0", "8000")


def test_runai_streamer_is_the_default_load_format_with_tuned_concurrency_and_a_bounded_buffer():
    a = args_of(vllm())
    assert a["load-format"] == "runai_streamer"
    # 32 reader threads per worker (16, the default, was thread-bound on Cloud Storage in a public
    # run), and a 4 GiB CPU buffer per worker in bytes (unset, it is the whole checkpoint per worker).
    assert json.loads(a["model-loader-extra-config"]) == {"concurrency": 32, "memory_limit": 4294967296}
    assert "distributed" not in a["model-loader-extra-config"]  # not checked for 0.32 with Mixtral


def test_streamer_mode_has_no_fuse_mount_sidecar_or_cache_and_keeps_only_a_work_dir():
    ev = vllm()
    spec = pod_spec(ev)
    assert [v["name"] for v in spec["volumes"]] == ["dshm", "work"]
    assert [m["mountPath"] for m in container(ev)["volumeMounts"]] == ["/dev/shm", "/root/.cache/huggingface"]
    annotations = server(ev).plain["spec"]["template"]["metadata"].get("annotations") or {}
    assert not any(k.startswith("gke-gcsfuse/") for k in annotations)  # no sidecar injected


def test_streamer_reads_the_bucket_as_the_servers_own_workload_identity():
    ev = vllm()
    # The metadata server hands the streamer the llm-server KSA's identity, which holds objectViewer
    # on the model bucket and nothing else.
    assert pod_spec(ev)["serviceAccountName"] == "llm-server"
    grants = [g.plain for g in ev.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
              if g.plain["role"] == "roles/storage.objectViewer"]
    assert len(grants) == 1 and grants[0]["member"].endswith("/subject/ns/llm/sa/llm-server")
    assert "HF_TOKEN" not in env_of(ev)  # weights from the bucket: no Hub token in the pod


def test_streamer_pod_memory_counts_a_4_gib_buffer_per_gpu_and_no_sidecar():
    s = vllm().result["s"]
    # g2-standard-24: 86.3 GiB allocatable less 1.5 GiB of GKE DaemonSets and the 2 GiB node margin
    # leaves 82 GiB, all the server's without the sidecar (55 beside the FUSE sidecar and its 25 GiB
    # RAM cache); the need, 4 + 10% of 24.6 GB = 7 GiB plus 2 x 4 GiB of streamer buffer = 15 GiB, fits.
    assert s.pod_memory.server_memory_gib == 82 and s.pod_memory.server_cpu == 22
    assert s.pod_memory.cache.medium == "none"


def test_fuse_load_format_mounts_the_bucket_as_before():
    ev = vllm(vllmLoadFormat="fuse")
    a = args_of(ev)
    assert a["model"] == "/models" and "load-format" not in a
    assert "weights" in [v["name"] for v in pod_spec(ev)["volumes"]]
    annotations = server(ev).plain["spec"]["template"]["metadata"]["annotations"]
    assert annotations["gke-gcsfuse/volumes"] == "true"


def test_hub_weights_ignore_the_load_format():
    a = args_of(vllm(weightSource="hub"))
    assert a["model"] == AWQ and "load-format" not in a


def test_from_the_hub_vllm_gets_the_hub_id_and_the_token_only_by_reference():
    ev = vllm(weightSource="hub")
    assert args_of(ev)["model"] == AWQ
    env = env_of(ev)
    ref = {"secretKeyRef": {"name": secret_name(ev), "key": "hf_api_token"}}
    assert env["HF_TOKEN"] == env["HUGGING_FACE_HUB_TOKEN"] == ref
    assert TOKEN not in str(server(ev).plain)


def test_port_8000_is_wired_through_probes_service_network_policy_and_scraping():
    ev = vllm()
    c = container(ev)
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    service = ev.one("kubernetes:core/v1:Service").plain
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    policy = next(p.plain["spec"] for p in ev.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                  if p.plain["metadata"]["name"] == "llm-ingress")
    assert policy["ingress"] == [{"ports": [{"port": 8000, "protocol": "TCP"}]}]
    assert ev.outputs["endpoint"] == "http://llm-service.llm.svc.cluster.local:8000"


def test_api_key_reaches_vllm_through_the_secret_only():
    ev = vllm(exposure="internal", apiKey="k" * 24)
    assert env_of(ev)["VLLM_API_KEY"] == {"secretKeyRef": {"name": secret_name(ev), "key": "api_key"}}
    assert "k" * 24 not in str(container(ev))


def test_public_exposure_is_refused_because_invocations_skips_the_key():
    with pytest.raises(settings.ConfigError) as error:
        vllm(exposure="public", apiKey="k" * 24)
    assert error.value.key == "exposure" and "/invocations" in str(error.value)


def test_shutdown_timeline_fits_the_grace_period_and_spot_notice():
    ev = vllm()
    prestop = int(container(ev)["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = int(args_of(ev)["shutdown-timeout"])
    assert prestop < 15 and prestop + drain < pod_spec(ev)["terminationGracePeriodSeconds"] == 15


def test_shared_memory_and_usage_stats_off():
    ev = vllm()
    volumes = {v["name"]: v for v in pod_spec(ev)["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    env = env_of(ev)
    assert env["VLLM_NO_USAGE_STATS"] == "1" and env["HF_HUB_OFFLINE"] == "1"
    assert env["HF_HOME"] == "/root/.cache/huggingface"


def test_newer_cuda_build_gets_gkes_latest_driver():
    priorities = vllm().one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"]
    assert {p["gpu"]["driverVersion"] for p in priorities} == {"latest"}
    tgi = evaluate().one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"]
    assert {p["gpu"]["driverVersion"] for p in tgi} == {"default"}


def test_bf16_mixtral_on_vllm_is_refused_with_the_awq_build_suggested():
    with pytest.raises(settings.ConfigError) as error:
        evaluate(engine="vllm")  # bf16 Mixtral, and vLLM has no bitsandbytes; fp8 is 47 GB
    assert error.value.key == "machineType"
    assert f"model {AWQ}" in str(error.value) or "model hugging-quants" in str(error.value)


def test_query_command_and_exports_name_the_engine():
    ev = vllm()
    assert ev.outputs["engine"] == "vllm"
    command = ev.outputs["queryCommand"]
    assert command.startswith("echo 'vLLM (vllm) serving casperhansen/mixtral-instruct-awq'")
    assert "port-forward service/llm-service 8000:8000" in command
    assert "curl -s http://localhost:8000/v1/completions" in command
    assert f'"model": "{AWQ}"' in command


def test_a_third_engine_is_one_module_in_the_registry():
    assert set(ENGINES) == {"tgi", "vllm"}
    assert ENGINES["vllm"] is vllm_engine.ENGINE


def test_vllm_stack_file_plans_the_awq_build_on_the_default_machine():
    from planner.__main__ import main
    import tempfile
    with tempfile.TemporaryDirectory() as out:
        assert main(["--stack", "vllm", "--out", out, "--no-cache"]) == 0


def test_vllm_lists_the_hub_id_it_is_served_under():
    # --served-model-name: /v1/models lists the Hub id even from the bucket, so no note in the command.
    command = vllm().outputs["queryCommand"]
    assert command.startswith(f"echo 'vLLM (vllm) serving {AWQ}' &&")
