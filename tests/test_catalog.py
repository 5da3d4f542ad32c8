"""Sizing arithmetic: what the catalog derives so users need not state it."""

import catalog
from catalog import loading

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


def test_mixtral_nf4_weights_count_double_quantization():
    # TGI's NF4 uses compress_statistics=True: 4.127 bits for the linear weights, embeddings in bf16:
    # 46.7 B x 0.525 B = 24.5 GB (review-engines.md B5), below Google's "about 27 GB".
    fit = catalog.fit(MIXTRAL, G2_24, NF4)
    assert round(fit.weights_gb, 2) == 24.52
    assert fit.fits


def test_runtime_keeps_a_tenth_free_and_a_cuda_context_per_gpu():
    # TGI_WIGGLE_ROOM 0.90 of 48 GB = 4.8 GB, plus 0.75 GB of CUDA context/NCCL on each of the 2 L4s.
    fit = catalog.fit(MIXTRAL, G2_24, NF4)
    assert round(fit.overhead_gb, 2) == 6.3
    assert round(fit.kv_cache_gb, 4) == 17.1825  # 48 - 6.3 - 24.5175
    assert fit.gpus == 2


def test_dense_moe_peak_is_one_experts_intermediates_not_all_eight():
    # TGI's DenseMoELayer loops over the 8 experts; only act(gate), up and their product (3 x 14336)
    # of one expert live at a time, split over 2 GPUs, plus 8 hidden-size buffers on each GPU.
    assert catalog.prefill_bytes_per_token(MIXTRAL, dense_moe=True, gpus=2) == 2 * (3 * 14336 + 2 * 8 * 4096)  # 217,088
    # A fused (sparse) MoE computes both routed experts of a token at once.
    assert catalog.prefill_bytes_per_token(MIXTRAL, dense_moe=False, gpus=2) == 2 * (2 * 3 * 14336 + 2 * 8 * 4096)


def test_tgi_warm_up_logits_count_when_the_vocabulary_outweighs_the_layers():
    # Warm-up asks for prompt log-probabilities: full-vocabulary logits gathered on every GPU plus each
    # GPU's slice, 2 B x vocab x (gpus + 1). Gemma 2's 256,000-token vocabulary on one GPU: 1,024,000 B,
    # far above its layers' 2 x (3 x 14336 + 8 x 3584) = 143,360 B.
    gemma = catalog.models()["google/gemma-2-9b-it"]
    assert catalog.prefill_bytes_per_token(gemma, dense_moe=False, gpus=1, warmup_logits=True) == 1_024_000
    assert catalog.prefill_bytes_per_token(gemma, dense_moe=False, gpus=1, warmup_logits=False) == 143_360
    # Mixtral's 32,000 tokens on 2 GPUs: 192,000 B, below its dense-MoE layers' 217,088 B.
    assert catalog.prefill_bytes_per_token(MIXTRAL, dense_moe=True, gpus=2, warmup_logits=True) == 217_088


def test_vocabulary_sizes_follow_each_familys_config():
    # config.json vocab_size; pre-quantized builds keep their base's.
    vocab = {m: catalog.models()[m].vocab_size for m in (
        "mistralai/Mixtral-8x7B-Instruct-v0.1", "casperhansen/mixtral-instruct-awq", "mistralai/Mistral-7B-Instruct-v0.3",
        "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", "google/gemma-2-27b-it", "Qwen/Qwen2.5-72B-Instruct-AWQ")}
    assert list(vocab.values()) == [32000, 32000, 32768, 128256, 256000, 152064]
    assert all(m.vocab_size for m in catalog.models().values())


def test_chunked_prefill_lets_mixtral_nf4_serve_its_full_32k_context_on_two_l4s():
    # TGI 3.x chunks the prefill in 4096-token steps: prompts are no longer capped by the prefill, and
    # the warm-up's 4096 x 217,088 B = 0.889 GB leaves (17.1825 - 0.889) GB / 131,072 B = 124,308 tokens
    # of KV cache, room for 3 requests of the full 32,768-token context (98,304 tokens).
    plan = catalog.token_plan(MIXTRAL, catalog.fit(MIXTRAL, G2_24, NF4), dense_moe=True, chunk=4096, warmup_logits=True)
    assert (plan.max_input, plan.max_total, plan.max_prefill) == (31744, 32768, 4096)
    assert round(plan.prefill_gb, 3) == 0.889
    assert plan.kv_tokens == 124308
    assert plan.max_total * 3 <= plan.kv_tokens


def test_one_batch_prefill_still_caps_the_prompt_at_the_prefill():
    # Without chunking (TGI before Ampere) a prompt is prefilled in one batch: input <= prefill.
    plan = catalog.token_plan(MIXTRAL, catalog.fit(MIXTRAL, G2_24, NF4), dense_moe=True, chunk=0, warmup_logits=True)
    assert plan.max_input <= plan.max_prefill
    assert plan.max_total < 32768  # the long one-batch warm-up takes KV room the context would need


def test_chunk_shrinks_when_its_activations_would_crowd_out_the_kv_cache():
    # Gemma 2 27B in 8-bit on one A100 40GB: 8.05 GB left; keeping 3 x 4096 tokens of KV (4.63 GB) leaves
    # 3.42 GB for the chunk, which at 1,024,000 B a token (its warm-up logits) is 3339 tokens -> 3072.
    gemma = catalog.models()["google/gemma-2-27b-it"]
    fit = catalog.fit(gemma, catalog.machines()["a2-highgpu-1g"], catalog.quantizations()["bitsandbytes"])
    plan = catalog.token_plan(gemma, fit, dense_moe=False, chunk=4096, warmup_logits=True)
    assert plan.max_prefill == 3072
    # (8.05 - 3.146) GB / (3 x 376,832 B) = 4338 tokens a request -> 4096, less 1024 for output.
    assert (plan.max_input, plan.max_total) == (3072, 4096)


def test_every_catalog_model_gets_tgis_chunking_attention():
    # TGI's launcher picks flashinfer (which chunks the prefill) for head_dim 64, 128 and 256
    # (launcher/src/main.rs resolve_attention); others fall back to attention that may not chunk.
    assert {m.head_dim for m in catalog.models().values()} <= {64, 128, 256}


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
    # 82 GiB and 22 cores for the pod leave GKE's DaemonSets (0.72 cores, 1.46 GiB on a GPU node) and a
    # stated margin of 1 core and 2 GiB for DaemonSets the table under-states.
    assert (pod.cpu, pod.memory_gib) == (22, 82)


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


def _step(steps, prefix):
    return next(s for s in steps if s.name.startswith(prefix))


def test_vllm_image_pull_counts_its_12_gb_download_and_28_gb_unpack():
    # vllm/vllm-openai: about 12 GB compressed (vllm#27154), 28.6 GB unpacked (vllm#22377), from
    # Docker Hub without image streaming: 3-5 min, 4 assumed; TGI's about 8 GB: 2 min.
    awq = catalog.models()["casperhansen/mixtral-instruct-awq"]
    awq_q = catalog.quantizations()["awq"]
    assert _step(loading.cold_start(awq, awq_q, "bucket", "vllm"), "image pull").seconds == 240
    assert _step(loading.cold_start(awq, awq_q, "bucket", "tgi"), "image pull").seconds == 120
    assert _step(loading.cold_start(awq, awq_q, "bucket"), "image pull").seconds == 120  # the default engine


def test_nf4_quantization_at_load_adds_little_beyond_the_read():
    # Quantized per tensor on the GPU as it is read (TGI layers/bnb.py): 46.7 B x 1 s, not 6 s.
    assert _step(loading.cold_start(MIXTRAL, NF4, "bucket"), "quantize").seconds == 46.7


def test_every_cold_start_figure_says_whether_it_is_sourced_or_assumed():
    for source in ("bucket", "hub"):
        for engine in ("tgi", "vllm"):
            for step in loading.cold_start(MIXTRAL, NF4, source, engine):
                assert step.basis.startswith(("sourced", "assumed")), step
