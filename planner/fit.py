"""Every pod the program creates, the node it lands on, and whether it fits there.

Mocks accept any pod, and so would the plan, while a real scheduler leaves a pod that asks for more
than its node has Pending forever (the loader Job did exactly that: 20 GiB of ephemeral storage on a
node with about 17). So for each pod template (Deployments, Jobs) this module:
1. finds its node: the ComputeClass its `cloud.google.com/compute-class` selector names (every
   priority's machine, boot disk and Local SSDs), else the system pool (GPU nodes carry GKE's
   nvidia.com/gpu taint, so a pod without a GPU and without a class can land nowhere else);
2. adds up the pod's requests the way the scheduler does (containers, the larger of any init
   container, plus the Cloud Storage FUSE sidecar the webhook injects, from the pod's annotations or
   the webhook's defaults);
3. compares them with what that node leaves to pods: GKE's allocatable less GKE's own DaemonSets
   (catalog/nodes.py).
Each pod is checked against an empty node of its kind: the cluster autoscaler adds nodes (the system
pool to its maximum, GPU nodes one per replica), so pods never have to share one to fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import catalog
from catalog import nodes

RESOURCES = ("cpu", "memory", "ephemeral-storage", "nvidia.com/gpu")
_UNITS = {"cpu": "cores", "memory": "GiB", "ephemeral-storage": "GiB", "nvidia.com/gpu": "GPUs"}
COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"


@dataclass(frozen=True)
class PodFit:
    pod: str  # "Deployment llm"
    node: nodes.Node
    need: dict[str, float]
    free: dict[str, float]
    sidecar: bool = False

    @property
    def headroom(self) -> dict[str, float]:
        return {r: self.free[r] - self.need.get(r, 0.0) for r in RESOURCES if r in self.free}

    @property
    def misfits(self) -> list[str]:
        """One line per resource the pod asks more of than the node has."""
        return [f"{self.pod} does not fit its node ({self.node.description}): {r} needs "
                f"{_amount(r, self.need[r])}, the node has {_amount(r, self.free[r])} allocatable "
                f"(after GKE's DaemonSets)"
                for r in RESOURCES if self.need.get(r, 0.0) > self.free.get(r, 0.0) + 1e-9]


def _amount(resource: str, value: float) -> str:
    if resource == "nvidia.com/gpu":
        return f"{value:g} GPUs"
    return f"{value:.2f} {_UNITS[resource]}"


@dataclass
class Cluster:
    """The kinds of node the rendered plan describes."""
    system: Optional[nodes.Node] = None
    system_labels: dict[str, str] = field(default_factory=dict)
    classes: dict[str, list[nodes.Node]] = field(default_factory=dict)


def _system_node(pool: dict) -> nodes.Node:
    config = pool.get("nodeConfig") or {}
    machine = config.get("machineType", "e2-medium")
    shape = catalog.general_purpose(machine)
    if shape is None:
        raise ValueError(f"system pool machine {machine} is not in the catalog")
    disk = int(config.get("diskSizeGb") or 100)  # GKE's default boot disk is 100 GB
    return nodes.Node(f"system pool {machine}, {disk} GB boot disk", shape[0], shape[1], disk)


def _gpu_machine(machine_type: str, gpu_type: Optional[str]) -> catalog.Machine:
    for m in catalog.machines().values():
        if m.gce_machine_type == machine_type and (gpu_type is None or m.accelerator == gpu_type):
            return m
    raise ValueError(f"ComputeClass machine {machine_type} is not in the catalog")


def _class_nodes(obj: dict, default_disk_gb: int) -> list[nodes.Node]:
    """One node per distinct rung shape: a ladder of one machine on Spot, flex-start and on-demand
    is one kind of node, checked (and printed) once."""
    shapes: dict[tuple, list[int]] = {}
    for i, rung in enumerate(obj.get("spec", {}).get("priorities", []), 1):
        gpu = rung.get("gpu") or {}
        storage = rung.get("storage") or {}
        shape = (rung["machineType"], gpu.get("type"), int(gpu.get("count") or 0),
                 int(storage.get("bootDiskSize") or default_disk_gb), int(storage.get("localSSDCount") or 0))
        shapes.setdefault(shape, []).append(i)
    found = []
    for (machine_type, gpu_type, gpus, disk, ssds), rungs in shapes.items():
        machine = _gpu_machine(machine_type, gpu_type)
        # Only the boot disk is counted: whether GKE backs ephemeral storage with a rung's Local SSDs
        # is undocumented (catalog/loading.py), so a pod must fit without them.
        storage = f"{disk} GB boot disk" + (f" (+{ssds} Local SSD(s), not counted)" if ssds else "")
        which = "priority" if len(rungs) == 1 else "priorities"
        found.append(nodes.Node(
            f"{obj['metadata']['name']} {which} {', '.join(map(str, rungs))}: {machine_type}, {storage}",
            machine.vcpus, machine.memory_gb, disk, 0, gpu_node=True, gpus=gpus or machine.gpu_count))
    return found


def cluster_of(k8s_objects: list[dict], gcp_resources: list[dict]) -> Cluster:
    """`gcp_resources`: {"type", "inputs"} as the plan writes them under gcp/."""
    found = Cluster()
    nap_disk = 100  # NAP's own default boot disk
    for r in gcp_resources:
        if r["type"] == "gcp:container/nodePool:NodePool":
            found.system = _system_node(r["inputs"])
            found.system_labels = dict((r["inputs"].get("nodeConfig") or {}).get("labels") or {})
        if r["type"] == "gcp:container/cluster:Cluster":
            defaults = ((r["inputs"].get("clusterAutoscaling") or {}).get("autoProvisioningDefaults") or {})
            nap_disk = int(defaults.get("diskSize") or nap_disk)
    for obj in k8s_objects:
        if obj.get("kind") == "ComputeClass":
            found.classes[obj["metadata"]["name"]] = _class_nodes(obj, nap_disk)
    return found


def pod_requests(template: dict) -> tuple[dict[str, float], bool]:
    """What the scheduler counts for one pod: the sum of its containers' requests (a limit alone counts
    as the request), or the largest init container if larger, plus the FUSE sidecar. (requests, sidecar?)"""
    spec = template.get("spec") or {}

    def of(container: dict) -> dict[str, float]:
        res = container.get("resources") or {}
        asked = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        return {r: nodes.parse_quantity(asked[r], r) for r in RESOURCES if r in asked}

    total = {r: 0.0 for r in RESOURCES}
    for c in spec.get("containers") or []:
        for r, v in of(c).items():
            total[r] += v
    for c in spec.get("initContainers") or []:
        for r, v in of(c).items():
            total[r] = max(total[r], v)
    prefetch = any(str(((v.get("csi") or {}).get("volumeAttributes") or {}).get("gcsfuseMetadataPrefetchOnMount", "")).lower() == "true"
                   for v in spec.get("volumes") or [])
    sidecar = nodes.sidecar_requests((template.get("metadata") or {}).get("annotations") or {}, prefetch)
    if sidecar:
        for r, v in sidecar.items():
            total[r] += v
    return total, sidecar is not None


def _templates(obj: dict) -> Optional[dict]:
    if obj.get("kind") in ("Deployment", "Job", "StatefulSet", "ReplicaSet"):
        return (obj.get("spec") or {}).get("template")
    return None


def check(k8s_objects: list[dict], gcp_resources: list[dict]) -> tuple[list[PodFit], list[str]]:
    """(every pod's fit on every node it may land on, problems). A problem is a pod that does not fit,
    or a pod whose node the plan cannot tell."""
    cluster = cluster_of(k8s_objects, gcp_resources)
    fits: list[PodFit] = []
    problems: list[str] = []
    for obj in k8s_objects:
        template = _templates(obj)
        if template is None:
            continue
        meta = obj.get("metadata") or {}
        # Auto-named objects (the loader Job) have no name until the provider gives one: their app label.
        pod = f"{obj['kind']} {meta.get('name') or (meta.get('labels') or {}).get('app', '(auto-named)')}"
        selector = (template.get("spec") or {}).get("nodeSelector") or {}
        if COMPUTE_CLASS_LABEL in selector:
            targets = cluster.classes.get(selector[COMPUTE_CLASS_LABEL])
            if not targets:
                problems.append(f"{pod} selects ComputeClass {selector[COMPUTE_CLASS_LABEL]}, which the plan does not create")
                continue
        elif cluster.system is not None:
            wanted = {k: v for k, v in selector.items() if cluster.system_labels.get(k) != v}
            if wanted:
                have = ", ".join(f"{k}={v}" for k, v in cluster.system_labels.items()) or "no labels"
                problems.append(f"{pod} selects nodes labelled {', '.join(f'{k}={v}' for k, v in wanted.items())}; "
                                f"the system pool's nodes carry {have}")
                continue
            targets = [cluster.system]
        else:
            problems.append(f"{pod}: no node pool in the plan for it to land on")
            continue
        need, sidecar = pod_requests(template)
        for node in targets:
            fit = PodFit(pod, node, need, node.free(), sidecar)
            fits.append(fit)
            problems += fit.misfits
    return fits, problems


def render(fits: list[PodFit]) -> str:
    """The plan's section: each pod, its node, and its headroom per resource."""
    if not fits:
        return ""
    lines = ["Pods on their nodes (requests vs allocatable after GKE's DaemonSets; headroom):"]
    # A stack with regions has the same pods in every cluster: each distinct line once, with a count.
    seen: dict[tuple[str, str], int] = {}
    for f in fits:
        head = f"  {f.pod}{' (+ Cloud Storage FUSE sidecar)' if f.sidecar else ''} on {f.node.description}"
        cells = []
        for r in RESOURCES:
            if r == "nvidia.com/gpu" and not f.need.get(r):
                continue
            mark = "" if f.headroom[r] >= 0 else "  DOES NOT FIT"
            cells.append(f"{r} {_short(r, f.need.get(r, 0.0))}/{_short(r, f.free[r])} (headroom {_short(r, f.headroom[r])}){mark}")
        key = (head, "    " + "; ".join(cells))
        seen[key] = seen.get(key, 0) + 1
    for (head, body), count in seen.items():
        lines += [head + (f" (x{count}, one per cluster)" if count > 1 else ""), body]
    return "\n".join(lines)


def _short(resource: str, value: float) -> str:
    if resource == "cpu":
        return f"{value:.2f}"
    if resource == "nvidia.com/gpu":
        return f"{value:g}"
    return f"{value:.1f}Gi"
