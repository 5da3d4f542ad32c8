"""Bad configuration stops before anything is created, with one message naming key, value and fix."""

import pytest

import settings
from conftest import env_of, server, TOKEN, evaluate

BAD = [
    # (config, key the message must name, words it must contain)
    ({"hfToken": "   "}, "hfToken", "empty"),
    ({"capacity": ["spot", "reserved"]}, "capacity", "unknown tier 'reserved'"),
    ({"capacity": ["spot", "spot"]}, "capacity", "listed twice"),
    ({"capacity": []}, "capacity", "empty"),
    ({"regions": ["us-central1"]}, "regions", "one region is a single-region stack"),  # more in tests/test_regions.py
    ({"capacity": "spot,cheap"}, "capacity", "unknown tier 'cheap'"),
    ({"replicas": "two"}, "replicas", "not a whole number"),
    ({"replicas": -1}, "replicas", "outside 0..100"),
    ({"replicas": 1.5}, "replicas", "not a whole number"),
    ({"machineType": "g2-standard-999"}, "machineType", "unknown machine type"),
    ({"machineType": "n2-standard-8"}, "machineType", "has no GPU"),
    ({"quantize": "int3"}, "quantize", "not a quantization the catalog knows"),
    ({"quantize": "none"}, "machineType", "use machineType g2-standard-96 or quantize bitsandbytes-nf4"),
    ({"machineType": "g2-standard-8"}, "machineType", "needs about"),
    ({"model": "Qwen/Qwen2.5-7B-Instruct", "machineType": "g2-standard-96"}, "machineType", "does not divide the 28 attention heads"),
    ({"flexStartLeadTimeSeconds": -1}, "flexStartLeadTimeSeconds", "outside 0..604800"),
    ({"flexStartLeadTimeSeconds": 604801}, "flexStartLeadTimeSeconds", "outside 0..604800"),
    # dev's budget: 21 min, twice the 10.4 min after the node (streamed image 1 + read 6.6 + NF4 0.8 + warm-up 2)
    ({"flexStartLeadTimeSeconds": 1260}, "flexStartLeadTimeSeconds", "start-up budget is 1260 s"),
    ({"flexStartMaxRunDurationSeconds": 600}, "flexStartMaxRunDurationSeconds", "not longer than the recycling lead time"),
    ({"startupTimeoutMinutes": 1}, "startupTimeoutMinutes", "below 5 minutes no model loads"),
    ({"exposure": "everywhere"}, "exposure", "unknown exposure"),
    ({"vllmLoadFormat": "runai"}, "vllmLoadFormat", "use one of: runai_streamer, fuse"),
    ({"exposure": "public"}, "exposure", "needs the server's API key"),
    ({"location": "Iowa"}, "location", "not a GCP region or zone"),
    ({"maxTotalTokens": 4096, "maxInputTokens": 4096}, "maxInputTokens", "input limit below maxTotalTokens"),
    ({"maxTotalTokens": 500000}, "maxTotalTokens", "more KV cache than fits"),
    ({"computeClassName": "gke-gpus"}, "computeClassName", "reserves the prefixes"),
    ({"deletionProtection": "yes"}, "deletionProtection", "not a boolean"),
    ({"authorizedNetworks": ["10.0.0.0/33"]}, "authorizedNetworks", "not a CIDR block"),
    ({"model": "acme/unknown-100b", "modelParamsBillion": "lots"}, "modelParamsBillion", "not a positive number"),
    ({"model": "acme/unknown-100b", "modelParamsBillion": "100"}, "machineType", "needs about"),
    ({"capacity": ["spot", "on-demand"], "machineType": "a3-highgpu-2g"}, "capacity", "sold only as Spot or flex-start"),
    ({"systemMachineType": "g2-standard-4"}, "systemMachineType", "not a general-purpose machine type"),
    # 1.46 cores left after GKE's reservations and DaemonSets; the loader and its sidecar ask for 2.
    ({"systemMachineType": "e2-standard-2"}, "systemMachineType", "the model loader needs 2 cores of cpu and a e2-standard-2 node leaves 1.46"),
    ({"priceSpot": "cheap"}, "priceSpot", "not a price"),
    ({"priceFlexStart": "-1"}, "priceFlexStart", "not a price"),
    ({"alertEmail": "oncall"}, "alertEmail", "not an e-mail address"),
    ({"gpuQuota": 0}, "gpuQuota", "outside 1..10000"),
    ({"autoscaling": {"minReplicas": 3, "maxReplicas": 2}}, "autoscaling", "minReplicas 3 is above maxReplicas 2"),
    ({"autoscaling": {"maxReplicas": 3, "targetQueueSize": 0}}, "autoscaling", "targetQueueSize must be a positive number"),
    ({"autoscaling": {"maxReplicas": 3, "targetQueueSize": -2}}, "autoscaling", "targetQueueSize must be a positive number"),
    ({"autoscaling": {"maxReplicas": 8}}, "autoscaling", "maxReplicas 8 needs up to 18 NVIDIA L4 GPUs"),
    ({"autoscaling": {"maxReplicas": 4}, "gpuQuota": 8}, "autoscaling", "use maxReplicas 3 or less"),
    ({"autoscaling": {"maxReplicas": 2, "minReplica": 1}}, "autoscaling", "unknown field 'minReplica'; did you mean minReplicas?"),
    # A misspelt key must not leave the default in force silently (issue 16 item 10).
    ({"replica": 3}, "replica", "is not a key this program reads; did you mean replicas?"),
    ({"capacities": ["spot"]}, "capacities", "did you mean capacity?"),
    ({"zzzz": "1"}, "zzzz", "known keys: activeMigration, alertEmail"),
    ({"autoscaling": "lots"}, "autoscaling", "not an object"),
    ({"priceOnDemand": "nan"}, "priceOnDemand", "not a price"),
    ({"engine": "sglang"}, "engine", "unknown serving engine"),
    ({"engine": "vllm", "quantize": "bitsandbytes-nf4"}, "quantize", "vllm cannot run it"),
    ({"model": "casperhansen/mixtral-instruct-awq", "quantize": "gptq"}, "quantize", "pre-quantized awq checkpoint"),
    ({"quantize": "awq"}, "quantize", "needs a pre-quantized checkpoint"),
    ({"model": "Mixtral-8x7B"}, "model", "not a Hugging Face model id"),
    ({"model": "acme/a--b"}, "model", "no '--'"),
    ({"modelRevision": "../etc"}, "modelRevision", "neither a branch"),
    ({"weightSource": "s3"}, "weightSource", "unknown weight source"),
    ({"modelBucket": "My_Bucket"}, "modelBucket", "not a Cloud Storage bucket name"),
    ({"modelBucket": "google-weights"}, "modelBucket", "contain 'google'"),
    ({"location": "mars-central1"}, "location", "not a Compute Engine region with GPUs"),
    ({"location": "southamerica-east1"}, "location", "NVIDIA L4 (g2-standard-24) is not offered in southamerica-east1"),
    ({"clusterName": "LLM_cluster"}, "clusterName", "not a GKE cluster name"),
    ({"clusterName": "x" * 41}, "clusterName", "not a GKE cluster name"),
    ({"namespace": "kube-system"}, "namespace", "a namespace Kubernetes, GKE or the metrics adapter uses"),
    ({"namespace": "LLM"}, "namespace", "not a DNS label"),
    ({"image": "https://ghcr.io/x:1"}, "image", "not a container image reference"),
    ({"image": "us-docker.pkg.dev/deeplearning-platform-release/gcr.io/huggingface-text-generation-inference-cu124.2-3.ubuntu2204.py311",
      "exposure": "public", "apiKey": "k" * 24}, "image", "TGI 2.3 serves /invocations without checking the API key"),
    ({"hfHome": "data"}, "hfHome", "not an absolute path"),
    ({"hfHome": "/data/../etc"}, "hfHome", "not a plain absolute path"),
    ({"cacheStorageClass": "Premium RWO"}, "cacheStorageClass", "not a Kubernetes object name"),
    ({"network": "1net"}, "network", "not a VPC network name"),
    ({"apiKey": "short"}, "apiKey", "shorter than 16 characters"),
    ({"apiKey": "has a space in it, sixteen+"}, "apiKey", "HTTP header"),
    ({"hfToken": "hf_abc def"}, "hfToken", "spaces or line breaks"),
    ({"activeMigration": "maybe"}, "activeMigration", "not a boolean"),
    ({"privateNodes": "1"}, "privateNodes", "not a boolean"),
    # TGI cannot chunk the prefill on a T4 (pre-Ampere): Mistral 7B NF4's one-batch prefill fits 16384 tokens.
    ({"machineType": "n1-standard-8+t4", "model": "mistralai/Mistral-7B-Instruct-v0.3", "quantize": "bitsandbytes-nf4",
      "weightSource": "hub", "maxTotalTokens": 18432, "maxInputTokens": 16385}, "maxInputTokens", "does not fit beside the weights"),
]


@pytest.mark.parametrize("config, key, words", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_names_key_value_and_fix(config, key, words):
    with pytest.raises(settings.ConfigError) as error:
        evaluate(**config)
    message = str(error.value)
    assert error.value.key == key
    assert message.startswith(f"config {key}=")
    assert words in message
    assert error.value.fix, "every error says what would work"
    assert "\n" not in message and "Traceback" not in message
    assert TOKEN not in message


def test_config_error_is_a_pulumi_run_error_so_the_cli_prints_no_traceback():
    import pulumi
    assert issubclass(settings.ConfigError, pulumi.RunError)


def test_empty_token_message_never_shows_the_value():
    with pytest.raises(settings.ConfigError) as error:
        evaluate(hfToken="  ")
    assert "[secret]" in str(error.value)


def test_a_model_that_does_not_fit_gets_the_cheapest_machine_that_would():
    with pytest.raises(settings.ConfigError) as error:
        evaluate(machineType="g2-standard-16")  # one L4, 24 GB, cannot hold Mixtral at 4 bits
    assert "use machineType g2-standard-24" in str(error.value)  # the cheapest that fits; no quantization fits one L4


def test_uncatalogued_model_is_allowed_with_a_warning():
    ev = evaluate(model="acme/tiny-chat", weightSource="hub")
    assert any("not in the catalog" in w and "modelParamsBillion" in w for w in ev.warnings)
    env = {e["name"]: e.get("value") for e in server(ev).plain["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODEL_ID"] == "acme/tiny-chat"
    assert "MAX_TOTAL_TOKENS" not in env  # TGI infers its limits for a model we know nothing about


def test_uncatalogued_model_with_a_size_is_checked_and_accepted_when_it_fits():
    # A model outside the catalog has no recorded commit: bucket mode needs one stated (issue 16 item 5).
    ev = evaluate(model="acme/small-7b", modelParamsBillion="7", modelRevision="0123456789abcdef0123456789abcdef01234567")
    assert not any("not in the catalog" in w for w in ev.warnings)
    env = {e["name"]: e.get("value") for e in server(ev).plain["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert int(env["MAX_INPUT_TOKENS"]) < int(env["MAX_TOTAL_TOKENS"])  # sized from the given parameter count


def test_capacity_accepts_a_plain_comma_separated_string():
    ev = evaluate(capacity="flex-start, on-demand")
    priorities = ev.one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"]
    assert [("flexStart" in p, p.get("spot")) for p in priorities] == [(True, None), (False, False)]


def test_zero_replicas_is_allowed_to_park_the_deployment():
    ev = evaluate(replicas=0)
    assert server(ev).plain["spec"]["replicas"] == 0


def test_plaintext_api_key_is_warned_about():
    ev = evaluate(exposure="public", apiKey="key-123-0123456789abcdef")
    assert any("apiKey is stored in plaintext" in w for w in ev.warnings)


def test_documentation_cidr_placeholder_is_warned_about():
    ev = evaluate(authorizedNetworks=["192.0.2.0/24"])
    assert any("placeholder" in w for w in ev.warnings)


def test_zone_location_gives_its_region_for_nat():
    assert settings.region_of("us-central1-a") == "us-central1"
    assert settings.region_of("europe-west4") == "europe-west4"


def test_every_config_key_has_a_bad_value_case():
    # Each key users can set is checked before anything is created; this keeps the table complete.
    from planner.stack_config import project_file
    declared = set(project_file()["config"])
    covered = {key for config, key, _ in BAD} | {k for config, _, _ in BAD for k in config}
    assert declared - covered == set()


def test_a_misspelt_secret_key_is_refused_without_printing_its_value():
    with pytest.raises(settings.ConfigError) as error:
        evaluate(hfTokn="hf_misspeltSecretValue")
    assert "hfTokn" in str(error.value) and "did you mean hfToken?" in str(error.value)
    assert "hf_misspeltSecretValue" not in str(error.value)


def test_every_key_pulumi_yaml_declares_is_one_the_program_reads_and_the_reverse():
    # Pulumi.yaml's declared keys plus the object keys (objects cannot be declared there).
    import yaml
    from conftest import ROOT

    declared = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])
    assert declared | {"autoscaling", "forecast"} == set(settings.KNOWN_KEYS)


def test_keys_from_the_clis_config_bag_are_checked_too(monkeypatch):
    # The CLI's Python language host passes config as the PULUMI_CONFIG environment bag.
    import json

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"gke-llm-serving:replica": "3"}))
    with pytest.raises(settings.ConfigError) as error:
        evaluate()
    assert "config replica=…: is not a key this program reads; did you mean replicas?" in str(error.value)


def _limits(ev) -> tuple[str, str, str]:
    env = env_of(ev)
    return env["MAX_INPUT_TOKENS"], env["MAX_TOTAL_TOKENS"], env["MAX_BATCH_PREFILL_TOKENS"]


def test_tgi_default_serves_mixtrals_full_context_in_4096_token_prefill_chunks():
    # TGI 3.x chunks the prefill (backends/v3/src/main.rs:188), so the prompt is not capped by it;
    # the 32,768-token context fits the KV cache three times over on 2x L4.
    assert _limits(evaluate()) == ("31744", "32768", "4096")


def test_tgi_accepts_a_prompt_longer_than_the_prefill_chunk():
    # Refused before TGI 3's chunked prefill was modelled (the input was capped at 15360).
    assert _limits(evaluate(maxTotalTokens=32768, maxInputTokens=30000)) == ("30000", "32768", "4096")


def test_a_given_total_derives_the_input_from_the_total_not_the_chunk():
    assert _limits(evaluate(maxTotalTokens=24576)) == ("23552", "24576", "4096")  # 1024 kept for output


def test_tgi_on_a_pre_ampere_gpu_prefills_the_prompt_in_one_batch():
    # No flash attention before compute capability 8.0, so no chunking: the prefill covers the prompt.
    ev = evaluate(machineType="n1-standard-8+t4", model="mistralai/Mistral-7B-Instruct-v0.3",
                  quantize="bitsandbytes-nf4", weightSource="hub")
    assert _limits(ev) == ("16384", "18432", "16384")


def test_input_just_below_a_given_total_is_accepted_with_chunking():
    # The boundary: the router needs input < total; 32767 is the largest (input == total is refused in BAD).
    assert _limits(evaluate(maxTotalTokens=32768, maxInputTokens=32767))[0] == "32767"
