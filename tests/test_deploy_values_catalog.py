"""What catalog/__init__.py suggests when a model does not fit, as literal lists. A refusal shows the
first entry of each list ("use machineType X or quantize Y or model Z"), so the order is what a
user reads. Each assertion was a surviving mutant of `make mutants MODULE=catalog/__init__.py`
(tests/MUTANTS.md). Figures: catalog/models.csv, machines.csv, quantizations.csv, prices-us-central1.csv."""

import catalog

MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def model(model_id: str) -> catalog.Model:
    return catalog.models()[model_id]


def machine(name: str) -> catalog.Machine:
    return catalog.machines()[name]


def test_load_time_quantizations_that_fit_are_listed_largest_first():
    # Llama 3.1 70B on four L4s (96 GB): 8-bit (70.6 GB of weights) fits, and is suggested before
    # 4-bit, which costs more quality; bf16 (141 GB) does not. Equal sizes keep the CSV's order.
    names = [q.name for q in catalog.quantizations_that_fit(model(LLAMA_70B), machine("g2-standard-48"), "tgi")]
    assert names == ["bitsandbytes", "eetq", "fp8", "bitsandbytes-nf4", "bitsandbytes-fp4"]
    # vLLM runs only fp8 of those at load time (catalog/engine-quantizations.csv).
    assert [q.name for q in catalog.quantizations_that_fit(model(LLAMA_70B), machine("g2-standard-48"), "vllm")] == ["fp8"]
    # Mixtral on two L4s (48 GB): only 4-bit fits; pre-quantized methods are never load-time options.
    assert [q.name for q in catalog.quantizations_that_fit(model(MIXTRAL), machine("g2-standard-24"), "tgi")] == [
        "bitsandbytes-nf4", "bitsandbytes-fp4"]


def test_prequantized_variants_are_the_same_architecture_that_fits_and_the_engine_runs():
    g2_24, g2_48 = machine("g2-standard-24"), machine("g2-standard-48")
    assert [m.model_id for m in catalog.prequantized_variants(model(MIXTRAL), g2_24, "tgi")] == [
        "casperhansen/mixtral-instruct-awq"]
    assert [m.model_id for m in catalog.prequantized_variants(model(MIXTRAL), g2_24, "vllm")] == [
        "casperhansen/mixtral-instruct-awq"]
    assert [m.model_id for m in catalog.prequantized_variants(model(LLAMA_70B), g2_48, "tgi")] == [
        "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"]
    # No catalogued AWQ checkpoint of Gemma 2 27B; and the 70B AWQ (39.9 GB) does not fit one L4 (24 GB).
    assert catalog.prequantized_variants(model("google/gemma-2-27b-it"), g2_48, "tgi") == []
    assert catalog.prequantized_variants(model(LLAMA_70B), machine("g2-standard-8"), "tgi") == []


def test_machines_that_fit_are_listed_cheapest_on_demand_first():
    nf4 = catalog.quantizations()["bitsandbytes-nf4"]
    names = [m.name for m in catalog.machines_that_fit(model(MIXTRAL), nf4)]
    # $2.00083/h, $3.67339/h, $4.00166/h, ... (prices-us-central1.csv, on-demand column).
    assert names[:5] == ["g2-standard-24", "a2-highgpu-1g", "g2-standard-48", "a2-ultragpu-1g", "a2-highgpu-2g"]
    assert len(names) == 17
    # bf16 Mixtral (93.4 GB) needs four L4s or more.
    bf16 = catalog.quantizations()["none"]
    assert [m.name for m in catalog.machines_that_fit(model(MIXTRAL), bf16)][:3] == [
        "g2-standard-96", "a2-ultragpu-2g", "a2-highgpu-4g"]


def test_every_catalogued_machine_has_a_price_row():
    # machines_that_fit sorts a machine without a price last; none is missing today.
    assert set(catalog.machines()) <= set(catalog.prices())


def test_a_machine_type_with_an_attached_gpu_is_not_cpu_only():
    # "n1-standard-8+nvidia-tesla-t4" is how a user might write an N1 with a T4 attached.
    assert catalog.is_cpu_only_machine("n1-standard-8+nvidia-tesla-t4") is False
    assert catalog.is_cpu_only_machine("n2-standard-8") is True
    assert catalog.is_cpu_only_machine("g2-standard-24") is False


def test_the_flex_start_price_is_on_demand_less_53_percent_kept_to_5_decimals():
    # Flex-start is priced as an assumption (no table): on-demand x 0.47, kept to 5 decimals like
    # the table's own prices. g2-standard-8: 0.85362 x 0.47 = 0.4012014.
    price = catalog.tier_price(machine("g2-standard-8"), "flex-start", {})
    assert (price.per_hour, price.source) == (0.4012, "assumption: on-demand less 53%")
    assert catalog.tier_price(machine("g2-standard-96"), "flex-start", {}).per_hour == 3.76157


def test_the_hub_mode_disk_cache_is_the_bf16_checkpoint_plus_10_percent_in_10_gib_steps():
    # Llama 3.1 70B: 70.6e9 x 2 bytes x 1.1 = 155.3 GB = 144.6 GiB -> 150 GiB. Smaller models get
    # the tutorial's 100Gi floor (Mixtral: 95.7 GiB).
    assert catalog.weight_cache_gib(model(LLAMA_70B)) == 150
    assert catalog.weight_cache_gib(model(MIXTRAL)) == 100
    assert catalog.weight_cache_gib(model("meta-llama/Llama-3.1-8B-Instruct")) == 100


def test_output_room_is_a_quarter_of_a_short_context_as_a_whole_number():
    # MAX_INPUT_TOKENS goes into an environment variable: "2250", never "2250.0".
    assert repr(catalog.input_limit(3000)) == "2250"
    assert repr(catalog.input_limit(1024)) == "768"
    assert repr(catalog.input_limit(8192)) == "7168"


def test_token_limits_round_down_to_1024_steps_never_below_1024():
    assert catalog._round_down(1023.9) == 1024
    assert catalog._round_down(5000.0) == 4096


def test_a_tight_kv_cache_still_gets_token_limits_and_a_model_without_kv_figures_gets_none():
    # Mistral 7B with 0.8 GB left for the KV cache: 6,103 tokens before the prefill's activations,
    # above the 4,096 the fit asks for; the limits are the 1024-token floor.
    mistral = model("mistralai/Mistral-7B-Instruct-v0.3")
    tight = catalog.Fit(weights_gb=14.5, gpu_memory_gb=24, overhead_gb=3, kv_cache_gb=0.8, kv_tokens=6103, gpus=1)
    plan = catalog.token_plan(mistral, tight)
    assert (plan.max_input, plan.max_total, plan.max_prefill, plan.kv_tokens) == (768, 1024, 1024, 4919)
    # A model outside the catalog without a size: no limits (the engine's own defaults apply).
    assert catalog.token_plan(catalog.unknown_model("acme/x", 0.0), tight) == catalog.TokenPlan(0, 0, 0, 0.0, 0)
