"""The loader Job's program: copies one pinned Hub revision into the bucket, checks it, then marks it.

Shipped to the pod as a file in a ConfigMap and run there by `python3`; imported by the tests, which
drive `main` with fakes of the Hub and of Cloud Storage. Only the standard library at import time:
huggingface_hub is imported inside `main`, in the pod, after `pip` installed it.

Why each step (issue 16):
- huggingface_hub 0.30 returned normally from `snapshot_download` after a Hub error when the target
  was not empty (`_snapshot_download.py` "Returning existing local_dir", review-engines A2), and any
  version can be interrupted. So the loader never trusts the download: it lists the revision's files
  with their sizes from the Hub first, and writes the marker only when every one is in the bucket with
  that size and the checkpoint's own index names no shard that is missing.
- A second `pulumi up` while the first download runs replaces the unready Job create-before-delete
  (pulumi-kubernetes `replaceUnready`, review-gcp B3), so two loaders could write one prefix. A lock
  object created with `ifGenerationMatch=0` (Cloud Storage request preconditions: the write succeeds
  only if no live object has that name) lets one in; it is renewed while held, so a lock left by a
  killed pod goes stale and is taken over, again under a generation precondition.
- A failure ends in one line naming the cause and the fix, written to the termination log too, so it
  reaches the pod's status (terminationMessagePolicy FallbackToLogsOnError) instead of a traceback.
"""

from __future__ import annotations

import datetime
import errno
import fnmatch
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

# Exit codes. 2 means retrying cannot help (refused token, unknown revision, a file too big for the
# staging the pod requests): the Job's podFailurePolicy fails the Job at once instead of re-running
# the same refusal three more times. 1 is anything a retry may fix (Hub 5xx, network, a short file).
EXIT_RETRY = 1
EXIT_PERMANENT = 2

COMMIT = re.compile(r"[0-9a-f]{40}")
GCS = "https://storage.googleapis.com"
# The GKE metadata server answers for the pod's Kubernetes ServiceAccount under Workload Identity
# Federation; the token carries the `principal://` identity the bucket grant names.
TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"


class LoaderError(Exception):
    """A failure already explained in one line (cause and fix)."""

    def __init__(self, line: str, code: int = EXIT_RETRY):
        super().__init__(line)
        self.code = code


# --- What the revision holds -------------------------------------------------------------------


def wanted(files: dict[str, Optional[int]], patterns: list[str]) -> dict[str, Optional[int]]:
    """The files `snapshot_download(allow_patterns=...)` takes: fnmatch on the repo path, as
    huggingface_hub's filter_repo_objects does."""
    return {name: size for name, size in files.items() if any(fnmatch.fnmatch(name, p) for p in patterns)}


def expected_files(files: dict[str, Optional[int]], patterns: list[str], max_file_bytes: int, model: str) -> dict[str, int]:
    """The files to copy with their sizes, or a LoaderError when the revision cannot be loaded here."""
    chosen = wanted(files, patterns)
    unsized = sorted(n for n, s in chosen.items() if s is None)
    if unsized:
        raise LoaderError(f"the Hub listed {unsized[0]} of {model} without a size, so the copy could not be "
                          f"checked; the Job retries, and if it persists report it with the revision")
    if not any(n.endswith(".safetensors") for n in chosen):
        # Deliberately no *.bin fallback: the server mounts the bucket read-only, and TGI converts
        # .bin to safetensors by writing next to the weights (review-engines, "No .bin fallback").
        raise LoaderError(f"{model} has no *.safetensors weights at this revision; the bucket mode serves "
                          f"safetensors only: pick a revision or a repo with safetensors, or weightSource hub",
                          EXIT_PERMANENT)
    too_big = sorted((s, n) for n, s in chosen.items() if s > max_file_bytes)
    if too_big:
        size, name = too_big[-1]
        raise LoaderError(f"{name} is {size} bytes ({size / 2**30:.1f} GiB), more than the {max_file_bytes} bytes "
                          f"({max_file_bytes / 2**30:.0f} GiB) of staging the loader pod requests for one file; this checkpoint needs a larger "
                          f"loader staging request (components/serving/model_store.py)", EXIT_PERMANENT)
    return {n: int(s) for n, s in chosen.items()}


def problems(target: Path, expected: dict[str, int]) -> list[str]:
    """What is wrong with the copy in `target`: each missing or wrong-sized file, and each shard the
    checkpoint's index names that the copy does not hold. Empty when the copy is whole."""
    found = []
    for name, size in sorted(expected.items()):
        path = target / name
        if not path.is_file():
            found.append(f"{name} missing")
        elif path.stat().st_size != size:
            found.append(f"{name} has {path.stat().st_size} bytes, the Hub says {size}")
    for index in sorted(n for n in expected if n.endswith(".safetensors.index.json")):
        path = target / index
        if not path.is_file():
            continue  # already reported above
        try:
            shards = set(json.loads(path.read_text())["weight_map"].values())
        except (ValueError, KeyError, TypeError, AttributeError):
            found.append(f"{index} is not a checkpoint index (no weight_map)")
            continue
        parent = str(Path(index).parent)
        for shard in sorted(shards):
            shard_name = shard if parent == "." else f"{parent}/{shard}"
            if shard_name not in expected:
                found.append(f"{index} names {shard_name}, which the download did not include")
    return found


# --- Why it failed ------------------------------------------------------------------------------


def explain(exc: BaseException, model: str, revision: str) -> tuple[str, int]:
    """One line with the cause and the fix for an exception from the Hub client or the disk, and
    whether a retry can help. Classes are matched by name so that the line does not depend on
    importing huggingface_hub (its error classes: huggingface_hub/errors.py, 2.4.0)."""
    names = {c.__name__ for c in type(exc).__mro__}
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    page = f"https://huggingface.co/{model}"
    if "GatedRepoError" in names:
        return (f"the Hub refused {model} (HTTP {status}): it is gated and the account of the hfToken has not "
                f"been granted access; accept its licence at {page} with that account, then pulumi up again",
                EXIT_PERMANENT)
    if "RevisionNotFoundError" in names:
        return (f"revision {revision} does not exist in {model} (HTTP 404); set modelRevision to a commit "
                f"listed at {page}/commits/main", EXIT_PERMANENT)
    if "RepositoryNotFoundError" in names or status in (401, 403):
        return (f"the Hub refused {model} (HTTP {status}): the hfToken is invalid or expired, or the repo "
                f"is private or misspelt; check the model id and set a valid read token with "
                f"pulumi config set --secret hfToken <token>", EXIT_PERMANENT)
    if "HfHubHTTPError" in names:
        return (f"the Hub answered HTTP {status} for {model}; the Job retries (check "
                f"https://status.huggingface.co if it persists)", EXIT_RETRY)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left while writing {getattr(exc, 'filename', None) or 'the checkpoint'}: the node's "
                f"ephemeral storage for staging is full; raise the loader's staging request and the system "
                f"pool's boot disk, then pulumi up again", EXIT_RETRY)
    if isinstance(exc, (ConnectionError, TimeoutError, urllib.error.URLError)) or names & {"ConnectError", "TimeoutException", "NetworkError"}:
        return (f"cannot reach the Hub or Cloud Storage ({type(exc).__name__}); the cluster's nodes need egress "
                f"(Cloud NAT for private nodes); the Job retries", EXIT_RETRY)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected {type(exc).__name__}: {first[:300]}; the Job retries", EXIT_RETRY


# --- The lock -----------------------------------------------------------------------------------

# (method, url, headers, body) -> (status, body)
Http = Callable[[str, str, dict, Optional[bytes]], tuple[int, bytes]]


def urllib_http(method: str, url: str, headers: dict, body: Optional[bytes]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metadata_token(http: Http) -> str:
    status, body = http("GET", TOKEN_URL, {"Metadata-Flavor": "Google"}, None)
    if status != 200:
        raise LoaderError(f"the GKE metadata server gave no token (HTTP {status}); the loader's node pool needs "
                          f"the GKE metadata server (Workload Identity Federation for GKE)")
    return json.loads(body)["access_token"]


def _parse_time(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Bucket:
    """The few Cloud Storage JSON API calls the loader needs, with the pod's own identity."""

    def __init__(self, name: str, http: Http = urllib_http):
        self.name, self.http = name, http
        self._token: Optional[str] = None

    def _call(self, method: str, url: str, body: Optional[bytes] = None) -> tuple[int, bytes]:
        if self._token is None:
            self._token = metadata_token(self.http)
        headers = {"Authorization": f"Bearer {self._token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        status, data = self.http(method, url, headers, body)
        if status == 401:  # the token expired (they last about an hour): fetch a fresh one once
            self._token = metadata_token(self.http)
            headers["Authorization"] = f"Bearer {self._token}"
            status, data = self.http(method, url, headers, body)
        if status in (401, 403):
            raise LoaderError(f"Cloud Storage refused the loader (HTTP {status}) on gs://{self.name}; the "
                              f"model-loader ServiceAccount needs roles/storage.objectUser on the bucket", EXIT_PERMANENT)
        return status, data

    def _object(self, name: str) -> str:
        return f"{GCS}/storage/v1/b/{self.name}/o/{urllib.parse.quote(name, safe='')}"

    def write(self, name: str, body: bytes, if_generation: int) -> Optional[int]:
        """Writes the object only if its generation is `if_generation` (0: only if absent). Returns the
        new generation, or None when the precondition failed (HTTP 412)."""
        url = (f"{GCS}/upload/storage/v1/b/{self.name}/o?uploadType=media&name={urllib.parse.quote(name, safe='')}"
               f"&ifGenerationMatch={if_generation}")
        status, data = self._call("POST", url, body)
        if status == 412:
            return None
        if status != 200:
            raise LoaderError(f"Cloud Storage answered HTTP {status} writing gs://{self.name}/{name}; the Job retries")
        return int(json.loads(data)["generation"])

    def stat(self, name: str) -> Optional[dict]:
        status, data = self._call("GET", self._object(name))
        if status == 404:
            return None
        if status != 200:
            raise LoaderError(f"Cloud Storage answered HTTP {status} reading gs://{self.name}/{name}; the Job retries")
        return json.loads(data)

    def delete(self, name: str, if_generation: int) -> None:
        self._call("DELETE", f"{self._object(name)}?ifGenerationMatch={if_generation}")  # 404/412: not ours any more


class Lock:
    """One writer per prefix: an object created only if absent, renewed while held, taken over once
    nobody renewed it for `stale_seconds`."""

    def __init__(self, bucket: Bucket, name: str, holder: str, stale_seconds: float,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.bucket, self.name, self.holder = bucket, name, holder
        self.stale_seconds, self.clock, self.sleep = stale_seconds, clock, sleep
        self.generation: Optional[int] = None
        self.lost = False

    def _body(self) -> bytes:
        return json.dumps({"holder": self.holder, "renewed": self.clock()}).encode()

    def try_acquire(self) -> bool:
        generation = self.bucket.write(self.name, self._body(), 0)
        if generation is None:
            current = self.bucket.stat(self.name)
            if current is None:
                return False  # released meanwhile: try again on the next round
            age = self.clock() - _parse_time(current["updated"])
            if age < self.stale_seconds:
                return False
            # Nobody renewed it: its holder was killed. Take it over only if it is still that object,
            # so two waiting loaders cannot both take the same stale lock.
            print(f"taking over gs://{self.bucket.name}/{self.name}: nobody renewed it for {age:.0f} s", flush=True)
            generation = self.bucket.write(self.name, self._body(), int(current["generation"]))
            if generation is None:
                return False
        self.generation = generation
        return True

    def acquire(self, done: Callable[[], bool], poll_seconds: float) -> bool:
        """Waits for the lock. Returns False, without it, when `done()` says another loader finished."""
        while not self.try_acquire():
            if done():
                return False
            print(f"another loader holds gs://{self.bucket.name}/{self.name}; waiting", flush=True)
            self.sleep(poll_seconds)
        return True

    def renew(self) -> None:
        generation = self.bucket.write(self.name, self._body(), self.generation)
        if generation is None:
            self.lost = True  # taken over as stale: this loader must not write the marker
        else:
            self.generation = generation

    def release(self) -> None:
        if self.generation is not None and not self.lost:
            self.bucket.delete(self.name, self.generation)
            self.generation = None


# --- The run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    model: str
    revision: str
    bucket: str
    prefix: str  # <model>/<revision> inside the bucket
    target: Path  # the prefix on the Cloud Storage FUSE mount
    marker: str
    patterns: list[str]
    workers: int
    max_file_bytes: int
    stale_seconds: float
    holder: str

    @staticmethod
    def from_env(env: dict) -> "Config":
        return Config(
            model=env["MODEL_ID"], revision=env["REVISION"], bucket=env["BUCKET"], prefix=env["PREFIX"],
            target=Path(env["MOUNT"]) / env["PREFIX"], marker=env["MARKER"], patterns=env["INCLUDE"].split(),
            workers=int(env["WORKERS"]), max_file_bytes=int(env["MAX_FILE_BYTES"]),
            stale_seconds=float(env["LOCK_STALE_SECONDS"]), holder=env.get("HOSTNAME", "loader"))


def run(cfg: Config, hub, bucket: Bucket, clock=time.time, sleep=time.sleep, heartbeat: bool = True) -> int:
    """Copies the revision unless it is already marked complete. `hub` has huggingface_hub's
    `model_info(repo_id, revision=, files_metadata=)` and `snapshot_download(...)`."""
    marker_object = f"{cfg.prefix}/{cfg.marker}"
    if bucket.stat(marker_object) is not None:
        print(f"gs://{cfg.bucket}/{cfg.prefix} is complete; nothing to download", flush=True)
        return 0
    info = hub.model_info(cfg.model, revision=cfg.revision, files_metadata=True)
    if COMMIT.fullmatch(cfg.revision) and info.sha != cfg.revision:
        raise LoaderError(f"the Hub resolved {cfg.revision} to {info.sha}; refusing to fill a prefix named "
                          f"after one commit with another", EXIT_PERMANENT)
    expected = expected_files({s.rfilename: s.size for s in info.siblings}, cfg.patterns, cfg.max_file_bytes, cfg.model)
    lock = Lock(bucket, f"{cfg.prefix}.lock", cfg.holder, cfg.stale_seconds, clock, sleep)
    if not lock.acquire(lambda: bucket.stat(marker_object) is not None, poll_seconds=cfg.stale_seconds / 5):
        print(f"another loader completed gs://{cfg.bucket}/{cfg.prefix}", flush=True)
        return 0
    stop = threading.Event()
    beat = threading.Thread(target=_renew_until, args=(lock, stop, cfg.stale_seconds / 5), daemon=True)
    try:
        if heartbeat:
            beat.start()
        if bucket.stat(marker_object) is not None:  # finished by the loader that held the lock before us
            return 0
        started = clock()
        hub.snapshot_download(repo_id=cfg.model, revision=info.sha, local_dir=str(cfg.target),
                              allow_patterns=cfg.patterns, max_workers=cfg.workers)
        wrong = problems(cfg.target, expected)
        if wrong:
            raise LoaderError(f"the copy of {cfg.model}@{info.sha} is incomplete after the download "
                              f"({len(wrong)} problems, first: {wrong[0]}); no completion marker written, the Job retries")
        stop.set()
        if heartbeat:
            beat.join()
        lock.renew()  # still ours right now? (a takeover since the last renewal shows here)
        if lock.lost:
            raise LoaderError("another loader took over the lock while this one ran (no renewal for "
                              f"{cfg.stale_seconds:.0f} s); no completion marker written, the Job retries")
        # Written last, through the mount like the files it vouches for: only a checked copy has it.
        (cfg.target / cfg.marker).write_text(f"{cfg.model}@{info.sha}\n")
        size = sum(expected.values())
        print(f"copied and checked {len(expected)} files, {size / 1e9:.1f} GB, in {clock() - started:.0f} s", flush=True)
        return 0
    finally:
        stop.set()
        lock.release()


def _renew_until(lock: Lock, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            lock.renew()
        except Exception as e:  # a failed renewal is retried next round; staleness decides
            print(f"lock renewal failed: {e}", flush=True)
        if lock.lost:
            return


def fail(line: str, code: int, termination_log: str) -> int:
    """Prints the one line and leaves it as the container's termination message."""
    print(f"model loader failed: {line}", file=sys.stderr, flush=True)
    try:
        Path(termination_log).write_text(line + "\n")
    except OSError:
        pass  # FallbackToLogsOnError then takes the log line
    return code


def main(env: Optional[dict] = None, hub=None, bucket: Optional[Bucket] = None) -> int:
    env = dict(os.environ) if env is None else env
    cfg = Config.from_env(env)
    # The kubelet reads the container's termination message from here (terminationMessagePath).
    termination_log = env.get("TERMINATION_LOG", "/dev/termination-log")
    try:
        if hub is None:
            import huggingface_hub as hub  # installed by the pod's pip step; reads HF_TOKEN itself
        return run(cfg, hub, bucket or Bucket(cfg.bucket))
    except LoaderError as e:
        return fail(str(e), e.code, termination_log)
    except Exception as e:  # every other failure: one line, never a traceback (issue 16 item 4)
        line, code = explain(e, cfg.model, cfg.revision)
        return fail(line, code, termination_log)


if __name__ == "__main__":
    sys.exit(main())
