"""The GKE ComputeClass that turns the capacity ladder into node pools GKE creates on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from catalog.nodes import BOOT_DISK_TYPE, GPU_BOOT_DISK_GB
from planner.rules import compute_class as compute_class_rules


class InvalidComputeClass(pulumi.RunError):
    pass


@dataclass(frozen=True)
class ComputeClassArgs:
    name: str  # fixed: pods select the class by this name
    tiers: Sequence[str]  # ordered, from "spot", "flex-start", "on-demand"
    machine_type: str  # Compute Engine machine type
    gpu_type: str  # GKE accelerator name, e.g. nvidia-l4
    gpu_count: int
    flex_lead_time_seconds: int = 3600
    flex_max_run_seconds: Optional[int] = None
    active_migration: bool = False
    boot_disk_type: str = BOOT_DISK_TYPE
    boot_disk_gb: int = GPU_BOOT_DISK_GB
    driver_version: str = "default"  # GKE's GPU driver: default, or latest for images built on newer CUDA
    image_streaming: bool = True  # GKE streams Artifact Registry images to the pools it creates


def priority(tier: str, args: ComputeClassArgs) -> dict:
    """One rung of the ladder. GPU type and count are stated so the autoscaler knows what a node of
    this priority offers before it creates one."""
    rung: dict = {
        "machineType": args.machine_type,
        "gpu": {"type": args.gpu_type, "count": args.gpu_count, "driverVersion": args.driver_version},
    }
    # Stated on every rung rather than left to the cluster's NAP defaults: G2 (L4) does not boot on
    # pd-standard, and the disk must hold the serving image and the pod's ephemeral storage, a file
    # cache included (catalog/loading.gpu_boot_disk_gb). No Local SSD: whether storage.localSSDCount
    # backs ephemeral storage or attaches raw block devices is not documented (catalog/loading.py).
    # compute-class-api types.go: priorities[].storage.bootDiskType (enum), bootDiskSize (GB, >= 10).
    rung["storage"] = {"bootDiskType": args.boot_disk_type, "bootDiskSize": args.boot_disk_gb}
    if tier == "spot":
        rung["spot"] = True
    elif tier == "flex-start":
        # GKE starts a replacement node leadTimeSeconds before a flex-start node reaches its end.
        rung["flexStart"] = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": args.flex_lead_time_seconds}}
        if args.flex_max_run_seconds:
            rung["maxRunDurationSeconds"] = args.flex_max_run_seconds
    elif tier == "on-demand":
        rung["spot"] = False
    else:
        raise ValueError(f"unknown capacity tier {tier!r}")
    return rung


def manifest(args: ComputeClassArgs) -> dict:
    spec: dict = {
        "priorities": [priority(tier, args) for tier in args.tiers],
        # Off by default in the CRD; without it GKE never creates the pools the priorities describe.
        "nodePoolAutoCreation": {"enabled": True},
        # The default changed to DoNotScaleUp in GKE 1.33, so say it: a GPU pod on a node outside the
        # ladder (wrong GPU, no GPU) cannot serve, better to wait for capacity.
        "whenUnsatisfiable": "DoNotScaleUp",
    }
    if args.image_streaming:
        # The pools this class creates stream images from Artifact Registry (the serving image comes
        # through the cell's mirror, components/platform/registry.py). compute-class-api types.go
        # NodePoolConfig.imageStreaming, "equivalent to GcfsConfig in GKE" (added to the CRD 2025-08-25;
        # GKE's "ComputeClass CRD reference" example sets nodePoolConfig.imageStreaming.enabled: true).
        # No GKE version floor for the field was found.
        # Pools that existed without it no longer match the class ("Existing node pools will be matched
        # ... only if their configuration match this field"), so GKE creates new ones. The cluster's
        # own default for auto-created pools says the same (components/platform/cluster.py), for control planes
        # whose ComputeClass controller predates the field.
        spec["nodePoolConfig"] = {"imageStreaming": {"enabled": True}}
    if args.active_migration:
        # Moves pods back to a higher priority when it has capacity again, by evicting them; with
        # a model that takes 30-60 minutes to load, each move costs a replica that long.
        spec["activeMigration"] = {"optimizeRulePriority": True}
    return {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": args.name},
        "spec": spec,
    }


class ComputeClass(pulumi.ComponentResource):
    """Creates one cluster-scoped `cloud.google.com/v1` ComputeClass named `args.name`.

    Exports `class_name`, the value pods put in their `cloud.google.com/compute-class` node selector.
    """

    def __init__(self, name: str, args: ComputeClassArgs, opts: Optional[pulumi.ResourceOptions] = None):
        body = manifest(args)
        errors = compute_class_rules.validate(body)
        if errors:  # before anything is registered
            raise InvalidComputeClass(f"ComputeClass {args.name}: " + "; ".join(errors))
        super().__init__("llmserving:gke:ComputeClass", name, None, opts)
        self.resource = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version=body["apiVersion"],
            kind=body["kind"],
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name),
            spec=body["spec"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.class_name = pulumi.Output.from_input(args.name)
        self.register_outputs({"name": self.class_name})
