"""The name rules' boundaries, pinned as literals: a rule one character off lets through a name that
GCP or Kubernetes refuses after the APIs, accounts and the cluster exist (or refuses a good one).
Each case was a surviving mutant of `make mutants` on settings/names.py. See tests/MUTANTS.md."""

import pytest

import settings
from conftest import evaluate
from settings import names


def ok(rule, value) -> bool:
    return rule(value) is None


# --- Hugging Face ids and revisions (huggingface_hub validate_repo_id) ---------------------------------

def test_a_model_id_part_may_have_96_characters_not_97():
    assert ok(names.hf_model_id, "o/" + "a" * 96)
    assert not ok(names.hf_model_id, "o/" + "a" * 97)


@pytest.mark.parametrize("value", ["org/model", "a/b", "Org_1/Model-2.5.gguf"])
def test_model_ids_the_hub_accepts(value):
    assert ok(names.hf_model_id, value)


@pytest.mark.parametrize("value, problem", [
    ("org/a--b", "a Hugging Face model id has no '--' or '..'"),
    ("org/a..b", "a Hugging Face model id has no '--' or '..'"),
    ("org/-a", "not a Hugging Face model id (owner/name)"),
    ("org/a.", "not a Hugging Face model id (owner/name)"),
    ("model", "not a Hugging Face model id (owner/name)"),
])
def test_model_ids_the_hub_refuses(value, problem):
    assert names.hf_model_id(value) == problem


def test_a_revision_is_a_40_hex_commit_or_a_ref_of_up_to_100_characters():
    assert ok(names.hf_revision, "0123456789abcdef0123456789abcdef01234567")
    assert ok(names.hf_revision, "a" * 100)
    assert not ok(names.hf_revision, "a" * 101)
    assert ok(names.hf_revision, "refs/pr/1")
    assert ok(names.hf_revision, "v1.0-RC")  # tags may have capitals


@pytest.mark.parametrize("value", ["a..b", "main.", "main/", "main.lock", "a//b", "-main", "ma in"])
def test_revisions_git_refuses(value):
    assert names.hf_revision(value) == "neither a branch or tag name nor a 40-character commit hash"


# --- GKE and Kubernetes names ------------------------------------------------------------------------

def test_a_cluster_name_has_at_most_40_characters():
    assert ok(names.cluster_name, "c" * 40)
    assert names.cluster_name("c" * 41) == (
        "not a GKE cluster name (lowercase letters, digits, '-', starting with a letter, at most 40)")


@pytest.mark.parametrize("value", ["1cluster", "cluster-", "Cluster", ""])
def test_cluster_names_gke_refuses(value):
    assert not ok(names.cluster_name, value)


def test_a_dns_label_has_at_most_63_characters():
    assert ok(names.dns_label, "a" * 63) and ok(names.dns_label, "0")
    assert names.dns_label("a" * 64) == "not a DNS label (lowercase letters, digits, '-', at most 63)"


def test_a_dns_subdomain_has_at_most_253_characters():
    assert ok(names.dns_subdomain, "a" * 253) and ok(names.dns_subdomain, "a.b-c")
    assert names.dns_subdomain("a" * 254) == (
        "not a Kubernetes object name (lowercase letters, digits, '-', '.', at most 253)")


@pytest.mark.parametrize("value", ["default", "kube-system", "kube-public", "kube-node-lease", "custom-metrics",
                                   "kube-x", "gke-x", "gmp-system", "gke-gmp-system"])
def test_namespaces_kubernetes_gke_or_the_adapter_use_are_refused(value):
    assert names.namespace(value) == "a namespace Kubernetes, GKE or the metrics adapter uses"


@pytest.mark.parametrize("value", ["llm", "kube", "gke", "my-kube-x", "custom-metrics-2"])
def test_namespaces_that_only_look_like_system_ones_are_accepted(value):
    assert ok(names.namespace, value)


def test_a_namespace_is_first_a_dns_label():
    assert names.namespace("LLM") == "not a DNS label (lowercase letters, digits, '-', at most 63)"


def test_a_network_name_has_at_most_63_characters_and_starts_with_a_letter():
    assert ok(names.network_name, "n" * 63)
    assert not ok(names.network_name, "n" * 64)
    assert not ok(names.network_name, "1net")


# --- images ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "ghcr.io/huggingface/text-generation-inference:3.3.4",
    "vllm/vllm-openai:v0.11.0",
    "localhost:5000/a/b_c__d:tag",
    "us-docker.pkg.dev/p/r/img@sha256:" + "a" * 64,
])
def test_image_references_a_registry_accepts(value):
    assert ok(names.image, value)


def test_an_image_reference_has_at_most_255_characters():
    repo = "r/" + "a" * 240 + ":"
    assert ok(names.image, repo + "t" * (255 - len(repo)))
    assert not ok(names.image, repo + "t" * (256 - len(repo)))


@pytest.mark.parametrize("value", ["repo/Upper", "img:", "img@sha256:short", "img:" + "t" * 129])
def test_image_references_a_registry_refuses(value):
    assert names.image(value) == "not a container image reference ([registry/]repository[:tag][@sha256:digest])"


def test_an_image_is_pinned_by_a_tag_or_a_digest_only():
    assert names.image_is_pinned("vllm/vllm-openai:v0.11.0")
    assert names.image_is_pinned("vllm/vllm-openai@sha256:" + "b" * 64)
    assert not names.image_is_pinned("vllm/vllm-openai")
    assert not names.image_is_pinned("localhost:5000/img")  # a registry port is not a tag
    assert not names.image_is_pinned("Not An Image")


# --- paths, buckets, e-mail, API keys ---------------------------------------------------------------

@pytest.mark.parametrize("value, problem", [
    ("/", "not an absolute path below /"),
    ("data", "not an absolute path below /"),
    ("/a/../b", "not a plain absolute path (no '..', '.', '//', spaces or ':')"),
    ("/a//b", "not a plain absolute path (no '..', '.', '//', spaces or ':')"),
    ("/a b", "not a plain absolute path (no '..', '.', '//', spaces or ':')"),
    ("/a:b", "not a plain absolute path (no '..', '.', '//', spaces or ':')"),
])
def test_paths_that_are_not_plain_absolute_paths(value, problem):
    assert names.absolute_path(value) == problem


@pytest.mark.parametrize("value", ["/data", "/data/", "/a/b-c_d", "/opt/X"])
def test_plain_absolute_paths(value):
    assert ok(names.absolute_path, value)


def test_a_bucket_name_has_3_to_63_characters():
    assert ok(names.bucket_name, "abc") and ok(names.bucket_name, "b" * 63)
    assert names.bucket_name("ab") == ("not a Cloud Storage bucket name (3-63 lowercase letters, digits, '-', '_', "
                                       "starting and ending with a letter or digit)")
    assert not ok(names.bucket_name, "b" * 64)
    assert ok(names.bucket_name, "a_b-c")


@pytest.mark.parametrize("value", ["goog-weights", "my-google-bucket", "my-g00gle-bucket"])
def test_bucket_names_cloud_storage_keeps_for_google(value):
    assert names.bucket_name(value) == "Cloud Storage refuses names that start with 'goog' or contain 'google'"


def test_a_bucket_may_contain_goog_after_its_start():
    assert ok(names.bucket_name, "my-goog-weights")


@pytest.mark.parametrize("value, good", [
    ("oncall@example.com", True), ("a.b+c@sub.example.io", True), ("oncall@example", False),
    ("on call@example.com", False), ("oncall@-example.com", False), ("Name <a@b.com>", False),
])
def test_one_plain_email_address(value, good):
    assert ok(names.email, value) is good


def test_an_api_key_has_at_least_16_printable_characters():
    assert ok(names.header_secret, "k" * 16)
    assert names.header_secret("k" * 15) == "is shorter than 16 characters"
    assert names.header_secret("k" * 15 + " ") == "has spaces or characters an HTTP header cannot carry"
    assert names.header_secret("k" * 16 + "\u00e9") == "has spaces or characters an HTTP header cannot carry"


# --- settings/serving.py: a model that does not fit its GPUs -----------------------------------------

HUGE = {"model": "acme/huge-model", "modelRevision": "a" * 40}


@pytest.mark.parametrize("config, message", [
    # The need is weights + runtime overhead + the KV cache of 4096 tokens; the fixes are, in order, a
    # machine that fits, an on-the-fly quantization the engine offers, a pre-quantized checkpoint.
    ({"quantize": "none"},
     "config machineType='g2-standard-24': mistralai/Mixtral-8x7B-Instruct-v0.1 with quantize=none needs about 100 GB "
     "of GPU memory (weights 93 GB + runtime + KV cache for 4096 tokens), g2-standard-24 has 48 GB; use machineType "
     "g2-standard-96 or quantize bitsandbytes-nf4 or model casperhansen/mixtral-instruct-awq"),
    # vLLM has no bitsandbytes-nf4 in the catalog: no quantize suggested.
    ({"engine": "vllm", "quantize": "none"},
     "config machineType='g2-standard-24': mistralai/Mixtral-8x7B-Instruct-v0.1 with quantize=none needs about 100 GB "
     "of GPU memory (weights 93 GB + runtime + KV cache for 4096 tokens), g2-standard-24 has 48 GB; use machineType "
     "g2-standard-96 or model casperhansen/mixtral-instruct-awq"),
    ({"machineType": "g2-standard-8", "quantize": "none"},
     "config machineType='g2-standard-8': mistralai/Mixtral-8x7B-Instruct-v0.1 with quantize=none needs about 97 GB "
     "of GPU memory (weights 93 GB + runtime + KV cache for 4096 tokens), g2-standard-8 has 24 GB; use machineType "
     "g2-standard-96"),
    ({**HUGE, "modelParamsBillion": 900},
     "config machineType='g2-standard-24': acme/huge-model with quantize=bitsandbytes-nf4 needs about 616 GB of GPU "
     "memory (weights 472 GB + runtime + KV cache for 4096 tokens), g2-standard-24 has 48 GB; use machineType "
     "a3-ultragpu-8g"),
    ({**HUGE, "modelParamsBillion": 2000, "machineType": "a3-highgpu-8g"},
     "config machineType='a3-highgpu-8g': acme/huge-model with quantize=bitsandbytes-nf4 needs about 1425 GB of GPU "
     "memory (weights 1050 GB + runtime + KV cache for 4096 tokens), a3-highgpu-8g has 640 GB; use a smaller model"),
])
def test_a_model_too_big_for_its_gpus_is_refused_with_the_need_and_the_fixes(config, message):
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", **config)
    assert str(error.value) == message
