"""Property: every valid configuration renders manifests that pass the plan's validation."""

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import catalog
from catalog import loading
from conftest import server, evaluate
from planner import render, validate

TIERS = ["spot", "flex-start", "on-demand"]


def _host_memory_fits(model, machine, source, engine) -> bool:
    # vLLM streams bucket weights by default (vllmLoadFormat runai_streamer): its CPU buffers count.
    reader = "streamer" if engine == "vllm" and source == "bucket" else "fuse"
    try:
        loading.pod_memory(model, machine, source, reader)
        return True
    except ValueError:
        return False


@st.composite
def valid_config(draw):
    engine = draw(st.sampled_from(["tgi", "vllm"]))
    model = draw(st.sampled_from(sorted(catalog.models())))
    m = catalog.models()[model]
    if m.checkpoint_quant != "none":
        usable = [m.checkpoint_quant] if m.checkpoint_quant in catalog.engine_quantizations(engine) else []
    else:
        usable = [q for q in catalog.engine_quantizations(engine) if not catalog.quantizations()[q].prequantized]
    usable = [q for q in usable if catalog.machines_that_fit(m, catalog.quantizations()[q])]
    if not usable:  # this model cannot run on this engine anywhere: the tgi default path instead
        engine, model, m = "tgi", "mistralai/Mixtral-8x7B-Instruct-v0.1", catalog.models()["mistralai/Mixtral-8x7B-Instruct-v0.1"]
        usable = ["bitsandbytes-nf4"]
    quantize = draw(st.sampled_from(sorted(usable)))
    source = draw(st.sampled_from(["bucket", "hub"]))
    machines = [x.name for x in catalog.machines_that_fit(m, catalog.quantizations()[quantize])
                if _host_memory_fits(m, x, source, engine)]
    machine = draw(st.sampled_from(machines))
    tiers = draw(st.permutations(TIERS).flatmap(lambda p: st.integers(1, 3).map(lambda n: p[:n])))
    if not catalog.machines()[machine].on_demand:
        tiers = [t for t in tiers if t != "on-demand"] or ["spot"]
    startup = draw(st.integers(5, 120))
    return {
        "engine": engine, "weightSource": source, "model": model, "quantize": quantize, "machineType": machine, "capacity": list(tiers),
        "replicas": draw(st.integers(0, 5)),
        "startupTimeoutMinutes": startup,
        "flexStartLeadTimeSeconds": draw(st.integers(startup * 60 + 1, 604800)),
        "exposure": draw(st.sampled_from(["cluster-ip", "internal"])),
        "activeMigration": draw(st.booleans()),
        "privateNodes": draw(st.booleans()),
        # A bucket prefix needs a commit; a row without one recorded gets one stated here (any 40 hex).
        **({"modelRevision": "0123456789abcdef0123456789abcdef01234567"} if source == "bucket" and not m.revision else {}),
    }


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_config())
def test_valid_settings_always_render_valid_manifests(config):
    ev = evaluate(**config)
    objects = [render.redact(r.inputs, [], ev.computed) for r in ev.k8s_objects()]
    assert {o["kind"] for o in objects} >= {"ComputeClass", "Deployment", "Service", "Secret"}
    problems = [p for o in objects for p in validate.validate_object(o)]
    assert problems == []
    machine = catalog.machines()[config["machineType"]]
    container = server(ev).plain["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(machine.gpu_count)
