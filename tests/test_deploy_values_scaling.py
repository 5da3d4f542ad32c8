"""Values a real deploy depends on in the autoscaler, its settings and the metrics adapter, pinned
as literals: each was a surviving mutant of `make mutants` (or a module constant, which mutmut
does not mutate), a one-token slip no other test noticed. See tests/MUTANTS.md."""

import re

import pulumi
import pytest

from components.platform import identity
from components.operations.autoscaling import AutoscalingArgs, InvalidAutoscaling, ServerAutoscaling
from components.operations.metrics_adapter import MetricsAdapter, MetricsAdapterArgs
from components.serving.engines.tgi import METRICS as TGI_METRICS
from conftest import PROJECT, evaluate, server
from planner import harness
from settings.reader import ConfigError

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"


def args(**over) -> AutoscalingArgs:
    values = dict(namespace="llm", deployment_name="llm", selector={"app": "llm"}, metrics=TGI_METRICS,
                  min_replicas=1, max_replicas=3, target_queue_size=4, scale_down_stabilization_seconds=1800)
    values.update(over)
    return AutoscalingArgs(**values)


def component(a: AutoscalingArgs):
    return evaluate(program=lambda: ServerAutoscaling("autoscaling", a))


def rejected(a: AutoscalingArgs) -> str:
    """The component's error for these arguments ("" when it accepts them)."""
    seen = []

    def program():
        try:
            ServerAutoscaling("autoscaling", a)
        except InvalidAutoscaling as e:
            seen.append(str(e))

    evaluate(program=program)
    return seen[0] if seen else ""


# --- settings: what `autoscaling` in the stack config turns into ------------------------------------

def test_default_queue_target_is_four_waiting_requests_per_replica():
    # Google's LLM autoscaling guidance: start the queue target at 3-5. A different default changes
    # when every stack without targetQueueSize adds a GPU replica.
    hpa = evaluate(autoscaling={"maxReplicas": 3}).one(HPA).plain["spec"]
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "4"


def test_min_replicas_defaults_to_one():
    # One warm replica, never zero: a scaled-to-zero server exports no queue metric to scale up on.
    assert evaluate(autoscaling={"maxReplicas": 3}).one(HPA).plain["spec"]["minReplicas"] == 1


def test_the_fixed_count_stacks_dashboard_and_alert_use_the_default_target_too():
    # Without autoscaling the queue chart's threshold and the saturation alert still compare with 4.
    ev = evaluate(replicas=1)
    policy = next(p.plain for p in ev.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
                  if p.plain["displayName"].endswith("queue above target at maxReplicas"))
    assert "> 4) and on()" in policy["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]


def test_a_fractional_queue_target_from_config_reaches_the_hpa_in_milli_units():
    hpa = evaluate(autoscaling={"maxReplicas": 3, "targetQueueSize": 0.5}).one(HPA).plain["spec"]
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "500m"


@pytest.mark.parametrize("target", ["Infinity", "NaN"])
def test_a_queue_target_that_is_not_finite_is_refused(target):
    # json.loads accepts Infinity and NaN; an HPA target of either would never (or always) scale.
    with pytest.raises(ConfigError, match="targetQueueSize must be a positive number"):
        evaluate(autoscaling=f'{{"maxReplicas": 3, "targetQueueSize": {target}}}')


@pytest.mark.parametrize("value", ['true', '1.5', '0', '"2"'])
def test_replica_counts_must_be_whole_numbers_of_one_or_more(value):
    with pytest.raises(ConfigError, match="minReplicas must be a whole number of replicas, 1 or more"):
        evaluate(autoscaling=f'{{"minReplicas": {value}, "maxReplicas": 3}}')


def test_a_whole_float_replica_count_is_accepted():
    assert evaluate(autoscaling={"minReplicas": 2.0, "maxReplicas": 3}).one(HPA).plain["spec"]["minReplicas"] == 2


def test_max_replicas_is_required():
    with pytest.raises(ConfigError, match="maxReplicas must be a whole number"):
        evaluate(autoscaling={"minReplicas": 1})


def test_equal_min_and_max_is_a_fixed_count_not_an_error():
    ev = evaluate(autoscaling={"minReplicas": 2, "maxReplicas": 2})
    assert not ev.of_type(HPA) and server(ev).plain["spec"]["replicas"] == 2


def test_quota_boundary_counts_one_spare_node():
    # dev: g2-standard-24, 2 L4 per replica. maxReplicas 7 needs (7 + 1) x 2 = 16 GPUs: exactly the
    # default gpuQuota of 16 passes; 8 replicas (18 GPUs) does not, and the fix names 7.
    assert evaluate(autoscaling={"maxReplicas": 7}).one(HPA).plain["spec"]["maxReplicas"] == 7
    with pytest.raises(ConfigError, match=re.escape("use maxReplicas 7 or less")):
        evaluate(autoscaling={"maxReplicas": 8})


def test_a_quota_below_one_replica_suggests_one():
    with pytest.raises(ConfigError, match=re.escape("use maxReplicas 1 or less")):
        evaluate(autoscaling={"maxReplicas": 2}, gpuQuota=2)


def test_not_an_object_is_refused_with_the_example():
    with pytest.raises(ConfigError, match=re.escape('{"minReplicas": 1, "maxReplicas": 3, "targetQueueSize": 4}')):
        evaluate(autoscaling="[1, 3]")


FIX = 'give {"minReplicas": 1, "maxReplicas": 3, "targetQueueSize": 4}'


def config_error(autoscaling, **config) -> str:
    with pytest.raises(ConfigError) as raised:
        evaluate(autoscaling=autoscaling, **config)
    return str(raised.value)


# The whole message, as `make plan` prints it in one line: the key, the value as given, the problem
# and a fix that works. A slip in any part leaves the user without the way out.
@pytest.mark.parametrize("given, message", [
    ('{"minReplicas": 0, "maxReplicas": 3}',
     'config autoscaling={"minReplicas": 0, "maxReplicas": 3}: minReplicas must be a whole number of replicas, '
     f'1 or more; {FIX}'),
    ("[1, 3]", f"config autoscaling='[1, 3]': not an object; {FIX}"),
    ("{not json", f"config autoscaling='{{not json': not an object; {FIX}"),
    ('{"maxReplicas": 2, "minReplica": 1}',
     'config autoscaling={"maxReplicas": 2, "minReplica": 1}: unknown field \'minReplica\'; '
     "did you mean minReplicas? (fields: minReplicas, maxReplicas, targetQueueSize)"),
    ('{"minReplicas": 3, "maxReplicas": 2}',
     'config autoscaling={"minReplicas": 3, "maxReplicas": 2}: minReplicas 3 is above maxReplicas 2; '
     "make minReplicas <= maxReplicas"),
    ('{"maxReplicas": 3, "targetQueueSize": 0}',
     'config autoscaling={"maxReplicas": 3, "targetQueueSize": 0}: targetQueueSize must be a positive number of '
     "waiting requests per replica; use e.g. 4 (Google suggests starting at 3-5)"),
    ('{"maxReplicas": 8}',
     'config autoscaling={"maxReplicas": 8}: maxReplicas 8 needs up to 18 NVIDIA L4 GPUs (2 per replica plus a '
     "spare node), above gpuQuota 16; use maxReplicas 7 or less, or raise the project's preemptible GPU quota "
     "and gpuQuota"),
])
def test_bad_autoscaling_config_names_the_key_the_value_and_the_fix(given, message):
    assert config_error(given) == message


def test_a_boolean_queue_target_is_refused():
    # JSON true is a Python int (1): taken as a target it would silently mean one waiting request.
    assert "targetQueueSize must be a positive number" in config_error('{"maxReplicas": 3, "targetQueueSize": true}')


# --- the autoscaler as the program renders it ------------------------------------------------------

def test_scale_down_takes_the_highest_recommendation_and_one_pod_per_five_minutes():
    # Max over the window: a replica goes only after the queue stayed low the whole window. 300 s per
    # pod: a mistaken scale-down costs one replica's cold start, not several.
    down = evaluate(autoscaling={"maxReplicas": 3}).one(HPA).plain["spec"]["behavior"]["scaleDown"]
    assert down["selectPolicy"] == "Max"
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]


def test_disruption_budget_under_autoscaling_lets_one_replica_go_at_a_time():
    # Autoscaled from 1: the Deployment may grow to 3, so node drains must take one pod at a time.
    pdb = evaluate(autoscaling={"minReplicas": 1, "maxReplicas": 3}).one(PDB).plain
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "llm"}}}


def test_hpa_and_pod_monitoring_carry_the_projects_part_of_label():
    ev = component(args())
    for type_ in (HPA, POD_MONITORING):
        assert ev.one(type_).plain["metadata"]["labels"] == {"app.kubernetes.io/part-of": "gke-llm-serving"}


def test_a_given_name_names_the_hpa_and_the_pod_monitoring():
    ev = component(args(name="chat"))
    assert ev.one(HPA).plain["metadata"]["name"] == "chat"
    assert ev.one(POD_MONITORING).plain["metadata"]["name"] == "chat-metrics"
    # The HPA still scales the Deployment, whatever the objects are called.
    assert ev.one(HPA).plain["spec"]["scaleTargetRef"]["name"] == "llm"


def test_hpa_is_created_after_the_pod_monitoring_that_feeds_it():
    ev = component(args())
    assert any("autoscaling-podmonitoring" in d for d in ev.one(HPA).opts.depends_on)


@pytest.mark.parametrize("over", [
    dict(scale_down_stabilization_seconds=0), dict(scale_down_stabilization_seconds=3600),
    dict(scale_down_period_seconds=1), dict(scale_down_period_seconds=1800),
    dict(min_replicas=1, max_replicas=1), dict(target_queue_size=0.001),
])
def test_kubernetes_limits_are_inclusive(over):
    # The API server accepts 0-3600 s windows and 1-1800 s periods (autoscaling validation.go).
    assert rejected(args(**over)) == ""


@pytest.mark.parametrize("over, message", [
    (dict(scale_down_stabilization_seconds=-1), "scale_down_stabilization_seconds -1: must be 0-3600"),
    (dict(scale_down_period_seconds=0), "scale_down_period_seconds 0: must be 1-1800"),
    (dict(min_replicas=2, max_replicas=1), "max_replicas 1: must be >= min_replicas 2"),
])
def test_just_past_the_limits_is_refused(over, message):
    assert message in rejected(args(**over))


@pytest.mark.parametrize("over, message", [
    (dict(min_replicas=0), "min_replicas 0: must be at least 1 (with no pod there is no queue metric to scale up on)"),
    (dict(min_replicas=2, max_replicas=1), "max_replicas 1: must be >= min_replicas 2"),
    (dict(target_queue_size=0), "target_queue_size 0: must be > 0 (waiting requests per pod)"),
    (dict(scale_down_stabilization_seconds=3601),
     "scale_down_stabilization_seconds 3601: must be 0-3600 (the Kubernetes maximum)"),
    (dict(scale_down_period_seconds=1801), "scale_down_period_seconds 1801: must be 1-1800"),
    (dict(selector={}), "selector: must name the pods' labels (an empty selector would scrape every pod in the namespace); "
                        "PodMonitoring spec.selector.matchLabels: required, a non-empty map (an empty selector scrapes every pod)"),
])
def test_each_bad_argument_has_one_whole_message(over, message):
    # What the plan prints: the argument, its value, and the range that works.
    assert rejected(args(**over)) == "autoscaling: " + message


def test_a_scrape_interval_that_is_no_duration_is_named():
    assert "scrape_interval '15': must be a Prometheus duration such as 15s" in rejected(args(scrape_interval="15"))


def test_every_problem_is_reported_at_once():
    message = rejected(args(min_replicas=0, target_queue_size=0))
    assert message.startswith("autoscaling: min_replicas 0: must be at least 1")
    assert "; target_queue_size 0: must be > 0" in message


# --- Workload Identity ------------------------------------------------------------------------------

def test_project_number_is_looked_up_for_the_stacks_project(monkeypatch):
    # The principal must name the number of the project the cluster is in; looking up the provider's
    # default project instead would grant the role in (and to a pool of) another project.
    asked = []
    call = harness._Recorder.call

    def recording(self, a):
        asked.append((a.token, dict(a.args)))
        return call(self, a)

    monkeypatch.setattr(harness._Recorder, "call", recording)

    def program():
        pulumi.export("number", identity.project_number("other-project"))

    assert evaluate(program=program).outputs["number"] == harness.MOCK_PROJECT_NUMBER
    assert asked == [("gcp:organizations/getProject:getProject", {"projectId": "other-project"})]


def test_principal_is_the_workload_identity_federation_form():
    assert identity.principal("123", PROJECT, "llm", "server") == (
        "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
        f"{PROJECT}.svc.id.goog/subject/ns/llm/sa/server")


# --- the Custom Metrics Stackdriver Adapter ----------------------------------------------------------

ADAPTER = "custom-metrics-stackdriver-adapter"


def adapter_on_a_cluster():
    """The adapter as the program creates it: on the cluster's own Kubernetes provider."""
    import pulumi_kubernetes as k8s

    def program():
        cluster = k8s.Provider("the-cluster", kubeconfig="{}")
        MetricsAdapter("adapter", MetricsAdapterArgs(project=PROJECT, project_number="1"),
                       opts=pulumi.ResourceOptions(providers=[cluster]))

    return evaluate(program=program)


def test_every_adapter_object_goes_to_the_clusters_provider():
    # Without it the objects would go to whatever cluster the ambient kubeconfig points at.
    ev = adapter_on_a_cluster()
    k8s_objects = [r for r in ev.resources if r.custom and r.type.startswith("kubernetes:")]
    assert len(k8s_objects) == 14
    assert all("::the-cluster::" in (r.provider or "") for r in k8s_objects), [r.name for r in k8s_objects]


def test_adapter_component_type_keeps_its_urns():
    # The type is part of every child's URN: a changed type replaces the adapter, its Service and
    # the three APIServices on the next `pulumi up` (metrics unavailable to every HPA meanwhile).
    ev = adapter_on_a_cluster()
    [component] = [r for r in ev.resources if r.name == "adapter"]
    assert component.type == "llmserving:k8s:MetricsAdapter"


def test_adapter_pods_carry_googles_selector_labels():
    # A Deployment's selector cannot change in place: labels other than Google's manifest's would
    # make the next update of an adapter installed from it fail.
    ev = adapter_on_a_cluster()
    deployment = next(r.plain for r in ev.of_type("kubernetes:apps/v1:Deployment"))
    assert deployment["spec"]["selector"]["matchLabels"] == {"run": ADAPTER, "k8s-app": ADAPTER}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {
        "run": ADAPTER, "k8s-app": ADAPTER, "kubernetes.io/cluster-service": "true"}


def test_adapter_role_bindings_refer_to_cluster_roles_of_the_rbac_group():
    ev = adapter_on_a_cluster()
    refs = {r.plain["metadata"]["name"]: r.plain["roleRef"] for r in ev.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")}
    group = "rbac.authorization.k8s.io"
    assert refs == {
        "custom-metrics:system:auth-delegator": {"apiGroup": group, "kind": "ClusterRole", "name": "system:auth-delegator"},
        "custom-metrics-resource-reader": {"apiGroup": group, "kind": "ClusterRole", "name": "custom-metrics-resource-reader"},
        "external-metrics-reader": {"apiGroup": group, "kind": "ClusterRole", "name": "external-metrics-reader"},
    }


def test_adapter_objects_in_its_namespace_wait_for_the_namespace():
    # On a first deploy a ServiceAccount or binding sent before its Namespace exists is refused.
    ev = adapter_on_a_cluster()
    rbac = "kubernetes:rbac.authorization.k8s.io/v1:"
    for type_, name in (("kubernetes:core/v1:ServiceAccount", "adapter-sa"),
                        (rbac + "ClusterRoleBinding", "adapter-auth-delegator"),
                        (rbac + "RoleBinding", "adapter-auth-reader"),
                        (rbac + "ClusterRoleBinding", "adapter-resource-reader"),
                        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "adapter-ingress")):
        [r] = [x for x in ev.of_type(type_) if x.name == name]
        assert "kubernetes:core/v1:Namespace::adapter-ns" in r.opts.depends_on, (name, r.opts.depends_on)


def test_adapter_runs_one_replica_in_its_own_namespace():
    # The Service, the APIServices and the Workload Identity grant all name custom-metrics: an
    # adapter Deployment anywhere else leaves the Service without endpoints and every HPA blind.
    # One replica, as Google ships it (HPAs keep their count while it restarts).
    deployment = next(r.plain for r in adapter_on_a_cluster().of_type("kubernetes:apps/v1:Deployment"))
    assert deployment["metadata"] == {"name": ADAPTER, "namespace": "custom-metrics",
                                      "labels": {"run": ADAPTER, "k8s-app": ADAPTER}}
    assert deployment["spec"]["replicas"] == 1


def test_the_autoscaler_goes_to_the_clusters_provider_under_its_own_type():
    # Its objects must reach the cluster the program made, not the ambient kubeconfig's; and the
    # component type is part of the HPA's and PodMonitoring's URNs: a changed type replaces them.
    import pulumi_kubernetes as k8s

    def program():
        cluster = k8s.Provider("the-cluster", kubeconfig="{}")
        ServerAutoscaling("autoscaling", args(), opts=pulumi.ResourceOptions(providers=[cluster]))

    ev = evaluate(program=program)
    objects = [r for r in ev.resources if r.custom and r.type.startswith("kubernetes:")]
    assert sorted(r.type for r in objects) == [HPA, POD_MONITORING]
    assert all("::the-cluster::" in (r.provider or "") for r in objects)
    [component] = [r for r in ev.resources if r.name == "autoscaling"]
    assert component.type == "llmserving:k8s:ServerAutoscaling"


def test_the_adapters_iam_grant_is_a_child_of_the_adapter(monkeypatch):
    # The parent is part of the grant's URN. A grant that moves (re-parented) is replaced: the new
    # binding is created (already there), then the old one deleted, which removes the role the
    # adapter reads Cloud Monitoring with, and every HPA loses its metric.
    from pulumi.runtime.mocks import MockMonitor

    parents = {}
    register = MockMonitor.RegisterResource

    def recording(self, request):
        parents[request.name] = request.parent
        return register(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", recording)
    adapter_on_a_cluster()
    assert parents["adapter-monitoring-viewer"].endswith("llmserving:k8s:MetricsAdapter::adapter")
