"""The `regions` config key: one endpoint served from clusters in two or more regions.

Absent, the stack is today's single cluster in `location` and nothing here changes a name. Present,
every region gets a serving cell whose names are derived here so that they cannot collide: not
between the stack's regions, and not with a single-region stack of the same project (whose names
never carry a region code). Replicas and autoscaling apply per region: each cell runs `replicas`
(or `autoscaling.minReplicas..maxReplicas`) of its own, scaled on its own queue, because each
region must be able to carry the endpoint alone when the other is out of Spot capacity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pulumi

import catalog
from settings.reader import ConfigError, Reader, listing as _names
from settings.serving import region_of

# GCE caps service account ids at 30 characters (IAM "Create service accounts": 6-30 characters,
# [a-z]([-a-z0-9]*[a-z0-9])); the cluster component appends "-nodes" to the cluster name and cuts at
# 30, which would cut the region code off a long name and give two regions one account.
ACCOUNT_ID_MAX = 30
CLUSTER_NAME_MAX = 40  # GKE: at most 40 characters (settings.names.cluster_name)
BUCKET_NAME_MAX = 63

_CONTINENTS = {"northamerica": "na", "southamerica": "sa", "europe": "eu", "australia": "au", "asia": "as",
               "africa": "af", "me": "me", "us": "us"}
_DIRECTIONS = (("north", "n"), ("south", "s"), ("east", "e"), ("west", "w"), ("central", "c"))


def code(region: str) -> str:
    """A short, readable code for a region that names its cell's resources:
    us-central1 -> usc1, us-east4 -> use4, europe-west4 -> euw4, asia-southeast1 -> asse1."""
    continent, rest = region.split("-", 1)
    short = _CONTINENTS.get(continent, continent[:2])
    for word, letter in _DIRECTIONS:
        rest = rest.replace(word, letter)
    return short + rest.replace("-", "")


@dataclass(frozen=True)
class Names:
    """What one region's cell is called: nothing here equals another region's or a single-region stack's."""
    region: str
    code: str
    cluster_name: str
    node_account_id: str
    bucket_name: str
    suffix: str  # added to the cell's Pulumi resource names


def names(region: str, cluster_name: str, bucket_name: str) -> Names:
    """The cell's names from the stack's base names and the region's code, each cut to its limit
    before the code is added so the code always survives."""
    c = code(region)
    tail = f"-{c}"
    cluster = cluster_name[:CLUSTER_NAME_MAX - len(tail)].rstrip("-") + tail
    account_tail = f"-{c}-nodes"
    account = cluster_name[:ACCOUNT_ID_MAX - len(account_tail)].rstrip("-") + account_tail
    bucket = bucket_name[:BUCKET_NAME_MAX - len(tail)].rstrip("-_") + tail
    return Names(region, c, cluster, account, bucket, tail)


def read(r: Reader, machine: catalog.Machine, location: str, exposure: str, bucket: Optional[str]) -> tuple[str, ...]:
    """The regions (empty: a single-region stack). Refused: fewer than two, a repeat, a region
    without the machine's GPU, a zonal `location` beside them, exposure cluster-ip, an existing
    modelBucket (one bucket cannot sit near every region's GPUs)."""
    fix = 'give two or more GPU regions, e.g. ["us-central1", "us-east4"], or remove regions for one cluster in location'
    regions = r.string_list("regions", [], fix)
    if not regions:
        return ()
    if len(regions) < 2:
        raise ConfigError("regions", regions, "one region is a single-region stack",
                          f"remove regions and set location {regions[0]}, or add a second region")
    offered = catalog.gpu_regions().get(machine.accelerator)
    for region in regions:
        if not re.fullmatch(r"[a-z]+-[a-z]+\d+", region):
            raise ConfigError("regions", regions, f"{region!r} is not a GCP region (a zone names a letter after the region)", fix)
        if region not in catalog.all_gpu_regions() or (offered is not None and region not in offered):
            raise ConfigError("regions", regions, f"{machine.gpu} ({machine.name}) is not offered in {region} (catalog/gpu-regions.csv)",
                              "use regions from: " + _names(sorted(offered or catalog.all_gpu_regions())))
    repeated = sorted({x for x in regions if regions.count(x) > 1})
    if repeated:
        raise ConfigError("regions", regions, f"{repeated[0]!r} is listed twice", "list each region once")
    codes = [code(x) for x in regions]
    if len(set(codes)) != len(codes):  # no two GPU regions share a code today; a new one might
        raise ConfigError("regions", regions, "two regions share the short code their names are built from", "list fewer regions")
    if region_of(location) != location:
        raise ConfigError("location", location,
                          "a zone cannot go with regions: each region gets a regional cluster (three zones) of its own",
                          f"set location to a region (e.g. {regions[0]}) or remove it; the clusters go in regions")
    if exposure == "cluster-ip":
        raise ConfigError("exposure", exposure,
                          "with regions the endpoint is a multi-cluster Gateway, and a cluster IP is reachable from one cluster only",
                          "use exposure public (with apiKey) or internal")
    if bucket:
        raise ConfigError("modelBucket", bucket,
                          "with regions each region gets a bucket of its own beside its GPUs; one bucket would be read across regions",
                          "leave modelBucket empty")
    if exposure == "public":
        # The Gateway's listener is HTTP (components/platform/gateway.py): say so where the user looks.
        pulumi.log.warn("the public Gateway listens on plain HTTP (port 80): the API key and prompts cross the internet "
                        "unencrypted; put TLS in front before real traffic (docs/regions.md)")
    return tuple(regions)
