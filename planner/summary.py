"""The summary a person takes in at a glance: resources, capacity ladder with prices, model fit,
endpoint, validation, warnings."""

from __future__ import annotations

from collections import Counter

import catalog
from components.inference_server import rollout_seconds
from catalog import loading
from planner.harness import Evaluation
from settings import NODE_PROVISIONING_SECONDS, Settings


def _money(value) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def ladder(s: Settings) -> list[str]:
    m = s.machine
    low, high = s.replicas, s.max_replicas
    count = f"{low}-{high}" if high != low else f"{low}"
    columns = (f"{'$/h at ' + str(low):>10} {'$/h at ' + str(high):>10}" if high != low else f"{'$/h deployment':>15}")
    lines = [f"Capacity ladder ({s.compute_class_name}), {count} replica(s) of {m.name}: "
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
    if s.pod_memory.cache.medium == "local-ssd":
        lines.append(f"  plus {m.local_ssd_count} Local SSD(s) of 375 GiB per GPU node for the weights' file cache (not priced here)")
    return lines


def operations(s: Settings, ev: Evaluation) -> list[str]:
    metrics = s.engine.metrics
    if s.autoscaling:
        a = s.autoscaling
        scaling = (f"Autoscaling: {a.min_replicas}-{a.max_replicas} replicas on {metrics.queue} "
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
    return (f"; FUSE sidecar {loading.SIDECAR_CPU} CPU, {loading.SIDECAR_MEMORY_GIB}Gi; file cache "
            + (f"{cache.size_gib}Gi on {cache.medium}" if cache.medium != "none" else "none") + f" ({cache.reason})")


def weights(s: Settings) -> list[str]:
    if s.weight_source == "bucket":
        origin = "an existing bucket" if s.bucket_existing else "created by this stack, deleted with it"
        head = (f"Weights: gs://{s.bucket_name}/{s.weights_prefix}/ ({origin}); a loader Job copies "
                f"{s.model.checkpoint_gb:.1f} GB from the Hub once, pods read it through Cloud Storage FUSE")
    else:
        head = "Weights: each pod downloads from the Hugging Face Hub onto its own disk (weightSource hub)"
    ours = s.cold_start
    other_source = "hub" if s.weight_source == "bucket" else "bucket"
    other = loading.cold_start(s.model, s.quantize, other_source, s.engine.name)
    lines = [head, f"Cold start of one replica on a new node (capacity available), weightSource {s.weight_source}:"]
    lines += [f"  {step.name:<40} {step.seconds / 60:>5.1f} min  {step.basis}" for step in ours]
    lines.append(f"  {'total':<40} {loading.minutes(ours):>5.1f} min  (weightSource {other_source}: "
                 f"{loading.minutes(other):.1f} min)")
    derived = " (derived: twice the estimate after the node is up)" if s.startup_derived else " (startupTimeoutMinutes)"
    lines.append(f"  startup probe budget {s.startup_minutes} min{derived}; roll-out budget "
                 f"{rollout_seconds(s.replicas, s.replica_budget_seconds) // 60} min "
                 f"(+{NODE_PROVISIONING_SECONDS // 60} min provisioning per replica); flex-start lead time "
                 f"{s.flex_lead_time_seconds // 60} min")
    return lines


def render(ev: Evaluation, s: Settings, stack: str, out_dir: str, problems: list[str], warnings: list[str],
           k8s_count: int, pods: str = "") -> str:
    counts = Counter(r.type for r in ev.resources if r.custom)
    lines = [f"Plan for stack {stack}: {sum(counts.values())} resources, files in {out_dir}/", "Resources:"]
    lines += [f"  {n:>3}  {t}" for t, n in sorted(counts.items())]
    lines += [""] + ladder(s) + [""] + model_fit(s) + [""] + weights(s) + [""] + operations(s, ev) + [""]
    if pods:
        lines += [pods, ""]
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
