"""What a GKE node leaves to pods: allocatable CPU, memory and ephemeral storage, less what GKE's own
DaemonSets request there, and the Cloud Storage FUSE sidecar GKE's webhook adds to a pod. Pure
arithmetic, no Pulumi: the offline plan uses it to prove that every pod fits the node it lands on.

Sources (GKE "Plan node sizes" and "Standard cluster architecture: node allocatable resources",
docs.cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes, read 2026-11):
- memory: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above
  128 GiB, plus a 100 MiB eviction threshold;
- CPU: 6% of the first core, 1% of the next, 0.5% of the next 2, 0.25% of every core above 4;
- ephemeral storage on the boot disk: the filesystem is about 63/64 of the disk less 4.184 GiB (COS
  partitions); GKE reserves min(50% of the disk, 6 GiB + 35% of the disk, 100 GiB) for the system and
  an eviction threshold of 10% of the filesystem. The page's own example, a 100 GB boot disk, reports
  capacity 98831908Ki (94.25 GiB) and allocatable 47060071478 bytes (43.83 GiB); the formula gives
  exactly that (tests/test_node_fit.py).
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

GIB = 1024**3
_HERE = Path(__file__).parent

# COS boot disks: the stateful partition is about 63/64 of the disk, less 4.184 GiB of other partitions
# (GKE "Plan node sizes", local ephemeral storage on the boot disk).
_FS_SHARE = 63 / 64
_FS_OVERHEAD_GIB = 4.184
EVICTION_SHARE = 0.10

# Boot disks this project gives its nodes. pd-balanced: G2 (L4) machines do not take pd-standard, which
# node auto-provisioning sends by default (terraform-provider-google resource_container_cluster.go:
# auto_provisioning_defaults.disk_type Default "pd-standard"; Google's own Terraform for g2-standard-*
# pins pd-balanced, "Machines with L4 GPU must not use pd-standard").
BOOT_DISK_TYPE = "pd-balanced"
# System pool: 100 GB leaves 43.8 GiB allocatable (GKE's worked example), room for the loader's staging
# and the adapter beside their images. GPU nodes: 200 GB holds the largest serving image (vLLM, about
# 28.6 GB unpacked: vllm-project/vllm#22377) beside the pods' own files when no Local SSD backs them.
SYSTEM_BOOT_DISK_GB = 100
GPU_BOOT_DISK_GB = 200
GPU_BOOT_DISK_STEP_GB = 50
# The webhook's default ephemeral request for the FUSE sidecar's own buffers (see SIDECAR_DEFAULTS).
SIDECAR_EPHEMERAL_GIB = 5

# A Local SSD is 375 GiB (Compute Engine "About Local SSD disks").
LOCAL_SSD_GIB = 375


def boot_disk_filesystem_gib(disk_gb: float) -> float:
    return disk_gb * _FS_SHARE - _FS_OVERHEAD_GIB


def boot_disk_ephemeral_gib(disk_gb: float) -> float:
    """Allocatable ephemeral storage of a node whose ephemeral storage is its boot disk."""
    fs = boot_disk_filesystem_gib(disk_gb)
    reserved = min(0.5 * disk_gb, 6 + 0.35 * disk_gb, 100)
    return fs - reserved - EVICTION_SHARE * fs


def gpu_boot_disk_gb(need_gib: float) -> int:
    """The smallest GPU boot disk (GPU_BOOT_DISK_GB, then 50 GB steps) whose allocatable ephemeral
    storage, after GKE's DaemonSets, holds `need_gib` (what the server pod requests, plus its image)."""
    disk = GPU_BOOT_DISK_GB
    while boot_disk_ephemeral_gib(disk) - daemon_requests(gpu_node=True)[2] < need_gib:
        disk += GPU_BOOT_DISK_STEP_GB
    return disk


def local_ssd_ephemeral_gib(count: int) -> float:
    """Allocatable ephemeral storage when Local SSDs back it (kubelet and container runtime on a RAID 0
    of the SSDs): count x 375 GiB, less the 10% eviction threshold, less 50, 75 or 100 GiB for 1, 2 or
    3+ disks (GKE "Plan node sizes", Local SSD-backed ephemeral storage, as restated by a secondary
    source: docs/node-fit-sources.md; allow a few percent of margin)."""
    size = count * LOCAL_SSD_GIB
    reserved = {1: 50, 2: 75}.get(count, 100)
    return size - reserved - EVICTION_SHARE * size


def allocatable_cpu(vcpus: int) -> float:
    reserved = 0.06 + 0.01 * (vcpus > 1) + 0.005 * min(2, max(0, vcpus - 2)) + 0.0025 * max(0, vcpus - 4)
    return vcpus - reserved


# The kubelet's memory capacity is below the machine's nominal size (kernel and firmware): 97.6-98.4%
# on observed 16-64 GB nodes, and GKE applies its formula to that capacity (docs/node-fit-sources.md §3.1:
# n2-standard-4 capacity 16380004Ki, allocatable 13591652Ki). The low end, to err towards "does not fit".
MEMORY_CAPACITY_SHARE = 0.976


def allocatable_memory_gib(memory_gb: float) -> float:
    """Allocatable memory of a machine with `memory_gb` nominal (Compute Engine's GB are GiB)."""
    capacity = memory_gb * MEMORY_CAPACITY_SHARE
    left, reserved = capacity, 0.0
    for size, share in ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02)):
        part = min(left, size)
        reserved += part * share
        left -= part
        if left <= 0:
            break
    return capacity - reserved - 0.1


# --- GKE's own DaemonSets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Daemon:
    node_kind: str  # "all" nodes, or "gpu" nodes only
    name: str
    cpu: float  # cores
    memory_gib: float
    ephemeral_gib: float
    source: str


@functools.cache
def daemons() -> tuple[Daemon, ...]:
    with open(_HERE / "gke-daemonsets.csv", newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return tuple(Daemon(r["node_kind"], r["daemonset"], int(r["cpu_m"]) / 1000, int(r["memory_mi"]) / 1024,
                        int(r["ephemeral_mi"]) / 1024, r["source"]) for r in rows)


def daemon_requests(gpu_node: bool) -> tuple[float, float, float]:
    """(cores, GiB memory, GiB ephemeral) GKE's DaemonSets request on a node of that kind."""
    found = [d for d in daemons() if d.node_kind == "all" or (gpu_node and d.node_kind == "gpu")]
    return (sum(d.cpu for d in found), sum(d.memory_gib for d in found), sum(d.ephemeral_gib for d in found))


# --- the node a pod lands on -------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One kind of node: a pool's machine and disks, and what it leaves to our pods."""
    description: str  # e.g. "system pool e2-standard-4, 100 GB boot disk"
    vcpus: int
    memory_gib: float
    boot_disk_gb: int
    local_ssd_count: int = 0  # backing ephemeral storage when > 0
    gpu_node: bool = False
    gpus: int = 0

    @property
    def cpu(self) -> float:
        return allocatable_cpu(self.vcpus) - daemon_requests(self.gpu_node)[0]

    @property
    def memory(self) -> float:
        return allocatable_memory_gib(self.memory_gib) - daemon_requests(self.gpu_node)[1]

    @property
    def ephemeral(self) -> float:
        storage = (local_ssd_ephemeral_gib(self.local_ssd_count) if self.local_ssd_count
                   else boot_disk_ephemeral_gib(self.boot_disk_gb))
        return storage - daemon_requests(self.gpu_node)[2]

    def free(self) -> dict[str, float]:
        """What pods of ours may request: allocatable less GKE's DaemonSets."""
        return {"cpu": self.cpu, "memory": self.memory, "ephemeral-storage": self.ephemeral, "nvidia.com/gpu": self.gpus}


# --- the Cloud Storage FUSE sidecar ------------------------------------------------------------------

# The webhook's defaults when a pod's annotations do not say: 250m, 256Mi, 5Gi (gcs-fuse-csi-driver
# 5fcdc04a cmd/webhook/main.go flag defaults and pkg/webhook/config.go; a request alone sets the limit
# too, a limit alone sets the request). With gcsfuseMetadataPrefetchOnMount it also injects a
# metadata-prefetch sidecar requesting 10m, 10Mi, 10Mi (pkg/webhook/sidecar_spec.go).
SIDECAR_DEFAULTS = {"cpu": 0.25, "memory": 256 / 1024, "ephemeral-storage": 5.0}
PREFETCH_SIDECAR = {"cpu": 0.01, "memory": 10 / 1024, "ephemeral-storage": 10 / 1024}
_ANNOTATION = {"cpu": "gke-gcsfuse/cpu-request", "memory": "gke-gcsfuse/memory-request",
               "ephemeral-storage": "gke-gcsfuse/ephemeral-storage-request"}


def sidecar_requests(annotations: dict[str, str], prefetch: bool = False) -> Optional[dict[str, float]]:
    """What the injected sidecars request, or None when the pod asks for no Cloud Storage FUSE volume.
    They are native sidecars (init containers that keep running), so their requests add to the pod's."""
    if str(annotations.get("gke-gcsfuse/volumes", "")).lower() != "true":
        return None
    found = {}
    for resource, key in _ANNOTATION.items():
        limit = annotations.get(key.replace("-request", "-limit"))
        if key in annotations:
            found[resource] = parse_quantity(annotations[key], resource)
        elif limit not in (None, "0"):
            found[resource] = parse_quantity(limit, resource)  # a limit alone sets the request
        else:
            found[resource] = SIDECAR_DEFAULTS[resource]
        if prefetch:
            found[resource] += PREFETCH_SIDECAR[resource]
    return found


_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
_DECIMAL = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_quantity(value, resource: str) -> float:
    """A Kubernetes quantity as cores (cpu), or GiB (memory, ephemeral-storage), or a count."""
    text = str(value).strip()
    if resource == "cpu":
        return int(text[:-1]) / 1000 if text.endswith("m") else float(text)
    for suffix, factor in {**_BINARY, **_DECIMAL}.items():
        if text.endswith(suffix):
            number = float(text[: -len(suffix)]) * factor
            break
    else:
        number = float(text)
    return number / GIB if resource in ("memory", "ephemeral-storage") else number
