"""Values of catalog/loading.py a deploy depends on, pinned as literals: the ephemeral storage the
server pod asks for, the GPU boot disk that must hold it, the Run:ai streamer's buffers. Each was a
surviving mutant of `make mutants MODULE=catalog/loading.py` (tests/MUTANTS.md)."""

import catalog
from catalog import loading
from catalog.loading import FileCache

DISK_92 = FileCache("disk", 92, "too big for RAM")
NONE = FileCache("none", 0, "hub")
MEMORY = FileCache("memory", 40, "fits in RAM")


def test_server_ephemeral_requests_by_weight_source_and_cache():
    # Bucket mode: a 10 GiB work dir for the server, and the sidecar's file cache plus the webhook's
    # 5 GiB default buffer when the cache is on disk; nothing from the Hub, nothing for a RAM cache.
    assert loading.server_ephemeral_gib(DISK_92, "bucket") == {"container": 10, "sidecar": 97}
    assert loading.server_ephemeral_gib(MEMORY, "bucket") == {"container": 10, "sidecar": 0}
    assert loading.server_ephemeral_gib(NONE, "hub") == {"container": 0, "sidecar": 0}


def test_gpu_boot_disk_grows_by_50_gb_at_the_exact_need():
    # 10 GiB work dir + cache + 5 GiB sidecar buffer + TGI's image unpacked (20 GB = 18.63 GiB) must fit
    # what a 200 GB disk leaves (97.42 GiB after GKE's reservation): a 63 GiB cache does, 64 does not.
    assert loading.gpu_boot_disk_gb(FileCache("disk", 63, "x"), "bucket", "tgi") == 200
    assert loading.gpu_boot_disk_gb(FileCache("disk", 64, "x"), "bucket", "tgi") == 250
    # vLLM's image is 28.6 GB unpacked (26.64 GiB): 8 GiB less room for the cache.
    assert loading.gpu_boot_disk_gb(FileCache("disk", 55, "x"), "bucket", "vllm") == 200
    assert loading.gpu_boot_disk_gb(FileCache("disk", 56, "x"), "bucket", "vllm") == 250
    assert loading.gpu_boot_disk_gb(DISK_92, "bucket", "tgi") == 300  # bf16 Mixtral's cache (dev plan)


def test_streamer_buffers_are_4_gib_per_gpu_worker():
    # One Run:ai streamer buffer per tensor-parallel worker, counted in the pod's memory.
    assert loading.streamer_memory_gib(catalog.machines()["g2-standard-24"]) == 8
    assert loading.streamer_memory_gib(catalog.machines()["g2-standard-96"]) == 32
    assert loading.streamer_memory_gib(catalog.machines()["g2-standard-8"]) == 4


def test_startup_budget_is_twice_the_time_after_the_node_in_whole_minutes_at_least_10():
    # The startup probe's budget: node boot excluded (the pod starts after it), doubled, rounded up to
    # a whole minute, never below 10 minutes.
    Step = loading.Step
    boot = Step("GPU node boot and driver", 240, "")
    assert loading.startup_budget_seconds([boot, Step("read", 2700, "")]) == 5400
    assert loading.startup_budget_seconds([boot, Step("read", 2701, "")]) == 5460
    assert loading.startup_budget_seconds([boot, Step("read", 100, "")]) == 600
    assert loading.startup_budget_seconds([boot, Step("read", 301, "")]) == 660


def test_file_cache_goes_to_ram_while_cache_plus_server_fit_exactly():
    # g2-standard-24 leaves 80 GiB for the server and its cache beside the sidecar: a 70.5 GB
    # checkpoint's cache (69 GiB with gcsfuse's 5%) plus the server's 11 GiB is exactly 80: RAM.
    # 70.6 GB needs 70 GiB: the cache goes to the boot disk and the server keeps all 80.
    import dataclasses
    mixtral = catalog.models()["mistralai/Mixtral-8x7B-Instruct-v0.1"]
    g2 = catalog.machines()["g2-standard-24"]
    at = loading.pod_memory(dataclasses.replace(mixtral, checkpoint_gb=70.5), g2, "bucket")
    past = loading.pod_memory(dataclasses.replace(mixtral, checkpoint_gb=70.6), g2, "bucket")
    assert (at.cache.medium, at.cache.size_gib, at.server_memory_gib, at.server_cpu) == ("memory", 69, 11, 20)
    assert (past.cache.medium, past.cache.size_gib, past.server_memory_gib) == ("disk", 70, 80)


def test_only_a_load_time_quantization_adds_a_quantize_step_to_the_cold_start():
    # bf16 weights are served as they are and a pre-quantized checkpoint is read as it is; only a
    # load-time quantization (bitsandbytes, fp8) works on the weights after reading them.
    qwen = catalog.models()["Qwen/Qwen2.5-7B-Instruct"]
    q = catalog.quantizations()
    steps = {name: [s.name for s in loading.cold_start(qwen, q[name], "bucket", image_streamed=True)]
             for name in ("none", "awq", "bitsandbytes-nf4")}
    base = ["GPU node boot and driver", "image pull", "read 15.2 GB from the bucket", "engine start and warm-up"]
    assert steps["none"] == base and steps["awq"] == base
    assert steps["bitsandbytes-nf4"] == base[:3] + ["quantize to bitsandbytes-nf4 at load"] + base[3:]
