"""Format rules for the free-form config strings, each checked before anything is created so that a
bad value fails in one line here, not inside GCP or Kubernetes after APIs, accounts and the cluster
exist. Each rule returns None when the value is fine, else the problem; the caller adds the fix."""

from __future__ import annotations

import posixpath
import re
from typing import Callable, Optional

Rule = Callable[[str], Optional[str]]


def _match(pattern: str, problem: str) -> Rule:
    compiled = re.compile(pattern)
    return lambda value: None if compiled.fullmatch(value) else problem


# Hugging Face repo ids: "owner/name", letters, digits, "-", "_", "." and at most 96 characters per
# part, not starting or ending with "-" or "." (huggingface_hub validate_repo_id).
_HF_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"


def hf_model_id(value: str) -> Optional[str]:
    if not re.fullmatch(f"{_HF_PART}/{_HF_PART}", value):
        return "not a Hugging Face model id (owner/name)"
    if "--" in value or ".." in value:
        return "a Hugging Face model id has no '--' or '..'"
    return None


def hf_commit(value: str) -> bool:
    """A full commit hash: the only revision that cannot move."""
    return re.fullmatch(r"[0-9a-f]{40}", value) is not None


# A branch or tag name, or a commit hash (git check-ref-format, simplified to what the Hub accepts).
def hf_revision(value: str) -> Optional[str]:
    if re.fullmatch(r"[0-9a-f]{40}", value):
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}", value) or ".." in value or value.endswith((".", "/", ".lock")) or "//" in value:
        return "neither a branch or tag name nor a 40-character commit hash"
    return None


# GKE cluster names: lowercase letters, digits and hyphens, starting with a letter, ending with a
# letter or digit, at most 40 characters (GKE API, Cluster.name).
cluster_name = _match(r"[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?", "not a GKE cluster name (lowercase letters, digits, '-', starting with a letter, at most 40)")

# RFC 1123 DNS label: namespaces, Service and ComputeClass names (Kubernetes "Object Names and IDs").
dns_label = _match(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?", "not a DNS label (lowercase letters, digits, '-', at most 63)")

# RFC 1123 DNS subdomain: most other object names, e.g. a StorageClass.
dns_subdomain = _match(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?", "not a Kubernetes object name (lowercase letters, digits, '-', '.', at most 253)")

# Namespaces Kubernetes and GKE keep for themselves, and the one the metrics adapter uses.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "custom-metrics")
_SYSTEM_PREFIXES = ("kube-", "gke-", "gmp-", "gke-gmp-")


def namespace(value: str) -> Optional[str]:
    problem = dns_label(value)
    if problem:
        return problem
    if value in SYSTEM_NAMESPACES or value.startswith(_SYSTEM_PREFIXES):
        return "a namespace Kubernetes, GKE or the metrics adapter uses"
    return None


# Compute Engine resource names (RFC 1035): VPC networks, routers (Compute Engine "Naming resources").
network_name = _match(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?", "not a VPC network name (lowercase letters, digits, '-', starting with a letter, at most 63)")

# Container image references (distribution/reference grammar, simplified): [host[:port]/]path[:tag][@digest].
_IMAGE = re.compile(
    r"(?:(?P<host>[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def image(value: str) -> Optional[str]:
    match = _IMAGE.fullmatch(value)
    if not match or len(value) > 255:
        return "not a container image reference ([registry/]repository[:tag][@sha256:digest])"
    return None


def image_is_pinned(value: str) -> bool:
    match = _IMAGE.fullmatch(value)
    return bool(match and (match.group("tag") or match.group("digest")))


def absolute_path(value: str) -> Optional[str]:
    if not value.startswith("/") or value == "/":
        return "not an absolute path below /"
    if posixpath.normpath(value) != value.rstrip("/") or any(c in value for c in " \t\n:"):
        return "not a plain absolute path (no '..', '.', '//', spaces or ':')"
    return None


# Cloud Storage bucket names (Cloud Storage "Bucket naming"): 3-63 characters of lowercase letters,
# digits, '-', '_' and '.', starting and ending with a letter or digit; no "goog" prefix, no
# "google"; not an IP address. Dotted names need domain verification, so we take only undotted ones.
def bucket_name(value: str) -> Optional[str]:
    if not re.fullmatch(r"[a-z0-9](?:[-a-z0-9_]{1,61}[a-z0-9])", value):
        return "not a Cloud Storage bucket name (3-63 lowercase letters, digits, '-', '_', starting and ending with a letter or digit)"
    if value.startswith("goog") or "google" in value or "g00gle" in value:
        return "Cloud Storage refuses names that start with 'goog' or contain 'google'"
    return None


# An e-mail address as Cloud Monitoring's email channel takes it (one address, no display name).
email = _match(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
               "not an e-mail address")


def header_secret(value: str) -> Optional[str]:
    """An API key goes into an HTTP header: printable, no spaces, long enough not to be guessed."""
    if not re.fullmatch(r"[\x21-\x7e]+", value):
        return "has spaces or characters an HTTP header cannot carry"
    if len(value) < 16:
        return "is shorter than 16 characters"
    return None
