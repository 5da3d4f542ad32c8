"""The serving cell: one region's cluster, ladder, weights, server, scaling and observability, composed
so that a stack that existed before cells did keeps every resource's URN (no delete and re-create)."""

import pytest

from conftest import ROOT, evaluate


@pytest.mark.parametrize("stack", ["dev", "prod", "vllm"])
def test_a_single_region_stack_keeps_every_urn_it_had_before_cells(stack):
    # tests/golden/urns-<stack>.txt: the URNs main rendered before the cell existed (commit b67bf9e),
    # plus issue 19's image mirror (its component, 2 repositories, 2 reader grants, 2 APIs and the
    # nodes' serviceUsageConsumer) and less the project-wide artifactregistry reader it replaces.
    # A URN that changes is a resource `pulumi up` deletes and creates again (the cluster among them).
    before = (ROOT / "tests" / "golden" / f"urns-{stack}.txt").read_text().split("\n")
    assert evaluate(stack).urns() == [u for u in before if u]


def test_the_cluster_is_a_top_level_component_not_a_cells_child():
    urns = evaluate().urns()
    assert "llmserving:gke:Cluster::llm" in urns
    assert "llmserving:gke:Cluster$gcp:container/cluster:Cluster::llm-gke" in urns
