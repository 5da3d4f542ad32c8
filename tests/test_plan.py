"""`make plan`: the same program rendered to files, redacted, validated, summarised; exit statuses."""

import shutil
from pathlib import Path

import pytest
import yaml

from components.serving import inference_server
from conftest import ROOT
from planner import validate
from planner.__main__ import main

LEAKY_TOKEN = "hf_plaintextInStackFile42"


def plan(tmp_path, capsys, stack="dev", stack_dir=None):
    out = tmp_path / "out"
    argv = ["--stack", stack, "--out", str(out)] + (["--stack-dir", str(stack_dir)] if stack_dir else [])
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


def stack_dir_with(tmp_path, config: dict) -> Path:
    d = tmp_path / "stacks"
    d.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", d / "Pulumi.yaml")
    (d / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": config}))
    return d


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_renders_and_validates_each_stack(tmp_path, capsys, stack):
    code, out, err, files = plan(tmp_path, capsys, stack)
    assert code == 0, out + err
    kinds = sorted(yaml.safe_load(p.read_text())["kind"] for p in (files / "k8s").glob("*.yaml"))
    expected = ["ComputeClass", "ConfigMap", "Deployment", "Job", "Namespace", "NetworkPolicy", "NetworkPolicy", "PodMonitoring", "Secret", "Service",
                "ServiceAccount", "ServiceAccount"]
    if stack == "dev":
        assert kinds == sorted(expected)
    else:  # prod autoscales: a budget, the HPA and the metrics adapter's objects besides
        extra = ["PodDisruptionBudget", "HorizontalPodAutoscaler", "APIService", "ClusterRole", "ClusterRoleBinding"]
        assert set(kinds) >= set(expected + extra) and kinds.count("APIService") == 3
    assert (files / "gcp").glob("*-cluster-llm-gke.yaml")
    assert "Validation: " in out and "FAILED" not in out


def test_rendered_compute_class_is_the_tutorials(tmp_path, capsys):
    _, _, _, files = plan(tmp_path, capsys)
    cc = yaml.safe_load(next((files / "k8s").glob("*computeclass*.yaml")).read_text())
    assert [("spot" in p, "flexStart" in p) for p in cc["spec"]["priorities"]] == [(True, False), (False, True)]
    assert cc["spec"]["priorities"][1]["flexStart"]["nodeRecycling"]["leadTimeSeconds"] == 2700  # an int again (derived)


def test_summary_shows_ladder_prices_fit_and_endpoint(tmp_path, capsys):
    _, out, _, _ = plan(tmp_path, capsys, "prod")
    assert "1  spot        g2-standard-24" in out and "$0.80" in out and "$1.60" in out  # 2 replicas
    assert "assumption: on-demand less 53%" in out
    assert "GPU nodes boot from a 300 GB pd-balanced disk" in out  # bf16 Mixtral's file cache lives there
    assert "3  on-demand" in out and "$4.00" in out
    assert "weights 24.5 GB" in out and "MAX_INPUT_TOKENS 31744, MAX_TOTAL_TOKENS 32768" in out
    # TGI 3 chunks the prefill; bitsandbytes Mixtral's dense MoE runs its experts one after another
    assert ("warm-up prefill chunk 0.9 GB (MAX_BATCH_PREFILL_TOKENS 4096 per step, every expert per token, "
            "one at a time)") in out
    assert "Endpoint: http://llm-service.llm.svc.cluster.local:8080" in out


def test_price_override_replaces_the_assumption(tmp_path, capsys):
    d = stack_dir_with(tmp_path, {"gke-llm-serving:priceFlexStart": "1.10"})
    _, out, _, _ = plan(tmp_path, capsys, "t", d)
    assert "$1.10" in out and "assumption: on-demand less" not in out


def test_missing_token_is_a_warning_in_the_plan(tmp_path, capsys):
    code, out, _, _ = plan(tmp_path, capsys)
    assert code == 0
    assert "hfToken is not set" in out


def test_plaintext_token_in_a_stack_file_never_reaches_files_or_terminal(tmp_path, capsys):
    d = stack_dir_with(tmp_path, {"gke-llm-serving:hfToken": LEAKY_TOKEN, "gcp:project": "p1"})
    code, out, err, files = plan(tmp_path, capsys, "t", d)
    assert code == 0
    assert "hfToken is in plaintext" in out
    assert LEAKY_TOKEN not in out + err
    written = list(files.rglob("*.yaml"))
    assert len(written) > 10
    assert not any(LEAKY_TOKEN in p.read_text() for p in written)
    secret = yaml.safe_load(next((files / "k8s").glob("*secret*.yaml")).read_text())
    assert secret["stringData"] == {"hf_api_token": "[secret]"}


def test_secure_values_count_as_set_but_hidden(tmp_path, capsys):
    d = stack_dir_with(tmp_path, {"gke-llm-serving:hfToken": {"secure": "AAABAOpaque=="}, "gcp:project": "p1"})
    code, out, _, files = plan(tmp_path, capsys, "t", d)
    assert code == 0 and "hfToken is not set" not in out
    assert "AAABAOpaque" not in "".join(p.read_text() for p in files.rglob("*.yaml"))


def test_bad_configuration_exits_2_with_one_line(tmp_path, capsys):
    d = stack_dir_with(tmp_path, {"gke-llm-serving:replicas": "two"})
    code, out, err, _ = plan(tmp_path, capsys, "t", d)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert err.startswith("error: config replicas='two': not a whole number;")
    assert "Traceback" not in err + out


def test_unknown_stack_exits_2(tmp_path, capsys):
    code, _, err, _ = plan(tmp_path, capsys, "nope")
    assert code == 2 and "Pulumi.nope.yaml" in err


def test_a_broken_object_fails_validation_and_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(inference_server, "service_annotations", lambda exposure: {"pulumi.com/skipAwait": 1})
    code, out, _, _ = plan(tmp_path, capsys)
    assert code == 1
    assert "Service llm/llm-service: metadata.annotations.pulumi.com/skipAwait: 1 is not of type 'string'" in out


def test_strict_validation_rejects_unknown_fields_and_names_them():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"},
               "spec": {"ports": [{"port": 80}], "selectr": {"app": "x"}}}
    problems = validate.validate_object(service)
    assert problems and problems[0].startswith("Service n/s: spec:") and "selectr" in problems[0]


def test_nodeselector_on_the_deployment_spec_is_rejected_as_the_api_server_would():
    # The tutorial's defect: nodeSelector beside the pod template instead of inside it.
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "llm"},
                  "spec": {"selector": {"matchLabels": {"app": "llm"}}, "nodeSelector": {"a": "b"},
                           "template": {"metadata": {"labels": {"app": "llm"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    assert any("nodeSelector" in p for p in validate.validate_object(deployment))


def test_compute_class_with_spot_and_flex_start_in_one_priority_fails():
    cc = {"apiVersion": "cloud.google.com/v1", "kind": "ComputeClass", "metadata": {"name": "c"},
          "spec": {"priorities": [{"machineType": "g2-standard-24", "spot": True, "flexStart": {"enabled": True}}]}}
    assert validate.validate_object(cc) == ["ComputeClass c: spec.priorities[0]: spot: true and flexStart.enabled: true are rejected in the same priority"]


def test_warm_plan_reuses_the_result_until_an_input_or_a_file_changes(tmp_path, capsys, monkeypatch):
    from planner import harness as harness_module

    first = plan(tmp_path, capsys)
    calls = []
    monkeypatch.setattr(harness_module, "run", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError("evaluated")))
    assert plan(tmp_path, capsys)[:2] == first[:2]  # answered from the cache, same status and text
    assert calls == []
    deployment = next((first[3] / "k8s").glob("*deployment*.yaml"))
    deployment.write_text("edited")
    with pytest.raises(AssertionError, match="evaluated"):
        plan(tmp_path, capsys)  # a rendered file changed: evaluate again
