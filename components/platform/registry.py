"""Artifact Registry in front of the public registries the serving images come from, so that GKE can
stream them (image streaming) instead of pulling them whole on every new GPU node.

Why: GKE streams only images stored in standard or remote Artifact Registry repositories (GKE "Use
Image streaming to pull container images", Requirements). The engines' images live on Docker Hub
(vllm/vllm-openai, the loader's python) and on GitHub's registry ghcr.io (TGI). A remote repository
is a read-through cache of one upstream: a pod asks <region>-docker.pkg.dev/<project>/<repo>/<path>,
Artifact Registry fetches <path> from the upstream once and serves it from the region after that.

- Docker Hub: the preset upstream `DOCKER_HUB` (terraform-provider-google docs example
  artifact_registry_repository_remote; pulumi_gcp RepositoryRemoteRepositoryConfigDockerRepositoryArgs
  public_repository, "Possible values are: DOCKER_HUB").
- ghcr.io: a custom upstream URI (`custom_repository.uri = "https://ghcr.io"`; public Terraform in the
  code index creates exactly this, "Remote repository for GitHub Container Registry (ghcr.io)"). Pulls
  through it work; whether GKE *streams* an image from a custom-upstream remote repository is not
  documented either way (the image-streaming page says "standard or remote repositories" without
  naming upstreams). If it does not, the node pulls the image whole from the region, which is still
  no slower than ghcr.io. Nothing else gives TGI a pinned, streamable image: Google's own TGI builds
  in Artifact Registry carry no version tags and stop at TGI 2.4 (components/serving/engines/tgi.py).

Each repository serves its one upstream and nothing else (a remote repository cannot be pushed to),
and the nodes' service account may read these repositories only (no project-wide reader role).

Provider behaviour (terraform-provider-google resource_artifact_registry_repository.go, read here):
repository_id, location, format, mode and remote_repository_config are ForceNew, so none of them
changes once created; create waits for the operation (20 minute default timeout); a second `up` with
the same arguments changes nothing; `destroy` deletes the repository and every image it cached (they
are copies: the upstream keeps the originals).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp

# upstream key -> (the registry host an image names, the repository id's suffix, what the plan calls it)
DOCKER_HUB = "docker-hub"
GHCR = "ghcr"
UPSTREAMS = {
    DOCKER_HUB: ("docker.io", "Docker Hub"),
    GHCR: ("ghcr.io", "GitHub's registry ghcr.io"),
}
# What reading an image needs, scoped to each repository (Artifact Registry "Access control with
# IAM": roles/artifactregistry.reader, artifactregistry.repositories.downloadArtifacts).
READER_ROLE = "roles/artifactregistry.reader"

_DOCKER_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")


def split_image(image: str) -> tuple[Optional[str], str]:
    """(upstream key, path with tag or digest) for an image on Docker Hub or ghcr.io; (None, image)
    for anything else, which is used as given. Docker's rule: the first component is a registry
    host only when it holds a '.' or ':' or is localhost; otherwise the image is on Docker Hub, and a
    one-component name is an official image under library/ (Docker "docker image pull": "library/"
    is the namespace of official images)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if first in _DOCKER_HOSTS:
            key, path = DOCKER_HUB, rest
        elif first == "ghcr.io":
            key, path = GHCR, rest
        else:
            return None, image
    else:
        key, path = DOCKER_HUB, image
    if key == DOCKER_HUB and "/" not in path.split("@")[0].split(":")[0]:
        path = f"library/{path}"
    return key, path


def repository_id(cluster_name: str, key: str) -> str:
    """<cluster>-<upstream>: repository ids are unique per project and location, and a cell's
    cluster name is unique per region (ids: lower-case letters, digits and hyphens, at most 63)."""
    return re.sub(r"[^a-z0-9-]", "-", f"{cluster_name}-{key}".lower())[:63].rstrip("-")


def mirror_host(region: str) -> str:
    return f"{region}-docker.pkg.dev"


def mirrored(image: str, region: str, project: str, cluster_name: str) -> Optional[str]:
    """The same image (same tag or digest) through this cluster's remote repository, or None when
    the image is not on an upstream we mirror (then it is pulled as given and not streamed)."""
    key, path = split_image(image)
    if key is None:
        return None
    return f"{mirror_host(region)}/{project}/{repository_id(cluster_name, key)}/{path}"


def in_artifact_registry(image: str) -> bool:
    """An image already in Artifact Registry (<location>-docker.pkg.dev/...)."""
    return image.split("/", 1)[0].endswith("-docker.pkg.dev")


@dataclass(frozen=True)
class ImageMirrorArgs:
    project: str
    region: str
    cluster_name: str
    node_service_account: pulumi.Input[str]  # email of the nodes' service account
    apis: Sequence[pulumi.Resource] = ()  # the Artifact Registry API being enabled


class ImageMirror(pulumi.ComponentResource):
    """Creates one Artifact Registry remote Docker repository per upstream (Docker Hub, ghcr.io) in
    the cluster's region and grants the nodes' service account reader on each of them.

    Exports `repositories` (upstream key -> Repository), `grants` (what pods must wait for) and
    `image_for(image)`: the image reference pods pull, an Output that resolves once its repository
    exists (None for an image outside the mirrored upstreams).
    """

    def __init__(self, name: str, args: ImageMirrorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:gcp:ImageMirror", name, None, opts)
        self.args = args
        self.repositories: dict[str, gcp.artifactregistry.Repository] = {}
        self.grants: list[pulumi.Resource] = []
        for key, (host, title) in UPSTREAMS.items():
            upstream = (gcp.artifactregistry.RepositoryRemoteRepositoryConfigDockerRepositoryArgs(public_repository="DOCKER_HUB")
                        if key == DOCKER_HUB else
                        gcp.artifactregistry.RepositoryRemoteRepositoryConfigDockerRepositoryArgs(
                            custom_repository=gcp.artifactregistry.RepositoryRemoteRepositoryConfigDockerRepositoryCustomRepositoryArgs(
                                uri=f"https://{host}")))
            repo = gcp.artifactregistry.Repository(
                f"{name}-{key}",
                project=args.project,
                location=args.region,  # beside the nodes: streamed reads stay in the region
                repository_id=repository_id(args.cluster_name, key),
                format="DOCKER",
                mode="REMOTE_REPOSITORY",
                description=f"Read-through cache of {title} for the serving images (gke-llm-serving)",
                remote_repository_config=gcp.artifactregistry.RepositoryRemoteRepositoryConfigArgs(
                    description=title, docker_repository=upstream),
                labels={"app": "gke-llm-serving"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.apis)),
            )
            self.repositories[key] = repo
            self.grants.append(gcp.artifactregistry.RepositoryIamMember(
                f"{name}-{key}-nodes-read",
                project=args.project,
                location=args.region,
                repository=repo.repository_id,  # its short name, which the IAM resource accepts
                role=READER_ROLE,
                member=pulumi.Output.from_input(args.node_service_account).apply(lambda email: f"serviceAccount:{email}"),
                opts=pulumi.ResourceOptions(parent=self),
            ))
        self.register_outputs({"repositories": {k: r.repository_id for k, r in self.repositories.items()}})

    def image_for(self, image: str) -> Optional[pulumi.Output[str]]:
        key, _ = split_image(image)
        if key is None:
            return None
        reference = mirrored(image, self.args.region, self.args.project, self.args.cluster_name)
        # Through the repository's output: the reference exists for Pulumi only once the repository does.
        return self.repositories[key].repository_id.apply(lambda _: reference)
