"""Sizing arithmetic: what the catalog derives so users need not state it."""

import catalog

MIXTRAL = catalog.models()["mistralai/Mixtral-8x7B-Instruct-v0.1"]
G2_24 = catalog.machines()["g2-standard-24"]
NF4 = catalog.quantizations()["bitsandbytes-nf4"]


def test_catalog_covers_the_required_machines_and_models():
    machines = catalog.machines()
    for name in ["g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-24",
                 "g2-standard-32", "g2-standard-48", "g2-standard-96", "a2-highgpu-1g", "a2-ultragpu-8g",
                 "a3-highgpu-8g", "a3-ultragpu-8g", "n1-standard-4+t4"]:
        assert machines[name].gpu_count >= 1
    for model in ["mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mistral-7B-Instruct-v0.3",
                  "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct", "google/gemma-2-9b-it",
                  "google/gemma-2-27b-it", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-72B-Instruct"]:
        assert catalog.models()[model].attention_heads > 0
    assert {"bitsandbytes-nf4", "awq", "gptq", "fp8", "eetq", "none"} <= set(catalog.quantizations())


def test_kv_bytes_per_token_matches_the_architecture():
    for m in catalog.models().values():
        assert m.kv_bytes_per_token == 2 * m.layers * m.kv_heads * m.head_dim * 2, m.model_id


def test_mixtral_nf4_on_two_l4s_matches_googles_sample():
    fit = catalog.fit(MIXTRAL, G2_24, NF4)
    assert 25 < fit.weights_gb < 28  # Google's sample: weights about 27 GB
    assert 14 < fit.kv_cache_gb < 18  # leaving about 15 GB for KV cache
    assert fit.fits


def test_token_limits_fit_the_kv_cache_several_times_and_the_context():
    fit = catalog.fit(MIXTRAL, G2_24, NF4)
    plan = catalog.token_plan(MIXTRAL, fit, dense_moe=True)
    assert plan.max_input < plan.max_total <= MIXTRAL.max_context
    assert plan.max_total * catalog.TARGET_CONCURRENT_SEQUENCES <= plan.kv_tokens <= fit.kv_tokens


def test_warm_up_prefill_fits_beside_the_weights_and_covers_the_longest_prompt():
    # TGI warms up with one prefill of MAX_BATCH_PREFILL_TOKENS; bitsandbytes Mixtral runs all 8 experts
    # per token (dense MoE), so activations are about 8/2 times those of the fused path.
    fit = catalog.fit(MIXTRAL, G2_24, NF4)
    dense, sparse = catalog.token_plan(MIXTRAL, fit, dense_moe=True), catalog.token_plan(MIXTRAL, fit, dense_moe=False)
    assert catalog.prefill_bytes_per_token(MIXTRAL, True) == 2 * (8 * 14336 * 2 + 8 * 4096)
    assert catalog.prefill_bytes_per_token(MIXTRAL, False) == 2 * (2 * 14336 * 2 + 8 * 4096)
    for plan in (dense, sparse):
        assert plan.max_input <= plan.max_prefill  # a prompt is prefilled in one batch
        assert plan.prefill_gb + plan.kv_tokens * MIXTRAL.kv_bytes_per_token / 1e9 <= fit.kv_cache_gb + 1e-6
    assert (dense.max_prefill, dense.max_total) == (15360, 16384)
    assert dense.prefill_gb == 15360 * catalog.prefill_bytes_per_token(MIXTRAL, True) / 1e9
    assert sparse.max_prefill > dense.max_prefill


def test_shards_must_divide_attention_heads():
    qwen = catalog.models()["Qwen/Qwen2.5-7B-Instruct"]  # 28 heads
    assert catalog.shards_divide_heads(qwen, 4)
    assert not catalog.shards_divide_heads(qwen, 8)


def test_pod_resources_leave_room_for_gke_reservations_and_daemons():
    pod = catalog.pod_resources(G2_24)
    cores, gib = catalog.allocatable(G2_24)
    assert pod.cpu < cores < 24 and pod.memory_gib < gib < 96
    assert pod.gpus == 2
    # The kubelet sees 97.6% of 96 GiB (93.7); GKE reserves 1 + 0.8 + 0.8 + 4.6 GiB + 0.1 eviction of it.
    assert round(96 - gib, 1) == 9.7
    # 84 GiB for the pod leaves GKE's DaemonSets (1.46 GiB on a GPU node) their share.
    assert (pod.cpu, pod.memory_gib) == (23, 84)


def test_nap_limits_count_one_spare_gpu_machine_and_the_system_pool():
    limits = catalog.nap_limits(G2_24, replicas=2, system_machine="e2-standard-4")
    assert (limits.cpu, limits.memory_gb, limits.gpus, limits.gpu_type) == (3 * 24 + 12, 3 * 96 + 48, 6, "nvidia-l4")


def test_flex_start_price_is_labelled_an_assumption_unless_configured():
    assumed = catalog.tier_price(G2_24, "flex-start", {})
    assert assumed.assumed and assumed.per_hour == round(2.00083 * 0.47, 5)
    configured = catalog.tier_price(G2_24, "flex-start", {"flex-start": 1.1})
    assert not configured.assumed and configured.per_hour == 1.1
    assert catalog.tier_price(G2_24, "spot", {}).per_hour == 0.79862


def test_suggestions_are_machines_and_quantizations_that_really_fit():
    bf16 = catalog.quantizations()["none"]
    for m in catalog.machines_that_fit(MIXTRAL, bf16):
        assert catalog.fit(MIXTRAL, m, bf16).fits
    for q in catalog.quantizations_that_fit(MIXTRAL, G2_24):
        assert catalog.fit(MIXTRAL, G2_24, q).fits
