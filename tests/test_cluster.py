"""The cluster: NAP limits derived from replicas and machine, least-privilege nodes, a system pool,
a kubeconfig that uses the auth plugin, and every Kubernetes object on this cluster's provider."""

import json

import catalog
from components.platform.cluster import NODE_ROLES, ClusterArgs, GkeCluster
from conftest import PROJECT, evaluate


def cluster(ev):
    return ev.one("gcp:container/cluster:Cluster").plain


def limits(ev):
    return {l["resourceType"]: l["maximum"] for l in cluster(ev)["clusterAutoscaling"]["resourceLimits"]}


def test_nap_is_on_with_limits_for_cpu_memory_and_the_machines_gpu():
    ev = evaluate()
    assert cluster(ev)["clusterAutoscaling"]["enabled"] is True
    # replicas 1 (+1 for a flex-start replacement) x g2-standard-24, plus 3 e2-standard-4 system nodes
    assert limits(ev) == {"cpu": 2 * 24 + 3 * 4, "memory": 2 * 96 + 3 * 16, "nvidia-l4": 2 * 2}


def test_nap_limits_grow_with_replicas_and_follow_the_gpu_type():
    ev = evaluate(replicas=3, machineType="a2-ultragpu-2g", model="mistralai/Mistral-7B-Instruct-v0.3")
    assert limits(ev) == {"cpu": 4 * 24 + 12, "memory": 4 * 340 + 48, "nvidia-a100-80gb": 4 * 2}


def test_release_channel_workload_identity_and_no_default_pool():
    c = cluster(evaluate())
    assert c["releaseChannel"] == {"channel": "REGULAR"}
    assert c["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert c["removeDefaultNodePool"] is True
    assert c["location"] == "us-central1" and c["name"] == "llm-serving-dev"


def test_deletion_protection_follows_config():
    assert cluster(evaluate())["deletionProtection"] is False
    assert cluster(evaluate(deletionProtection=True))["deletionProtection"] is True


def test_system_pool_is_small_cpu_only_and_autoscaled():
    pool = evaluate().one("gcp:container/nodePool:NodePool").plain
    assert pool["nodeConfig"]["machineType"] == "e2-standard-4"
    assert "guestAccelerators" not in pool["nodeConfig"]
    assert pool["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 3}
    assert pool["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_nodes_run_as_a_dedicated_least_privilege_account_everywhere():
    ev = evaluate()
    email = f"llm-serving-dev-nodes@{PROJECT}.iam.gserviceaccount.com"
    c = cluster(ev)
    assert c["nodeConfig"]["serviceAccount"] == email
    assert c["clusterAutoscaling"]["autoProvisioningDefaults"]["serviceAccount"] == email
    assert ev.one("gcp:container/nodePool:NodePool").plain["nodeConfig"]["serviceAccount"] == email
    roles = sorted(m.plain["role"] for m in ev.of_type("gcp:projects/iAMMember:IAMMember"))
    assert roles == sorted(NODE_ROLES)
    assert not any(r in ("roles/editor", "roles/owner") for r in roles)
    assert {m.plain["member"] for m in ev.of_type("gcp:projects/iAMMember:IAMMember")} == {f"serviceAccount:{email}"}


def test_auto_provisioned_nodes_are_shielded_and_managed():
    defaults = cluster(evaluate())["clusterAutoscaling"]["autoProvisioningDefaults"]
    assert defaults["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert defaults["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_private_nodes_come_with_cloud_nat():
    ev = evaluate(privateNodes=True)
    assert cluster(ev)["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False}
    nat = ev.one("gcp:compute/routerNat:RouterNat").plain
    # Only the cluster's subnet (primary and Pod ranges), not every private VM of the region.
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS" and nat["region"] == "us-central1"
    assert nat["subnetworks"] == [{"name": "projects/test-project/regions/us-central1/subnetworks/default",
                                   "sourceIpRangesToNats": ["ALL_IP_RANGES"]}]
    # Kubernetes objects (the server's image pull, the loader's download) wait for the NAT.
    assert "gcp:compute/routerNat:RouterNat::llm-nat" in ev.one("pulumi:providers:kubernetes").opts.depends_on
    assert not evaluate().of_type("gcp:compute/routerNat:RouterNat")
    assert "privateClusterConfig" not in cluster(evaluate())


def test_authorized_networks_restrict_the_control_plane():
    c = cluster(evaluate(authorizedNetworks=["198.18.0.0/24", "10.0.0.0/8"]))
    assert [b["cidrBlock"] for b in c["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == ["198.18.0.0/24", "10.0.0.0/8"]
    assert "masterAuthorizedNetworksConfig" not in cluster(evaluate())


def test_kubeconfig_uses_the_auth_plugin_and_is_secret():
    ev = evaluate()
    assert "kubeconfig" in ev.secret_outputs
    kc = json.loads(ev.outputs["kubeconfig"])
    assert kc["clusters"][0]["cluster"]["server"] == "https://203.0.113.10"
    # The cluster's own CA (the mocks' masterAuth.clusterCaCertificate): without it kubectl and the
    # Kubernetes provider cannot verify the control plane and every Kubernetes object fails.
    assert kc["clusters"][0]["cluster"]["certificate-authority-data"] == (
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm1vY2sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=")
    # Named after the cluster (llm-serving-dev), so two stacks' kubeconfigs never share a context name.
    assert kc["current-context"] == kc["clusters"][0]["name"] == "gke-llm-serving-llm-serving-dev"
    assert kc["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert "token" not in json.dumps(kc["users"])


def test_kubernetes_provider_is_built_from_the_kubeconfig():
    provider = evaluate().one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"]["value"].startswith("{")  # wrapped as a secret
    assert "deleteUnreachable" not in provider.plain  # see test_lifecycle


def test_every_kubernetes_object_uses_the_cluster_provider():
    ev = evaluate()
    objects = ev.k8s_objects()
    assert len(objects) >= 5
    # The mock monitor records the provider reference each object was registered with.
    assert all(o.provider and "pulumi:providers:kubernetes::llm-k8s" in o.provider for o in objects), [
        (o.name, o.provider) for o in objects]


def test_component_alone_with_explicit_args():
    args = ClusterArgs(project="p", name="c1", location="europe-west4-a", region="europe-west4",
                       nap=catalog.NapLimits(cpu=10, memory_gb=40, gpu_type="nvidia-l4", gpus=1))
    ev = evaluate(program=lambda: GkeCluster("x", args))
    c = cluster(ev)
    assert c["location"] == "europe-west4-a" and c["project"] == "p"
    assert {l["resourceType"]: l["maximum"] for l in c["clusterAutoscaling"]["resourceLimits"]} == {"cpu": 10, "memory": 40, "nvidia-l4": 1}


def test_node_auto_provisioning_defaults_to_a_disk_g2_machines_boot_from():
    # The provider's schema defaults are pd-standard and 100 GB; G2 (L4) does not take pd-standard.
    defaults = evaluate().one("gcp:container/cluster:Cluster").plain["clusterAutoscaling"]["autoProvisioningDefaults"]
    assert (defaults["diskType"], defaults["diskSize"]) == ("pd-balanced", 200)


def test_system_nodes_have_room_for_the_loader_staging():
    # 50 GB left 17 GiB allocatable; 100 GB leaves 43.8 GiB (GKE's worked example).
    pool = evaluate().one("gcp:container/nodePool:NodePool").plain["nodeConfig"]
    assert pool["diskSizeGb"] == 100
    assert "diskType" not in pool  # ForceNew on a pool: GKE's default (pd-balanced) is kept
