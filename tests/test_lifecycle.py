"""What a real `pulumi up`, a second `up`, a token rotation and `pulumi destroy` do, beyond what the
mocks accept: awaits, ForceNew fields, replacement order, protection and dependencies. Each test
fails if the fix it stands for is undone (issue: survive the first real `pulumi up`)."""

import pytest

from components.serving import inference_server as srv
from components.platform.cluster import CLUSTER_IGNORED_FIELDS
from conftest import server, TOKEN, env_of, evaluate, secret_name

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CLUSTER = "gcp:container/cluster:Cluster"


@pytest.mark.parametrize("config", [{}, {"exposure": "internal"}, {"exposure": "public", "apiKey": "k" * 24}, {"replicas": 0}],
                         ids=["cluster-ip", "internal", "public", "replicas-0"])
def test_service_is_not_awaited_so_a_loading_model_cannot_time_out_pulumi_up(config):
    # pulumi-kubernetes waits up to 10 min for ready endpoints (and a load-balancer address); the
    # pods need GPU provisioning and a cold start first, and with replicas 0 there are none at all.
    service = evaluate(**config).one(SERVICE).plain
    assert service["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


def test_second_up_does_not_replace_the_cluster_over_the_removed_default_pool():
    # node_config describes only the default pool, which is removed; GKE reads it back empty and the
    # field is ForceNew, so without ignore_changes the next `up` plans a delete-and-recreate.
    cluster = evaluate().one(CLUSTER)
    assert cluster.plain["removeDefaultNodePool"] is True
    assert "nodeConfig" in cluster.plain  # still sent on create: the first node runs as our account
    assert "nodeConfig" in cluster.opts.ignore_changes
    assert set(CLUSTER_IGNORED_FIELDS) <= set(cluster.opts.ignore_changes)


def test_kubernetes_provider_never_drops_objects_it_cannot_reach():
    provider = evaluate("prod").one("pulumi:providers:kubernetes")
    assert "deleteUnreachable" not in provider.plain


def test_deployment_depends_on_the_compute_class_resource_and_the_secret():
    deployment = evaluate().one(DEPLOYMENT)
    assert "kubernetes:cloud.google.com/v1:ComputeClass::gpu-class" in deployment.opts.depends_on
    assert "kubernetes:core/v1:Secret::model-secret" in deployment.opts.depends_on


@pytest.mark.parametrize("replicas, waves", [(1, 1), (2, 2), (4, 4), (0, 1)])
def test_pulumi_waits_for_every_replica_of_a_one_at_a_time_rollout(replicas, waves):
    ev = evaluate(replicas=replicas)
    deployment = server(ev).plain
    budget = ev.result["s"].replica_budget_seconds
    assert budget == ev.result["s"].startup_seconds + 20 * 60  # cold-start budget + node provisioning
    assert int(deployment["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) == waves * budget
    # Kubernetes' own deadline restarts with each ready pod: one replica's budget.
    assert deployment["spec"]["progressDeadlineSeconds"] == budget


def test_rotated_token_goes_to_a_new_secret_created_before_the_old_one_is_deleted():
    first, same, rotated = (evaluate(weightSource="hub"), evaluate(weightSource="hub"),
                            evaluate(weightSource="hub", hfToken="hf_rotatedTokenValue0001"))
    secret = first.one("kubernetes:core/v1:Secret")
    # Auto-named: the provider replaces an immutable Secret create-first, under a new name.
    assert "name" not in secret.plain["metadata"]
    assert secret.opts.delete_before_replace is not True
    # The pods refer to the Secret by that name: a new name is a new pod template, so pods roll.
    assert env_of(first)["HF_TOKEN"] == env_of(same)["HF_TOKEN"]
    assert env_of(rotated)["HF_TOKEN"]["secretKeyRef"]["name"] == secret_name(rotated) != secret_name(first)
    template = server(first).plain["spec"]["template"]
    assert TOKEN not in str(template)


def test_prod_cluster_is_protected_in_pulumi_as_well_as_in_gke():
    prod, dev = evaluate("prod").one(CLUSTER), evaluate("dev").one(CLUSTER)
    assert prod.plain["deletionProtection"] is True and prod.opts.protect is True
    assert dev.plain["deletionProtection"] is False and dev.opts.protect is False


class _Ingress:
    def __init__(self, ip=None, hostname=None):
        self.ip, self.hostname = ip, hostname


class _Status:
    def __init__(self, ingress):
        self.load_balancer = type("LB", (), {"ingress": ingress})()


@pytest.mark.parametrize("status", [None, _Status(None), _Status([]), _Status([_Ingress()])],
                         ids=["no-status", "no-ingress", "empty-ingress", "ingress-without-address"])
def test_load_balancer_endpoint_says_pending_instead_of_raising(status):
    assert srv.load_balancer_url(status, 8080).startswith("pending: the load balancer has no address yet")


def test_load_balancer_endpoint_takes_the_ip_or_the_hostname():
    assert srv.load_balancer_url(_Status([_Ingress(ip="10.1.2.3")]), 8080) == "http://10.1.2.3:8080"
    assert srv.load_balancer_url(_Status([_Ingress(hostname="lb.example")]), 8000) == "http://lb.example:8000"


def test_nodes_get_gkes_node_role_and_image_pulls_only():
    roles = sorted(m.plain["role"] for m in evaluate().of_type("gcp:projects/iAMMember:IAMMember"))
    # Image pulls are granted per mirror repository (tests/test_image_streaming.py), not project-wide;
    # serviceUsageConsumer lets the node's own account call the Container File System API.
    assert roles == ["roles/container.defaultNodeServiceAccount", "roles/serviceusage.serviceUsageConsumer"]


def test_default_tgi_image_is_at_least_2_4_so_public_exposure_is_allowed():
    from components.serving.engines import tgi
    assert tgi.version_of(tgi.DEFAULT_IMAGE) >= (2, 4)  # /invocations behind API_KEY; entrypoint execs
    assert tgi.version_of("us-docker.pkg.dev/x/huggingface-text-generation-inference-cu124.2-3.ubuntu2204.py311") == (2, 3)
    ev = evaluate(exposure="public", apiKey="k" * 24)
    assert ev.one(SERVICE).plain["spec"]["type"] == "LoadBalancer"


def test_switching_engine_keeps_every_resource_name_so_objects_are_updated_not_recreated():
    # Same Kubernetes names (llm, llm-service, ...) under a new Pulumi name would be created before
    # the old objects are deleted, and collide.
    def names(ev):
        return sorted((r.type, r.name) for r in ev.resources if r.type.startswith("kubernetes:") and r.custom)
    tgi = evaluate(model="casperhansen/mixtral-instruct-awq")
    vllm = evaluate(engine="vllm", model="casperhansen/mixtral-instruct-awq")
    assert names(tgi) == names(vllm)


def test_endpoint_output_says_pending_while_the_load_balancer_has_no_address(monkeypatch):
    from planner import harness
    plain_new_resource = harness._Recorder.new_resource

    def without_status(self, args):
        rid, state = plain_new_resource(self, args)
        state.pop("status", None)  # what a just-created, not-awaited Service looks like
        return rid, state

    monkeypatch.setattr(harness._Recorder, "new_resource", without_status)
    ev = evaluate(exposure="internal")
    assert ev.outputs["endpoint"].startswith("pending: the load balancer has no address yet")


def test_apis_for_the_bucket_and_monitoring_are_enabled_first():
    ev = evaluate()
    apis = {r.plain["service"] for r in ev.of_type("gcp:projects/service:Service")}
    assert {"storage.googleapis.com", "monitoring.googleapis.com"} <= apis
    assert "gcp:projects/service:Service::llm-api-storage" in ev.one("gcp:storage/bucket:Bucket").opts.depends_on
    assert all("gcp:projects/service:Service::llm-api-monitoring" in p.opts.depends_on
               for p in ev.of_type("gcp:monitoring/alertPolicy:AlertPolicy"))


def test_a_refused_project_lookup_says_to_enable_cloud_resource_manager(monkeypatch):
    # The project-number lookup runs before any resource (so before any API could be enabled).
    from components.platform import identity
    from planner import harness

    import grpc

    class Refused(grpc.RpcError):  # how the engine reports a provider's failed invoke to the SDK
        def code(self):
            return grpc.StatusCode.UNKNOWN

        def details(self):
            return "googleapi: Error 403: Cloud Resource Manager API has not been used in project 42 before or it is disabled.\ndetails"

    def refuse(self, args):
        raise Refused()

    monkeypatch.setattr(harness._Recorder, "call", refuse)
    with pytest.raises(identity.ProjectLookupError) as error:
        evaluate(program=lambda: identity.project_number("test-project"))
    message = str(error.value)
    assert "Cloud Resource Manager API has not been used in project 42" in message and "details" not in message
    assert message.endswith("run: gcloud services enable cloudresourcemanager.googleapis.com --project test-project")


def test_a_project_lookup_refused_without_details_names_the_error_type(monkeypatch):
    # An engine error with an empty message still says what failed and what to run.
    from components.platform import identity
    from planner import harness
    import grpc

    class Refused(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.UNKNOWN

        def details(self):
            return ""

    def refuse(self, args):
        raise Refused()

    monkeypatch.setattr(harness._Recorder, "call", refuse)
    with pytest.raises(identity.ProjectLookupError) as error:
        evaluate(program=lambda: identity.project_number("test-project"))
    assert str(error.value).startswith("could not look up project test-project's number (")
    assert "gcloud services enable cloudresourcemanager.googleapis.com --project test-project" in str(error.value)
