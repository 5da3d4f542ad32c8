"""The whole program per stack: exports, and the token kept secret end to end."""

import json

import pulumi
import pytest

from conftest import TOKEN, evaluate
from planner import harness


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_exports(stack):
    ev = evaluate(stack)
    assert set(ev.outputs) >= {"endpoint", "computeClassName", "clusterName", "kubeconfig", "queryCommand"}
    assert ev.outputs["endpoint"] == "http://llm-service.llm.svc.cluster.local:8080"
    assert ev.outputs["computeClassName"] == "dws-model-inference-class"
    assert ev.outputs["clusterName"] == f"llm-serving-{stack}"
    assert ev.secret_outputs == {"kubeconfig"}


def test_query_command_port_forwards_and_posts_to_completions_with_the_model():
    command = evaluate().outputs["queryCommand"]
    assert "gcloud container clusters get-credentials llm-serving-dev --location us-central1 --project test-project" in command
    assert "kubectl -n llm port-forward service/llm-service 8080:8080" in command
    assert "curl -s http://localhost:8080/v1/completions" in command
    body = json.loads(command.rsplit("-d ", 1)[1].strip("'"))
    assert body["model"] == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    assert body["prompt"].startswith("[INST]") and body["prompt"].endswith("[/INST]")


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    else:
        yield str(value)


@pytest.mark.parametrize("stack, extra", [("dev", {}), ("prod", {}), ("dev", {"exposure": "public", "apiKey": "key-9d8e7f-0123456789ab"})])
def test_token_appears_only_in_the_secret_and_only_as_a_pulumi_secret(stack, extra):
    ev = evaluate(stack, **extra)
    holders = [r for r in ev.resources if any(TOKEN in s for s in _strings(r.plain))]
    assert [(r.type, r.name) for r in holders] == [("kubernetes:core/v1:Secret", "model-secret")]
    string_data = holders[0].inputs["stringData"]
    assert harness.is_secret_wrapper(string_data)
    assert not any(TOKEN in s for s in _strings(ev.outputs))
    assert not any(TOKEN in w for w in ev.warnings)
    for r in ev.resources:  # outside the Secret not even a wrapped copy
        if r.type != "kubernetes:core/v1:Secret":
            assert not any(TOKEN in s for s in _strings(r.inputs))


def test_missing_token_fails_with_pulumis_config_error():
    with pytest.raises(pulumi.ConfigMissingError) as error:
        evaluate(hfToken=None)
    assert "gke-llm-serving:hfToken" in str(error.value)
    assert "pulumi config set --secret" in str(error.value)


def test_missing_project_fails_with_pulumis_config_error():
    with pytest.raises(pulumi.ConfigMissingError, match="gcp:project"):
        evaluate(**{"gcp:project": None})
