"""The Kubernetes Secret that carries the Hugging Face token (and TGI's API key, when set)."""

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
    name: str = "hf-secret"  # fixed: the Deployment refers to it by name


class ModelSecret(pulumi.ComponentResource):
    """Creates one Opaque Secret `args.name` with the token under `hf_api_token` (and `api_key`).

    The values stay Pulumi secrets from config to cluster: encrypted in state, hidden in previews.
    Exports `secret_name`, `token_key`, `api_key_key` (None without an API key) and `version`, the
    resourceVersion the API server assigns: it changes whenever the content does, and is not derived
    from the token, so pods can roll on a rotation without anything token-derived in their spec.
    """

    def __init__(self, name: str, args: ModelSecretArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:k8s:ModelSecret", name, None, opts)
        data = {TOKEN_KEY: pulumi.Output.secret(args.token)}
        if args.api_key is not None:
            data[API_KEY_KEY] = pulumi.Output.secret(args.api_key)
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=args.namespace,
                                                labels={"app.kubernetes.io/part-of": "gke-llm-serving"}),
            type="Opaque",
            string_data=data,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.secret_name = self.secret.metadata.name
        self.token_key = TOKEN_KEY
        self.api_key_key = API_KEY_KEY if args.api_key is not None else None
        self.version = self.secret.metadata.resource_version
        self.register_outputs({"secret_name": self.secret_name})
