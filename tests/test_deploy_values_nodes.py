"""Values a real deploy depends on in GKE's node arithmetic (catalog/nodes.py) and the plan's pod-fit
check (planner/fit.py), pinned as literals: each was a surviving mutant of `make mutants` (or a module
constant, which mutmut does not mutate), a one-token slip no other test noticed. See
tests/MUTANTS-platform.md.

The formulas are GKE's "Plan node sizes" (docs/node-fit-sources.md §3.1, which also holds the observed
nodes quoted below); the expected figures are worked by hand in each test's comment."""

import pytest

from catalog import nodes
from planner import fit

GIB = 1024**3


# --- CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above 4 --------------------

def test_a_one_vcpu_node_keeps_94_percent_of_its_core():
    # Only the first core's 6% applies: 1 - 0.06 = 0.94 (940m). The second core's 1% must not be taken
    # from a machine that has no second core.
    assert nodes.allocatable_cpu(1) == pytest.approx(0.94)


def test_a_16_vcpu_node_leaves_15890m_as_observed():
    # 2i2c-org/infrastructure#2121 (GKE 1.25): 16 vCPU -> 15890m. 0.06 + 0.01 + 0.01 + 12 x 0.0025 = 0.11.
    assert nodes.allocatable_cpu(16) == pytest.approx(15.89)


# --- memory: 25% of 4 GiB, 20% of 4, 10% of 8, 6% of 112, 2% above 128, plus 100 MiB -------------------

def test_g2_standard_24_leaves_86_3_gib_of_memory():
    # The tutorial's GPU machine, 96 GB nominal, 93.696 GiB capacity (97.6%): reserved 1 + 0.8 + 0.8 +
    # 6% x 77.696 = 7.26176; 93.696 - 7.26176 - 0.1 = 86.33424 (docs/node-fit-sources.md: 86.3-87.1).
    # This is what the server pod's memory request is checked against on every L4 stack.
    assert nodes.allocatable_memory_gib(96) == pytest.approx(86.33424, abs=0.001)


def test_a2_ultragpu_2g_takes_two_percent_above_128_gib():
    # 340 GB nominal, 331.84 GiB capacity: 1 + 0.8 + 0.8 + 6% x 112 = 9.32 on the first 128 GiB, then
    # 2% x 203.84 = 4.0768; 331.84 - 13.3968 - 0.1 = 318.3432. A wrong band edge (113) or share above
    # 128 GiB moves the A100 pod's memory boundary.
    assert nodes.allocatable_memory_gib(340) == pytest.approx(318.3432, abs=0.001)


def test_memory_just_past_a_band_edge_still_pays_the_next_bands_share():
    # 9 GB nominal = 8.784 GiB capacity: 0.784 GiB falls in the 10% band (0.0784 reserved). Stopping
    # at a band edge early would give that back: 8.784 - (1 + 0.8 + 0.0784) - 0.1 = 6.8056.
    assert nodes.allocatable_memory_gib(9) == pytest.approx(6.8056, abs=0.001)


# --- ephemeral storage on the boot disk: min(50%, 6 GiB + 35%, 100 GiB) reserved, 10% eviction --------

def test_a_small_boot_disk_reserves_half_of_itself():
    # Below 40 GB, 50% of the disk is the smallest of the three: 30 GB -> 15 GiB reserved (not 16.5).
    # Filesystem 30 x 63/64 - 4.184 = 25.34725; 25.34725 - 15 - 2.534725 = 7.812525.
    assert nodes.boot_disk_ephemeral_gib(30) == pytest.approx(7.812525, abs=0.001)


def test_the_default_gpu_boot_disk_is_200_gb_and_leaves_97_4_gib():
    # 200 GB: filesystem 192.691, reserved min(100, 76, 100) = 76, eviction 19.2691 -> 97.4219 GiB.
    assert nodes.GPU_BOOT_DISK_GB == 200
    assert nodes.boot_disk_ephemeral_gib(200) == pytest.approx(97.4219, abs=0.001)


@pytest.mark.parametrize("need_gib, disk_gb", [
    (0, 200),         # never below 200 GB: the vLLM image alone is 28.6 GB unpacked
    (97.42, 200),     # 200 GB leaves 97.4219 GiB
    (97.43, 250),     # then 50 GB steps: 250 GB leaves 124.2188 GiB
    (124.21, 250),
    (124.22, 300),
])
def test_gpu_boot_disk_grows_from_200_gb_in_50_gb_steps(need_gib, disk_gb):
    # The ComputeClass and NAP defaults ask GKE for this disk on every GPU node: too small and the
    # server pod stays Pending, one step too large and every GPU node pays for the extra disk.
    assert nodes.gpu_boot_disk_gb(need_gib) == disk_gb


def test_a_need_equal_to_what_the_disk_leaves_fits_that_disk():
    # Fitting exactly is fitting (the scheduler compares requests <= allocatable): no extra 50 GB.
    assert nodes.gpu_boot_disk_gb(nodes.boot_disk_ephemeral_gib(250)) == 250


def test_gke_daemonsets_request_no_ephemeral_storage_on_any_node():
    # The dated table (catalog/gke-daemonsets.csv): every observed GKE DaemonSet requests 0
    # ephemeral-storage, so the whole boot disk's allocatable is the pods' on either kind of node.
    assert nodes.daemon_requests(gpu_node=True)[2] == 0
    assert nodes.daemon_requests(gpu_node=False)[2] == 0


# --- Local SSD-backed ephemeral storage: N x 375 GiB less 10%, less 50 / 75 / 100 GiB -------------------

@pytest.mark.parametrize("count, gib", [
    (1, 375 - 50 - 37.5),      # 287.5
    (3, 1125 - 100 - 112.5),   # 912.5: three or more disks reserve 100 GiB
    (4, 1500 - 100 - 150),     # 1250
])
def test_local_ssd_reservation_steps_50_75_then_100_gib(count, gib):
    assert nodes.local_ssd_ephemeral_gib(count) == pytest.approx(gib)


# --- the Cloud Storage FUSE sidecars --------------------------------------------------------------------

def test_the_metadata_prefetch_sidecar_adds_10m_10mi_10mi():
    # gcs-fuse-csi-driver pkg/webhook/sidecar_spec.go: 10m CPU, 10Mi memory, 10Mi ephemeral-storage.
    found = nodes.sidecar_requests({"gke-gcsfuse/volumes": "true"}, prefetch=True)
    assert found == pytest.approx({"cpu": 0.26, "memory": 266 / 1024, "ephemeral-storage": 5 + 10 / 1024})


def test_the_sidecars_ephemeral_request_annotation_is_read():
    # The server pod sizes the sidecar's buffers with this annotation; a wrong key would fall back to
    # the webhook's 5Gi and the plan would check a different pod from the one deployed.
    found = nodes.sidecar_requests({"gke-gcsfuse/volumes": "true", "gke-gcsfuse/ephemeral-storage-request": "97Gi"})
    assert found["ephemeral-storage"] == pytest.approx(97.0)


def test_the_sidecar_ephemeral_default_is_5_gib():
    # The webhook's default (cmd/webhook/main.go); the server's disk file cache is sized beside it.
    assert nodes.SIDECAR_EPHEMERAL_GIB == 5


def test_gpu_nodes_boot_from_pd_balanced():
    # G2 (L4) machines do not take pd-standard, NAP's default.
    assert nodes.BOOT_DISK_TYPE == "pd-balanced"


# --- the plan's pod-fit section (planner/fit.py render) ---------------------------------------------------

SYSTEM_POOL = {"type": "gcp:container/nodePool:NodePool",
               "inputs": {"nodeConfig": {"machineType": "e2-standard-4", "diskSizeGb": 100}}}
GPU_CLASS = {"apiVersion": "cloud.google.com/v1", "kind": "ComputeClass", "metadata": {"name": "gpus"},
             "spec": {"priorities": [{"machineType": "g2-standard-24", "spot": True, "gpu": {"type": "nvidia-l4", "count": 2},
                                      "storage": {"bootDiskType": "pd-balanced", "bootDiskSize": 200}}]}}


def _job(requests: dict, selector: dict | None = None) -> dict:
    return {"kind": "Job", "metadata": {"name": "probe"}, "spec": {"template": {"spec": {
        "nodeSelector": selector or {}, "containers": [{"name": "c", "resources": {"requests": requests}}]}}}}


def test_the_plan_prints_each_pods_requests_allocatable_and_headroom_and_gpus_only_for_gpu_pods():
    # What `make plan` shows a user deciding whether a machine is big enough. System node: 3.92 - 0.469
    # = 3.45 cores, 12.954 - 1.101 = 11.9 GiB, 43.8 GiB. g2-standard-24: 23.87 - 0.719 = 23.15 cores,
    # 86.334 - 1.460 = 84.9 GiB, 97.4 GiB (200 GB disk), 2 GPUs. A pod asking for no GPU gets no GPU cell.
    fits, problems = fit.check([GPU_CLASS, _job({"cpu": "1", "memory": "2Gi"}),
                                _job({"nvidia.com/gpu": "2", "cpu": "20"}, {"cloud.google.com/compute-class": "gpus"})],
                               [SYSTEM_POOL])
    assert problems == []
    assert fit.render(fits) == "\n".join([
        "Pods on their nodes (requests vs allocatable after GKE's DaemonSets; headroom):",
        "  Job probe on system pool e2-standard-4, 100 GB boot disk",
        "    cpu 1.00/3.45 (headroom 2.45); memory 2.0Gi/11.9Gi (headroom 9.9Gi); "
        "ephemeral-storage 0.0Gi/43.8Gi (headroom 43.8Gi)",
        "  Job probe on gpus priority 1: g2-standard-24, 200 GB boot disk",
        "    cpu 20.00/23.15 (headroom 3.15); memory 0.0Gi/84.9Gi (headroom 84.9Gi); "
        "ephemeral-storage 0.0Gi/97.4Gi (headroom 97.4Gi); nvidia.com/gpu 2/2 (headroom 0)",
    ])


def test_the_plan_prints_no_pod_section_when_there_is_no_pod():
    assert fit.render([]) == ""
