"""Values a multi-region deploy depends on in settings/regions.py, pinned as literals: the region
codes every cell's resource names carry and the length limits they are cut to. See
tests/MUTANTS-serving.md."""

import pytest

import settings
from conftest import evaluate
from settings import regions

API_KEY = "k3y-for-tests-0123456789abcdef"


@pytest.mark.parametrize("region, code", [
    ("us-central1", "usc1"), ("us-east4", "use4"), ("us-west1", "usw1"), ("us-south1", "uss1"),
    ("europe-west4", "euw4"), ("europe-north1", "eun1"), ("asia-southeast1", "asse1"), ("asia-northeast3", "asne3"),
    ("northamerica-northeast1", "nane1"), ("southamerica-east1", "sae1"), ("australia-southeast1", "ause1"),
    ("me-west1", "mew1"), ("africa-south1", "afs1"),
])
def test_region_codes_are_the_ones_in_every_cells_resource_names(region, code):
    # The code is in cluster, node account, bucket and Pulumi names: changing one renames (replaces)
    # every resource of that region's cell on the next `pulumi up`.
    assert regions.code(region) == code


def test_an_unknown_continent_falls_back_to_its_first_two_letters():
    # A continent GCP adds later still gets a short code rather than failing.
    assert regions.code("mars-north1") == "man1"


def test_cell_names_carry_the_code_as_a_suffix():
    n = regions.names("us-east4", "llm-serving-dev", "test-project-dev-llm-models")
    assert (n.cluster_name, n.node_account_id, n.bucket_name, n.suffix) == (
        "llm-serving-dev-use4", "llm-serving-dev-use4-nodes", "test-project-dev-llm-models-use4", "-use4")


def test_long_names_are_cut_to_gke_iam_and_bucket_limits_before_the_code():
    # GKE: 40 characters, service account ids: 30, bucket names: 63; the code must survive the cut,
    # and a cut must not leave "--" or "_-" before it.
    n = regions.names("asia-southeast1", "a" * 34 + "-bcdef", "b" * 56 + "_c" + "d" * 10)
    assert n.cluster_name == "a" * 34 + "-asse1" and len(n.cluster_name) == 40
    assert n.node_account_id == "a" * 18 + "-asse1-nodes" and len(n.node_account_id) == 30
    assert n.bucket_name == "b" * 56 + "-asse1" and len(n.bucket_name) == 62


def test_a_name_exactly_at_the_limit_keeps_every_character_it_can():
    # 34 + "-usc1" = 39 <= 40: nothing is cut from a cluster name that already fits.
    n = regions.names("us-central1", "c" * 34, "bucket")
    assert n.cluster_name == "c" * 34 + "-usc1"


def test_one_region_is_refused_with_the_single_region_setting_suggested():
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", regions=["us-east4"], exposure="public", apiKey=API_KEY)
    assert error.value.key == "regions"
    assert "remove regions and set location us-east4, or add a second region" in str(error.value)


def test_a_zone_as_location_beside_regions_suggests_the_first_region():
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", regions=["us-east4", "us-central1"], location="us-central1-a", exposure="public", apiKey=API_KEY)
    assert "set location to a region (e.g. us-east4) or remove it" in str(error.value)


def test_a_region_without_the_gpu_lists_the_regions_that_have_it():
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", regions=["us-central1", "us-west2"], exposure="public", apiKey=API_KEY)
    message = str(error.value)
    assert "is not offered in us-west2 (catalog/gpu-regions.csv)" in message
    assert "use regions from: " in message and "us-central1" in message


def test_a_node_account_cut_at_a_dash_drops_it_before_the_code():
    # 30 - len("-usc1-nodes") = 19 characters kept: "a" * 18 + "-" would give "a...a--usc1-nodes". The id
    # names the GCP service account: a change to it replaces the account and its grants on `pulumi up`.
    n = regions.names("us-central1", "a" * 18 + "-serving", "bucket")
    assert n.node_account_id == "a" * 18 + "-usc1-nodes"
    assert n.cluster_name == "a" * 18 + "-serving-usc1"


@pytest.mark.parametrize("value, message", [
    (["us-east4"], 'config regions=["us-east4"]: one region is a single-region stack; remove regions and set '
                   'location us-east4, or add a second region'),
    (["us-central1-a", "us-east4"], 'config regions=["us-central1-a", "us-east4"]: \'us-central1-a\' is not a GCP '
                                    'region (a zone names a letter after the region); give two or more GPU regions, '
                                    'e.g. ["us-central1", "us-east4"], or remove regions for one cluster in location'),
    ('{"us-east4": 1}', 'config regions=\'{"us-east4": 1}\': not a list of strings; give two or more GPU regions, '
                        'e.g. ["us-central1", "us-east4"], or remove regions for one cluster in location'),
    (["us-east4", "us-east4"], 'config regions=["us-east4", "us-east4"]: \'us-east4\' is listed twice; list each '
                               'region once'),
])
def test_regions_refusals_say_the_value_the_problem_and_the_fix(value, message):
    # The whole line the user reads before anything is created: the key, the value, what would work.
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", regions=value, exposure="public", apiKey=API_KEY)
    assert str(error.value) == message


L4_REGIONS = ("asia-east1, asia-northeast1, asia-northeast3, asia-south1, asia-southeast1, europe-west1, europe-west2, "
              "europe-west3, europe-west4, europe-west6, me-central2, northamerica-northeast1, northamerica-northeast2, "
              "us-central1, us-east1, us-east4, us-west1, us-west4")


@pytest.mark.parametrize("config, message", [
    ({"regions": ["us-central1", "us-west2"]},
     'config regions=["us-central1", "us-west2"]: NVIDIA L4 (g2-standard-24) is not offered in us-west2 '
     f"(catalog/gpu-regions.csv); use regions from: {L4_REGIONS}"),
    ({"regions": ["us-central1", "us-east4"], "location": "us-central1-a"},
     "config location='us-central1-a': a zone cannot go with regions: each region gets a regional cluster (three "
     "zones) of its own; set location to a region (e.g. us-central1) or remove it; the clusters go in regions"),
    ({"regions": ["us-central1", "us-east4"], "exposure": "cluster-ip", "apiKey": None},
     "config exposure='cluster-ip': with regions the endpoint is a multi-cluster Gateway, and a cluster IP is "
     "reachable from one cluster only; use exposure public (with apiKey) or internal"),
    ({"regions": ["us-central1", "us-east4"], "modelBucket": "shared-b"},
     "config modelBucket='shared-b': with regions each region gets a bucket of its own beside its GPUs; one bucket "
     "would be read across regions; leave modelBucket empty"),
])
def test_what_cannot_go_with_regions_is_refused_with_the_whole_reason(config, message):
    # L4_REGIONS: the regions catalog/gpu-regions.csv lists for the L4 (its source line says where from).
    with pytest.raises(settings.ConfigError) as error:
        evaluate("dev", **{"exposure": "public", "apiKey": API_KEY, **config})
    assert str(error.value) == message


# --- components/platform/gateway.py --------------------------------------------------------------------

from components.platform import gateway  # noqa: E402


def test_backend_timeout_boundaries():
    # A streamed answer of maxTotalTokens at 10 tokens/s (the slowest planned decode), rounded up,
    # kept between 300 s and 3600 s; an unknown total (0) gets the ceiling.
    assert [gateway.request_timeout_seconds(t) for t in (0, -1, 2999, 3000, 3001, 8001, 36000, 36001)] == [
        3600, 3600, 300, 300, 301, 801, 3600, 3600]


def test_proxy_only_subnets_are_consecutive_slash_23s():
    # One /23 per region (the smallest GCP recommends for proxy-only subnets), never overlapping.
    assert [gateway.proxy_subnet_cidr(i) for i in (0, 1, 2)] == ["172.30.0.0/23", "172.30.2.0/23", "172.30.4.0/23"]


def test_gateway_url_is_the_first_address_or_what_to_run():
    assert gateway.gateway_url({"addresses": [{"type": "IPAddress", "value": "34.1.2.3"}, {"value": "34.9.9.9"}]},
                               "public", "kubectl ...") == "http://34.1.2.3"
    pending = ("pending: the internal Gateway gets its address a few minutes after pulumi up "
               "(pulumi refresh shows it, or: kubectl get gateway)")
    for status in (None, {}, {"addresses": []}, {"addresses": [{"type": "IPAddress"}]}, "not-a-dict",
                   {"addresses": ["34.1.2.3"]}):
        assert gateway.gateway_url(status, "internal", "kubectl get gateway") == pending
