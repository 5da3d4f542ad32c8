"""Every stack renders exactly the reviewed document in tests/golden/plan-<name>.json: each
resource's inputs and options, the stack's outputs, the plan's summary and the forecast
(tests/snapshot.py says what is in it).

Why: the literal tests pin the values we know matter and say why; this catches the rest. A one-token
slip in any deployed value (a port, a label a selector matches, an ignored field, a parent that moves
a URN) fails here with the resource and the field, including module constants and defaults, which
mutation testing cannot reach. An intended change: `make golden`, then review the diff like code."""

import json

import pytest

import snapshot


@pytest.mark.parametrize("stack", snapshot.STACKS)
def test_the_stack_deploys_exactly_the_reviewed_document(stack):
    path = snapshot.GOLDEN / f"plan-{stack}.json"
    expected = json.loads(path.read_text())
    found = snapshot.differences(expected, snapshot.document(stack))
    assert not found, (f"{stack} no longer renders tests/golden/plan-{stack}.json ({len(found)} differences). A change "
                       "you did not intend is a bug: fix the code. Only for an intended one run `make golden` and "
                       "read the diff:\n" + "\n".join(found[:25]))


def test_differences_tell_booleans_from_numbers_and_name_added_list_items():
    # A manifest's `true` is not `1`; an env var appended to a long list is named, not cut off.
    assert snapshot.differences({"a": True, "b": [0]}, {"a": 1, "b": [False]}) == ["a: true -> 1", "b[0]: 0 -> false"]
    assert snapshot.differences({"env": [{"name": "A"}]}, {"env": [{"name": "A"}, {"name": "HF_TOKEN"}]}) == [
        'env[1]: new ({"name": "HF_TOKEN"})']
    assert snapshot.differences({"env": [1, 2]}, {"env": [1]}) == ["env[1]: gone (was 2)"]


def test_differences_name_the_resource_and_the_field():
    before = {"resources": {"k::a": {"inputs": {"spec": {"port": 8080, "ports": [1, 2]}}}}}
    after = {"resources": {"k::a": {"inputs": {"spec": {"port": 8000, "ports": [1, 3], "x": True}}}}}
    assert snapshot.differences(before, after) == [
        "resources/k::a/inputs/spec/port: 8080 -> 8000",
        "resources/k::a/inputs/spec/ports[1]: 2 -> 3",
        "resources/k::a/inputs/spec/x: new (true)",
    ]


def test_the_golden_documents_hold_no_token():
    # The test token (tests/conftest.py) is masked as the offline plan masks it.
    from conftest import TOKEN
    for stack in snapshot.STACKS:
        text = (snapshot.GOLDEN / f"plan-{stack}.json").read_text()
        assert TOKEN not in text and snapshot.API_KEY not in text
        if snapshot.DOCUMENTS[stack][1].get("weightSource") != "hub":
            assert '"hf_api_token": "[secret]"' in text
