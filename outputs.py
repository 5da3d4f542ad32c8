"""Text the stack exports for people: the command that reaches the model."""

from __future__ import annotations

import json
import shlex

from components.serving.inference_server import MODEL_PATH
from settings import Settings

# Mixtral/Mistral instruction format, as in the tutorial's curl example.
PROMPT = "[INST] How do I deploy a container on Kubernetes? [/INST]"


def query_command(s: Settings, *, cluster_name: str, namespace: str, service: str, endpoint: str, port: int) -> str:
    """Credentials, then (for a ClusterIP service) a port-forward, then a curl to /v1/completions.
    With regions, `service` is the Gateway's name and the curl goes through the Gateway."""
    # Requests name the Hub id on both engines. TGI has no served-name option: from the bucket its
    # /v1/models lists the mount path instead (router/src/server.rs:176-186, v3.3.7), yet it answers
    # whatever `model` a request names and echoes it back (:1198), so the same request works; say so,
    # so nobody takes "/models" for a wrong model.
    body = json.dumps({"model": s.model.model_id, "prompt": PROMPT, "max_tokens": 128, "temperature": 0.7})
    serving = f"{s.engine.title} ({s.engine.name}) serving {s.model.model_id}"
    if not s.engine.lists_served_name and s.weight_source == "bucket":
        serving += f" (listed on /v1/models as {MODEL_PATH}; requests may name either)"
    steps = [f"echo {shlex.quote(serving)}",
             f"gcloud container clusters get-credentials {cluster_name} --location {s.location} --project {s.project}"]
    if s.regions:
        # Through the multi-cluster Gateway; until the stack knows its address, read it from the
        # Gateway in the config cluster (the first region's, which the credentials above are for).
        if endpoint.startswith("http"):
            steps = steps[:1]
            url = endpoint
        else:
            steps.append(f"ADDRESS=$(kubectl -n {namespace} get gateway {service} "
                         "-o jsonpath='{.status.addresses[0].value}')")
            url = "http://$ADDRESS"
    elif s.exposure == "cluster-ip":
        steps.append(f"(kubectl -n {namespace} port-forward service/{service} {port}:{port} >/dev/null &) && sleep 3")
        url = f"http://localhost:{port}"
    else:
        url = endpoint
    auth = ' -H "Authorization: Bearer $API_KEY"' if s.api_key is not None else ""
    steps.append(f"curl -s {url}/v1/completions -H 'Content-Type: application/json'{auth} -d {shlex.quote(body)}")
    return " && ".join(steps)
