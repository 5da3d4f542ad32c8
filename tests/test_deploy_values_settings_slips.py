"""Values of settings/__init__.py (load() and its helpers) that a hand-applied one-token mutation
sample showed no other test pinned: each test below kills one slip that a user would feel on a real
deploy (a wrong value deployed, a refusal missing or wrong, a warning lost). Expected values are
literals worked out from the source and the catalog, with the reason beside them."""

import pytest

import settings
from conftest import PROJECT, TOKEN, evaluate
from planner import harness, stack_config

PLACEHOLDER_WARNING = ("authorizedNetworks has {net}, a documentation placeholder: replace it with your own CIDR blocks "
                       "or `pulumi up` will not reach the control plane")


def placeholder_warnings(**config) -> list[str]:
    """The dev stack's warnings about authorizedNetworks (its gated model is warned about too)."""
    return [w for w in evaluate("dev", **config).warnings if w.startswith("authorizedNetworks")]


@pytest.mark.parametrize("token", ["hf_abcd\n", "hf_ab\tcd", "hf_abcd\r\n"])
def test_a_token_with_a_line_break_or_tab_is_refused_not_only_one_with_a_space(token):
    # `pulumi config set --secret hfToken "$(cat token.txt)"` or a paste from a file carries a line
    # break; in the Secret it breaks the Authorization header and the loader's download fails with 401.
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", hfToken=token)
    assert str(error.value) == ("config hfToken=[secret]: has spaces or line breaks (a copy-paste slip?); pulumi config "
                                "set --secret hfToken <your Hugging Face token>")


@pytest.mark.parametrize("net", ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "203.0.113.128/25"])
def test_every_rfc5737_documentation_range_is_warned_about(net):
    # RFC 5737 reserves exactly TEST-NET-1/2/3 (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24); a block
    # inside one is still a placeholder that locks `pulumi up` out of the control plane.
    assert placeholder_warnings(authorizedNetworks=[net]) == [PLACEHOLDER_WARNING.format(net=net)]


@pytest.mark.parametrize("net", ["203.0.112.0/24", "198.18.0.0/24", "2001:db8::/32"])
def test_a_block_next_to_the_documentation_ranges_is_not_warned_about(net):
    # 203.0.112.0/24 is a real block one below TEST-NET-3; 198.18.0.0/15 is the benchmarking range
    # (RFC 2544), a real address space; IPv6 blocks are not compared with the IPv4 ranges.
    assert placeholder_warnings(authorizedNetworks=[net]) == []


def load_as(stack_name: str, project: str = PROJECT, **config) -> settings.Settings:
    """settings.load() alone for the dev stack's config, run as a stack of another name (stack names
    may hold upper case, dots and underscores; the golden stacks are all lower-case words)."""
    resolved = stack_config.resolve("dev", {"gcp:project": project, "hfToken": TOKEN, **config})
    resolved.stack = stack_name
    return harness.run(resolved, settings.load).result


def test_a_stack_name_with_dots_and_underscores_becomes_dashes_in_the_bucket_and_cluster_names():
    # Team.Prod_EU: lower case, each run of characters GCS and GKE refuse becomes one '-'
    # (bucket names take [a-z0-9-_.], but the same slug names the cluster, a DNS label).
    s = load_as("Team.Prod_EU")
    assert (s.bucket_name, s.cluster_name) == ("test-project-team-prod-eu-llm-models", "llm-serving-team-prod-eu")


def test_a_long_stack_name_is_cut_to_27_characters_in_derived_names():
    # 27 keeps llm-serving-<slug> at 39 characters, under GKE's 40-character cluster name limit
    # (settings/names.py), and <project>-<slug>-llm-models within GCS's 63 for project ids up to 24
    # characters. The cut is part of every derived name: a different one renames (replaces) the
    # cluster and the bucket of a stack deployed before.
    s = load_as("a" * 40)
    assert (s.bucket_name, s.cluster_name) == ("test-project-" + "a" * 27 + "-llm-models", "llm-serving-" + "a" * 27)


def test_a_cut_that_lands_on_a_dash_does_not_end_the_cluster_name_with_one():
    # "aaa...a-b" (26 a's): the 27-character cut ends on the dash. GKE names end with a letter or a
    # digit, so the cluster name drops it (a stack named this way was refused over clusterName, a key
    # its user never set). The bucket keeps its double dash, valid in GCS: a stack that set
    # clusterName itself has deployed that bucket, and another name would replace it.
    s = load_as("a" * 26 + "-b")
    assert (s.bucket_name, s.cluster_name) == ("test-project-" + "a" * 26 + "--llm-models", "llm-serving-" + "a" * 26)


def test_a_stack_name_with_no_usable_character_is_named_stack():
    assert load_as("__").bucket_name == "test-project-stack-llm-models"


def test_a_bucket_name_over_63_characters_falls_back_to_a_stable_digest_of_the_project():
    # A 30-character project id (the longest GCP allows) and a 27-character slug give 69 characters,
    # over GCS's 63: llm-models-<slug>-<first 10 hex digits of sha256("my-very-long-project-id-123456")>.
    # The digest is stable across runs, so the bucket is not replaced on the next `pulumi up`.
    s = load_as("b" * 27, project="my-very-long-project-id-123456")
    assert s.bucket_name == "llm-models-" + "b" * 27 + "-b16c9b6cfe"


def load(**config) -> settings.Settings:
    """settings.load() alone for the dev stack with `config` set (no resources rendered)."""
    return load_as("dev", **config)


def test_the_start_up_budget_accepts_600_minutes_the_documented_maximum():
    # 600 minutes (10 hours) is the top of the range the refusal names: a very large model on a slow
    # disk is allowed that much. The flex-start lead time is derived from it: ceil((36000 + 1200) / 300) * 300.
    s = load(startupTimeoutMinutes=600)
    assert (s.startup_minutes, s.flex_lead_time_seconds) == (600, 37200)


def test_five_minutes_is_the_smallest_start_up_budget_accepted_and_four_is_refused():
    assert load(startupTimeoutMinutes=5).startup_minutes == 5
    with pytest.raises(settings.ConfigError) as error:
        load(startupTimeoutMinutes=4)
    assert str(error.value) == ("config startupTimeoutMinutes=4: below 5 minutes no model loads; give 5 or more, or 0 to "
                                "derive it")


def test_the_max_run_duration_must_exceed_the_lead_time():
    # dev derives a lead time of 2700 s: a node recycled 2700 s before an end 2700 s after it starts
    # is recycled at once. 2701 is accepted.
    assert load(flexStartMaxRunDurationSeconds=2701).flex_max_run_seconds == 2701
    with pytest.raises(settings.ConfigError) as error:
        load(flexStartMaxRunDurationSeconds=2700)
    assert str(error.value) == ("config flexStartMaxRunDurationSeconds=2700: not longer than the recycling lead time 2700; "
                                "make it longer than flexStartLeadTimeSeconds, or 0")


@pytest.mark.parametrize("name", ["gkeclass", "autopilotclass"])
def test_a_compute_class_name_starting_gke_or_autopilot_is_refused_even_without_a_dash(name):
    # GKE reserves the prefixes themselves (not only "gke-"): the API server refuses such a ComputeClass.
    with pytest.raises(settings.ConfigError) as error:
        load(computeClassName=name)
    assert str(error.value) == (f"config computeClassName='{name}': not a valid ComputeClass name (GKE reserves the "
                                "prefixes gke and autopilot); use a DNS label such as dws-model-inference-class")


# TGI prefills a prompt in one batch on pre-Ampere GPUs (components/serving/engines/tgi.py,
# unchunked_accelerators): Qwen 2.5 7B on one T4 derives max input 11264, total 15360, prefill 11264.
T4_QWEN = {"machineType": "n1-standard-8+t4", "model": "Qwen/Qwen2.5-7B-Instruct"}


def test_on_a_one_batch_gpu_a_smaller_input_limit_keeps_the_full_prefill_batch():
    # TGI's max-batch-prefill-tokens must be at least the input limit; it stays at what fits (11264)
    # so several short prompts still prefill together, rather than shrinking to the 8000 input limit.
    s = load(**T4_QWEN, maxInputTokens=8000)
    assert (s.max_input_tokens, s.max_prefill_tokens) == (8000, 11264)


def test_the_total_may_use_every_kv_cache_token_but_not_one_more():
    # dev (Mixtral NF4 on 2x L4) has room for 124308 tokens of KV cache beside the weights
    # (the refusal in tests/test_deploy_values_refusals.py names the same number): one request of
    # exactly that many fits, one more does not.
    assert load(maxTotalTokens=124308, maxInputTokens=1000).max_total_tokens == 124308
    with pytest.raises(settings.ConfigError) as error:
        load(maxTotalTokens=124309, maxInputTokens=1000)
    assert str(error.value) == ("config maxTotalTokens=124309: one request would need more KV cache than fits (124308 "
                                "tokens); use at most 124308")


def test_a_start_up_budget_set_to_the_derived_value_is_still_the_users():
    # The plan says where the budget came from; a value the user set is theirs even when it equals
    # the one the estimate gives (dev's derived budget is 21 minutes: see the dev golden document).
    assert (load().startup_minutes, load().startup_derived) == (21, True)
    assert (load(startupTimeoutMinutes=21).startup_minutes, load(startupTimeoutMinutes=21).startup_derived) == (21, False)
