"""The project's fleet: every cell's cluster registered, Multi Cluster Service Discovery and Multi
Cluster Gateway turned on with the first region's cluster as the config cluster, and the fleet's
service agents granted what they need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp

from components.platform import identity
from components.operations import metrics_adapter

# What the multi-cluster Gateway needs enabled (GKE "Prepare your environment for multi-cluster
# Gateways" / "Enable multi-cluster Gateways": gkehub, multiclusterservicediscovery,
# multiclusteringress, trafficdirector, dns; the same list in public MCS set-up scripts such as
# jojonicho/skripsi gke/2-mcs.sh). disable_on_destroy=False like the cluster's: others may use them.
APIS = ("gkehub.googleapis.com", "multiclusterservicediscovery.googleapis.com", "multiclusteringress.googleapis.com",
        "trafficdirector.googleapis.com", "dns.googleapis.com")

# The Multi Cluster Ingress service agent programs the load balancer from the config cluster and
# needs roles/container.admin on the project (GKE "Enable multi-cluster Gateways": "gcloud projects
# add-iam-policy-binding ... service-PROJECT_NUMBER@gcp-sa-multiclusteringress.iam.gserviceaccount.com
# --role roles/container.admin").
MCI_ROLE = "roles/container.admin"
# The MCS importer (KSA gke-mcs/gke-mcs-importer in every member cluster) reads the VPC to build
# ServiceImports: roles/compute.networkViewer for the Workload Identity principal (GKE "Configuring
# multi-cluster Services"; ndebuhr/isidro provisioning/modules/foundation/iam-mcs.tf grants the same
# role to PROJECT.svc.id.goog[gke-mcs/gke-mcs-importer]). The pool exists only once a cluster does.
MCS_ROLE = "roles/compute.networkViewer"
MCS_NAMESPACE, MCS_ACCOUNT = "gke-mcs", "gke-mcs-importer"


def mci_agent(number: str) -> str:
    return f"serviceAccount:service-{number}@gcp-sa-multiclusteringress.iam.gserviceaccount.com"


def membership_name(project: str, location: str, membership_id: str) -> str:
    """What configMembership takes: projects/P/locations/L/memberships/M, without the
    //gkehub.googleapis.com/ prefix a cluster's own `fleet.membership` output carries (pulumi-gcp
    10.2.0 gkehub FeatureSpecMulticlusteringressArgs: "Example: projects/foo-proj/locations/global/memberships/bar")."""
    return f"projects/{project}/locations/{location}/memberships/{membership_id}"


@dataclass(frozen=True)
class Member:
    region: str
    location: str  # the cluster's location (its region)
    cluster_name: pulumi.Input[str]
    cluster: pulumi.Resource
    suffix: str  # the cell's name suffix


@dataclass(frozen=True)
class FleetArgs:
    project: str
    project_number: pulumi.Input[str]
    members: Sequence[Member]  # the first is the config cluster
    grant_metrics_viewer: bool = False  # one monitoring.viewer grant for every cluster's metrics adapter


class Fleet(pulumi.ComponentResource):
    """Creates the fleet APIs, a regional Membership per cluster, the multiclusterservicediscovery
    and multiclusteringress features (config membership: the first member), the IAM grants of the
    MCI service agent and the MCS importer, and (when autoscaled) the metrics adapters' one grant.

    Exports `memberships` (config-membership names by region) and `config_membership`.
    """

    def __init__(self, name: str, args: FleetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        if len(args.members) < 2:
            raise ValueError("a fleet of serving cells needs two or more members")
        super().__init__("llmserving:gke:Fleet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        apis = [gcp.projects.Service(f"{name}-api-{api.split('.')[0]}", project=args.project, service=api,
                                     disable_on_destroy=False, opts=child) for api in APIS]
        clusters = [m.cluster for m in args.members]

        # A Membership of its own rather than the cluster's `fleet` block: the cluster resource (and
        # the single-region stacks' plans) stay as they were, and the membership's id and location
        # are ours, so the config membership's name is known without parsing an output.
        # Regional memberships, as the cluster's own fleet registration makes them (more than one
        # global membership confuses the hub: GoogleCloudPlatform/k8s-config-connector#2525).
        # The endpoint's resource_link and the authority's issuer force replacement, and built from
        # the cluster's id (unknown while planning) they re-create the membership on every plan
        # (terraform-google-kubernetes-engine#1434, #1664): both are spelled from project, location
        # and name here, so only renaming a region's cluster re-registers it. The issuer is fleet
        # Workload Identity, what `gcloud container fleet memberships register
        # --enable-workload-identity` sets and Multi Cluster Services relies on.
        self.memberships = []
        for m in args.members:
            path = pulumi.Output.from_input(m.cluster_name).apply(
                lambda cluster, loc=m.location: f"projects/{args.project}/locations/{loc}/clusters/{cluster}")
            self.memberships.append(gcp.gkehub.Membership(
                f"{name}-member{m.suffix}",
                project=args.project,
                membership_id=m.cluster_name,
                location=m.location,
                endpoint=gcp.gkehub.MembershipEndpointArgs(gke_cluster=gcp.gkehub.MembershipEndpointGkeClusterArgs(
                    resource_link=path.apply(lambda p: f"//container.googleapis.com/{p}"))),
                authority=gcp.gkehub.MembershipAuthorityArgs(issuer=path.apply(lambda p: f"https://container.googleapis.com/v1/{p}")),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*apis, m.cluster]),
            ))
        first = args.members[0]
        self.config_membership = pulumi.Output.from_input(first.cluster_name).apply(
            lambda cluster: membership_name(args.project, first.location, cluster))

        # Features are project singletons at location "global" (name and location ForceNew); the
        # MCI spec's configMembership updates in place, which is how the config cluster is moved.
        self.mcs = gcp.gkehub.Feature(f"{name}-mcs", project=args.project, name="multiclusterservicediscovery",
                                      location="global", opts=pulumi.ResourceOptions(parent=self, depends_on=[*apis, *self.memberships]))
        self.mci = gcp.gkehub.Feature(
            f"{name}-mci", project=args.project, name="multiclusteringress", location="global",
            spec=gcp.gkehub.FeatureSpecArgs(multiclusteringress=gcp.gkehub.FeatureSpecMulticlusteringressArgs(
                config_membership=self.config_membership)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*apis, *self.memberships, self.mcs]))

        number = pulumi.Output.from_input(args.project_number)
        # The MCI agent exists once its API is on; the importer's principal once a cluster's pool is.
        self.grants = [
            gcp.projects.IAMMember(f"{name}-mci-agent", project=args.project, role=MCI_ROLE,
                                   member=number.apply(mci_agent), opts=pulumi.ResourceOptions(parent=self, depends_on=[*apis, self.mci])),
            gcp.projects.IAMMember(f"{name}-mcs-importer", project=args.project, role=MCS_ROLE,
                                   member=number.apply(lambda n: identity.principal(n, args.project, MCS_NAMESPACE, MCS_ACCOUNT)),
                                   opts=pulumi.ResourceOptions(parent=self, depends_on=[*apis, *clusters, self.mcs])),
        ]
        if args.grant_metrics_viewer:
            self.grants.append(gcp.projects.IAMMember(
                f"{name}-metrics-viewer", project=args.project, role=metrics_adapter.ROLE,
                member=number.apply(lambda n: metrics_adapter.member(n, args.project)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=clusters)))
        self.ready = [self.mcs, self.mci, *self.grants]
        self.register_outputs({"config_membership": self.config_membership})
