"""Surviving Spot reclaims and flex-start expiry, on both stacks."""

import pytest

from conftest import server, container, evaluate, pod_spec


def pdbs(ev):
    return ev.of_type("kubernetes:policy/v1:PodDisruptionBudget")


def test_prod_stack_runs_two_to_four_replicas_on_three_tiers_with_protection():
    ev = evaluate("prod")
    assert "replicas" not in server(ev).plain["spec"]  # the HPA owns the count
    hpa = ev.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").plain["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    priorities = ev.one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"]
    assert [("spot" if p.get("spot") else "flex-start" if "flexStart" in p else "on-demand") for p in priorities] == ["spot", "flex-start", "on-demand"]
    assert ev.one("gcp:container/cluster:Cluster").plain["deletionProtection"] is True


@pytest.mark.parametrize("stack, expected", [("dev", 0), ("prod", 1)])
def test_disruption_budget_only_with_two_or_more_replicas(stack, expected):
    ev = evaluate(stack)
    assert len(pdbs(ev)) == expected
    if expected:
        spec = pdbs(ev)[0].plain["spec"]
        assert spec == {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "llm"}}}


def test_replicas_must_be_on_different_nodes_and_prefer_other_zones_and_tiers():
    anti = pod_spec(evaluate("prod"))["affinity"]["podAntiAffinity"]
    required = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [t["topologyKey"] for t in required] == ["kubernetes.io/hostname"]
    preferred = {t["podAffinityTerm"]["topologyKey"]: t["weight"] for t in anti["preferredDuringSchedulingIgnoredDuringExecution"]}
    assert preferred == {"topology.kubernetes.io/zone": 100, "cloud.google.com/gke-spot": 50}
    assert all(t["labelSelector"] == {"matchLabels": {"app": "llm"}} for t in required)


def test_single_replica_has_no_anti_affinity():
    assert "affinity" not in pod_spec(evaluate("dev"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_startup_budget_covers_the_cold_start_estimate_and_nothing_kills_a_loading_pod(stack):
    ev = evaluate(stack)
    c = container(ev)
    budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    s = ev.result["s"]
    after_node = sum(step.seconds for step in s.cold_start[1:])  # all but the node's boot
    assert budget >= 2 * after_node and budget == s.startup_seconds
    assert "livenessProbe" not in c
    deployment = server(ev).plain
    assert deployment["spec"]["progressDeadlineSeconds"] >= budget
    assert int(deployment["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) >= budget


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_flex_start_lead_time_exceeds_startup_budget(stack):
    ev = evaluate(stack)
    c = container(ev)
    budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    flex = [p for p in ev.one("kubernetes:cloud.google.com/v1:ComputeClass").plain["spec"]["priorities"] if "flexStart" in p]
    assert flex and all(p["flexStart"]["nodeRecycling"]["leadTimeSeconds"] > budget for p in flex)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_shutdown_pause_and_grace_fit_spot_notice(stack):
    ev = evaluate(stack)
    assert pod_spec(ev)["terminationGracePeriodSeconds"] == 15
    assert container(ev)["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    engine = ev.result["s"].engine
    # GKE gives non-system pods 15 s of a Spot VM's 30 s notice: pause and drain end inside it.
    assert engine.prestop_seconds + engine.drain_seconds < engine.grace_seconds == 15


@pytest.mark.parametrize("stack, strategy", [
    ("dev", {"type": "Recreate"}),
    ("prod", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
])
def test_rollouts_never_need_extra_gpus(stack, strategy):
    assert server(evaluate(stack)).plain["spec"]["strategy"] == strategy


def test_lead_time_not_above_startup_budget_is_refused_only_when_flex_start_is_used():
    evaluate(capacity=["spot", "on-demand"], flexStartLeadTimeSeconds=600)  # no flex-start: fine
    with pytest.raises(Exception, match="flexStartLeadTimeSeconds"):
        evaluate(flexStartLeadTimeSeconds=600)
