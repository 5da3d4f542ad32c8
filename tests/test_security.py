"""Security baseline: exposure, hardened pods, network policy, private cluster in prod."""


from conftest import container, env_of, evaluate, pod_spec, secret_name


def service(ev):
    return ev.one("kubernetes:core/v1:Service").plain


def test_cluster_ip_by_default():
    ev = evaluate()
    assert service(ev)["spec"]["type"] == "ClusterIP"


def test_internal_load_balancer_on_request_and_endpoint_follows():
    ev = evaluate(exposure="internal")
    svc = service(ev)
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["metadata"]["annotations"]["networking.gke.io/load-balancer-type"] == "Internal"
    assert ev.outputs["endpoint"] == "http://10.128.0.50:8080"
    assert "port-forward" not in ev.outputs["queryCommand"]
    assert "curl -s http://10.128.0.50:8080/v1/completions" in ev.outputs["queryCommand"]


def test_public_load_balancer_requires_and_wires_the_api_key():
    ev = evaluate(exposure="public", apiKey="key-abc-0123456789abcdef")
    svc = service(ev)
    assert svc["spec"]["type"] == "LoadBalancer"
    assert "networking.gke.io/load-balancer-type" not in svc["metadata"]["annotations"]
    assert env_of(ev)["API_KEY"] == {"secretKeyRef": {"name": secret_name(ev), "key": "api_key"}}
    assert ev.outputs["endpoint"] == "http://203.0.113.20:8080"
    assert 'Authorization: Bearer $API_KEY' in ev.outputs["queryCommand"]
    assert "key-abc-0123456789abcdef" not in ev.outputs["queryCommand"]
    secret = ev.one("kubernetes:core/v1:Secret")
    assert set(secret.plain["stringData"]) == {"hf_api_token", "api_key"}


def test_pod_is_hardened():
    ev = evaluate()
    spec, c = pod_spec(ev), container(ev)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]}}


def test_env_holds_no_literal_secret_values():
    for item in container(evaluate(exposure="public", apiKey="key-abc-0123456789abcdef"))["env"]:
        if item["name"] in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "API_KEY"):
            assert "value" not in item and "secretKeyRef" in item["valueFrom"]


def test_network_policy_admits_only_the_model_port_and_is_enforced():
    ev = evaluate()
    policies = {p.plain["metadata"]["name"]: p.plain["spec"] for p in ev.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    policy = policies["llm-ingress"]
    assert policy["podSelector"] == {"matchLabels": {"app": "llm"}}
    assert policy["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    # The loader serves nothing: no ingress rule at all.
    loader = policies["model-loader-isolation"]
    assert loader["podSelector"] == {"matchLabels": {"app": "model-loader"}}
    assert loader["policyTypes"] == ["Ingress"] and "ingress" not in loader
    assert ev.one("gcp:container/cluster:Cluster").plain["datapathProvider"] == "ADVANCED_DATAPATH"


def test_prod_has_private_nodes_and_authorized_networks():
    cluster = evaluate("prod").one("gcp:container/cluster:Cluster").plain
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"]


def test_unpinned_image_is_warned_about_and_the_defaults_are_pinned():
    google = "us-docker.pkg.dev/deeplearning-platform-release/gcr.io/huggingface-text-generation-inference-cu124.2-4.ubuntu2204.py311"
    assert any("no tag or digest" in w for w in evaluate(image=google).warnings)
    pinned = "us-docker.pkg.dev/x/y/tgi@sha256:" + "a" * 64
    assert not any("no tag or digest" in w for w in evaluate(image=pinned).warnings)
    from components.serving.engines import ENGINES
    from settings import names
    assert all(names.image_is_pinned(e.default_image) for e in ENGINES.values())
    assert not any("no tag or digest" in w for w in evaluate().warnings)
