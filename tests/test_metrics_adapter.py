"""The Custom Metrics Stackdriver Adapter: Google's objects as Pulumi resources, pinned, on the
system pool, reading Cloud Monitoring through a Workload Identity grant."""

import pulumi
import pulumi_gcp as gcp
import pytest
from pulumi.runtime.mocks import MockMonitor

from components.platform import identity
from components.operations.metrics_adapter import IMAGE, MetricsAdapter, MetricsAdapterArgs
from conftest import PROJECT, evaluate
from planner.harness import MOCK_PROJECT_NUMBER
from planner.render import redact
from planner.validate import validate_object

NS, SA = "custom-metrics", "custom-metrics-stackdriver-adapter"
MEMBER = (f"principal://iam.googleapis.com/projects/{MOCK_PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
          f"{PROJECT}.svc.id.goog/subject/ns/{NS}/sa/{SA}")


@pytest.fixture
def dependencies(monkeypatch) -> dict:
    """resource name -> names of the resources the engine is told it depends on (the mocks drop
    them, so record them on the way in)."""
    seen: dict = {}
    register = MockMonitor.RegisterResource

    def recording(self, request):
        seen[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        return register(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", recording)
    return seen


def run(**over):
    def program():
        a = MetricsAdapter("adapter", MetricsAdapterArgs(project=PROJECT, project_number=identity.project_number(PROJECT), **over))
        pulumi.export("member", a.member)
        return a

    return evaluate(program=program)


def objects(ev) -> dict:
    return {(r.inputs["kind"], r.plain["metadata"]["name"]): r.plain for r in ev.k8s_objects()}


def adapter_pod(ev) -> dict:
    return objects(ev)[("Deployment", SA)]["spec"]["template"]["spec"]


def test_creates_the_objects_of_googles_manifest():
    assert sorted(objects(run())) == sorted([
        ("Namespace", NS),
        ("ServiceAccount", SA),
        ("ClusterRoleBinding", "custom-metrics:system:auth-delegator"),
        ("RoleBinding", "custom-metrics-auth-reader"),
        ("ClusterRole", "custom-metrics-resource-reader"),
        ("ClusterRoleBinding", "custom-metrics-resource-reader"),
        ("Deployment", SA),
        ("Service", SA),
        ("APIService", "v1beta1.custom.metrics.k8s.io"),
        ("APIService", "v1beta2.custom.metrics.k8s.io"),
        ("APIService", "v1beta1.external.metrics.k8s.io"),
        ("ClusterRole", "external-metrics-reader"),
        ("ClusterRoleBinding", "external-metrics-reader"),
        ("NetworkPolicy", "custom-metrics-stackdriver-adapter-ingress"),
    ])


def test_every_rendered_object_passes_strict_validation():
    ev = run()
    for r in ev.k8s_objects():
        assert validate_object(redact(r.inputs, [], ev.computed)) == [], r.name


def test_image_is_pinned_to_the_newest_release():
    container = adapter_pod(run())["containers"][0]
    assert IMAGE == "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.9-gke.0"
    assert container["image"] == IMAGE
    assert container["command"] == ["/adapter", "--use-new-resource-model=true", "--fallback-for-container-metrics=true"]


def test_adapter_runs_on_the_cpu_system_pool_and_never_on_gpu_nodes():
    pod = adapter_pod(run())
    assert pod["nodeSelector"] == {"llm-serving/role": "system"}
    assert "tolerations" not in pod  # GPU nodes are tainted nvidia.com/gpu; without a toleration it stays off them
    assert pod["serviceAccountName"] == SA


def test_adapter_container_is_sized_probed_and_not_privileged():
    container = adapter_pod(run())["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "200Mi"}, "limits": {"cpu": "250m", "memory": "200Mi"}}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 443, "scheme": "HTTPS"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["NET_RAW"]}}
    assert adapter_pod(run())["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}


def test_network_policy_admits_only_the_adapters_api_port():
    ev = run()
    policy = objects(ev)[("NetworkPolicy", f"{SA}-ingress")]
    pod_labels = objects(ev)[("Deployment", SA)]["spec"]["template"]["metadata"]["labels"]
    assert policy["metadata"]["namespace"] == NS
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 443, "protocol": "TCP"}]}]


def test_service_selects_the_adapter_pod_on_443():
    ev = run()
    service = objects(ev)[("Service", SA)]
    pod_labels = objects(ev)[("Deployment", SA)]["spec"]["template"]["metadata"]["labels"]
    assert service["metadata"]["namespace"] == NS
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"port": 443, "targetPort": 443, "protocol": "TCP"}]


def test_api_services_point_at_the_adapter_and_wait_until_available():
    apis = {name: obj for (kind, name), obj in objects(run()).items() if kind == "APIService"}
    assert {n: (o["spec"]["group"], o["spec"]["version"], o["spec"]["versionPriority"]) for n, o in apis.items()} == {
        "v1beta1.custom.metrics.k8s.io": ("custom.metrics.k8s.io", "v1beta1", 100),
        "v1beta2.custom.metrics.k8s.io": ("custom.metrics.k8s.io", "v1beta2", 200),
        "v1beta1.external.metrics.k8s.io": ("external.metrics.k8s.io", "v1beta1", 100),
    }
    for api in apis.values():
        assert api["spec"]["service"] == {"name": SA, "namespace": NS}
        assert api["spec"]["groupPriorityMinimum"] == 100 and api["spec"]["insecureSkipTLSVerify"] is True
        assert api["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Available"


def test_api_services_are_created_after_the_service_and_the_service_after_the_adapter(dependencies):
    run()
    service = "adapter-service"
    for api in ("adapter-v1beta1-custom", "adapter-v1beta2-custom", "adapter-v1beta1-external"):
        assert service in dependencies[api]
    assert "adapter-deployment" in dependencies[service]
    assert "adapter-sa" in dependencies["adapter-deployment"]


def test_rbac_binds_the_adapter_and_the_hpa_controller():
    objs = objects(run())
    adapter = [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]
    assert objs[("ClusterRoleBinding", "custom-metrics:system:auth-delegator")]["roleRef"]["name"] == "system:auth-delegator"
    assert objs[("ClusterRoleBinding", "custom-metrics:system:auth-delegator")]["subjects"] == adapter
    reader = objs[("RoleBinding", "custom-metrics-auth-reader")]
    assert reader["metadata"]["namespace"] == "kube-system" and reader["subjects"] == adapter
    assert reader["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "extension-apiserver-authentication-reader"}
    assert objs[("ClusterRole", "custom-metrics-resource-reader")]["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "nodes", "nodes/stats"], "verbs": ["get", "list", "watch"]}]
    assert objs[("ClusterRoleBinding", "custom-metrics-resource-reader")]["subjects"] == adapter
    assert objs[("ClusterRoleBinding", "external-metrics-reader")]["subjects"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}]


def test_monitoring_viewer_is_granted_to_the_adapters_kubernetes_service_account():
    ev = run()
    grant = ev.one("gcp:projects/iAMMember:IAMMember").plain
    assert grant == {"project": PROJECT, "role": "roles/monitoring.viewer", "member": MEMBER}
    assert ev.outputs["member"] == MEMBER


def test_grant_waits_for_the_cluster_that_creates_the_identity_pool(dependencies):
    def program():
        cluster = gcp.serviceaccount.Account("stand-in-cluster", account_id="stand-in")
        MetricsAdapter("adapter", MetricsAdapterArgs(project=PROJECT, project_number="1", depends_on_cluster=cluster))

    evaluate(program=program)
    assert "stand-in-cluster" in dependencies["adapter-monitoring-viewer"]
