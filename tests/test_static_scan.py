"""checkov's Kubernetes checks over the rendered manifests: no failures but the listed ones."""

import json
import os
import subprocess

import pytest

from planner.__main__ import main

# Each accepted failure, and why.
ACCEPTED = {
    "CKV_K8S_14": "image tag: the default is the tutorial's image, versioned by repository name (TGI 2.3, "
                  "CUDA 12.4) with no tag; set `image` to a digest (the program warns until you do)",
    "CKV_K8S_43": "image digest: as above; no digest can be verified offline",
    "CKV_K8S_23": "root container: the TGI image runs as root and defines no other user",
    "CKV_K8S_40": "high UID: as above",
    "CKV_K8S_22": "read-only root filesystem: TGI and PyTorch write caches outside HF_HOME at run time",
    "CKV_K8S_35": "secrets as env vars: TGI's launcher reads HF_TOKEN and API_KEY only from the environment; "
                  "they come from secretKeyRef, never as literal values",
    "CKV_K8S_8": "liveness probe: deliberately none, a restart costs a 30-60 minute model reload; "
                 "readiness takes an unhealthy pod out of the Service",
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_checkov_finds_nothing_beyond_the_accepted_list(tmp_path, capsys, stack):
    checkov = os.environ.get("CHECKOV")
    if not checkov:
        pytest.skip("CHECKOV is not set: run through `make test`, which installs the scanner")
    assert main(["--stack", stack, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    run = subprocess.run(
        [checkov, "-d", str(tmp_path / "k8s"), "--framework", "kubernetes", "--quiet", "--compact",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=600,
    )
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert report["summary"]["resource_count"] >= 6
    assert report["summary"]["passed"] > 50
    assert failed - ACCEPTED.keys() == set(), [c for c in report["results"]["failed_checks"] if c["check_id"] not in ACCEPTED]
