"""Property: every valid configuration renders manifests that pass the plan's validation."""

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import catalog
from conftest import evaluate
from planner import render, validate

TIERS = ["spot", "flex-start", "on-demand"]


@st.composite
def valid_config(draw):
    model = draw(st.sampled_from(sorted(catalog.models())))
    quantize = draw(st.sampled_from(sorted(catalog.quantizations())))
    m = catalog.models()[model]
    q = catalog.quantizations()[quantize]
    fitting = [x.name for x in catalog.machines_that_fit(m, q)]
    if not fitting:
        quantize, q = "bitsandbytes-nf4", catalog.quantizations()["bitsandbytes-nf4"]
        fitting = [x.name for x in catalog.machines_that_fit(m, q)]
    machine = draw(st.sampled_from(fitting))
    tiers = draw(st.permutations(TIERS).flatmap(lambda p: st.integers(1, 3).map(lambda n: p[:n])))
    if not catalog.machines()[machine].on_demand:
        tiers = [t for t in tiers if t != "on-demand"] or ["spot"]
    startup = draw(st.integers(5, 120))
    return {
        "model": model, "quantize": quantize, "machineType": machine, "capacity": list(tiers),
        "replicas": draw(st.integers(0, 5)),
        "startupTimeoutMinutes": startup,
        "flexStartLeadTimeSeconds": draw(st.integers(startup * 60 + 1, 604800)),
        "exposure": draw(st.sampled_from(["cluster-ip", "internal"])),
        "activeMigration": draw(st.booleans()),
        "privateNodes": draw(st.booleans()),
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
    container = ev.one("kubernetes:apps/v1:Deployment").plain["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(machine.gpu_count)
