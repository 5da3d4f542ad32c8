"""The one reader of Pulumi config: every key is read, checked against the catalog and turned into a
frozen Settings object. Bad input stops here, before any resource exists, with one message that
names the key, shows the value and says what would work.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Optional

import pulumi

import catalog
import catalog.loading
import catalog.nodes
from components.serving.engines import Engine
from settings import forecast as _forecast, names, regions as _regions
from settings.reader import ConfigError, Reader, listing as _names
from settings.scaling import DEFAULT_TARGET_QUEUE_SIZE, Autoscaling, autoscaling as _autoscaling  # noqa: F401 (re-exported)
from settings.serving import (check_fit as _check_fit, check_shards as _check_shards, engine as _engine,
                              location as _location, machine as _machine, model as _model,
                              quantize as _quantize, region_of)  # noqa: F401 (region_of re-exported)

PROJECT = "gke-llm-serving"

TIERS = ("spot", "flex-start", "on-demand")
EXPOSURES = ("cluster-ip", "internal", "public")

WEIGHT_SOURCES = ("bucket", "hub")
# How vLLM reads bucket weights: the Run:ai Model Streamer straight from gs:// (docs/cold-start.md), or
# the Cloud Storage FUSE mount TGI uses.
VLLM_LOAD_FORMATS = ("runai_streamer", "fuse")

# Every key of the project's namespace the program reads: anything else in a stack file is a slip
# (`replica: 3`) and is refused rather than silently ignored. Pulumi.yaml declares the scalar ones
# (a test keeps the two in step); objects (autoscaling, forecast) cannot be declared there.
OBJECT_KEYS = ("autoscaling", "forecast")
KNOWN_KEYS = frozenset((
    "hfToken", "engine", "model", "modelRevision", "weightSource", "modelBucket", "modelParamsBillion",
    "quantize", "machineType", "capacity", "replicas", "gpuQuota", "alertEmail", "location", "clusterName",
    "deletionProtection", "image", "hfHome", "computeClassName", "namespace", "flexStartLeadTimeSeconds",
    "flexStartMaxRunDurationSeconds", "activeMigration", "startupTimeoutMinutes", "maxInputTokens",
    "maxTotalTokens", "exposure", "apiKey", "privateNodes", "authorizedNetworks", "network",
    "systemMachineType", "cacheStorageClass", "priceSpot", "priceFlexStart", "priceOnDemand", "regions",
    "vllmLoadFormat", *OBJECT_KEYS,
))

# Tutorial defaults (GKE tutorial "Serve LLMs on GKE with a cost-optimized and highly available GPU
# provisioning strategy" and kubernetes-engine-samples ai-ml/llm-multiple-gpus/mixtral-8x7b).
DEFAULT_COMPUTE_CLASS = "dws-model-inference-class"

# Flex-start nodes live at most 7 days; leadTimeSeconds and maxRunDurationSeconds are bounded by it
# (ComputeClass CRD, cloud.google.com_computeclasses.yaml).
MAX_FLEX_SECONDS = 604800


# RFC 5737 documentation ranges: a placeholder that would lock everyone out of the control plane.
_DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    location: str  # region or zone of the cluster
    region: str
    engine: Engine
    model: catalog.Model
    model_in_catalog: bool
    quantize: catalog.Quantization
    machine: catalog.Machine
    capacity: tuple[str, ...]
    replicas: int  # fixed count, or the autoscaler's minimum
    autoscaling: Optional["Autoscaling"]  # None: a fixed replica count
    gpu_quota: int
    alert_email: Optional[str]
    image: str
    hf_home: str
    hf_token: pulumi.Output  # secret
    api_key: Optional[pulumi.Output]  # secret, only when set
    cluster_name: str
    compute_class_name: str
    namespace: str
    deletion_protection: bool
    system_machine_type: str
    flex_lead_time_seconds: int
    flex_max_run_seconds: Optional[int]
    active_migration: bool
    startup_minutes: int
    startup_derived: bool  # from the cold-start estimate (startupTimeoutMinutes 0)
    weight_source: str  # "bucket" or "hub"
    bucket_name: str  # the model bucket (bucket mode): created unless bucket_existing
    bucket_existing: bool
    model_revision: str
    pod_memory: catalog.loading.PodMemory
    gpu_boot_disk_gb: int  # the GPU nodes' boot disk: the serving image and the pod's ephemeral storage
    max_input_tokens: int
    max_total_tokens: int
    max_prefill_tokens: int
    exposure: str
    private_nodes: bool
    authorized_networks: tuple[str, ...]
    network: str
    cache_storage_class: str
    price_overrides: dict[str, float]
    forecast: _forecast.ForecastConfig  # the availability and cost forecast's assumptions
    regions: tuple[str, ...] = ()  # two or more: one serving cell per region behind a multi-cluster Gateway (settings/regions.py)
    vllm_load_format: str = "runai_streamer"  # vllmLoadFormat

    @property
    def weight_reader(self) -> str:
        """"streamer" when vLLM streams the bucket's weights with the Run:ai Model Streamer, else "fuse"."""
        return _reader(self.engine, self.weight_source, self.vllm_load_format)

    @property
    def image_streamed(self) -> bool:
        """The image comes through the cell's Artifact Registry mirror, which GKE streams."""
        from components.platform import registry
        return registry.split_image(self.image)[0] is not None

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def shards(self) -> int:
        """NUM_SHARD: tensor parallelism over every GPU of one machine."""
        return self.machine.gpu_count

    @property
    def fit(self) -> catalog.Fit:
        return catalog.fit(self.model, self.machine, self.quantize)

    @property
    def tokens(self) -> catalog.TokenPlan:
        return catalog.token_plan(self.model, self.fit, self.engine.dense_moe(self.quantize.name),
                                  self.engine.chunk_for(self.machine.accelerator),
                                  self.engine.warmup_logits)

    @property
    def cold_start(self) -> list[catalog.loading.Step]:
        return catalog.loading.cold_start(self.model, self.quantize, self.weight_source, self.engine.name,
                                          _cache_disk(self.pod_memory, self.gpu_boot_disk_gb),
                                          image_streamed=self.image_streamed, reader=self.weight_reader,
                                          shards=self.machine.gpu_count)

    @property
    def weights_prefix(self) -> str:
        """Where the checkpoint lives in the bucket: the model id and revision, so a new revision is
        a new prefix (the mounts cache metadata forever and would not see files change in place)."""
        return f"{self.model.model_id}/{self.model_revision}"

    @property
    def pod(self) -> catalog.PodResources:
        return catalog.pod_resources(self.machine)

    @property
    def startup_seconds(self) -> int:
        return self.startup_minutes * 60

    @property
    def replica_budget_seconds(self) -> int:
        """How long one replica may take to serve: node provisioning (GPU node boot and driver
        install, up to about 20 minutes when capacity is scarce) plus the model's start-up budget."""
        return self.startup_seconds + NODE_PROVISIONING_SECONDS


NODE_PROVISIONING_SECONDS = 20 * 60


def _reader(engine: Engine, weight_source: str, load_format: str) -> str:
    return "streamer" if engine.name == "vllm" and weight_source == "bucket" and load_format == "runai_streamer" else "fuse"


def _cache_disk(memory: catalog.loading.PodMemory, boot_disk_gb: int) -> int:
    """The boot disk's size when the file cache lives on it (its speed bounds the read), else 0."""
    return boot_disk_gb if memory.cache.medium == "disk" else 0

def _capacity(r: Reader, machine: catalog.Machine) -> tuple[str, ...]:
    fix = f"give an ordered list from {_names(TIERS)}, e.g. [spot, flex-start]"
    tiers = r.string_list("capacity", ["spot", "flex-start"], fix)
    if not tiers:
        raise ConfigError("capacity", tiers, "the capacity ladder is empty", fix)
    for tier in tiers:
        if tier not in TIERS:
            raise ConfigError("capacity", tiers, f"unknown tier {tier!r}", fix)
    duplicates = sorted({t for t in tiers if tiers.count(t) > 1})
    if duplicates:
        raise ConfigError("capacity", tiers, f"{duplicates[0]!r} is listed twice", "list each tier once")
    if "on-demand" in tiers and not machine.on_demand:
        raise ConfigError(
            "capacity", tiers, f"{machine.name} is sold only as Spot or flex-start",
            "remove on-demand, or pick a machine type with on-demand capacity",
        )
    return tuple(tiers)


def _system_machine(r: Reader, weight_source: str) -> str:
    name = r.string("systemMachineType", "e2-standard-4")
    shape = catalog.general_purpose(name)
    if shape is None:
        raise ConfigError("systemMachineType", name, "not a general-purpose machine type", "use e.g. e2-standard-4 or n2-standard-4")
    if weight_source == "bucket":
        # The loader Job runs on a system node: one it does not fit would stay Pending until the
        # Job's deadline (the plan shows every pod's headroom; this stops `pulumi up` too).
        from components.serving.model_store import loader_pod_requests

        node = catalog.nodes.Node(name, shape[0], shape[1], catalog.nodes.SYSTEM_BOOT_DISK_GB)
        free = node.free()
        for resource, need in loader_pod_requests().items():
            if need > free[resource]:
                raise ConfigError("systemMachineType", name,
                                  f"the model loader needs {need:g} {'cores' if resource == 'cpu' else 'GiB'} of {resource} "
                                  f"and a {name} node leaves {free[resource]:.2f} after GKE's reservations and DaemonSets",
                                  "use e2-standard-4 or larger")
    return name


def _token(r: Reader) -> str:
    # Read the raw value once to check it; it leaves this function only wrapped in Output.secret.
    value = r.cfg.get("hfToken")
    if value is None:
        raise pulumi.ConfigMissingError(f"{PROJECT}:hfToken", True)
    fix = "pulumi config set --secret hfToken <your Hugging Face token>"
    if not value.strip():
        raise ConfigError("hfToken", "", "is empty", fix, hide_value=True)
    if any(c.isspace() for c in value):
        raise ConfigError("hfToken", "", "has spaces or line breaks (a copy-paste slip?)", fix, hide_value=True)
    return value


def _api_key(r: Reader) -> Optional[str]:
    value = r.cfg.get("apiKey") or None
    if value is None:
        return None
    problem = names.header_secret(value)
    if problem:
        raise ConfigError("apiKey", "", problem, "pulumi config set --secret apiKey \"$(openssl rand -hex 24)\"", hide_value=True)
    if not pulumi.runtime.is_config_secret(r.cfg.full_key("apiKey")):
        pulumi.log.warn("apiKey is stored in plaintext: pulumi config set --secret apiKey <key>")
    return value


def _authorized_networks(r: Reader) -> tuple[str, ...]:
    fix = 'give CIDR blocks, e.g. ["198.18.0.0/24"]'
    nets = r.string_list("authorizedNetworks", [], fix)
    for net in nets:
        try:
            parsed = ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError("authorizedNetworks", nets, f"{net!r} is not a CIDR block", fix) from None
        if ipaddress.ip_interface(net).ip != parsed.network_address:
            # 203.0.113.7/24 names an address, not a block: say which block, rather than leave the
            # control plane's API to accept or refuse it during `pulumi up`.
            raise ConfigError("authorizedNetworks", nets, f"{net!r} has host bits set",
                              f"write the block, {str(parsed)!r}, or "
                              f"{f'{ipaddress.ip_interface(net).ip}/{parsed.max_prefixlen}'!r} for that one address")
        if any(parsed.subnet_of(doc) for doc in _DOC_NETS if parsed.version == 4):
            pulumi.log.warn(
                f"authorizedNetworks has {net}, a documentation placeholder: replace it with your own "
                "CIDR blocks or `pulumi up` will not reach the control plane"
            )
    return tuple(nets)


def _derived_bucket_name(project: str) -> str:
    """<project>-<stack>-llm-models: project ids are globally unique, so this is unique enough."""
    name = f"{project}-{_stack_slug()}-llm-models"
    if len(name) > 63 or names.bucket_name(name):
        # Stable across runs (a new name would replace the bucket): a digest, not hash().
        name = f"llm-models-{_stack_slug()[:30]}-{hashlib.sha256(project.encode()).hexdigest()[:10]}"
    return name


def _stack_slug() -> str:
    """The stack name as it may appear in GKE and GCS names (stacks may hold upper case and dots)."""
    return re.sub(r"[^a-z0-9-]+", "-", pulumi.get_stack().lower()).strip("-")[:27] or "stack"


def load() -> Settings:
    r = Reader()
    r.refuse_unknown(KNOWN_KEYS)
    project = r.gcp.get("project")
    if not project:
        raise pulumi.ConfigMissingError("gcp:project", False)

    engine = _engine(r)
    machine = _machine(r)
    location = _location(r, machine)
    model, in_catalog = _model(r)
    quantize = _quantize(r, engine, model, machine)
    capacity = _capacity(r, machine)
    replicas = r.integer("replicas", 1, 0, 100, "use a whole number of model servers, 0 or more (2 or more for high availability)")
    quota = r.integer("gpuQuota", 16, 1, 10000, "give the preemptible GPU quota of the region for this GPU type, e.g. 16")
    autoscaling, fixed = _autoscaling(r, machine, quota)
    if autoscaling or fixed is not None:
        chosen = fixed if fixed is not None else autoscaling.min_replicas
        if replicas not in (1, chosen):  # 1 is the Pulumi.yaml default, which the CLI always passes
            pulumi.log.warn(f"replicas {replicas} is ignored while autoscaling is set; the count comes from autoscaling")
        replicas = chosen
    alert_email = r.raw("alertEmail")
    if alert_email is not None and names.email(alert_email):
        raise ConfigError("alertEmail", alert_email, names.email(alert_email), "give one address, e.g. oncall@example.com")
    _check_shards(model, machine, quantize)
    _check_fit(model, machine, quantize, engine)

    token = _token(r)
    api_key = _api_key(r)
    exposure = r.string("exposure", "cluster-ip")
    if exposure not in EXPOSURES:
        raise ConfigError("exposure", exposure, "unknown exposure", f"use one of: {_names(EXPOSURES)}")
    if exposure == "public" and not api_key:
        raise ConfigError(
            "exposure", exposure, "a public load balancer needs the server's API key",
            "pulumi config set --secret apiKey <key>, or use exposure internal or cluster-ip",
        )

    regions = _regions.read(r, machine, location, exposure, r.raw("modelBucket"))
    if regions:  # the first region's cluster is the Gateway's config cluster; location names no cluster
        location = regions[0]

    weight_source = r.string("weightSource", "bucket")
    if weight_source not in WEIGHT_SOURCES:
        raise ConfigError("weightSource", weight_source, "unknown weight source", f"use one of: {_names(WEIGHT_SOURCES)}")
    # The catalog's checked commit by default. In bucket mode the prefix is named after the revision
    # and a prefix with its marker is never copied again, so a branch (main) would freeze whatever it
    # pointed at first under a name that says otherwise: refused, not warned, since the fix is one line.
    revision = r.checked("modelRevision", model.revision or "main", names.hf_revision, "give a branch such as main or a 40-character commit hash")
    if weight_source == "bucket" and not names.hf_commit(revision):
        raise ConfigError("modelRevision", revision,
                          "weightSource bucket names the bucket prefix after the revision, and a branch or tag can move "
                          "while the copied prefix never changes",
                          f"give the 40-character commit to serve, e.g. from https://huggingface.co/{model.model_id}/commits/main")
    if model.gated:  # catalog/models.csv, checked at the source: a refused token fails the first download
        pulumi.log.warn(f"{model.model_id} is gated on the Hub: accept its licence at https://huggingface.co/{model.model_id} "
                        f"with the account whose token is hfToken before pulumi up, or the download stops with HTTP 403")
    bucket = r.checked("modelBucket", "", lambda v: v and names.bucket_name(v), "give the name of an existing bucket, or leave it empty to create one")
    if not bucket:
        bucket = _derived_bucket_name(project)
    load_format = r.string("vllmLoadFormat", "runai_streamer")
    if load_format not in VLLM_LOAD_FORMATS:
        raise ConfigError("vllmLoadFormat", load_format, "unknown way for vLLM to read the bucket", f"use one of: {_names(VLLM_LOAD_FORMATS)}")
    reader = _reader(engine, weight_source, load_format)
    try:
        memory = catalog.loading.pod_memory(model, machine, weight_source, reader)
    except ValueError as e:
        raise ConfigError("machineType", machine.name, str(e), "use a machine with more memory") from None
    boot_disk = catalog.loading.gpu_boot_disk_gb(memory.cache, weight_source, engine.name, reader)
    from components.platform import registry
    estimate = catalog.loading.cold_start(model, quantize, weight_source, engine.name, _cache_disk(memory, boot_disk),
                                          image_streamed=registry.split_image(r.string("image", engine.default_image))[0] is not None,
                                          reader=reader, shards=machine.gpu_count)
    # A model of unknown size has no estimate: the budget the project used before it had one.
    derived_minutes = catalog.loading.startup_budget_seconds(estimate) // 60 if model.checkpoint_gb else 45
    given_minutes = r.integer("startupTimeoutMinutes", 0, 0, 600, "give the model's cold-start budget in minutes, or 0 to derive it from the estimate")
    startup = given_minutes or derived_minutes
    if startup < 5:
        raise ConfigError("startupTimeoutMinutes", startup, "below 5 minutes no model loads", "give 5 or more, or 0 to derive it")
    # 0 derives it: the replacement node's provisioning plus the start-up budget, so it is serving
    # before the old node's 7 days (or maxRunDurationSeconds) end.
    derived_lead = math.ceil((startup * 60 + NODE_PROVISIONING_SECONDS) / 300) * 300
    lead = r.integer(
        "flexStartLeadTimeSeconds", 0, 0, MAX_FLEX_SECONDS,
        f"give seconds up to {MAX_FLEX_SECONDS} (7 days), longer than the start-up budget, or 0 to derive it",
    ) or derived_lead
    if "flex-start" in capacity and lead <= startup * 60:
        raise ConfigError(
            "flexStartLeadTimeSeconds", lead,
            f"a replacement flex-start node must be up and loaded before the old one ends, but the start-up budget is {startup * 60} s",
            f"set it above {startup * 60}, e.g. {startup * 60 + 900}, or lower startupTimeoutMinutes",
        )
    max_run = r.integer("flexStartMaxRunDurationSeconds", 0, 0, MAX_FLEX_SECONDS, f"give seconds up to {MAX_FLEX_SECONDS}, or 0 for GKE's 7-day default")
    if max_run and max_run <= lead:
        raise ConfigError("flexStartMaxRunDurationSeconds", max_run, f"not longer than the recycling lead time {lead}", "make it longer than flexStartLeadTimeSeconds, or 0")

    fit = catalog.fit(model, machine, quantize)
    chunk = engine.chunk_for(machine.accelerator)
    plan = catalog.token_plan(model, fit, engine.dense_moe(quantize.name), chunk,
                              engine.warmup_logits)  # zeros for an unsized model
    # 0 (the Pulumi.yaml default) means: derive from the GPU memory left for the KV cache.
    total = r.integer("maxTotalTokens", 0, 0, 1 << 20, "give a token count, or 0 to derive it") or plan.max_total
    # A chunking engine prefills a long prompt in steps, so only a one-batch engine caps it at the prefill.
    one_batch_cap = (plan.max_prefill or total) if not chunk else total
    derived_input = plan.max_input if total == plan.max_total else min(catalog.input_limit(total), one_batch_cap)
    max_input = r.integer("maxInputTokens", 0, 0, 1 << 20, "give a token count below maxTotalTokens, or 0 to derive it") or derived_input
    if total and max_input >= total:
        raise ConfigError("maxInputTokens", max_input, f"the server needs the input limit below maxTotalTokens ({total})", f"use at most {total - 1}")
    if plan.max_prefill and not chunk and max_input > plan.max_prefill:
        raise ConfigError("maxInputTokens", max_input,
                          f"a prompt is prefilled in one batch, and a prefill of more than {plan.max_prefill} tokens "
                          f"does not fit beside the weights (warm-up would run out of GPU memory)",
                          f"use at most {plan.max_prefill}, or a machine with more GPU memory")
    if model.kv_bytes_per_token and total > plan.kv_tokens:
        raise ConfigError("maxTotalTokens", total, f"one request would need more KV cache than fits ({plan.kv_tokens} tokens)", f"use at most {plan.kv_tokens}")

    prices = {}
    for tier, key in (("spot", "priceSpot"), ("flex-start", "priceFlexStart"), ("on-demand", "priceOnDemand")):
        value = r.price(key)
        if value is not None:
            prices[tier] = value

    image = r.checked("image", engine.default_image, names.image, "give an image such as <registry>/<repository>:<tag> or @sha256:<digest>")
    if not names.image_is_pinned(image):
        pulumi.log.warn(f"image {image} has no tag or digest; pin it with image: <repository>@sha256:<digest>")
    # With regions each cluster's Service is a cluster IP and only the Gateway's /v1/ routes reach
    # it (components/platform/gateway.py), so an engine's unguarded non-/v1 path is not exposed.
    problem = engine.check_image(image, "cluster-ip" if regions else exposure)
    if problem:
        key = "image" if engine.check_image(engine.default_image, exposure) is None else "exposure"
        shown = image if key == "image" else exposure
        fix = (f"use {engine.default_image}, or exposure internal or cluster-ip" if key == "image"
               else "use exposure internal (reach it over your VPC) or cluster-ip, or engine tgi")
        raise ConfigError(key, shown, problem, fix)
    default_home = engine.hf_home_for(image)
    compute_class = r.string("computeClassName", DEFAULT_COMPUTE_CLASS)
    if names.dns_label(compute_class) or compute_class.startswith(("gke", "autopilot")):
        raise ConfigError("computeClassName", compute_class, "not a valid ComputeClass name (GKE reserves the prefixes gke and autopilot)", "use a DNS label such as dws-model-inference-class")

    return Settings(
        project=project,
        stack=pulumi.get_stack(),
        location=location,
        region=region_of(location),
        engine=engine,
        model=model,
        model_in_catalog=in_catalog,
        quantize=quantize,
        machine=machine,
        capacity=capacity,
        replicas=replicas,
        autoscaling=autoscaling,
        gpu_quota=quota,
        alert_email=alert_email,
        image=image,
        hf_home=r.checked("hfHome", default_home, names.absolute_path, "give the absolute path of the weight cache in the image, e.g. /data"),
        hf_token=pulumi.Output.secret(token),
        api_key=pulumi.Output.secret(api_key) if api_key else None,
        # A cut landing on a dash would end the cluster name with one, which GKE refuses: stripped here
        # only, as the bucket keeps the name it was created with (a double dash is valid in GCS, and
        # a new name would replace a deployed stack's bucket).
        cluster_name=r.checked("clusterName", f"llm-serving-{_stack_slug().rstrip('-')}", names.cluster_name,
                               "use e.g. llm-serving-prod"),
        compute_class_name=compute_class,
        namespace=r.checked("namespace", "llm", names.namespace, "use a namespace of its own, e.g. llm"),
        deletion_protection=r.boolean("deletionProtection", False),
        system_machine_type=_system_machine(r, weight_source),
        flex_lead_time_seconds=lead,
        flex_max_run_seconds=max_run or None,
        active_migration=r.boolean("activeMigration", False),
        startup_minutes=startup,
        startup_derived=not given_minutes,  # a budget set to the derived value is still the user's
        weight_source=weight_source,
        bucket_name=bucket,
        bucket_existing=bool(r.raw("modelBucket")),
        model_revision=revision,
        pod_memory=memory,
        gpu_boot_disk_gb=boot_disk,
        max_input_tokens=max_input,
        max_total_tokens=total,
        max_prefill_tokens=(plan.max_prefill if chunk else max(plan.max_prefill, max_input)) if plan.max_prefill else 0,
        exposure=exposure,
        private_nodes=r.boolean("privateNodes", False),
        authorized_networks=_authorized_networks(r),
        network=r.checked("network", "default", names.network_name, "give the name of an existing VPC network, e.g. default"),
        cache_storage_class=r.checked("cacheStorageClass", "premium-rwo", names.dns_subdomain, "give a StorageClass of the cluster, e.g. premium-rwo"),
        price_overrides=prices,
        forecast=_forecast.read(r),
        regions=regions,
        vllm_load_format=load_format,
    )
