"""The summary a person takes in at a glance: resources, capacity ladder with prices, model fit,
endpoint, validation, warnings."""

from __future__ import annotations

from collections import Counter

import catalog
from components.serving.inference_server import rollout_seconds
from catalog import loading
from planner.harness import Evaluation
from settings import NODE_PROVISIONING_SECONDS, Settings, _reader


def _money(value) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def ladder(s: Settings) -> list[str]:
    m = s.machine
    low, high = s.replicas, s.max_replicas
    count = f"{low}-{high}" if high != low else f"{low}"
    columns = (f"{'$/h at ' + str(low):>10} {'$/h at ' + str(high):>10}" if high != low else f"{'$/h deployment':>15}")
    where = f" in each of {', '.join(s.regions)}" if s.regions else ""
    lines = [f"Capacity ladder ({s.compute_class_name}), {count} replica(s){where} of {m.name}: "
             f"{m.gpu_count}x {m.gpu} ({m.total_gpu_memory_gb} GB), {m.vcpus} vCPU, {m.memory_gb} GB",
             f"  {'#':<2} {'tier':<11} {'machine':<17} {'GPUs':<5} {'$/h per replica':>16} {columns}  price source"]
    for i, tier in enumerate(s.capacity, 1):
        price = catalog.tier_price(m, tier, s.price_overrides)

        def total(n: int):
            return None if price.per_hour is None else price.per_hour * n

        cost = (f"{_money(total(low)):>10} {_money(total(high)):>10}" if high != low else f"{_money(total(low)):>15}")
        lines.append(f"  {i:<2} {tier:<11} {m.gce_machine_type:<17} {m.gpu_count:<5} "
                     f"{_money(price.per_hour):>16} {cost}  {price.source}")
    lines.append(f"  GPU nodes only (system pool and control plane extra); prices from {catalog.PRICE_SOURCE}"
                 + (", not your region" if not s.region.startswith("us-central1") else ""))
    lines.append(f"  GPU nodes boot from a {s.gpu_boot_disk_gb} GB pd-balanced disk (the serving image and the pod's "
                 "ephemeral storage; not priced here)")
    return lines


def operations(s: Settings, ev: Evaluation) -> list[str]:
    metrics = s.engine.metrics
    if s.autoscaling:
        a = s.autoscaling
        scaling = (f"Autoscaling: {a.min_replicas}-{a.max_replicas} replicas{' per region' if s.regions else ''} on {metrics.queue} "
                   f"(target {a.target_queue_size:g} waiting per replica), via the Custom Metrics Stackdriver Adapter")
    else:
        scaling = f"Autoscaling: off, {s.replicas} replica(s) (set autoscaling.maxReplicas to scale on {metrics.queue})"
    channel = (f"e-mail to {s.alert_email}" if s.alert_email
               else "no notification channel (set alertEmail): incidents show in the console only")
    return [scaling,
            f"Dashboard: {ev.outputs.get('dashboardUrl')}",
            f"Alerts: 4 policies (no ready replica, queue above target at max replicas, server pod pending, "
            f"Spot preemption); {channel}"]


def model_fit(s: Settings) -> list[str]:
    engine = f"{s.engine.title} ({s.engine.name}), image {s.image}"
    if not s.model.params_billion:
        return [f"Engine: {engine}",
                f"Model fit: {s.model.model_id} is not in the catalog; fit not checked (set modelParamsBillion)"]
    f, t = s.fit, s.tokens
    tgi = s.engine.name == "tgi"  # TGI takes MAX_* variables; vLLM takes flags
    if not s.max_total_tokens:
        tokens = ""
    elif not tgi:
        tokens = f"; --max-model-len {s.max_total_tokens}"
    else:
        tokens = f"; MAX_INPUT_TOKENS {s.max_input_tokens}, MAX_TOTAL_TOKENS {s.max_total_tokens}"
    dense = ", every expert per token, one at a time" if s.model.moe and s.engine.dense_moe(s.quantize.name) else ""
    chunked = s.engine.chunk_for(s.machine.accelerator)
    step = "per step" if chunked else "in one batch"
    shown = f"MAX_BATCH_PREFILL_TOKENS {s.max_prefill_tokens}" if tgi else f"{s.max_prefill_tokens} tokens"
    prefill = (f" + {'warm-up ' if tgi else ''}prefill {'chunk ' if chunked else ''}{t.prefill_gb:.1f} GB "
               f"({shown} {step}{dense})" if s.max_prefill_tokens else "")
    return [
        f"Engine: {engine}",
        f"Model fit: {s.model.model_id}, quantize {s.quantize.name}, tensor parallel {s.shards}",
        f"  weights {f.weights_gb:.1f} GB + runtime {f.overhead_gb:.1f} GB{prefill} + KV cache "
        f"({t.kv_tokens:,} tokens) = {f.gpu_memory_gb:.0f} GB of GPU memory{tokens}",
        f"  per pod: {s.pod_memory.server_cpu} CPU, {s.pod_memory.server_memory_gib}Gi memory, {s.pod.gpus} GPU(s) "
        f"for the server{_cache_line(s)}",
    ]


def _cache_line(s: Settings) -> str:
    cache = s.pod_memory.cache
    if s.weight_source != "bucket":
        return ""
    if s.weight_reader != "fuse":
        return f"; no FUSE sidecar or file cache ({cache.reason})"
    return (f"; FUSE sidecar {loading.SIDECAR_CPU} CPU, {loading.SIDECAR_MEMORY_GIB}Gi; file cache "
            + (f"{cache.size_gib}Gi on {cache.medium}" if cache.medium != "none" else "none") + f" ({cache.reason})")


def weights(s: Settings) -> list[str]:
    if s.weight_source == "bucket":
        origin = "an existing bucket" if s.bucket_existing else "created by this stack, deleted with it"
        size = f"{s.model.checkpoint_gb:.1f} GB" if s.model.checkpoint_gb else "the checkpoint (size unknown: not in the catalog)"
        head = (f"Weights: gs://{s.bucket_name}/{s.weights_prefix}/ ({origin}); a loader Job copies "
                f"{size} from the Hub once, pods read it through Cloud Storage FUSE")
        if s.regions:
            from settings import regions

            buckets = ", ".join(f"gs://{regions.names(r, s.cluster_name, s.bucket_name).bucket_name}" for r in s.regions)
            head = (f"Weights: a bucket beside each region's GPUs ({buckets}), under {s.weights_prefix}/, created by this "
                    f"stack and deleted with it; each region's loader Job copies {s.model.checkpoint_gb:.1f} GB from the Hub "
                    "once, its pods read it through Cloud Storage FUSE (docs/regions.md)")
    else:
        head = "Weights: each pod downloads from the Hugging Face Hub onto its own disk (weightSource hub)"
    if s.weight_reader == "streamer":
        head = head.replace("pods read it through Cloud Storage FUSE", "vLLM streams it from gs:// into GPU memory "
                            "with the Run:ai Model Streamer (vllmLoadFormat runai_streamer), no FUSE mount")
    ours = s.cold_start
    other_source = "hub" if s.weight_source == "bucket" else "bucket"
    other_reader = _reader(s.engine, other_source, s.vllm_load_format)
    other = loading.cold_start(s.model, s.quantize, other_source, s.engine.name, image_streamed=s.image_streamed,
                               reader=other_reader, shards=s.machine.gpu_count)
    lines = [head, images(s), f"Cold start of one replica on a new node (capacity available), weightSource {s.weight_source}:"]
    lines += [f"  {step.name:<40} {step.seconds / 60:>5.1f} min  {step.basis}" for step in ours]
    lines.append(f"  {'total':<40} {loading.minutes(ours):>5.1f} min  (weightSource {other_source}: "
                 f"{loading.minutes(other):.1f} min)")
    derived = " (derived: twice the estimate after the node is up)" if s.startup_derived else " (startupTimeoutMinutes)"
    lines.append(f"  startup probe budget {s.startup_minutes} min{derived}; roll-out budget "
                 f"{rollout_seconds(s.replicas, s.replica_budget_seconds) // 60} min "
                 f"(+{NODE_PROVISIONING_SECONDS // 60} min provisioning per replica); flex-start lead time "
                 f"{s.flex_lead_time_seconds // 60} min")
    return lines


def images(s: Settings) -> str:
    """Where the serving and loader images come from, and whether GPU nodes stream them."""
    from components.platform import registry
    from components.serving.model_store import LOADER_IMAGE

    key, _ = registry.split_image(s.image)
    if key is not None:
        _, title = registry.UPSTREAMS[key]
        if s.regions:  # one mirror per cell, named after that region's cluster
            from settings import regions

            first = regions.names(s.regions[0], s.cluster_name, s.bucket_name)
            repo = (f"{registry.mirror_host(first.region)}/{s.project}/{registry.repository_id(first.cluster_name, key)}"
                    f" (and its like in each other region)")
        else:
            repo = f"{registry.mirror_host(s.region)}/{s.project}/{registry.repository_id(s.cluster_name, key)}"
        caveat = "" if key == registry.DOCKER_HUB else " (streaming from a custom-upstream remote repository is undocumented: whole pull from the region if not)"
        serving = f"{s.image} from {title} through the remote repository {repo}, streamed by image streaming{caveat}"
    elif registry.in_artifact_registry(s.image):
        serving = (f"{s.image}, already in Artifact Registry, used as given: streamed only if it is a standard or remote "
                   "repository the nodes may read (they read the stack's mirrors only; grant them reader on it)")
    else:
        serving = f"{s.image}, outside Docker Hub, ghcr.io and Artifact Registry, used as given: pulled whole, not streamed"
    loader = "" if s.weight_source != "bucket" else f"; the loader's {LOADER_IMAGE.split('@')[0]} through the Docker Hub mirror"
    return f"Images: {serving}{loader}"


def render(ev: Evaluation, s: Settings, stack: str, out_dir: str, problems: list[str], warnings: list[str],
           k8s_count: int, outlook: dict | None = None, pods: str = "") -> str:
    counts = Counter(r.type for r in ev.resources if r.custom)
    lines = [f"Plan for stack {stack}: {sum(counts.values())} resources, files in {out_dir}/", "Resources:"]
    lines += [f"  {n:>3}  {t}" for t, n in sorted(counts.items())]
    lines += [""] + ladder(s) + [""] + model_fit(s) + [""] + weights(s) + [""] + operations(s, ev) + [""]
    if pods:
        lines += [pods, ""]
    if outlook is not None:
        lines += forecast(s, outlook, f"{out_dir}/forecast.json") + [""]
    lines.append(f"Endpoint: {ev.outputs.get('endpoint')} (exposure {s.exposure}); "
                 "the queryCommand output reaches the model")
    if problems:
        lines.append(f"Validation: FAILED, {len(problems)} problem(s):")
        lines += [f"  {p}" for p in problems]
    else:
        lines.append(f"Validation: {k8s_count} Kubernetes objects valid (Kubernetes 1.34 schemas, strict; "
                     "ComputeClass against project rules); every pod fits its node")
    if warnings:
        lines.append("Warnings:")
        lines += [f"  {w}" for w in warnings]
    return "\n".join(lines)


# --- availability and cost forecast ------------------------------------------------------------------


def _pct(value: float) -> str:
    """Availability with enough digits to tell 99.9% from 99.99%."""
    return f"{value * 100:.2f}%" if value < 0.9999 else f"{value * 100:.3f}%"


def forecast_report(s: Settings) -> dict:
    """The stack's forecast (catalog/forecast.py) as written to forecast.json."""
    from catalog import forecast as model
    from settings import forecast as config

    design = config.design(s)
    f = model.forecast(design, s.forecast.assumptions)
    return {
        "availability_any": round(f.availability_any, 6),
        "availability_full": round(f.availability_full, 6),
        "replicas": f.replicas,
        "monthly_cost": None if f.monthly_cost is None else round(f.monthly_cost, 2),
        "monthly_cost_by_tier": {t: None if c is None else round(c, 2) for t, c in f.monthly_cost_by_tier.items()},
        "node_hours_by_tier": {t: round(h, 1) for t, h in f.node_hours.items()},
        "on_demand_cost": None if f.on_demand_cost is None else round(f.on_demand_cost, 2),
        "cost_ratio": None if f.cost_ratio is None else round(f.cost_ratio, 3),
        "recovery_minutes": round(f.recovery_minutes, 1),
        "losses_per_month": round(f.losses_per_month, 1),
        "method": f.method,
        "assumptions": config.assumptions_table(s, design),
        **({"one_region": _one_region(s, model, config)} if s.regions else {}),
    }


def _one_region(s: Settings, model, config) -> dict:
    """The same stack in its first region only: what the other regions buy and cost."""
    f = model.forecast(config.design(s, regions=1), s.forecast.assumptions)
    return {"region": s.regions[0], "availability_any": round(f.availability_any, 6),
            "availability_full": round(f.availability_full, 6),
            "monthly_cost": None if f.monthly_cost is None else round(f.monthly_cost, 2)}


def forecast_headline(r: dict) -> str:
    n = r["replicas"]
    cost = ("cost n/a (a tier has no price)" if r["monthly_cost"] is None else
            f"${r['monthly_cost']:,.0f}/month" + (f" ({r['cost_ratio']:.2f}x on-demand)" if r["cost_ratio"] is not None else ""))
    if n == 1:
        return f"the one replica serves {_pct(r['availability_any'])} of the time, {cost}"
    return f"at least one replica {_pct(r['availability_any'])}, all {n} replicas {_pct(r['availability_full'])}, {cost}"


def forecast(s: Settings, r: dict, out_file: str) -> list[str]:
    tiers = ", ".join(f"{t} {h:,.0f} h" + ("" if r["monthly_cost_by_tier"].get(t) is None else f" ${r['monthly_cost_by_tier'][t]:,.0f}")
                      for t, h in r["node_hours_by_tier"].items())
    lines = [f"Forecast: {forecast_headline(r)}",
             f"  per month: {tiers} of GPU nodes (boot included); all on-demand {_money(r['on_demand_cost'])}; "
             f"{r['losses_per_month']:.0f} replica losses; recovery {r['recovery_minutes']:.1f} min with capacity",
             *_regions_line(r),
             f"  {r['method']}; assumptions, not measurements (no public L4 reclaim trace); "
             f"override under `forecast`, see docs/forecast.md; details in {out_file}"]
    for a in r["assumptions"]:
        value = a["value"]
        shown = "n/a" if value is None else f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"  {a['name']:<32} {shown:>8}  {_short(a['source'], 76)}")
    return lines


def _regions_line(r: dict) -> list[str]:
    one = r.get("one_region")
    if not one:
        return []
    extra = ("" if one["monthly_cost"] is None or r["monthly_cost"] is None
             else f", for ${r['monthly_cost'] - one['monthly_cost']:,.0f}/month more")
    return [f"  the other region(s) take at least one replica from {_pct(one['availability_any'])} ({one['region']} alone) "
            f"to {_pct(r['availability_any'])}{extra}"]


def _short(source: str, width: int = 80) -> str:
    return source if len(source) <= width else source[: width - 3] + "..."


def compare(s: Settings, stack: str) -> str:
    """The stack's forecast beside designs derived from it, one line each: what each option buys and costs."""
    from catalog import forecast as model
    from settings import forecast as config

    a = s.forecast.assumptions
    ladder = tuple(s.capacity)
    n = s.replicas
    options: list[tuple[str, object]] = [(f"{stack}: {' > '.join(ladder)}, {n} replica(s)"
                                          + (", migration" if s.active_migration else ""), config.design(s))]

    def add(label, **kw):
        d = config.design(s, **kw)
        if all(d != existing for _, existing in options):
            options.append((label, d))

    add(f"one more replica ({n + 1})" + (" per region" if s.regions else ""), replicas=n + 1)
    if s.regions:
        add(f"one region only ({s.regions[0]})", regions=1)
    if "on-demand" in ladder:
        add("without on-demand", ladder=tuple(t for t in ladder if t != "on-demand"))
    elif s.machine.on_demand:
        add("with on-demand last", ladder=ladder + ("on-demand",))
    if "flex-start" in ladder:
        add("without flex-start", ladder=tuple(t for t in ladder if t != "flex-start"))
    else:
        add("with flex-start after spot", ladder=("spot", "flex-start") + tuple(t for t in ladder if t not in ("spot", "flex-start")))
    add("Spot only", ladder=("spot",))
    if ladder[0] == "spot" and len(ladder) > 1:
        add("activeMigration " + ("off" if s.active_migration else "on"), active_migration=not s.active_migration)
    if s.machine.on_demand:
        add("all on-demand", ladder=("on-demand",))
    lines = [f"Forecast for stack {stack}: {s.machine.name} in {', '.join(s.regions or (s.region,))}, recovery {config.recovery_seconds(s) / 60:.1f} min; "
             f"assumptions listed by make plan",
             f"  {'design':<50} {'>=1 serves':>10} {'all serve':>10} {'$/month':>9} {'x on-demand':>11}"]
    for label, d in options:
        f = model.forecast(d, a)
        cost = "n/a" if f.monthly_cost is None else f"{f.monthly_cost:,.0f}"
        ratio = "n/a" if f.cost_ratio is None else f"{f.cost_ratio:.2f}"
        any_, full = round(f.availability_any, 6), round(f.availability_full, 6)  # as forecast.json rounds
        lines.append(f"  {label:<50} {_pct(any_):>10} {_pct(full):>10} {cost:>9} {ratio:>11}")
    lines.append("  GPU nodes only, 730 h; availability = time fractions under the stated assumptions, not measurements")
    return "\n".join(lines)
