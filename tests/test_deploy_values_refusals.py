"""Every refusal of settings/__init__.py and settings/serving.py as the whole line a user reads before
anything is created: the key, the value (or [secret]), what is wrong and what would work. Each was a
surviving mutant of `make mutants MODULE=settings/...` (a dropped value, a mangled fix, a wrong
number in it) while tests/test_settings.py matched words only. The lines below were read and judged
right one by one; the numbers in them are checked against their sources in the comments."""

import pytest

import settings
from conftest import evaluate

KEY = "k3y-for-tests-0123456789abcdef"
FIX_CAPACITY = "give an ordered list from spot, flex-start, on-demand, e.g. [spot, flex-start]"
FIX_REVISION = ("weightSource bucket names the bucket prefix after the revision, and a branch or tag can move while the "
                "copied prefix never changes; give the 40-character commit to serve, e.g. from ")

CASES = [
    ("dev", {"capacity": []}, f"config capacity=[]: the capacity ladder is empty; {FIX_CAPACITY}"),
    ("dev", {"capacity": ["spot", "reserved"]}, f"config capacity=[\"spot\", \"reserved\"]: unknown tier 'reserved'; {FIX_CAPACITY}"),
    ("dev", {"capacity": ["spot", "spot"]}, "config capacity=[\"spot\", \"spot\"]: 'spot' is listed twice; list each tier once"),
    # A3 High with 2 GPUs is sold only as Spot or flex-start (catalog/machines.csv, on_demand no).
    ("dev", {"capacity": ["spot", "on-demand"], "machineType": "a3-highgpu-2g", "quantize": "none"},
     "config capacity=[\"spot\", \"on-demand\"]: a3-highgpu-2g is sold only as Spot or flex-start; remove on-demand, or "
     "pick a machine type with on-demand capacity"),
    ("dev", {"systemMachineType": "g2-standard-24"},
     "config systemMachineType='g2-standard-24': not a general-purpose machine type; use e.g. e2-standard-4 or n2-standard-4"),
    # e2-standard-2: 2 vCPUs less GKE's reservation (1.93 allocatable) less its DaemonSets' requests.
    ("dev", {"systemMachineType": "e2-standard-2"},
     "config systemMachineType='e2-standard-2': the model loader needs 2 cores of cpu and a e2-standard-2 node leaves "
     "1.46 after GKE's reservations and DaemonSets; use e2-standard-4 or larger"),
    ("dev", {"hfToken": ""}, "config hfToken=[secret]: is empty; pulumi config set --secret hfToken <your Hugging Face token>"),
    ("dev", {"hfToken": "hf_ab cd"}, "config hfToken=[secret]: has spaces or line breaks (a copy-paste slip?); pulumi config "
                                     "set --secret hfToken <your Hugging Face token>"),
    ("dev", {"exposure": "public", "apiKey": "short"},
     "config apiKey=[secret]: is shorter than 16 characters; pulumi config set --secret apiKey \"$(openssl rand -hex 24)\""),
    ("dev", {"authorizedNetworks": ["10.0.0.0/33"]},
     "config authorizedNetworks=[\"10.0.0.0/33\"]: '10.0.0.0/33' is not a CIDR block; give CIDR blocks, e.g. [\"198.18.0.0/24\"]"),
    ("dev", {"authorizedNetworks": ["198.18.0.0/24", "203.0.113.7/24"]},
     "config authorizedNetworks=[\"198.18.0.0/24\", \"203.0.113.7/24\"]: '203.0.113.7/24' has host bits set; write the "
     "block, '203.0.113.0/24', or '203.0.113.7/32' for that one address"),
    ("dev", {"authorizedNetworks": [198]},
     "config authorizedNetworks='[198]': not a list of strings; give CIDR blocks, e.g. [\"198.18.0.0/24\"]"),
    ("dev", {"alertEmail": "not-an-email"},
     "config alertEmail='not-an-email': not an e-mail address; give one address, e.g. oncall@example.com"),
    ("dev", {"exposure": "external"}, "config exposure='external': unknown exposure; use one of: cluster-ip, internal, public"),
    ("dev", {"exposure": "public", "apiKey": None},
     "config exposure='public': a public load balancer needs the server's API key; pulumi config set --secret apiKey "
     "<key>, or use exposure internal or cluster-ip"),
    ("dev", {"weightSource": "s3"}, "config weightSource='s3': unknown weight source; use one of: bucket, hub"),
    ("dev", {"modelRevision": "main"},
     f"config modelRevision='main': {FIX_REVISION}https://huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1/commits/main"),
    ("dev", {"model": "acme/x"}, f"config modelRevision='main': {FIX_REVISION}https://huggingface.co/acme/x/commits/main"),
    ("vllm", {"vllmLoadFormat": "tensorizer"},
     "config vllmLoadFormat='tensorizer': unknown way for vLLM to read the bucket; use one of: runai_streamer, fuse"),
    ("dev", {"startupTimeoutMinutes": 3},
     "config startupTimeoutMinutes=3: below 5 minutes no model loads; give 5 or more, or 0 to derive it"),
    # dev's derived start-up budget is 21 minutes (1260 s); the example adds 15 minutes.
    ("dev", {"flexStartLeadTimeSeconds": 600},
     "config flexStartLeadTimeSeconds=600: a replacement flex-start node must be up and loaded before the old one ends, "
     "but the start-up budget is 1260 s; set it above 1260, e.g. 2160, or lower startupTimeoutMinutes"),
    ("dev", {"flexStartMaxRunDurationSeconds": 1000, "flexStartLeadTimeSeconds": 3600},
     "config flexStartMaxRunDurationSeconds=1000: not longer than the recycling lead time 3600; make it longer than "
     "flexStartLeadTimeSeconds, or 0"),
    ("dev", {"maxInputTokens": 32768},
     "config maxInputTokens=32768: the server needs the input limit below maxTotalTokens (32768); use at most 32767"),
    ("dev", {"maxTotalTokens": 1000000, "maxInputTokens": 1000},
     "config maxTotalTokens=1000000: one request would need more KV cache than fits (124308 tokens); use at most 124308"),
    ("dev", {"priceSpot": "-1"}, "config priceSpot='-1': not a price; give US dollars per hour for one machine, e.g. 0.80"),
    ("dev", {"computeClassName": "gke-foo"},
     "config computeClassName='gke-foo': not a valid ComputeClass name (GKE reserves the prefixes gke and autopilot); use "
     "a DNS label such as dws-model-inference-class"),
    ("vllm", {"exposure": "public", "apiKey": KEY},
     "config exposure='public': vLLM serves /invocations (the same inference as /v1) without checking the API key, so it "
     "cannot sit behind a public load balancer; use exposure internal (reach it over your VPC) or cluster-ip, or engine tgi"),
    ("dev", {"image": "ghcr.io/huggingface/text-generation-inference:2.3.0", "exposure": "public", "apiKey": KEY},
     "config image='ghcr.io/huggingface/text-generation-inference:2.3.0': TGI 2.3.0 serves /invocations without checking "
     "the API key; a public load balancer needs TGI 2.4 or later; use ghcr.io/huggingface/text-generation-inference:3.3.7, "
     "or exposure internal or cluster-ip"),
    ("dev", {"engine": "triton"}, "config engine='triton': unknown serving engine; use one of: tgi, vllm"),
    ("dev", {"quantize": "gguf"},
     "config quantize='gguf': not a quantization the catalog knows; use one of: none, bitsandbytes-nf4, bitsandbytes-fp4, "
     "bitsandbytes, eetq, fp8, awq, gptq, marlin, exl2, compressed-tensors"),
    ("dev", {"location": "mars-central1"},
     "config location='mars-central1': mars-central1 is not a Compute Engine region with GPUs (catalog/gpu-regions.csv); "
     "use a region such as us-central1 or a zone such as us-central1-a"),
    # settings/serving.py: quantization, model id and tensor-parallel shards.
    ("vllm", {"quantize": "eetq"},
     "config quantize='eetq': vllm cannot run it; use one of: none, fp8, awq, gptq, compressed-tensors, or engine tgi"),
    ("vllm", {"quantize": "gptq"},
     "config quantize='gptq': casperhansen/mixtral-instruct-awq is a pre-quantized awq checkpoint; use quantize awq, or "
     "leave quantize unset"),
    ("dev", {"quantize": "awq"},
     "config quantize='awq': awq needs a pre-quantized checkpoint and mistralai/Mixtral-8x7B-Instruct-v0.1 holds bf16 "
     "weights; use a pre-quantized model (see catalog/models.csv) or a load-time quantization such as bitsandbytes-nf4"),
    ("dev", {"model": "Not A Model"},
     "config model='Not A Model': not a Hugging Face model id (owner/name); give a Hugging Face model id such as "
     "mistralai/Mixtral-8x7B-Instruct-v0.1"),
    ("dev", {"model": "acme/small", "modelRevision": "a" * 40, "modelParamsBillion": 0},
     "config modelParamsBillion='0': not a positive number; give the size in billions, e.g. 7.2"),
    ("dev", {"model": "acme/small", "modelRevision": "a" * 40, "modelParamsBillion": "abc"},
     "config modelParamsBillion='abc': not a positive number; give the size in billions, e.g. 7.2"),
    ("dev", {"location": "Iowa"},
     "config location='Iowa': not a GCP region or zone; use a region such as us-central1 or a zone such as us-central1-a"),
    # catalog/gpu-regions.csv: the L4's regions; a zone is checked by its region.
    ("dev", {"location": "us-west2-a"},
     "config location='us-west2-a': NVIDIA L4 (g2-standard-24) is not offered in us-west2; use one of: asia-east1, "
     "asia-northeast1, asia-northeast3, asia-south1, asia-southeast1, europe-west1, europe-west2, europe-west3, "
     "europe-west4, europe-west6, me-central2, northamerica-northeast1, northamerica-northeast2, us-central1, us-east1, "
     "us-east4, us-west1, us-west4, or another machineType"),
    # 28 heads (catalog/models.csv, the model's config.json) cannot be split over 8 GPUs.
    ("dev", {"model": "Qwen/Qwen2.5-7B-Instruct", "machineType": "g2-standard-96"},
     "config machineType='g2-standard-96': NUM_SHARD=8 (its GPUs) does not divide the 28 attention heads of "
     "Qwen/Qwen2.5-7B-Instruct; use a machine whose GPU count divides 28, e.g. g2-standard-4, g2-standard-8, "
     "g2-standard-12"),
    # 8-bit fits 96 GB where bf16 does not: the load-time quantization offered is bitsandbytes.
    ("dev", {"machineType": "g2-standard-48", "quantize": "none"},
     "config machineType='g2-standard-48': mistralai/Mixtral-8x7B-Instruct-v0.1 with quantize=none needs about 107 GB of "
     "GPU memory (weights 93 GB + runtime + KV cache for 4096 tokens), g2-standard-48 has 96 GB; use machineType "
     "g2-standard-96 or quantize bitsandbytes or model casperhansen/mixtral-instruct-awq"),
]


@pytest.mark.parametrize("stack, config, message", CASES, ids=[f"{s}-{'-'.join(c) or 'empty'}" for s, c, _ in CASES])
def test_refusal_is_this_whole_line(stack, config, message):
    with pytest.raises(settings.ConfigError) as error:
        evaluate(stack, **config)
    assert str(error.value) == message


GPU_MACHINES = ("g2-standard-4, g2-standard-8, g2-standard-12, g2-standard-16, g2-standard-24, g2-standard-32, "
                "g2-standard-48, g2-standard-96, a2-highgpu-1g, a2-highgpu-2g, a2-highgpu-4g, a2-highgpu-8g, "
                "a2-ultragpu-1g, a2-ultragpu-2g, a2-ultragpu-4g, a2-ultragpu-8g, a3-highgpu-1g, a3-highgpu-2g, "
                "a3-highgpu-4g, a3-highgpu-8g, a3-megagpu-8g, a3-ultragpu-8g, n1-standard-4+t4, n1-standard-8+t4")


def test_an_unknown_machine_lists_every_catalogued_one():
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", machineType="n9-mega")
    assert str(error.value) == f"config machineType='n9-mega': unknown machine type; use one of: {GPU_MACHINES}"


def test_a_machine_without_a_gpu_lists_the_gpu_machines():
    # e2-standard-4 is in catalog/machines.csv for the system pool, with no GPU.
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", machineType="e2-standard-4")
    assert str(error.value) == f"config machineType='e2-standard-4': has no GPU; use a GPU machine type: {GPU_MACHINES}"


SMALL = {"model": "acme/small", "modelRevision": "a" * 40}


@pytest.mark.parametrize("stack, config, quantize, catalogued", [
    ("dev", {}, "bitsandbytes-nf4", True),               # Mixtral bf16 does not fit 48 GB: TGI's NF4
    ("vllm", {}, "awq", True),                           # a pre-quantized checkpoint keeps its method
    ("dev", {**SMALL, "modelParamsBillion": 7}, "none", False),   # a known size that fits: bf16
    ("dev", SMALL, "bitsandbytes-nf4", False),           # no size: the engine's choice for an unknown model
    ("vllm", SMALL, "none", False),
])
def test_the_quantization_derived_when_unset(stack, config, quantize, catalogued):
    s = evaluate(stack, **config).result["s"]
    assert (s.quantize.name, s.model_in_catalog) == (quantize, catalogued)


def test_a_model_outside_the_catalog_is_warned_about_unless_its_size_is_given():
    # The size is what the fit check needs; any positive size counts, below one billion too.
    assert evaluate("dev", **SMALL).warnings == [
        "model 'acme/small' is not in the catalog, so its fit on the GPUs is not checked; set modelParamsBillion to its "
        "size in billions of parameters to have it checked"]
    tiny = evaluate("dev", **SMALL, modelParamsBillion=0.5)
    assert tiny.warnings == [] and tiny.result["s"].model.params_billion == 0.5
