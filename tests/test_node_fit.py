"""Every pod fits the node it lands on: GKE's allocatable formulas, GKE's own DaemonSets, the Cloud
Storage FUSE sidecar the webhook injects, and the plan failing on a pod that would stay Pending."""

import pytest
import yaml

from catalog import nodes
from planner import fit
from test_plan import plan, stack_dir_with

GIB = 1024**3


def test_boot_disk_formula_reproduces_gkes_100_gb_example():
    # GKE "Plan node sizes": capacity 98831908Ki, allocatable 47060071478 bytes for a 100 GB boot disk.
    assert nodes.boot_disk_filesystem_gib(100) == pytest.approx(98831908 * 1024 / GIB, abs=0.01)
    assert nodes.boot_disk_ephemeral_gib(100) == pytest.approx(47060071478 / GIB, abs=0.01)


def test_a_50_gb_boot_disk_leaves_17_gib_the_loader_never_fit():
    # 45.0 GiB filesystem - 23.5 reserved - 4.5 eviction threshold (the round-3 review's A1).
    assert nodes.boot_disk_ephemeral_gib(50) == pytest.approx(17.0, abs=0.05)


def test_reservation_is_capped_at_100_gib_on_large_disks():
    # 300 GB: min(150, 111, 100) = 100 reserved; 291.1 GiB filesystem less 10%.
    assert nodes.boot_disk_ephemeral_gib(300) == pytest.approx(291.15 * 0.9 - 100, abs=0.05)


def test_two_local_ssds_back_600_gib_of_ephemeral_storage():
    assert nodes.local_ssd_ephemeral_gib(2) == pytest.approx(750 - 75 - 75)


def test_cpu_allocatable_follows_gkes_steps():
    assert nodes.allocatable_cpu(4) == pytest.approx(3.92)  # observed 3920m on 4-vCPU nodes
    assert nodes.allocatable_cpu(24) == pytest.approx(23.87)
    assert nodes.allocatable_cpu(2) == pytest.approx(1.93)


def test_memory_allocatable_matches_an_observed_16_gb_node():
    # n2-standard-4 on GKE 1.36: allocatable 13591652Ki (docs/node-fit-sources.md).
    assert nodes.allocatable_memory_gib(16) == pytest.approx(13591652 / 1024**2, abs=0.02)


def test_gke_daemonsets_on_a_gpu_node_are_the_dated_table_sum():
    cpu, memory, ephemeral = nodes.daemon_requests(gpu_node=True)
    assert cpu == pytest.approx(0.719) and memory == pytest.approx(1495 / 1024) and ephemeral == 0
    assert nodes.daemon_requests(gpu_node=False)[:2] == pytest.approx((0.469, 1127 / 1024))


def test_fuse_sidecar_takes_the_webhooks_defaults_when_the_pod_does_not_say():
    assert nodes.sidecar_requests({"gke-gcsfuse/volumes": "true"}) == pytest.approx(
        {"cpu": 0.25, "memory": 0.25, "ephemeral-storage": 5.0})
    assert nodes.sidecar_requests({}) is None


def test_a_sidecar_limit_alone_becomes_its_request_and_zero_means_unlimited():
    annotations = {"gke-gcsfuse/volumes": "true", "gke-gcsfuse/memory-limit": "3Gi", "gke-gcsfuse/cpu-limit": "0"}
    found = nodes.sidecar_requests(annotations)
    assert found["memory"] == pytest.approx(3.0) and found["cpu"] == pytest.approx(0.25)


def test_metadata_prefetch_adds_its_own_small_sidecar():
    found = nodes.sidecar_requests({"gke-gcsfuse/volumes": "true", "gke-gcsfuse/cpu-request": "1"}, prefetch=True)
    assert found["cpu"] == pytest.approx(1.01)


SYSTEM_POOL = {"type": "gcp:container/nodePool:NodePool",
               "inputs": {"nodeConfig": {"machineType": "e2-standard-4", "diskSizeGb": 100}}}
CLASS = {"apiVersion": "cloud.google.com/v1", "kind": "ComputeClass", "metadata": {"name": "gpus"},
         "spec": {"priorities": [{"machineType": "g2-standard-24", "spot": True, "gpu": {"type": "nvidia-l4", "count": 2},
                                  "storage": {"bootDiskType": "pd-balanced", "bootDiskSize": 200}}]}}


def job(requests: dict, selector: dict | None = None) -> dict:
    return {"kind": "Job", "metadata": {"name": "probe"}, "spec": {"template": {"spec": {
        "nodeSelector": selector or {}, "containers": [{"name": "c", "resources": {"requests": requests}}]}}}}


@pytest.mark.parametrize("requests, line", [
    ({"cpu": "3500m"}, "cpu needs 3.50 cores, the node has 3.45 cores allocatable"),
    ({"memory": "12Gi"}, "memory needs 12.00 GiB, the node has 11.85 GiB allocatable"),
    ({"ephemeral-storage": "44Gi"}, "ephemeral-storage needs 44.00 GiB, the node has 43.83 GiB allocatable"),
])
def test_a_pod_asking_for_more_than_the_system_node_has_is_named_with_need_and_allocatable(requests, line):
    _, problems = fit.check([job(requests)], [SYSTEM_POOL])
    assert problems == [f"Job probe does not fit its node (system pool e2-standard-4, 100 GB boot disk): {line} (after GKE's DaemonSets)"]


def test_a_pod_just_under_the_limit_fits():
    fits, problems = fit.check([job({"cpu": "3450m", "ephemeral-storage": "43Gi"})], [SYSTEM_POOL])
    assert problems == [] and fits[0].headroom["cpu"] == pytest.approx(0.001)


def test_a_gpu_pod_asking_for_more_gpus_than_the_class_machine_has_does_not_fit():
    _, problems = fit.check([CLASS, job({"nvidia.com/gpu": "3"}, {"cloud.google.com/compute-class": "gpus"})], [SYSTEM_POOL])
    assert problems == ["Job probe does not fit its node (gpus priority 1: g2-standard-24, 200 GB boot disk): "
                        "nvidia.com/gpu needs 3 GPUs, the node has 2 GPUs allocatable (after GKE's DaemonSets)"]


def test_a_pod_selecting_a_class_the_plan_does_not_create_is_a_problem():
    _, problems = fit.check([job({}, {"cloud.google.com/compute-class": "missing"})], [SYSTEM_POOL])
    assert problems == ["Job probe selects ComputeClass missing, which the plan does not create"]


def test_the_injected_sidecar_counts_towards_the_pod():
    pod = job({"cpu": "3"})
    pod["spec"]["template"]["metadata"] = {"annotations": {"gke-gcsfuse/volumes": "true", "gke-gcsfuse/cpu-request": "1"}}
    _, problems = fit.check([pod], [SYSTEM_POOL])
    assert problems and "cpu needs 4.00 cores" in problems[0]


def test_a_small_system_machine_is_refused_before_the_plan_renders(tmp_path, capsys):
    # e2-standard-2 leaves 1.46 cores after GKE's DaemonSets; the loader and its sidecar ask for 2.
    code, _, err, _ = plan(tmp_path, capsys, "t", stack_dir_with(tmp_path, {"gke-llm-serving:systemMachineType": "e2-standard-2"}))
    assert code == 2
    assert "config systemMachineType='e2-standard-2': the model loader needs 2 cores of cpu" in err


def test_hub_mode_has_no_loader_and_runs_on_a_small_system_machine(tmp_path, capsys):
    code, out, err, _ = plan(tmp_path, capsys, "t", stack_dir_with(
        tmp_path, {"gke-llm-serving:systemMachineType": "e2-standard-2", "gke-llm-serving:weightSource": "hub"}))
    assert code == 0, out + err
    assert "Job model-loader" not in out


@pytest.mark.parametrize("stack", ["dev", "prod", "vllm"])
def test_every_stack_prints_each_pods_headroom_and_fits(tmp_path, capsys, stack):
    code, out, err, _ = plan(tmp_path, capsys, stack)
    assert code == 0, out + err
    section = out.split("Pods on their nodes")[1].split("\n\n")[0]
    # vLLM streams its weights (Run:ai Model Streamer): no FUSE sidecar beside it.
    sidecar = "" if stack == "vllm" else " (+ Cloud Storage FUSE sidecar)"
    assert f"Deployment llm{sidecar} on dws-model-inference-class" in section
    assert "Job model-loader (+ Cloud Storage FUSE sidecar) on system pool e2-standard-4, 100 GB boot disk" in section
    assert "headroom" in section and "DOES NOT FIT" not in section
    assert "every pod fits its node" in out


def test_a_pod_that_does_not_fit_fails_the_plan_with_one_line(tmp_path, capsys, monkeypatch):
    # A server work directory of 500 GiB cannot fit a 300 GB boot disk: the plan must say so and exit 1.
    # 597.01 = 500 work + 92 cache + 5 sidecar + 10 MiB prefetch sidecar; 162.02 = the 300 GB disk's.
    from components.serving import inference_server

    monkeypatch.setattr(inference_server, "WORK_DIR_GIB", 500)
    code, out, _, _ = plan(tmp_path, capsys, "dev")
    assert code == 1
    assert ("Deployment llm does not fit its node (dws-model-inference-class priorities 1, 2: g2-standard-24, "
            "300 GB boot disk): ephemeral-storage needs 597.01 GiB, the node has 162.02 GiB allocatable "
            "(after GKE's DaemonSets)") in out
    assert "every pod fits its node" not in out and "Validation: FAILED" in out


def test_a_system_pod_must_select_the_system_pools_nodes_or_none():
    # A selector no pool's nodes carry leaves the pod Pending: the plan names it.
    pod = job({"cpu": "1"}, {"cloud.google.com/gke-nodepool": "nowhere"})
    _, problems = fit.check([pod], [{**SYSTEM_POOL, "inputs": {**SYSTEM_POOL["inputs"], "nodeConfig": {
        **SYSTEM_POOL["inputs"]["nodeConfig"], "labels": {"llm-serving/role": "system"}}}}])
    assert problems == ["Job probe selects nodes labelled cloud.google.com/gke-nodepool=nowhere; the system pool's nodes "
                        "carry llm-serving/role=system"]


@pytest.mark.parametrize("machine, fits", [
    ("e2-highcpu-4", False),  # 4 cores, but 1.7 GiB left for the loader's 4
    ("e2-standard-4", True),
])
def test_system_machine_boundary_for_the_loader(machine, fits):
    from conftest import evaluate
    import settings

    if fits:
        assert evaluate(systemMachineType=machine).result["s"].system_machine_type == machine
    else:
        with pytest.raises(settings.ConfigError) as error:
            evaluate(systemMachineType=machine)
        assert "the model loader needs 4 GiB of memory and a e2-highcpu-4 node leaves 1.73" in str(error.value)
