"""Workload Identity Federation for GKE: the IAM principal of a Kubernetes ServiceAccount.

Google's current form grants roles straight to the Kubernetes identity, with no Google service
account and no key (GKE "Authenticate to Google Cloud APIs from GKE workloads"; the Cloud Storage
FUSE CSI driver's docs/authentication.md):
principal://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/PROJECT.svc.id.goog/subject/ns/NS/sa/KSA
The pool exists only once a cluster with Workload Identity does: bindings depend on the cluster.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


class ProjectLookupError(pulumi.RunError):
    pass


def project_number(project: str, opts: pulumi.InvokeOptions | None = None) -> pulumi.Output[str]:
    """The project's number (the principal needs it, not the id), looked up at preview time.

    The lookup is a Cloud Resource Manager call made before any resource exists, so this program
    cannot enable that API first (it enables the others): on a fresh project it fails. Looked up
    synchronously so that failure becomes one line saying what to run, not a stack of invoke errors.
    """
    try:
        found = gcp.organizations.get_project(project_id=project, opts=opts)
    except Exception as e:  # the provider's message names the cause; keep its first line only
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ProjectLookupError(
            f"could not look up project {project}'s number ({first}); if the Cloud Resource Manager API is "
            f"off, run: gcloud services enable cloudresourcemanager.googleapis.com --project {project}") from None
    return pulumi.Output.from_input(found.number)


def principal(number: str, project: str, namespace: str, service_account: str) -> str:
    return (f"principal://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/"
            f"{project}.svc.id.goog/subject/ns/{namespace}/sa/{service_account}")


def principal_output(number: pulumi.Input[str], project: str, namespace: pulumi.Input[str],
                     service_account: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.all(number, namespace, service_account).apply(
        lambda p: principal(p[0], project, p[1], p[2]))
