"""The Kubernetes Secret that carries the Hugging Face token (and the server's API key, when set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

TOKEN_KEY = "hf_api_token"
API_KEY_KEY = "api_key"


@dataclass(frozen=True)
class ModelSecretArgs:
    namespace: pulumi.Input[str]
    token: pulumi.Output  # a Pulumi secret
    api_key: Optional[pulumi.Output] = None  # a Pulumi secret


class ModelSecret(pulumi.ComponentResource):
    """Creates one Opaque Secret with the token under `hf_api_token` (and `api_key`).

    The values stay Pulumi secrets from config to cluster: encrypted in state, hidden in previews.

    The Secret is auto-named (`model-secret-<random>`), on purpose. pulumi-kubernetes treats Secrets
    as immutable unless the provider's beta `enableSecretMutable` is on (pulumi_kubernetes.Provider
    docs), so a rotated token replaces the Secret. With a fixed name that replacement must delete the
    old Secret before creating the new one, and a pod starting in between (a Spot restart) finds no
    token. Auto-named, the new Secret is created first, the Deployment switches to its name (which
    rolls the pods: they read the token only at start), and the old one is deleted last.

    Exports `secret_name` (an output of the Secret, so users depend on it), `token_key` and
    `api_key_key` (None without an API key).
    """

    def __init__(self, name: str, args: ModelSecretArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:k8s:ModelSecret", name, None, opts)
        data = {TOKEN_KEY: pulumi.Output.secret(args.token)}
        if args.api_key is not None:
            data[API_KEY_KEY] = pulumi.Output.secret(args.api_key)
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.namespace,
                                                labels={"app.kubernetes.io/part-of": "gke-llm-serving"}),
            type="Opaque",
            string_data=data,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.secret_name = self.secret.metadata.name
        self.token_key = TOKEN_KEY
        self.api_key_key = API_KEY_KEY if args.api_key is not None else None
        self.register_outputs({"secret_name": self.secret_name})
