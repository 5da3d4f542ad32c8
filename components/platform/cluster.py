"""The GKE Standard cluster: node auto-provisioning, a small system pool, least-privilege node identity,
optional private nodes with Cloud NAT, and a Kubernetes provider bound to this cluster."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from catalog import NapLimits, SYSTEM_POOL_MAX_NODES
from catalog.nodes import BOOT_DISK_TYPE, GPU_BOOT_DISK_GB, SYSTEM_BOOT_DISK_GB

# What a node needs and nothing more. GKE's predefined role for node service accounts carries what
# the node's agents write (logs, metrics, resource metadata, autoscaler and node-problem reports) and
# Google keeps it current as GKE adds agents (GKE "Use least privilege IAM service accounts":
# roles/container.defaultNodeServiceAccount). Image pulls from Artifact Registry are not in it: the
# nodes read only the cell's own remote repositories, granted per repository (components/platform/registry.py).
# Image streaming calls the Container File System API as the node's account, which a custom node
# service account needs serviceusage.services.use for (roles/serviceusage.serviceUsageConsumer; issue
# 19's reading of GKE "Use Image streaming", not re-read here).
NODE_ROLES = (
    "roles/container.defaultNodeServiceAccount",
    "roles/serviceusage.serviceUsageConsumer",
)
# Access is governed by IAM roles above; the scope only has to not be narrower (GKE docs recommend
# cloud-platform together with a least-privilege service account).
NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Fields that describe only the temporary default pool: read back empty once it is removed, and
# ForceNew, so a diff on them would replace the cluster (terraform-provider-google, see ClusterArgs).
MONITORING_COMPONENTS = ["SYSTEM_COMPONENTS", "POD", "DEPLOYMENT", "HPA", "DCGM"]
# The system pool's nodes carry this label: CPU-only work (the model loader) selects it.
SYSTEM_POOL_LABELS = {"llm-serving/role": "system"}
CLUSTER_IGNORED_FIELDS = ["nodeConfig", "initialNodeCount"]
# container, compute, iam for the cluster; storage for the model bucket; monitoring for the dashboard
# and alerts (a fresh project may have neither on); Artifact Registry for the image mirror and the
# Container File System API, which image streaming needs (GKE "Use Image streaming", Requirements).
APIS = ("container.googleapis.com", "compute.googleapis.com", "iam.googleapis.com",
        "storage.googleapis.com", "monitoring.googleapis.com",
        "artifactregistry.googleapis.com", "containerfilesystem.googleapis.com")
# Image streaming (GcfsConfig) for the system pool and, as the cluster's default, for pools GKE
# creates; both update in place (terraform-provider-google node_config.go "updating GKE node pool
# gcfs_config"; resource_container_cluster.go DesiredGcfsConfig), so no pool or cluster is replaced.
IMAGE_STREAMING = True


@dataclass(frozen=True)
class ClusterArgs:
    project: str
    name: str
    location: str  # region (regional control plane) or zone
    region: str
    nap: NapLimits
    system_machine_type: str = "e2-standard-4"
    network: str = "default"
    # REGULAR runs GKE >= 1.33 by late 2026, above every ComputeClass floor we use (flexStart needs
    # 1.32.2-gke.1652000; GKE release notes and the ComputeClass CRD reference).
    release_channel: str = "REGULAR"
    deletion_protection: bool = False
    private_nodes: bool = False
    authorized_networks: Sequence[str] = field(default_factory=tuple)
    # Multi-region stacks (settings/regions.py): an account id that keeps the region code within
    # 30 characters, and the Gateway API (the multi-cluster Gateway's CRDs) on. None/False: as before.
    node_account_id: Optional[str] = None
    gateway_api: bool = False


def kubeconfig(name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin (no static credentials in it)."""
    context = f"gke-llm-serving-{name}"
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca_certificate}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "users": [{"name": context, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "gke-gcloud-auth-plugin",
            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
        }}}],
    })


def subnetwork_link(project: str, region: str, subnetwork: str) -> str:
    """RouterNat wants the subnetwork's self link; the cluster reads back its name (or a link)."""
    if "/" in subnetwork:
        return subnetwork
    return f"projects/{project}/regions/{region}/subnetworks/{subnetwork}"


class GkeCluster(pulumi.ComponentResource):
    """Creates the node service account and its roles, the cluster (NAP on, Workload Identity, release
    channel), a system node pool, Cloud NAT when nodes are private, and a Kubernetes provider.

    Exports `cluster_name`, `endpoint`, `kubeconfig` (secret), `node_service_account` and `provider`.
    """

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:gke:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        apis = [
            # disable_on_destroy=False: other things in the project may use these APIs.
            gcp.projects.Service(f"{name}-api-{api.split('.')[0]}", project=args.project, service=api,
                                 disable_on_destroy=False, opts=child)
            for api in APIS
        ]
        self.apis = apis
        after_apis = pulumi.ResourceOptions(parent=self, depends_on=apis)

        account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            project=args.project,
            account_id=args.node_account_id or f"{args.name}-nodes"[:30].rstrip("-"),
            display_name=f"GKE nodes of {args.name} (least privilege)",
            opts=after_apis,
        )
        members = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('/')[1].replace('.', '-')}",
                project=args.project,
                role=role,
                member=account.email.apply(lambda email: f"serviceAccount:{email}"),
                opts=child,
            )
            for role in NODE_ROLES
        ]

        shielded = dict(enable_secure_boot=True, enable_integrity_monitoring=True)
        self.cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=args.name,
            project=args.project,
            location=args.location,
            network=args.network,
            networking_mode="VPC_NATIVE",
            # GKE Dataplane V2 enforces NetworkPolicy (the model server admits only its port).
            datapath_provider="ADVANCED_DATAPATH",
            # The Cloud Storage FUSE CSI driver, as GKE's managed add-on (manual installs are not
            # supported: gcs-fuse-csi-driver README): the model server reads its weights through it.
            # Managed Service for Prometheus collects the model server's metrics (PodMonitoring), and
            # GKE's packages add kube-state metrics (pods, deployments, HPA) and DCGM GPU metrics for
            # the dashboard and alerts. Enabled explicitly: wrappers have turned it off silently
            # (terraform-google-kubernetes-engine #2331). GMP's automatic application monitoring stays
            # off: it would scrape the server a second time beside our PodMonitoring.
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=MONITORING_COMPONENTS,
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                gcs_fuse_csi_driver_config=gcp.container.ClusterAddonsConfigGcsFuseCsiDriverConfigArgs(enabled=True)),
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"),
            # GPU nodes come only from the ComputeClass; the default pool is replaced by "system".
            # Its node_config still names our account so not even the first node runs as the
            # default compute account (which organisations often disable or strip of roles).
            # Once that pool is gone GKE reads node_config back empty, and node_config is ForceNew:
            # without ignore_changes below, the second `pulumi up` would replace the cluster.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                machine_type=args.system_machine_type,
                service_account=account.email,
                oauth_scopes=NODE_SCOPES,
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(**shielded),
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            ),
            node_pool_defaults=gcp.container.ClusterNodePoolDefaultsArgs(
                node_config_defaults=gcp.container.ClusterNodePoolDefaultsNodeConfigDefaultsArgs(
                    gcfs_config=gcp.container.ClusterNodePoolDefaultsNodeConfigDefaultsGcfsConfigArgs(enabled=IMAGE_STREAMING))),
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
                enabled=True,
                # Caps count every node of the cluster, so they cap the ComputeClass pools too.
                resource_limits=[
                    gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type="cpu", minimum=1, maximum=args.nap.cpu),
                    gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type="memory", minimum=1, maximum=args.nap.memory_gb),
                    gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type=args.nap.gpu_type, minimum=0, maximum=args.nap.gpus),
                ],
                auto_provisioning_defaults=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs(
                    # Without these the provider sends its schema defaults, pd-standard and 100 GB, and
                    # GPU pools GKE creates for the ComputeClass would take them: G2 does not boot on
                    # pd-standard (catalog/nodes.py). The ComputeClass states its own disk too.
                    disk_type=BOOT_DISK_TYPE,
                    disk_size=GPU_BOOT_DISK_GB,
                    service_account=account.email,
                    oauth_scopes=NODE_SCOPES,
                    shielded_instance_config=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsShieldedInstanceConfigArgs(**shielded),
                    management=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsManagementArgs(
                        auto_repair=True, auto_upgrade=True),
                ),
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=False) if args.private_nodes else None,
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=c, display_name=f"allowed-{i}")
                             for i, c in enumerate(args.authorized_networks)],
            ) if args.authorized_networks else None,
            # The multi-cluster Gateway needs the Gateway API CRDs in its config cluster (GKE "Enable
            # multi-cluster Gateways"); every cell gets them so any region can become the config
            # cluster. The GKE API changes it on a running cluster (ClusterUpdate.desiredGatewayApiConfig;
            # `gcloud container clusters update --gateway-api=standard`), so turning it on is an update.
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD") if args.gateway_api else None,
            # The provider defaults to true, which makes `pulumi destroy` fail; config decides.
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*apis, *members],
                ignore_changes=CLUSTER_IGNORED_FIELDS,
                # GKE's deletion protection only fails the last step of `pulumi destroy`, after every
                # Kubernetes object (and the model server) is gone. Pulumi's protect refuses the
                # destroy before it deletes anything. Both follow the same config key.
                protect=args.deletion_protection,
            ),
        )

        self.system_pool = gcp.container.NodePool(
            f"{name}-system",
            name="system",
            project=args.project,
            location=args.location,
            cluster=self.cluster.name,
            initial_node_count=1,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(total_min_node_count=1, total_max_node_count=SYSTEM_POOL_MAX_NODES),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=args.system_machine_type,
                # 50 GB left about 17 GiB of ephemeral storage, less than the loader asked for, and
                # its Job never scheduled. disk_size_gb updates in place (no ForceNew). The type
                # stays GKE's node-pool default (pd-balanced): disk_type is ForceNew on a pool, and
                # a replaced pool named "system" collides with itself (no delete-before-replace).
                disk_size_gb=SYSTEM_BOOT_DISK_GB,
                service_account=account.email,
                oauth_scopes=NODE_SCOPES,
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(**shielded),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                labels=SYSTEM_POOL_LABELS,
                # The loader's image streams through the mirror too.
                gcfs_config=gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=IMAGE_STREAMING),
            ),
            opts=child,
        )

        # After the cluster: NAT covers the cluster's own subnet only, which GKE picks at creation.
        # Nothing on the system nodes needs it to boot (GKE's images come through Private Google
        # Access); what does (the server's image, the loader's Hub download) waits on the provider.
        nat = self._nat(name, args, after_apis) if args.private_nodes else []

        self.cluster_name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.node_service_account = account.email
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate,
        ).apply(lambda parts: kubeconfig(*parts)))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # No delete_unreachable: when the API server cannot be reached (from outside prod's
            # authorized networks, say) it drops every Kubernetes object from state without deleting
            # it, and the load balancer and disks they own would be left running. For a cluster that
            # is really gone, README "Tear down" gives the one-off command.
            # Objects wait for the system pool, so nothing is scheduled before a node exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_pool, *nat]),
        )
        self.register_outputs({
            "cluster_name": self.cluster_name,
            "endpoint": self.endpoint,
            "kubeconfig": self.kubeconfig,
            "node_service_account": self.node_service_account,
        })

    def _nat(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """Private nodes have no external IP: Cloud NAT lets them pull images and download the model.
        Only the cluster's subnet (primary and Pod ranges): other private VMs of the network and region
        keep whatever egress they had (a NAT over ALL_SUBNETWORKS would give it to all of them)."""
        router = gcp.compute.Router(f"{name}-router", name=f"{args.name}-router", project=args.project,
                                    region=args.region, network=args.network, opts=opts)
        nat = gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{args.name}-nat",
            project=args.project,
            region=args.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[gcp.compute.RouterNatSubnetworkArgs(
                name=self.cluster.subnetwork.apply(lambda sub: subnetwork_link(args.project, args.region, sub)),
                source_ip_ranges_to_nats=["ALL_IP_RANGES"],
            )],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return [router, nat]
