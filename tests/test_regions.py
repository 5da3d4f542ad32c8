"""`regions`: one endpoint served from a serving cell per region behind GKE's multi-cluster Gateway.
The single-region stacks must not change (tests/test_cell.py pins their URNs)."""

import pytest
import yaml

import settings
from catalog import forecast as model
from conftest import PROJECT, evaluate
from settings import forecast as config, regions as regions_config

API_KEY = "k3y-for-tests-0123456789abcdef"
TWO = ["us-central1", "us-east4"]
THREE = ["us-central1", "us-east4", "us-west1"]
NUMBER = "123456789012"  # the mock project number (planner/harness.py MOCK_PROJECT_NUMBER)


def multi(regions=TWO, stack="dev", exposure="public", **config):
    return evaluate(stack, regions=regions, exposure=exposure, apiKey=API_KEY, **config)


def kinds(ev, kind):
    return [r for r in ev.k8s_objects() if r.plain.get("kind") == kind]


def rendered(obj):
    """The object as the plan writes it: the mock runtime hands numbers back as floats."""
    from planner.render import redact
    return redact(obj.plain, [], {})


# --- cells per region --------------------------------------------------------------------------------


@pytest.mark.parametrize("regions, names", [
    (TWO, {"llm-serving-dev-usc1": "us-central1", "llm-serving-dev-use4": "us-east4"}),
    (THREE, {"llm-serving-dev-usc1": "us-central1", "llm-serving-dev-use4": "us-east4", "llm-serving-dev-usw1": "us-west1"}),
])
def test_each_region_gets_a_regional_cluster_named_after_its_code(regions, names):
    clusters = multi(regions).of_type("gcp:container/cluster:Cluster")
    assert {c.plain["name"]: c.plain["location"] for c in clusters} == names


@pytest.mark.parametrize("regions", [TWO, THREE])
def test_each_region_gets_its_own_server_compute_class_secret_and_scaling(regions):
    ev = multi(regions, stack="prod")
    n = len(regions)
    assert len([d for d in kinds(ev, "Deployment") if d.plain["metadata"]["name"] == "llm"]) == n
    assert len(kinds(ev, "ComputeClass")) == n
    assert len(kinds(ev, "Secret")) == n
    assert len(kinds(ev, "HorizontalPodAutoscaler")) == n
    assert len(kinds(ev, "PodMonitoring")) == n


def test_every_regions_objects_go_to_its_own_cluster():
    ev = multi(THREE)
    providers = {r.provider.split("::")[-1].split("::")[0] for r in kinds(ev, "Deployment")}
    assert len(providers) == 3  # three Kubernetes providers, one per cluster


def test_replicas_apply_in_each_region_not_split_between_them():
    # Each region must be able to carry the endpoint alone when the other has no Spot GPUs.
    ev = multi(replicas=2)
    servers = [d for d in kinds(ev, "Deployment") if d.plain["metadata"]["name"] == "llm"]
    assert [d.plain["spec"]["replicas"] for d in servers] == [2, 2]


def test_behind_the_gateway_each_clusters_service_stays_a_cluster_ip():
    services = [s for s in kinds(multi(), "Service") if s.plain["metadata"]["name"] == "llm-service"]
    assert [s.plain["spec"]["type"] for s in services] == ["ClusterIP", "ClusterIP"]


def test_a_single_region_stack_has_no_fleet_or_gateway():
    types = {r.type for r in evaluate("prod").resources}
    assert not {t for t in types if "gkehub" in t or "gateway" in t.lower() or "net.gke.io" in t}


# --- names that cannot collide ----------------------------------------------------------------------


def test_node_accounts_buckets_and_clusters_differ_between_regions_and_from_a_single_region_stack():
    ev = multi(THREE)
    single = evaluate("dev")
    for type_, field in (("gcp:container/cluster:Cluster", "name"), ("gcp:serviceaccount/account:Account", "accountId"),
                         ("gcp:storage/bucket:Bucket", "name")):
        ours = [r.plain[field] for r in ev.of_type(type_)]
        theirs = {r.plain[field] for r in single.of_type(type_)}
        assert len(set(ours)) == 3 and not set(ours) & theirs, (type_, ours, theirs)


def test_a_long_cluster_name_keeps_the_region_code_within_the_30_character_account_id():
    ev = multi(clusterName="llm-serving-a-rather-long-name-x")  # 32 characters
    ids = sorted(r.plain["accountId"] for r in ev.of_type("gcp:serviceaccount/account:Account"))
    assert ids == ["llm-serving-a-rathe-usc1-nodes", "llm-serving-a-rathe-use4-nodes"]
    assert all(len(i) <= 30 for i in ids)


def test_a_long_cluster_name_keeps_the_region_code_within_gkes_40_characters():
    ev = multi(clusterName="llm-serving-a-rather-long-name-for-tests")  # 40 characters
    names = sorted(r.plain["name"] for r in ev.of_type("gcp:container/cluster:Cluster"))
    assert names == ["llm-serving-a-rather-long-name-for-usc1", "llm-serving-a-rather-long-name-for-use4"]


def test_every_gpu_region_has_its_own_short_code():
    from catalog import all_gpu_regions
    codes = [regions_config.code(r) for r in sorted(all_gpu_regions())]
    assert len(codes) == len(set(codes))
    assert regions_config.code("asia-southeast1") == "asse1" and regions_config.code("europe-west4") == "euw4"


def test_alert_policies_name_their_region():
    names = {r.plain["displayName"] for r in multi().of_type("gcp:monitoring/alertPolicy:AlertPolicy")}
    assert "llm/llm (us-central1): no ready replica" in names
    assert "llm/llm (us-east4): no ready replica" in names


# --- weights near every region's GPUs ---------------------------------------------------------------


def test_each_region_reads_weights_from_a_bucket_in_that_region_filled_by_its_own_loader():
    ev = multi(THREE)
    buckets = {r.plain["name"]: r.plain["location"] for r in ev.of_type("gcp:storage/bucket:Bucket")}
    assert buckets == {f"{PROJECT}-dev-llm-models-usc1": "US-CENTRAL1", f"{PROJECT}-dev-llm-models-use4": "US-EAST4",
                       f"{PROJECT}-dev-llm-models-usw1": "US-WEST1"}
    assert len(kinds(ev, "Job")) == 3


# --- the fleet ---------------------------------------------------------------------------------------


def test_every_cluster_is_a_regional_fleet_member():
    members = multi(THREE).of_type("gcp:gkehub/membership:Membership")
    assert sorted((m.plain["membershipId"], m.plain["location"]) for m in members) == [
        ("llm-serving-dev-usc1", "us-central1"), ("llm-serving-dev-use4", "us-east4"), ("llm-serving-dev-usw1", "us-west1")]
    east = next(m for m in members if m.plain["location"] == "us-east4").plain
    assert east["endpoint"]["gkeCluster"]["resourceLink"] == \
        f"//container.googleapis.com/projects/{PROJECT}/locations/us-east4/clusters/llm-serving-dev-use4"


def test_memberships_carry_the_clusters_workload_identity_issuer():
    # Fleet Workload Identity (what `memberships register --enable-workload-identity` sets): MCS uses it.
    members = multi().of_type("gcp:gkehub/membership:Membership")
    assert sorted(m.plain["authority"]["issuer"] for m in members) == [
        f"https://container.googleapis.com/v1/projects/{PROJECT}/locations/us-central1/clusters/llm-serving-dev-usc1",
        f"https://container.googleapis.com/v1/projects/{PROJECT}/locations/us-east4/clusters/llm-serving-dev-use4"]


def test_the_first_regions_cluster_is_the_config_membership_without_the_gkehub_prefix():
    features = {f.plain["name"]: f.plain for f in multi().of_type("gcp:gkehub/feature:Feature")}
    assert set(features) == {"multiclusterservicediscovery", "multiclusteringress"}
    assert {f["location"] for f in features.values()} == {"global"}
    assert features["multiclusteringress"]["spec"]["multiclusteringress"]["configMembership"] == \
        f"projects/{PROJECT}/locations/us-central1/memberships/llm-serving-dev-usc1"


def test_fleet_service_agents_get_their_roles():
    grants = {(g.plain["role"], g.plain["member"]) for g in multi().of_type("gcp:projects/iAMMember:IAMMember")}
    assert ("roles/container.admin", f"serviceAccount:service-{NUMBER}@gcp-sa-multiclusteringress.iam.gserviceaccount.com") in grants
    assert ("roles/compute.networkViewer", f"principal://iam.googleapis.com/projects/{NUMBER}/locations/global/"
            f"workloadIdentityPools/{PROJECT}.svc.id.goog/subject/ns/gke-mcs/sa/gke-mcs-importer") in grants


def test_the_mcs_importer_grant_waits_for_every_cluster():
    # The principal's identity pool exists only once a cluster with Workload Identity does.
    grant = next(g for g in multi().of_type("gcp:projects/iAMMember:IAMMember") if g.plain["role"] == "roles/compute.networkViewer")
    assert {d for d in grant.opts.depends_on if d.startswith("gcp:container/cluster")} == {
        "gcp:container/cluster:Cluster::llm-usc1-gke", "gcp:container/cluster:Cluster::llm-use4-gke"}


def test_the_metrics_adapters_shared_principal_is_granted_once_for_all_regions():
    # Every cluster's adapter is the same principal of the project's one pool; one copy per region
    # would let removing a region remove the binding the others use.
    grants = [g for g in multi(THREE, stack="prod").of_type("gcp:projects/iAMMember:IAMMember")
              if g.plain["role"] == "roles/monitoring.viewer"]
    assert len(grants) == 1


def test_the_gateway_api_is_on_in_the_clusters():
    clusters = multi().of_type("gcp:container/cluster:Cluster")
    assert [c.plain["gatewayApiConfig"]["channel"] for c in clusters] == ["CHANNEL_STANDARD", "CHANNEL_STANDARD"]


def test_fleet_apis_are_enabled():
    services = {r.plain["service"] for r in multi().of_type("gcp:projects/service:Service")}
    assert {"gkehub.googleapis.com", "multiclusterservicediscovery.googleapis.com", "multiclusteringress.googleapis.com",
            "trafficdirector.googleapis.com", "dns.googleapis.com"} <= services


# --- exports, Gateway, route, policies -----------------------------------------------------------------


@pytest.mark.parametrize("regions", [TWO, THREE])
def test_the_model_service_is_exported_from_every_cluster(regions):
    ev = multi(regions)
    exports = kinds(ev, "ServiceExport")
    assert [(e.plain["metadata"]["name"], e.plain["metadata"]["namespace"]) for e in exports] == [("llm-service", "llm")] * len(regions)
    assert len({e.provider for e in exports}) == len(regions)


@pytest.mark.parametrize("exposure, gateway_class", [
    ("public", "gke-l7-global-external-managed-mc"), ("internal", "gke-l7-cross-regional-internal-managed-mc")])
def test_the_gateway_class_follows_the_exposure(exposure, gateway_class):
    gateways = kinds(multi(exposure=exposure), "Gateway")
    assert [g.plain["spec"]["gatewayClassName"] for g in gateways] == [gateway_class]


def test_the_gateway_and_its_route_live_only_in_the_config_cluster():
    ev = multi(THREE)
    config_provider = next(e.provider for e in kinds(ev, "ServiceExport") if "us-central1" in e.name)
    for kind in ("Gateway", "HTTPRoute", "HealthCheckPolicy", "GCPBackendPolicy"):
        assert [o.provider for o in kinds(ev, kind)] == [config_provider], kind


def test_the_internal_gateway_gets_a_proxy_only_subnet_in_every_region():
    subnets = multi(THREE, exposure="internal").of_type("gcp:compute/subnetwork:Subnetwork")
    assert sorted((s.plain["region"], s.plain["purpose"], s.plain["role"]) for s in subnets) == [
        (r, "GLOBAL_MANAGED_PROXY", "ACTIVE") for r in sorted(THREE)]
    assert len({s.plain["ipCidrRange"] for s in subnets}) == 3


def test_the_internal_gateway_has_a_frontend_address_in_every_region():
    # GKE's cross-regional internal samples give the Gateway one ephemeral address per region.
    (gateway,) = kinds(multi(THREE, exposure="internal"), "Gateway")
    assert gateway.plain["spec"]["addresses"] == [
        {"type": f"networking.gke.io/ephemeral-ipv4-address/{r}", "value": r} for r in THREE]
    (public,) = kinds(multi(exposure="public"), "Gateway")
    assert "addresses" not in public.plain["spec"]  # the global external class gets its own address


def test_a_public_gateway_needs_no_proxy_only_subnet():
    assert multi(exposure="public").of_type("gcp:compute/subnetwork:Subnetwork") == []


def test_the_route_sends_only_the_openai_paths_to_the_service_import():
    (route,) = kinds(multi(), "HTTPRoute")
    (rule,) = route.plain["spec"]["rules"]
    assert sorted((m["path"]["type"], m["path"]["value"]) for m in rule["matches"]) == [
        ("Exact", "/v1/chat/completions"), ("Exact", "/v1/completions"), ("Exact", "/v1/models")]
    assert rule["backendRefs"] == [{"group": "net.gke.io", "kind": "ServiceImport", "name": "llm-service", "port": 8080}]


def test_the_health_check_asks_the_engines_health_path_on_its_port():
    (policy,) = kinds(multi(), "HealthCheckPolicy")
    spec = policy.plain["spec"]
    assert spec["targetRef"] == {"group": "net.gke.io", "kind": "ServiceImport", "name": "llm-service"}
    assert spec["default"]["config"] == {"type": "HTTP", "httpHealthCheck": {"port": 8080, "requestPath": "/health"}}
    # Out of rotation 10 s after a region's last replica stops answering.
    assert spec["default"]["checkIntervalSec"] * spec["default"]["unhealthyThreshold"] == 10


def test_the_backend_policy_outlasts_a_streamed_answer_and_caps_each_replica_so_load_spills_over():
    (policy,) = kinds(multi(), "GCPBackendPolicy")
    default = policy.plain["spec"]["default"]
    assert default["timeoutSec"] >= 300  # the load balancer's default is 30 s
    assert default["maxRatePerEndpoint"] == 2


def test_the_backend_timeout_follows_the_token_limit_at_ten_tokens_a_second():
    from components.platform.gateway import request_timeout_seconds
    assert request_timeout_seconds(8000) == 800
    assert request_timeout_seconds(1000) == 300  # floor
    assert request_timeout_seconds(100000) == 3600  # ceiling


def test_front_door_objects_pass_the_projects_rules():
    from planner.rules import gateway as gateway_rules
    ev = multi(THREE, exposure="internal")
    for obj in ev.k8s_objects():
        if gateway_rules.handles(obj.plain):
            assert gateway_rules.validate(rendered(obj)) == [], obj.name


def test_the_rules_refuse_a_route_that_matches_every_path():
    from planner.rules import gateway as gateway_rules
    (route,) = kinds(multi(), "HTTPRoute")
    body = rendered(route)
    body["spec"]["rules"][0]["matches"] = []
    assert any("matches" in p for p in gateway_rules.validate(body))


def test_the_rules_refuse_an_unknown_policy_field():
    from planner.rules import gateway as gateway_rules
    (policy,) = kinds(multi(), "GCPBackendPolicy")
    body = rendered(policy)
    body["spec"]["default"]["timeoutSecs"] = 600
    assert gateway_rules.validate(body) == ["spec.default.timeoutSecs: unknown field (allowed: timeoutSec, maxRatePerEndpoint)"]


# --- outputs ------------------------------------------------------------------------------------------


def test_the_endpoint_is_pending_until_the_gateway_has_an_address():
    assert multi().outputs["endpoint"].startswith("pending: the public Gateway gets its address")


def test_the_endpoint_is_the_gateways_address_once_it_has_one(monkeypatch):
    # After `pulumi refresh` the Gateway's status carries its address: the endpoint output reads it
    # from the Gateway the program created (the mocks give that status here, as GKE does later).
    from planner import harness

    plain = harness._Recorder.new_resource

    def with_address(self, args):
        rid, state = plain(self, args)
        if args.typ == "kubernetes:gateway.networking.k8s.io/v1:Gateway":
            state = {**state, "status": {"addresses": [{"type": "IPAddress", "value": "34.117.0.9"}]}}
        return rid, state
    monkeypatch.setattr(harness._Recorder, "new_resource", with_address)
    assert multi().outputs["endpoint"] == "http://34.117.0.9"


def test_per_region_outputs_name_each_cluster_and_bucket():
    out = multi().outputs["regions"]
    assert out["us-east4"]["clusterName"] == "llm-serving-dev-use4"
    assert out["us-east4"]["modelBucket"] == f"{PROJECT}-dev-llm-models-use4"
    assert set(out) == set(TWO)


def test_kubeconfigs_stay_secret():
    assert {"kubeconfig", "kubeconfigs"} <= multi().secret_outputs


def test_the_query_command_goes_through_the_gateway_with_the_api_key():
    command = multi().outputs["queryCommand"]
    assert "kubectl -n llm get gateway llm-gateway -o jsonpath='{.status.addresses[0].value}'" in command
    assert "curl -s http://$ADDRESS/v1/completions" in command
    assert '-H "Authorization: Bearer $API_KEY"' in command
    assert "port-forward" not in command


def test_a_gateway_address_goes_straight_into_the_query_command():
    from outputs import query_command
    s = multi().result["s"]
    command = query_command(s, cluster_name="c", namespace="llm", service="llm-gateway", endpoint="http://203.0.113.7", port=8080)
    assert "curl -s http://203.0.113.7/v1/completions" in command and "get-credentials" not in command


# --- vLLM and the API key -------------------------------------------------------------------------------


def test_vllm_may_be_public_behind_the_gateway_because_only_v1_paths_are_routed():
    ev = multi(stack="vllm")
    assert kinds(ev, "Gateway")


def test_vllm_stays_refused_on_a_public_load_balancer_without_regions():
    with pytest.raises(settings.ConfigError, match="/invocations"):
        evaluate("vllm", exposure="public", apiKey=API_KEY)


def test_a_public_gateway_needs_the_api_key():
    with pytest.raises(settings.ConfigError, match="config exposure='public'"):
        evaluate("dev", regions=TWO, exposure="public")


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config, key, problem", [
    ({"regions": ["us-central1"]}, "regions", "one region is a single-region stack"),
    ({"regions": ["us-central1", "us-central1"]}, "regions", "'us-central1' is listed twice"),
    ({"regions": ["us-central1", "us-west2"]}, "regions", "is not offered in us-west2"),
    ({"regions": ["us-central1", "us-east4-a"]}, "regions", "is not a GCP region"),
    ({"regions": TWO, "location": "us-central1-a"}, "location", "a zone cannot go with regions"),
    ({"regions": TWO, "exposure": "cluster-ip"}, "exposure", "reachable from one cluster only"),
    ({"regions": TWO, "modelBucket": "my-weights"}, "modelBucket", "each region gets a bucket of its own"),
])
def test_bad_regions_input_names_the_key_and_the_problem(config, key, problem):
    values = {"exposure": "public", "apiKey": API_KEY, **config}
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", **values)
    assert error.value.key == key and problem in str(error.value)


def test_bad_regions_make_the_plan_exit_2_with_one_line(tmp_path, capsys):
    from test_plan import plan, stack_dir_with
    d = stack_dir_with(tmp_path, {"gke-llm-serving:regions": ["us-central1", "us-central1"],
                                  "gke-llm-serving:exposure": "public", "gke-llm-serving:apiKey": API_KEY})
    code, out, err, _ = plan(tmp_path, capsys, "t", d)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "config regions=" in err and "listed twice" in err


# --- the forecast -------------------------------------------------------------------------------------------


def test_the_forecast_has_one_region_per_region_each_with_the_stacks_replicas():
    s = multi(THREE, stack="prod").result["s"]
    d = config.design(s)
    assert [(r.name, r.replicas, r.zones) for r in d.regions] == [("us-central1", 2, 3), ("us-east4", 2, 3), ("us-west1", 2, 3)]


def test_the_second_region_raises_availability_and_doubles_the_gpu_bill():
    s = multi(stack="prod", capacity=["spot", "flex-start"]).result["s"]
    two = model.forecast(config.design(s), s.forecast.assumptions)
    one = model.forecast(config.design(s, regions=1), s.forecast.assumptions)
    # Regions fail independently: one region's Spot outages no longer take the endpoint down.
    assert one.availability_any < 0.9995 < two.availability_any
    assert 1.8 < two.monthly_cost / one.monthly_cost < 2.2


def test_the_plan_shows_what_the_other_region_buys(tmp_path, capsys):
    from test_plan import plan
    code, out, _, files = plan(tmp_path, capsys, "global")
    assert code == 0, out
    assert "Validation: " in out and "FAILED" not in out
    assert "the other region(s) take at least one replica from" in out and "(us-central1 alone)" in out
    assert "gs://your-gcp-project-global-llm-models-usc1, gs://your-gcp-project-global-llm-models-use4" in out
    assert "Autoscaling: 2-4 replicas per region" in out


def test_compare_offers_the_one_region_alternative(capsys):
    from planner.__main__ import main
    assert main(["--stack", "global", "--compare"]) == 0
    assert "one region only (us-central1)" in capsys.readouterr().out


def test_the_global_stack_file_is_prods_ladder_and_autoscaling_in_two_regions():
    from conftest import ROOT
    glob = yaml.safe_load((ROOT / "Pulumi.global.yaml").read_text())["config"]
    prod = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    assert glob["gke-llm-serving:regions"] == ["us-central1", "us-east4"]
    assert glob["gke-llm-serving:exposure"] == "public"
    for key in ("gke-llm-serving:capacity", "gke-llm-serving:autoscaling"):
        assert glob[key] == prod[key]


def test_the_global_plan_warns_about_the_placeholder_api_key():
    ev = evaluate("global")
    assert any("apiKey is stored in plaintext" in w for w in ev.warnings)


# --- what a real `pulumi up` and `destroy` do ------------------------------------------------------------


def test_exports_wait_for_the_fleet_features_and_grants():
    # The ServiceExport CRD is installed by the multiclusterservicediscovery feature.
    for export in kinds(multi(), "ServiceExport"):
        deps = set(export.opts.depends_on)
        assert {"gcp:gkehub/feature:Feature::fleet-mcs", "gcp:gkehub/feature:Feature::fleet-mci",
                "gcp:projects/iAMMember:IAMMember::fleet-mcs-importer"} <= deps


def test_destroy_waits_up_to_20_minutes_for_the_gateway_and_its_load_balancer_to_go():
    (gateway,) = kinds(multi(), "Gateway")
    assert gateway.opts.custom_timeouts["delete"] == "20m"


def test_the_gateway_waits_for_every_regions_export():
    (gateway,) = kinds(multi(THREE), "Gateway")
    exports = {d for d in gateway.opts.depends_on if "ServiceExport" in d}
    assert exports == {f"kubernetes:net.gke.io/v1:ServiceExport::gateway-export-{r}" for r in THREE}
