"""What is served and where: engine, machine, location, model and quantization, and whether
the model fits and shards on the machine."""

from __future__ import annotations

import re

import pulumi

import catalog
from components.serving.engines import ENGINES, Engine
from settings.reader import ConfigError, Reader, listing as _names

DEFAULT_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"  # the tutorial's
from settings import names


def machine(r: Reader) -> catalog.Machine:
    name = r.string("machineType", "g2-standard-24")
    known = catalog.machines()
    if name in known:
        return known[name]
    gpu_types = _names(known)
    if catalog.is_cpu_only_machine(name):
        raise ConfigError("machineType", name, "has no GPU", f"use a GPU machine type: {gpu_types}")
    raise ConfigError("machineType", name, "unknown machine type", f"use one of: {gpu_types}")


def location(r: Reader, machine: catalog.Machine) -> str:
    location = r.string("location", "us-central1")
    fix = "use a region such as us-central1 or a zone such as us-central1-a"
    if not re.fullmatch(r"[a-z]+-[a-z]+\d+(-[a-z])?", location):
        raise ConfigError("location", location, "not a GCP region or zone", fix)
    region = region_of(location)
    offered = catalog.gpu_regions().get(machine.accelerator)
    if region not in catalog.all_gpu_regions():
        raise ConfigError("location", location, f"{region} is not a Compute Engine region with GPUs (catalog/gpu-regions.csv)", fix)
    if offered is not None and region not in offered:
        raise ConfigError("location", location, f"{machine.gpu} ({machine.name}) is not offered in {region}",
                          "use one of: " + _names(sorted(offered)) + ", or another machineType")
    return location


def engine(r: Reader) -> Engine:
    name = r.string("engine", "tgi")
    if name not in ENGINES:
        raise ConfigError("engine", name, "unknown serving engine", f"use one of: {_names(ENGINES)}")
    return ENGINES[name]


def quantize(r: Reader, engine: Engine, model: catalog.Model, machine: catalog.Machine) -> catalog.Quantization:
    """The quantization: stated, or derived: a pre-quantized checkpoint's own method; bf16 when it
    fits; else the engine's load-time quantization."""
    known = catalog.quantizations()
    accepted = catalog.engine_quantizations(engine.name)
    name = r.raw("quantize")
    if name is None:
        if model.checkpoint_quant != "none":
            name = model.checkpoint_quant
        elif not model.params_billion or catalog.fit(model, machine, known["none"]).fits:
            name = "none" if model.params_billion else engine.unknown_model_quantize
        else:
            name = next((q for q in engine.load_time_quantize
                         if catalog.fit(model, machine, known[q]).fits), engine.load_time_quantize[0])
    if name not in known:
        raise ConfigError("quantize", name, "not a quantization the catalog knows", f"use one of: {_names(accepted)}")
    if name not in accepted:
        raise ConfigError("quantize", name, f"{engine.name} cannot run it",
                          f"use one of: {_names(accepted)}, or engine " + _names(e for e in ENGINES if name in catalog.engine_quantizations(e)))
    if model.checkpoint_quant != "none" and name != model.checkpoint_quant:
        raise ConfigError("quantize", name, f"{model.model_id} is a pre-quantized {model.checkpoint_quant} checkpoint",
                          f"use quantize {model.checkpoint_quant}, or leave quantize unset")
    if model.checkpoint_quant == "none" and known[name].prequantized and model.params_billion:
        raise ConfigError("quantize", name, f"{name} needs a pre-quantized checkpoint and {model.model_id} holds bf16 weights",
                          "use a pre-quantized model (see catalog/models.csv) or a load-time quantization such as "
                          + _names(engine.load_time_quantize))
    return known[name]


def model(r: Reader) -> tuple[catalog.Model, bool]:
    model_id = r.checked("model", DEFAULT_MODEL, names.hf_model_id, "give a Hugging Face model id such as mistralai/Mixtral-8x7B-Instruct-v0.1")
    if model_id in catalog.models():
        return catalog.models()[model_id], True
    params = r.raw("modelParamsBillion")
    if params is None:
        pulumi.log.warn(
            f"model {model_id!r} is not in the catalog, so its fit on the GPUs is not checked; "
            "set modelParamsBillion to its size in billions of parameters to have it checked"
        )
        return catalog.unknown_model(model_id, 0.0), False
    try:
        size = float(params)
    except ValueError:
        size = -1.0
    if not size > 0:
        raise ConfigError("modelParamsBillion", params, "not a positive number", "give the size in billions, e.g. 7.2")
    return catalog.unknown_model(model_id, size), False


def check_fit(model: catalog.Model, machine: catalog.Machine, quantize: catalog.Quantization, engine: Engine) -> None:
    if model.params_billion == 0:  # uncatalogued model without a size: warned, not checked
        return
    result = catalog.fit(model, machine, quantize)
    if result.fits:
        return
    need = result.weights_gb + result.overhead_gb + model.kv_bytes_per_token * catalog.MIN_KV_TOKENS / 1e9
    problem = (
        f"{model.model_id} with quantize={quantize.name} needs about {need:.0f} GB of GPU memory "
        f"(weights {result.weights_gb:.0f} GB + runtime + KV cache for {catalog.MIN_KV_TOKENS} tokens), "
        f"{machine.name} has {machine.total_gpu_memory_gb} GB"
    )
    options = []
    bigger = [m for m in catalog.machines_that_fit(model, quantize)]
    if bigger:
        options.append(f"machineType {bigger[0].name}")
    if model.checkpoint_quant == "none":
        smaller = catalog.quantizations_that_fit(model, machine, engine.name)
        if smaller:
            options.append(f"quantize {smaller[0].name}")
        variants = catalog.prequantized_variants(model, machine, engine.name)
        if variants:
            options.append(f"model {variants[0].model_id}")
    fix = "use " + " or ".join(options) if options else "use a smaller model"
    raise ConfigError("machineType", machine.name, problem, fix)


def check_shards(model: catalog.Model, machine: catalog.Machine, quantize: catalog.Quantization) -> None:
    if catalog.shards_divide_heads(model, machine.gpu_count):
        return
    good = [m.name for m in catalog.machines_that_fit(model, quantize)][:3]
    raise ConfigError(
        "machineType", machine.name,
        f"NUM_SHARD={machine.gpu_count} (its GPUs) does not divide the {model.attention_heads} attention heads of {model.model_id}",
        f"use a machine whose GPU count divides {model.attention_heads}" + (f", e.g. {_names(good)}" if good else ""),
    )


def region_of(location: str) -> str:
    """us-central1-a -> us-central1; a region stays a region."""
    return location if re.fullmatch(r"[a-z]+-[a-z]+\d+", location) else location.rsplit("-", 1)[0]


