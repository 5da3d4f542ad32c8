"""Run `__main__.py` under Pulumi's mock runtime and record what it registers.

A fresh program run each time (new event loop, new root stack, new config), as the Pulumi CLI would
run it once per `pulumi up`. The mocks fabricate only what a provider computes (cluster endpoint and
CA, service-account e-mail, load-balancer IP, names of auto-named objects); everything else is the
program's own input.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import logging
import runpy
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func

from planner.stack_config import ROOT, ResolvedConfig

MOCK_ENDPOINT = "203.0.113.10"  # RFC 5737 documentation address
MOCK_LB_IP = {"internal": "10.128.0.50", "public": "203.0.113.20"}
_SALT = os.urandom(16)
MOCK_PROJECT_NUMBER = "123456789012"
MOCK_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nmock\n-----END CERTIFICATE-----\n").decode()


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict  # as the engine receives them: camelCase, secrets wrapped
    custom: bool
    provider: Optional[str] = None  # the provider reference the engine was given
    options: Optional["Options"] = None  # resource options as the program set them

    @property
    def plain(self) -> dict:
        """Inputs with secret wrappers removed (for assertions; never for printing)."""
        return unwrap(self.inputs)

    @property
    def opts(self) -> "Options":
        return self.options or Options()


@dataclass
class Options:
    """What a real `pulumi up` does with a resource beyond its inputs: protection, ignored
    fields, replacement order, timeouts and explicit dependencies (as "type::name")."""
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: Optional[bool] = None
    replace_on_changes: tuple[str, ...] = ()
    custom_timeouts: Optional[dict] = None
    depends_on: tuple[str, ...] = ()
    parent: str = ""  # "type::name" of the parent component ("" for the stack itself): part of the URN


@dataclass
class Evaluation:
    resources: list[Recorded]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    warnings: list[str] = field(default_factory=list)
    computed: dict[str, str] = field(default_factory=dict)  # mock-fabricated values -> placeholders
    result: Any = None  # what the program returned (for __main__.py: its globals)
    invokes: list[tuple[str, dict]] = field(default_factory=list)  # (token, arguments) of each data-source call

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Recorded:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def urns(self) -> list[str]:
        """Each resource's URN as Pulumi forms it: its parents' types, its own type, and its name.
        A change here is a delete and a create on a stack that already exists."""
        by_label = {f"{r.type}::{r.name}": r for r in self.resources}

        def chain(r: Recorded) -> str:
            parent = by_label.get(r.opts.parent)
            return f"{chain(parent)}${r.type}" if parent else r.type

        return sorted(f"{chain(r)}::{r.name}" for r in self.resources)

    def k8s_objects(self) -> list[Recorded]:
        return [r for r in self.resources if r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs]

    def gcp_resources(self) -> list[Recorded]:
        return [r for r in self.resources if r.custom and r.type.startswith("gcp:")]


def is_secret_wrapper(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def transform(value: Any, secret: Callable[[Any], Any], leaf: Callable[[Any], Any]) -> Any:
    """Rebuild recorded inputs: `secret` gets the content of each secret wrapper, `leaf` each
    plain scalar; maps and lists keep their shape."""
    if is_secret_wrapper(value):
        return secret(value["value"])
    if isinstance(value, dict):
        return {k: transform(v, secret, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [transform(v, secret, leaf) for v in value]
    return leaf(value)


def unwrap(value: Any) -> Any:
    return transform(value, unwrap, lambda v: v)


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self, project: str) -> None:
        self.project = project
        self.resources: list[Recorded] = []
        self.computed: dict[str, str] = {}  # fabricated value -> what it stands for, for rendering
        self.options: dict[tuple[str, str], Options] = {}
        self.invokes: list[tuple[str, dict]] = []

    def record_options(self, args: pulumi.ResourceTransformationArgs) -> None:
        """A stack transformation (run by the SDK itself, so also under mocks) that notes the
        options the program gave each resource; the mock monitor never sees them."""
        o = args.opts or pulumi.ResourceOptions()
        timeouts = o.custom_timeouts
        self.options[(args.type_, args.name)] = Options(
            protect=bool(o.protect),
            ignore_changes=tuple(o.ignore_changes or ()),
            delete_before_replace=o.delete_before_replace,
            replace_on_changes=tuple(o.replace_on_changes or ()),
            custom_timeouts=None if timeouts is None else {
                "create": timeouts.create, "update": timeouts.update, "delete": timeouts.delete},
            depends_on=tuple(_dependency_label(d) for d in (o.depends_on or [])
                             if isinstance(d, pulumi.Resource)),
            parent=_dependency_label(o.parent) if o.parent is not None and getattr(o.parent, "_type", "") != "pulumi:pulumi:Stack" else "",
        )

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(Recorded(args.typ, args.name, args.inputs, bool(args.custom), args.provider,
                                       self.options.get((args.typ, args.name))))
        state = dict(args.inputs)
        plain = unwrap(args.inputs)
        if args.typ == "gcp:container/cluster:Cluster":
            state["endpoint"] = MOCK_ENDPOINT
            state["masterAuth"] = {"clusterCaCertificate": MOCK_CA}
            # GKE picks the region's subnet of an auto-mode network, named after the network, and
            # the provider reads its name back.
            state["subnetwork"] = plain.get("subnetwork") or plain.get("network", "default")
        elif args.typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{plain['accountId']}@{plain.get('project', self.project)}.iam.gserviceaccount.com"
        elif args.typ.startswith("gcp:monitoring/"):
            # Dashboards, alert policies and notification channels get their `name`
            # (projects/NUMBER/<collection>/ID) from the API, and the provider uses it as the id
            # (terraform-provider-google resource_monitoring_*.go: SetId from "{{name}}").
            collection = {"dashboard": "dashboards", "alertPolicy": "alertPolicies",
                          "notificationChannel": "notificationChannels"}.get(args.typ.split("/")[1].split(":")[0])
            if collection:
                state["name"] = f"projects/{MOCK_PROJECT_NUMBER}/{collection}/mock-{args.name}"
                return state["name"], state
        elif args.typ.startswith("kubernetes:") and isinstance(plain.get("metadata"), dict):
            metadata = dict(plain["metadata"])
            # The API server's resourceVersion: new whenever the content changes. Salted per process
            # so that nothing here is a reproducible digest of a secret value.
            digest = hashlib.sha256(_SALT + json.dumps(plain, sort_keys=True).encode()).hexdigest()
            # What the provider's auto-naming does: a random suffix, drawn again on each replacement.
            # Secrets and ConfigMaps are replaced when their data changes (the provider treats them
            # as immutable), so their mock suffix follows the content; other kinds update in place.
            replaced_on_change = args.typ in ("kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap")
            if "name" not in metadata:
                metadata["name"] = f"{args.name}-{digest[:8] if replaced_on_change else 'mock0000'}"
                if replaced_on_change:
                    self.computed[metadata["name"]] = f"<auto-name of {args.typ.split(':')[-1]} {args.name}>"
            metadata["resourceVersion"] = str(int(digest[:12], 16))
            self.computed[metadata["resourceVersion"]] = f"<resourceVersion of {args.typ.split(':')[-1]} {metadata['name']}>"
            state["metadata"] = metadata
            if args.typ == "kubernetes:core/v1:Service" and plain.get("spec", {}).get("type") == "LoadBalancer":
                internal = "networking.gke.io/load-balancer-type" in (metadata.get("annotations") or {})
                ip = MOCK_LB_IP["internal" if internal else "public"]
                state["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "gcp:organizations/getProject:getProject":
            return {"projectId": args.args.get("projectId"), "number": MOCK_PROJECT_NUMBER}
        return {}


def _dependency_label(resource: pulumi.Resource) -> str:
    # Resources keep their type and name in private fields; good enough for a test's assertion.
    return f"{getattr(resource, '_type', '?')}::{getattr(resource, '_name', '?')}"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run(config: ResolvedConfig, program: Optional[Callable[[], Any]] = None) -> Evaluation:
    """Evaluate `__main__.py` (or `program`, to test one component alone) for one stack's resolved
    config. Raises what the program raises (a pulumi.RunError for bad configuration)."""
    main = str(ROOT / "__main__.py")
    body = program or (lambda: runpy.run_path(main, run_name="__main__"))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    runtime_settings.ROOT.set(None)  # a new root stack resource for this run
    pulumi.runtime.set_all_config(dict(config.values), sorted(config.secret_keys))
    recorder = _Recorder(config.values.get("gcp:project", "project"))
    logger = logging.getLogger(f"gke-llm-serving.plan.{id(recorder)}")
    logger.propagate = False
    collect = _Collect()
    logger.addHandler(collect)
    pulumi.runtime.set_mocks(recorder, project=config.project, stack=config.stack, preview=False, logger=logger)
    root = runtime_settings.get_root_resource()
    pulumi.runtime.register_stack_transformation(lambda a: recorder.record_options(a))

    returned: list[Any] = []

    async def program() -> tuple[dict, set]:
        await run_pulumi_func(lambda: returned.append(body()))
        values, secret = {}, set()
        for key, value in root.outputs.items():
            out = pulumi.Output.from_input(value)
            values[key] = await out.future()
            if await out.is_secret():
                secret.add(key)
        return values, secret

    try:
        outputs, secret_outputs = loop.run_until_complete(program())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        logger.removeHandler(collect)
    return Evaluation(recorder.resources, outputs, secret_outputs, collect.messages, recorder.computed,
                      returned[0] if returned else None, recorder.invokes)
