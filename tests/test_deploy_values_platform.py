"""Values a real deploy depends on in the ComputeClass (components/compute_class.py) and the cluster
(components/cluster.py), pinned as literals: each was a surviving mutant of `make mutants` (or a module
constant or dataclass default, which mutmut does not mutate), a one-token slip no other test noticed.
See tests/MUTANTS-platform.md."""

import json

import pytest

import catalog
from components.platform import cluster as cluster_module
from components.platform.cluster import ClusterArgs, GkeCluster, kubeconfig, subnetwork_link
from components.platform.compute_class import ComputeClass, ComputeClassArgs, InvalidComputeClass, manifest, priority
from conftest import PROJECT, evaluate

COMPUTE_CLASS = "kubernetes:cloud.google.com/v1:ComputeClass"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"

ARGS = ComputeClassArgs(name="dws-model-inference-class", tiers=("spot", "flex-start", "on-demand"),
                        machine_type="g2-standard-24", gpu_type="nvidia-l4", gpu_count=2)


# --- ComputeClass ------------------------------------------------------------------------------------

def test_compute_class_defaults_lead_time_one_hour_default_driver_and_200_gb_pd_balanced():
    # A class built without overrides: flex-start nodes are replaced an hour before their end, GKE's
    # default GPU driver, and the GPU boot disk G2 boots from (pd-balanced, 200 GB).
    flex = priority("flex-start", ARGS)
    assert flex == {"machineType": "g2-standard-24",
                    "gpu": {"type": "nvidia-l4", "count": 2, "driverVersion": "default"},
                    "storage": {"bootDiskType": "pd-balanced", "bootDiskSize": 200},
                    "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 3600}}}


def test_on_demand_rung_says_spot_false():
    assert priority("on-demand", ARGS)["spot"] is False


def test_an_unknown_tier_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^unknown capacity tier 'reserved'$"):
        priority("reserved", ARGS)


def test_the_compute_class_streams_images_by_default_and_not_when_off():
    # Default on: the serving image streams from the mirror; off, the field is absent (not false), so
    # pools that existed without it still match the class.
    assert manifest(ARGS)["spec"]["nodePoolConfig"] == {"imageStreaming": {"enabled": True}}
    assert "nodePoolConfig" not in manifest(ComputeClassArgs(**{**ARGS.__dict__, "image_streaming": False}))["spec"]


def test_a_refused_class_names_itself_and_every_broken_field():
    # Every error, joined with "; ", behind the class name: one line the plan prints as it is.
    bad = ComputeClassArgs(**{**ARGS.__dict__, "name": "gke-x", "tiers": ("spot",), "boot_disk_gb": 9})
    with pytest.raises(InvalidComputeClass) as error:
        evaluate(program=lambda: ComputeClass("cc", bad))
    assert str(error.value) == ("ComputeClass gke-x: metadata.name: 'gke-x' may not start with gke or autopilot "
                                "(reserved by GKE); spec.priorities[0].storage.bootDiskSize: 9 must be an integer "
                                ">= 10 (GB)")


def test_the_class_resource_is_named_after_its_component_under_it():
    # The Pulumi name is part of the URN: a change replaces the class in every existing stack.
    ev = evaluate(program=lambda: ComputeClass("gpu", ARGS))
    assert ev.one(COMPUTE_CLASS).name == "gpu-class"
    assert ev.one(COMPUTE_CLASS).opts.parent == "llmserving:gke:ComputeClass::gpu"


def test_the_compute_class_is_created_on_the_stacks_cluster():
    # The class inherits the cell's provider through its component: without it the object would go to
    # whatever cluster the ambient kubeconfig points at, and this cluster's pods would find no class.
    assert "pulumi:providers:kubernetes::llm-k8s" in evaluate().one(COMPUTE_CLASS).provider


def test_the_stack_exports_the_class_name_pods_select():
    assert evaluate().outputs["computeClassName"] == "dws-model-inference-class"


# --- the cluster ----------------------------------------------------------------------------------------

def cluster(ev) -> dict:
    return ev.one(CLUSTER).plain


def test_the_seven_apis_are_enabled_and_left_on_at_destroy():
    # disableOnDestroy false: other things in the project may use these APIs; `pulumi destroy` turning
    # off compute or storage would break them.
    services = {r.plain["service"]: r.plain["disableOnDestroy"] for r in evaluate().of_type("gcp:projects/service:Service")}
    assert services == {api: False for api in (
        "container.googleapis.com", "compute.googleapis.com", "iam.googleapis.com", "storage.googleapis.com",
        "monitoring.googleapis.com", "artifactregistry.googleapis.com", "containerfilesystem.googleapis.com")}


def test_node_account_id_is_cut_to_30_characters_without_a_trailing_dash():
    # Service-account ids are 6-30 characters and may not end in a dash: "<cluster>-nodes" cut at 30.
    args = ClusterArgs(project="p", name="llm-serving-production-euro-x", location="europe-west4", region="europe-west4",
                       nap=catalog.NapLimits(cpu=10, memory_gb=40, gpu_type="nvidia-l4", gpus=1))
    account = evaluate(program=lambda: GkeCluster("x", args)).one("gcp:serviceaccount/account:Account").plain
    assert account["accountId"] == "llm-serving-production-euro-x"  # "...-x-nodes"[:30] = "...-x-", dash dropped
    assert account["displayName"] == "GKE nodes of llm-serving-production-euro-x (least privilege)"


def test_a_given_node_account_id_is_used_as_it_is():
    # Multi-region stacks pass an id that keeps the region code within 30 characters.
    args = ClusterArgs(project="p", name="c1", location="europe-west4", region="europe-west4", node_account_id="c1-ew4-nodes",
                       nap=catalog.NapLimits(cpu=10, memory_gb=40, gpu_type="nvidia-l4", gpus=1))
    assert evaluate(program=lambda: GkeCluster("x", args)).one("gcp:serviceaccount/account:Account").plain["accountId"] == "c1-ew4-nodes"


def test_cluster_is_vpc_native_on_dataplane_v2():
    # Dataplane V2 enforces the server's NetworkPolicy; VPC-native is what it and Cloud NAT over Pod
    # ranges need. Both are ForceNew on a real cluster.
    c = cluster(evaluate())
    assert (c["networkingMode"], c["datapathProvider"], c["network"]) == ("VPC_NATIVE", "ADVANCED_DATAPATH", "default")
    assert c["ipAllocationPolicy"] == {}


def test_cluster_collects_kube_state_and_dcgm_metrics_with_managed_prometheus():
    # The dashboard's pod, deployment, HPA and GPU charts read these; managed Prometheus scrapes the
    # server's PodMonitoring.
    assert cluster(evaluate())["monitoringConfig"] == {
        "enableComponents": ["SYSTEM_COMPONENTS", "POD", "DEPLOYMENT", "HPA", "DCGM"],
        "managedPrometheus": {"enabled": True}}


def test_cluster_has_the_cloud_storage_fuse_csi_addon():
    # The server reads its weights through it; without it the pod's gcsfuse volume never mounts.
    assert cluster(evaluate())["addonsConfig"] == {"gcsFuseCsiDriverConfig": {"enabled": True}}


def test_the_temporary_default_pool_runs_one_shielded_node_as_our_account():
    c = cluster(evaluate())
    assert c["initialNodeCount"] == 1
    assert c["nodeConfig"] == {
        "machineType": "e2-standard-4",
        "serviceAccount": f"llm-serving-dev-nodes@{PROJECT}.iam.gserviceaccount.com",
        "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
        "workloadMetadataConfig": {"mode": "GKE_METADATA"}}


def test_cluster_ignores_exactly_the_default_pools_fields():
    # nodeConfig and initialNodeCount read back empty once the default pool is removed, and are
    # ForceNew: not ignored, the second `pulumi up` replaces the cluster. Ignoring more would hide
    # real drift.
    assert cluster_module.CLUSTER_IGNORED_FIELDS == ["nodeConfig", "initialNodeCount"]
    assert evaluate().one(CLUSTER).opts.ignore_changes == ("nodeConfig", "initialNodeCount")


def test_nap_resource_limits_start_at_one_core_one_gb_and_zero_gpus():
    # GPU minimum 0: the GPU pools may scale to nothing; a minimum above 0 keeps a GPU node billed.
    mins = {l["resourceType"]: l["minimum"] for l in cluster(evaluate())["clusterAutoscaling"]["resourceLimits"]}
    assert mins == {"cpu": 1, "memory": 1, "nvidia-l4": 0}


def test_auto_provisioned_nodes_get_the_cloud_platform_scope():
    defaults = cluster(evaluate())["clusterAutoscaling"]["autoProvisioningDefaults"]
    assert defaults["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


def test_the_gateway_api_standard_channel_is_on_only_for_multi_region_cells():
    args = ClusterArgs(project="p", name="c1", location="europe-west4", region="europe-west4", gateway_api=True,
                       nap=catalog.NapLimits(cpu=10, memory_gb=40, gpu_type="nvidia-l4", gpus=1))
    assert cluster(evaluate(program=lambda: GkeCluster("x", args)))["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    assert "gatewayApiConfig" not in cluster(evaluate())


def test_authorized_networks_are_named_by_position():
    blocks = cluster(evaluate(authorizedNetworks=["198.18.0.0/24", "10.0.0.0/8"]))["masterAuthorizedNetworksConfig"]
    assert blocks == {"cidrBlocks": [{"cidrBlock": "198.18.0.0/24", "displayName": "allowed-0"},
                                     {"cidrBlock": "10.0.0.0/8", "displayName": "allowed-1"}]}


def test_the_cluster_waits_for_its_apis_and_the_nodes_roles():
    # Created before the container API is on, the cluster fails; before the roles, its first nodes
    # cannot write logs or pull through the mirror.
    depends = evaluate().one(CLUSTER).opts.depends_on
    assert "gcp:projects/service:Service::llm-api-container" in depends
    assert "gcp:projects/iAMMember:IAMMember::llm-nodes-container-defaultNodeServiceAccount" in depends
    assert "gcp:projects/iAMMember:IAMMember::llm-nodes-serviceusage-serviceUsageConsumer" in depends


# --- the system pool ------------------------------------------------------------------------------------

def test_system_pool_is_named_system_starts_with_one_managed_node():
    pool = evaluate().one(NODE_POOL).plain
    assert (pool["name"], pool["initialNodeCount"], pool["cluster"], pool["location"]) == (
        "system", 1, "llm-serving-dev", "us-central1")
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_system_pool_nodes_carry_the_label_the_loader_selects():
    # The loader Job's nodeSelector is llm-serving/role=system: another label leaves it Pending.
    assert cluster_module.SYSTEM_POOL_LABELS == {"llm-serving/role": "system"}
    assert evaluate().one(NODE_POOL).plain["nodeConfig"]["labels"] == {"llm-serving/role": "system"}


def test_system_pool_nodes_are_shielded_with_the_cloud_platform_scope():
    node = evaluate().one(NODE_POOL).plain["nodeConfig"]
    assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert node["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


# --- Cloud NAT for private nodes ------------------------------------------------------------------------

def test_private_nodes_get_a_router_and_a_nat_with_automatic_addresses():
    ev = evaluate(privateNodes=True)
    router = ev.one("gcp:compute/router:Router").plain
    nat = ev.one("gcp:compute/routerNat:RouterNat").plain
    assert router == {"name": "llm-serving-dev-router", "project": PROJECT, "region": "us-central1", "network": "default"}
    assert (nat["name"], nat["router"], nat["natIpAllocateOption"], nat["project"]) == (
        "llm-serving-dev-nat", "llm-serving-dev-router", "AUTO_ONLY", PROJECT)


def test_a_subnetwork_given_as_a_link_is_used_as_it_is():
    link = "projects/p/regions/r/subnetworks/s"
    assert subnetwork_link("other", "elsewhere", link) == link
    assert subnetwork_link("p", "r", "s") == link


# --- the kubeconfig -------------------------------------------------------------------------------------

def test_kubeconfig_has_one_context_named_after_the_cluster_with_the_exec_plugin():
    kc = json.loads(kubeconfig("c1", "203.0.113.10", "Q0E="))
    name = "gke-llm-serving-c1"
    assert kc["apiVersion"] == "v1" and kc["kind"] == "Config" and kc["current-context"] == name
    assert kc["clusters"] == [{"name": name, "cluster": {"server": "https://203.0.113.10", "certificate-authority-data": "Q0E="}}]
    assert kc["contexts"] == [{"name": name, "context": {"cluster": name, "user": name}}]
    assert kc["users"] == [{"name": name, "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "gke-gcloud-auth-plugin",
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "provideClusterInfo": True}}}]


# --- the image mirror (components/platform/registry.py) ------------------------------------------------

from components.platform import registry  # noqa: E402


def test_an_image_already_in_artifact_registry_is_told_by_its_host():
    # The plan says such an image is streamed as it is (no mirror needed); the host decides, not how
    # the image's name happens to end.
    assert registry.in_artifact_registry("us-docker.pkg.dev/deeplearning-platform-release/gcr.io/tgi:1") is True
    assert registry.in_artifact_registry("europe-west4-docker.pkg.dev/p/repo/img@sha256:" + "a" * 64) is True
    assert registry.in_artifact_registry("ghcr.io/acme/tools-docker.pkg.dev") is False
    assert registry.in_artifact_registry("vllm/vllm-openai:v0.11.0") is False


def test_repository_ids_are_cluster_and_upstream_within_artifact_registrys_rule():
    # Ids: lower-case letters, digits and hyphens, at most 63, no trailing hyphen (Artifact Registry
    # "Create repositories"). The cluster name is validated already; the rule holds for any name.
    assert registry.repository_id("llm-serving-dev", "docker-hub") == "llm-serving-dev-docker-hub"
    assert registry.repository_id("LLM_Serving", "ghcr") == "llm-serving-ghcr"
    assert registry.repository_id("a" * 62 + "-x", "ghcr") == "a" * 62  # cut at 63 ends on "-": dropped
    assert len(registry.repository_id("b" * 70, "ghcr")) == 63
