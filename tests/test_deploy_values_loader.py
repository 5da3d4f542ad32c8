"""The loader Job's program (components/serving/model_loader.py) pinned as literals: which files it
takes and refuses, each copy problem and each failure as its whole line with its exit status, every
Cloud Storage request (method, URL with its preconditions, headers), the lock's timings and
generations, the order of a run's steps, and what `main` leaves on the termination log.

Mutation testing (issue 17): tests/test_loader.py drives the program end to end and looks for
words, so a one-token slip (a pattern, `<` for `<=`, a precondition, an exit code) could survive it,
and it breaks every first `pulumi up` where no offline check sees it: the program runs only in the
pod. So each value is stated here whole, with the reason. The fakes are small and local: a scripted
HTTP function (every request recorded), an in-memory bucket with generations, and a Hub over a
directory; no thread runs except where the heartbeat itself is pinned, so the file takes well under
a second."""

from __future__ import annotations

import errno
import json
import sys
import time
import types
import urllib.error
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from components.serving import model_loader as loader

MODEL = "acme/tiny-moe"
SHA = "0123456789abcdef0123456789abcdef01234567"
PREFIX = f"{MODEL}/{SHA}"
PREFIX_Q = "acme%2Ftiny-moe%2F0123456789abcdef0123456789abcdef01234567"  # quote(PREFIX, safe='')
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
GIB = 2**30
TOKEN_REPLY = (200, b'{"access_token": "ya29.tok", "expires_in": 3599}')
AUTH = {"Authorization": "Bearer ya29.tok"}
JSON_AUTH = {"Authorization": "Bearer ya29.tok", "Content-Type": "application/json"}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


class Script:
    """An `Http` that answers from a list and records every request whole."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls = []

    def __call__(self, method, url, headers, body):
        self.calls.append((method, url, dict(headers), body))
        return self.replies.pop(0)


class Store:
    """Cloud Storage's JSON API over a dict, with generations and ifGenerationMatch as the service
    applies them; `log` records each object request in order, for the run's step order."""

    def __init__(self, clock, log):
        self.clock, self.log = clock, log
        self.objects: dict[str, tuple[int, float, bytes]] = {}
        self.generation = 100
        self.bodies = []  # each write's body, in order

    def put(self, name, body=b"{}", age=0.0):
        self.generation += 1
        self.objects[name] = (self.generation, self.clock() - age, body)
        return self.generation

    def __call__(self, method, url, headers, body):
        if url == loader.TOKEN_URL:
            return TOKEN_REPLY
        parsed = urlparse(url)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        if method == "POST":
            name, want = query["name"], int(query["ifGenerationMatch"])
            self.log.append(("write", name, want))
            self.bodies.append(json.loads(body))
            current = self.objects.get(name, (0,))[0]
            if current != want:
                return 412, b"{}"
            return 200, json.dumps({"generation": str(self.put(name, body))}).encode()
        name = unquote(parsed.path.split("/o/", 1)[1])
        if method == "GET":
            self.log.append(("stat", name))
            if name not in self.objects:
                return 404, b"{}"
            generation, updated, _ = self.objects[name]
            return 200, json.dumps({"generation": str(generation), "updated": iso(updated)}).encode()
        assert method == "DELETE"
        self.log.append(("delete", name, int(query["ifGenerationMatch"])))
        if self.objects.get(name, (None,))[0] == int(query["ifGenerationMatch"]):
            del self.objects[name]
            return 204, b""
        return 412, b"{}"


class Hub:
    """model_info and snapshot_download over `files` (name -> bytes), logging each call."""

    def __init__(self, files, log, sha=SHA, on_download=None):
        self.files, self.log, self.sha, self.on_download = files, log, sha, on_download

    def model_info(self, repo_id, revision, files_metadata):
        self.log.append(("model_info", repo_id, revision, files_metadata))
        siblings = [types.SimpleNamespace(rfilename=n, size=len(b)) for n, b in self.files.items()]
        return types.SimpleNamespace(sha=self.sha, siblings=siblings)

    def snapshot_download(self, **kw):
        self.log.append(("download", kw))
        # The fake Hub filters with the loader's own `wanted`, as huggingface_hub filters with the same
        # patterns; `wanted` itself is pinned by literals below (test_wanted_*), so this borrows no unchecked code.
        for name in loader.wanted({n: 0 for n in self.files}, kw["allow_patterns"]):
            path = Path(kw["local_dir"]) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.files[name])
        if self.on_download:
            self.on_download()


FILES = {"model.safetensors": b"w" * 40, "config.json": b"{}", "consolidated.pt": b"p" * 9}


@pytest.fixture
def world(tmp_path):
    now = [NOW]
    clock = lambda: now[0]  # noqa: E731
    log = []
    store = Store(clock, log)
    env = {"MODEL_ID": MODEL, "REVISION": SHA, "BUCKET": "bkt", "PREFIX": PREFIX, "MOUNT": str(tmp_path),
           "MARKER": ".complete", "INCLUDE": "model*.safetensors *.json", "WORKERS": "3",
           "MAX_FILE_BYTES": "100", "LOCK_STALE_SECONDS": "300", "HOSTNAME": "loader-xyz",
           "TERMINATION_LOG": str(tmp_path / "termination-log")}
    return types.SimpleNamespace(now=now, clock=clock, log=log, store=store, env=env, tmp=tmp_path,
                                 target=tmp_path / PREFIX, bucket=loader.Bucket("bkt", store))


def run(world, hub, sleep=None):
    cfg = loader.Config.from_env(world.env)
    return loader.run(cfg, hub, world.bucket, world.clock, sleep or (lambda s: None), heartbeat=False)


# --- Exit codes -----------------------------------------------------------------------------------


def test_exit_codes_are_1_for_retry_and_2_for_a_refusal():
    # The Job's podFailurePolicy (model_store.py: onExitCodes In [2], action FailJob) fails the Job at
    # once on 2; any other non-zero code is retried within the backoff limit.
    assert (loader.EXIT_RETRY, loader.EXIT_PERMANENT) == (1, 2)


def test_a_loader_error_defaults_to_the_retry_code():
    assert loader.LoaderError("x").code == 1
    assert loader.LoaderError("x", 2).code == 2


# --- wanted ---------------------------------------------------------------------------------------


# huggingface_hub src/huggingface_hub/utils/_paths.py `filter_repo_objects`: a path is kept when
# `any(fnmatch(path, r) for r in allow_patterns)`; the loader must choose the same files to check.
def test_wanted_keeps_files_matching_any_pattern_with_their_sizes():
    files = {"model-00001.safetensors": 5, "config.json": 2, "consolidated.pt": 9, "tokenizer.model": None}
    assert loader.wanted(files, ["model*.safetensors", "*.json"]) == {"model-00001.safetensors": 5, "config.json": 2}


def test_wanted_star_crosses_directories_as_fnmatch_does():
    # huggingface_hub filters allow_patterns with fnmatch, where `*` also matches `/`.
    assert loader.wanted({"sub/dir/config.json": 1}, ["*.json"]) == {"sub/dir/config.json": 1}


def test_wanted_is_case_sensitive_and_anchored():
    assert loader.wanted({"Model.safetensors": 1, "xmodel.safetensors": 1, "model.safetensors.bak": 1},
                         ["model*.safetensors"]) == {}


def test_wanted_with_no_patterns_takes_nothing():
    assert loader.wanted({"model.safetensors": 1}, []) == {}


def test_wanted_keeps_a_file_listed_without_a_size():
    assert loader.wanted({"model.safetensors": None}, ["model*"]) == {"model.safetensors": None}


# --- expected_files -------------------------------------------------------------------------------


def test_expected_files_returns_the_chosen_files_as_integer_sizes():
    got = loader.expected_files({"model.safetensors": 100, "config.json": 2, "x.pt": 999},
                                ["model*.safetensors", "*.json"], 100, MODEL)
    assert got == {"model.safetensors": 100, "config.json": 2}  # 100 is at the cap: allowed
    assert all(type(v) is int for v in got.values())


def test_expected_files_refuses_a_file_listed_without_a_size_naming_the_first_and_retries():
    with pytest.raises(loader.LoaderError) as e:
        loader.expected_files({"model.safetensors": 1, "b.json": None, "a.json": None}, ["*"], 100, MODEL)
    assert str(e.value) == ("the Hub listed a.json of acme/tiny-moe without a size, so the copy could not be "
                            "checked; the Job retries, and if it persists report it with the revision")
    assert e.value.code == 1


def test_expected_files_reports_a_missing_size_before_missing_safetensors():
    with pytest.raises(loader.LoaderError) as e:
        loader.expected_files({"a.json": None}, ["*"], 100, MODEL)
    assert str(e.value).startswith("the Hub listed a.json")


def test_expected_files_ignores_an_unsized_file_the_patterns_skip():
    assert loader.expected_files({"model.safetensors": 1, "x.pt": None}, ["model*"], 100, MODEL) == {"model.safetensors": 1}


def test_expected_files_refuses_a_revision_without_safetensors_permanently():
    # An index alone ends in .json, not .safetensors: still no weights.
    with pytest.raises(loader.LoaderError) as e:
        loader.expected_files({"model.safetensors.index.json": 5, "pytorch_model.bin": 10}, ["*"], 100, MODEL)
    assert str(e.value) == ("acme/tiny-moe has no *.safetensors weights at this revision; the bucket mode serves "
                            "safetensors only: pick a revision or a repo with safetensors, or weightSource hub")
    assert e.value.code == 2


def test_expected_files_takes_only_a_dot_safetensors_suffix_as_weights():
    with pytest.raises(loader.LoaderError) as e:
        loader.expected_files({"model_safetensors": 5, "config.json": 2}, ["*"], 100, MODEL)
    assert e.value.code == 2 and "has no *.safetensors weights" in str(e.value)


def test_expected_files_refuses_a_file_one_byte_over_the_cap_with_the_whole_line():
    cap = 10 * GIB  # model_store.py: LOADER_FILE_CAP_GIB = 10, MAX_FILE_BYTES = 10 * 2**30
    with pytest.raises(loader.LoaderError) as e:
        loader.expected_files({"model.safetensors": cap + 1}, ["*"], cap, MODEL)
    assert str(e.value) == ("model.safetensors is 10737418241 bytes (10.0 GiB), more than the 10737418240 bytes "
                            "(10 GiB) of staging the loader pod requests for one file; this checkpoint needs a "
                            "larger loader staging request (components/serving/model_store.py)")
    assert e.value.code == 2


def test_expected_files_names_the_largest_file_over_the_cap():
    files = {"a.safetensors": 300, "b.safetensors": 250, "c.safetensors": 100}
    with pytest.raises(loader.LoaderError) as e:
        loader.expected_files(files, ["*"], 100, MODEL)
    assert str(e.value).startswith("a.safetensors is 300 bytes (0.0 GiB), more than the 100 bytes (0 GiB)")


def test_expected_files_shows_fractional_gib_to_one_decimal():
    with pytest.raises(loader.LoaderError) as e:
        loader.expected_files({"m.safetensors": 12 * GIB + GIB // 2}, ["*"], 10 * GIB, MODEL)
    assert "is 13421772800 bytes (12.5 GiB), more than the 10737418240 bytes (10 GiB)" in str(e.value)


# --- problems -------------------------------------------------------------------------------------


def write(root: Path, name: str, body: bytes) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(body)


def test_problems_is_empty_for_a_whole_copy(tmp_path):
    write(tmp_path, "a.safetensors", b"1234")
    write(tmp_path, "model.safetensors.index.json", json.dumps({"weight_map": {"x": "a.safetensors"}}).encode())
    size = (tmp_path / "model.safetensors.index.json").stat().st_size
    assert loader.problems(tmp_path, {"a.safetensors": 4, "model.safetensors.index.json": size}) == []


def test_problems_lists_missing_short_and_long_files_by_name(tmp_path):
    write(tmp_path, "b.safetensors", b"123")  # the Hub says 4: short
    write(tmp_path, "c.json", b"12345")  # the Hub says 4: long is wrong too
    assert loader.problems(tmp_path, {"c.json": 4, "b.safetensors": 4, "a.safetensors": 4}) == [
        "a.safetensors missing",
        "b.safetensors has 3 bytes, the Hub says 4",
        "c.json has 5 bytes, the Hub says 4",
    ]


def test_problems_counts_a_directory_in_place_of_a_file_as_missing(tmp_path):
    (tmp_path / "a.safetensors").mkdir()
    assert loader.problems(tmp_path, {"a.safetensors": 0}) == ["a.safetensors missing"]


def test_problems_names_each_shard_the_index_lists_and_the_download_lacks(tmp_path):
    # Six missing shards: a set's order would be sorted by chance once in 720 runs.
    index = {"weight_map": {"w1": "s2.safetensors", "w2": "s1.safetensors", "w3": "s2.safetensors",
                            "w4": "s0.safetensors", "w5": "s6.safetensors", "w6": "s4.safetensors",
                            "w7": "s5.safetensors", "w8": "s3.safetensors"}}
    write(tmp_path, "model.safetensors.index.json", json.dumps(index).encode())
    write(tmp_path, "s0.safetensors", b"")
    size = (tmp_path / "model.safetensors.index.json").stat().st_size
    assert loader.problems(tmp_path, {"model.safetensors.index.json": size, "s0.safetensors": 0}) == [
        "model.safetensors.index.json names s1.safetensors, which the download did not include",
        "model.safetensors.index.json names s2.safetensors, which the download did not include",
        "model.safetensors.index.json names s3.safetensors, which the download did not include",
        "model.safetensors.index.json names s4.safetensors, which the download did not include",
        "model.safetensors.index.json names s5.safetensors, which the download did not include",
        "model.safetensors.index.json names s6.safetensors, which the download did not include",
    ]


def test_problems_resolves_shards_next_to_an_index_in_a_subfolder(tmp_path):
    write(tmp_path, "sub/model.safetensors.index.json", json.dumps({"weight_map": {"w": "s.safetensors"}}).encode())
    size = (tmp_path / "sub/model.safetensors.index.json").stat().st_size
    assert loader.problems(tmp_path, {"sub/model.safetensors.index.json": size}) == [
        "sub/model.safetensors.index.json names sub/s.safetensors, which the download did not include"]
    write(tmp_path, "sub/s.safetensors", b"")
    assert loader.problems(tmp_path, {"sub/model.safetensors.index.json": size, "sub/s.safetensors": 0}) == []


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"weight_map": []}', b"[1]", b"null"],
                         ids=["not-json", "no-weight_map", "list-map", "list", "null"])
def test_problems_reports_an_index_without_a_weight_map_in_one_line(tmp_path, body):
    write(tmp_path, "model.safetensors.index.json", body)
    assert loader.problems(tmp_path, {"model.safetensors.index.json": len(body)}) == [
        "model.safetensors.index.json is not a checkpoint index (no weight_map)"]


def test_problems_reports_a_missing_index_once(tmp_path):
    assert loader.problems(tmp_path, {"model.safetensors.index.json": 10}) == ["model.safetensors.index.json missing"]


def test_problems_reads_only_safetensors_indexes(tmp_path):
    # A .bin index names .bin shards the patterns never take: not a problem of this copy.
    body = json.dumps({"weight_map": {"w": "pytorch_model-1.bin"}}).encode()
    write(tmp_path, "pytorch_model.bin.index.json", body)
    assert loader.problems(tmp_path, {"pytorch_model.bin.index.json": len(body)}) == []


# --- explain --------------------------------------------------------------------------------------


from fake_hub import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError  # noqa: E402


class ConnectError(Exception):  # httpx's names, matched by name
    pass


class TimeoutException(Exception):
    pass


class NetworkError(Exception):
    pass


GATED = ("the Hub refused acme/tiny-moe (HTTP {}): it is gated and the account of the hfToken has not been "
         "granted access; accept its licence at https://huggingface.co/acme/tiny-moe with that account, then "
         "pulumi up again")
TOKEN_LINE = ("the Hub refused acme/tiny-moe (HTTP {}): the hfToken is invalid or expired, or the repo is private "
              "or misspelt; check the model id and set a valid read token with pulumi config set --secret hfToken <token>")
REVISION = ("revision 0123456789abcdef0123456789abcdef01234567 does not exist in acme/tiny-moe (HTTP 404); set "
            "modelRevision to a commit listed at https://huggingface.co/acme/tiny-moe/commits/main")
HUB = "the Hub answered HTTP {} for acme/tiny-moe; the Job retries (check https://status.huggingface.co if it persists)"
DISK = ("no space left while writing {}: the node's ephemeral storage for staging is full; raise the loader's "
        "staging request and the system pool's boot disk, then pulumi up again")
NET = ("cannot reach the Hub or Cloud Storage ({}); the cluster's nodes need egress (Cloud NAT for private "
       "nodes); the Job retries")


@pytest.mark.parametrize("exc, line, code", [
    (GatedRepoError(403), GATED.format(403), 2),
    (GatedRepoError(401), GATED.format(401), 2),
    (RevisionNotFoundError(404), REVISION, 2),
    (RepositoryNotFoundError(404), TOKEN_LINE.format(404), 2),
    (RepositoryNotFoundError(401), TOKEN_LINE.format(401), 2),
    (HfHubHTTPError(401), TOKEN_LINE.format(401), 2),  # by status alone
    (HfHubHTTPError(403), TOKEN_LINE.format(403), 2),
    (HfHubHTTPError(404), HUB.format(404), 1),  # neither class: a plain Hub error retries
    (HfHubHTTPError(400), HUB.format(400), 1),
    (HfHubHTTPError(402), HUB.format(402), 1),
    (HfHubHTTPError(429), HUB.format(429), 1),
    (HfHubHTTPError(503), HUB.format(503), 1),
    (OSError(errno.ENOSPC, "No space left on device", "/gcs/m.safetensors"), DISK.format("/gcs/m.safetensors"), 1),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), DISK.format("the checkpoint"), 1),
    (ConnectionResetError("reset"), NET.format("ConnectionResetError"), 1),
    (TimeoutError("slow"), NET.format("TimeoutError"), 1),
    (urllib.error.URLError("no route"), NET.format("URLError"), 1),
    (ConnectError("x"), NET.format("ConnectError"), 1),
    (TimeoutException("x"), NET.format("TimeoutException"), 1),
    (NetworkError("x"), NET.format("NetworkError"), 1),
    (OSError(errno.EACCES, "Permission denied"), "unexpected PermissionError: [Errno 13] Permission denied; the Job retries", 1),
    (RuntimeError("  boom\nsecond line  "), "unexpected RuntimeError: boom; the Job retries", 1),
    (RuntimeError(""), "unexpected RuntimeError: ; the Job retries", 1),
    (ValueError("x" * 301), "unexpected ValueError: " + "x" * 300 + "; the Job retries", 1),
], ids=lambda v: v if isinstance(v, int) else None)
def test_explain_gives_the_whole_line_and_exit_code(exc, line, code):
    assert loader.explain(exc, MODEL, SHA) == (line, code)


def test_explain_shows_an_unknown_status_as_none():
    assert loader.explain(RepositoryNotFoundError.__new__(RepositoryNotFoundError), MODEL, SHA)[0] == TOKEN_LINE.format(None)


def test_explain_is_matched_on_any_base_class_name():
    class Sub(GatedRepoError):
        pass
    assert loader.explain(Sub(403), MODEL, SHA) == (GATED.format(403), 2)


# --- Bucket: the requests ---
# Cloud Storage request preconditions (https://cloud.google.com/storage/docs/request-preconditions):
# the JSON API's `ifGenerationMatch` query parameter lets a write or delete proceed only on that
# generation, `0` only when no live object exists; a failed precondition answers 412.----------------------------------------------------------------------


def test_the_first_request_fetches_the_pod_token_from_the_metadata_server():
    http = Script(TOKEN_REPLY, (404, b"{}"))
    loader.Bucket("bkt", http).stat("a/b")
    assert loader.TOKEN_URL == ("http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/"
                                "default/token")
    assert http.calls[0] == ("GET", loader.TOKEN_URL, {"Metadata-Flavor": "Google"}, None)


def test_the_token_is_fetched_once_for_many_requests():
    http = Script(TOKEN_REPLY, (404, b"{}"), (404, b"{}"))
    bucket = loader.Bucket("bkt", http)
    bucket.stat("a")
    bucket.stat("b")
    assert [c[1] for c in http.calls].count(loader.TOKEN_URL) == 1


@pytest.mark.parametrize("status", [302, 404])
def test_a_metadata_server_without_a_token_is_a_retryable_line(status):
    with pytest.raises(loader.LoaderError) as e:
        loader.Bucket("bkt", Script((status, b"")))._call("GET", "u")
    assert str(e.value) == (f"the GKE metadata server gave no token (HTTP {status}); the loader's node pool needs the "
                            "GKE metadata server (Workload Identity Federation for GKE)")
    assert e.value.code == 1


def test_stat_sends_a_get_on_the_quoted_object_with_the_token_only():
    http = Script(TOKEN_REPLY, (200, b'{"generation": "7", "updated": "2027-01-15T08:00:00Z"}'))
    assert loader.Bucket("bkt", http).stat("a b/c.lock") == {"generation": "7", "updated": "2027-01-15T08:00:00Z"}
    assert http.calls[1] == ("GET", "https://storage.googleapis.com/storage/v1/b/bkt/o/a%20b%2Fc.lock", AUTH, None)


def test_stat_of_an_absent_object_is_none():
    assert loader.Bucket("bkt", Script(TOKEN_REPLY, (404, b"{}"))).stat("x") is None


def test_stat_on_another_status_is_a_retryable_line():
    with pytest.raises(loader.LoaderError) as e:
        loader.Bucket("bkt", Script(TOKEN_REPLY, (500, b""))).stat("p/.complete")
    assert str(e.value) == "Cloud Storage answered HTTP 500 reading gs://bkt/p/.complete; the Job retries"
    assert e.value.code == 1


def test_write_posts_a_media_upload_with_the_generation_precondition():
    http = Script(TOKEN_REPLY, (200, b'{"generation": "1717"}'))
    assert loader.Bucket("bkt", http).write("a/b.lock", b'{"x": 1}', 0) == 1717
    assert http.calls[1] == ("POST", "https://storage.googleapis.com/upload/storage/v1/b/bkt/o?uploadType=media"
                             "&name=a%2Fb.lock&ifGenerationMatch=0", JSON_AUTH, b'{"x": 1}')


def test_write_of_an_empty_body_still_declares_json():
    http = Script(TOKEN_REPLY, (200, b'{"generation": "9"}'))
    loader.Bucket("bkt", http).write("l", b"", 0)
    assert http.calls[1][2] == JSON_AUTH and http.calls[1][3] == b""


def test_write_passes_a_nonzero_generation_through():
    http = Script(TOKEN_REPLY, (200, b'{"generation": "9"}'))
    loader.Bucket("bkt", http).write("l", b"", 1234567890123456)
    assert http.calls[1][1].endswith("&ifGenerationMatch=1234567890123456")


def test_write_whose_precondition_failed_returns_none():
    assert loader.Bucket("bkt", Script(TOKEN_REPLY, (412, b"{}"))).write("l", b"", 0) is None


@pytest.mark.parametrize("status", [201, 404, 500])
def test_write_on_any_other_status_is_a_retryable_line(status):
    with pytest.raises(loader.LoaderError) as e:
        loader.Bucket("bkt", Script(TOKEN_REPLY, (status, b"{}"))).write("p.lock", b"", 0)
    assert str(e.value) == f"Cloud Storage answered HTTP {status} writing gs://bkt/p.lock; the Job retries"
    assert e.value.code == 1


def test_delete_sends_the_generation_precondition_and_ignores_a_lost_race():
    http = Script(TOKEN_REPLY, (412, b"{}"), (404, b"{}"), (204, b""))
    bucket = loader.Bucket("bkt", http)
    for generation in (5, 6, 7):
        assert bucket.delete("a/b.lock", generation) is None
    assert http.calls[1:] == [
        ("DELETE", f"https://storage.googleapis.com/storage/v1/b/bkt/o/a%2Fb.lock?ifGenerationMatch={g}", AUTH, None)
        for g in (5, 6, 7)]


def test_an_expired_token_is_refetched_and_the_request_repeated_once():
    http = Script(TOKEN_REPLY, (401, b""), (200, b'{"access_token": "ya29.new"}'), (404, b""))
    assert loader.Bucket("bkt", http).stat("x") is None
    assert [(c[0], c[2].get("Authorization")) for c in http.calls] == [
        ("GET", None), ("GET", "Bearer ya29.tok"), ("GET", None), ("GET", "Bearer ya29.new")]
    # The repeated request goes to the same object: an hour into a long copy, every call takes this path.
    assert http.calls[3][1] == http.calls[1][1] == "https://storage.googleapis.com/storage/v1/b/bkt/o/x"


def test_a_write_repeated_after_a_401_sends_its_body_again():
    http = Script(TOKEN_REPLY, (401, b""), TOKEN_REPLY, (200, b'{"generation": "5"}'))
    assert loader.Bucket("bkt", http).write("l", b'{"holder": "me"}', 0) == 5
    assert http.calls[3][3] == b'{"holder": "me"}' and http.calls[3][2]["Content-Type"] == "application/json"


def test_a_second_401_is_a_permanent_refusal_naming_the_role():
    http = Script(TOKEN_REPLY, (401, b""), TOKEN_REPLY, (401, b""))
    with pytest.raises(loader.LoaderError) as e:
        loader.Bucket("bkt", http).stat("x")
    assert str(e.value) == ("Cloud Storage refused the loader (HTTP 401) on gs://bkt; the model-loader "
                            "ServiceAccount needs roles/storage.objectUser on the bucket")
    assert e.value.code == 2 and len(http.calls) == 4


def test_a_403_is_refused_at_once_without_a_new_token():
    http = Script(TOKEN_REPLY, (403, b""))
    with pytest.raises(loader.LoaderError) as e:
        loader.Bucket("bkt", http).write("x", b"", 0)
    assert str(e.value).startswith("Cloud Storage refused the loader (HTTP 403) on gs://bkt;")
    assert e.value.code == 2 and len(http.calls) == 2


def test_parse_time_reads_the_zulu_timestamps_cloud_storage_returns(monkeypatch):
    # UTC whatever the local zone: a stale-lock age must not shift by the node's offset.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert loader._parse_time("2027-01-15T08:00:00.000Z") == 1_800_000_000.0
    finally:
        monkeypatch.undo()
        time.tzset()
    assert loader._parse_time("2027-01-15T08:00:00.000Z") == 1_800_000_000.0
    assert loader._parse_time("2027-01-15T08:05:00.500Z") == 1_800_000_300.5


class Response:
    status = 200

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def read(self):
        return b"body"


@pytest.mark.parametrize("method, body", [("POST", b"{}"), ("DELETE", None)])
def test_urllib_http_sends_the_request_with_a_60_second_timeout(monkeypatch, method, body):
    # DELETE without a body: urllib would send GET unless told the method.
    sent = []
    monkeypatch.setattr(loader.urllib.request, "urlopen", lambda request, timeout: sent.append((request, timeout)) or Response())
    assert loader.urllib_http(method, "https://h/x?a=1", {"X-A": "b"}, body) == (200, b"body")
    request, timeout = sent[0]
    assert (request.get_method(), request.full_url, request.headers, request.data, timeout) == (
        method, "https://h/x?a=1", {"X-a": "b"}, body, 60)


def test_urllib_http_returns_an_error_status_with_its_body(monkeypatch):
    import io

    def refuse(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 412, "Precondition Failed", {}, io.BytesIO(b"{\"e\": 1}"))
    monkeypatch.setattr(loader.urllib.request, "urlopen", refuse)
    assert loader.urllib_http("GET", "https://h/x", {}, None) == (412, b'{"e": 1}')


# --- Lock -----------------------------------------------------------------------------------------


def lock(world, stale=300, sleep=None):
    return loader.Lock(world.bucket, "p.lock", "me", stale, world.clock, sleep or (lambda s: None))


def test_a_free_lock_is_created_only_if_absent_with_the_holder_and_time(world):
    held = lock(world)
    assert held.try_acquire() is True
    assert world.log == [("write", "p.lock", 0)]
    assert json.loads(world.store.objects["p.lock"][2]) == {"holder": "me", "renewed": NOW}
    assert held.generation == 101


def test_a_lock_released_between_the_write_and_the_stat_is_not_taken_this_round(world):
    class Vanishing(Store):
        def __call__(self, method, url, headers, body):
            status, data = super().__call__(method, url, headers, body)
            if method == "POST":
                self.objects.clear()  # the holder deletes it right after our create was refused
            return status, data
    world.store = Vanishing(world.clock, world.log)
    world.store.put("p.lock")
    held = loader.Lock(loader.Bucket("bkt", world.store), "p.lock", "me", 300, world.clock)
    assert held.try_acquire() is False
    assert world.log == [("write", "p.lock", 0), ("stat", "p.lock")] and held.generation is None


def test_a_lock_renewed_1_second_inside_the_stale_period_is_respected(world):
    world.store.put("p.lock", age=299)
    held = lock(world)
    assert held.try_acquire() is False
    assert world.log == [("write", "p.lock", 0), ("stat", "p.lock")] and held.generation is None


def test_a_lock_unrenewed_for_exactly_the_stale_period_is_taken_over_on_its_generation(world, capsys):
    generation = world.store.put("p.lock", age=300)
    held = lock(world)
    assert held.try_acquire() is True
    assert world.log == [("write", "p.lock", 0), ("stat", "p.lock"), ("write", "p.lock", generation)]
    assert held.generation == generation + 1
    assert capsys.readouterr().out == "taking over gs://bkt/p.lock: nobody renewed it for 300 s\n"


def test_the_stale_period_is_the_one_given_not_a_constant(world):
    world.store.put("p.lock", age=60)
    assert lock(world, stale=60).try_acquire() is True


def test_a_takeover_that_loses_the_race_leaves_the_lock_unheld(world):
    class Racing(Store):
        def __call__(self, method, url, headers, body):
            if method == "POST" and "ifGenerationMatch=0" not in url:
                self.put("p.lock")  # another loader took it over first
            return super().__call__(method, url, headers, body)
    world.store = Racing(world.clock, world.log)
    world.store.put("p.lock", age=600)
    held = loader.Lock(loader.Bucket("bkt", world.store), "p.lock", "me", 300, world.clock)
    assert held.try_acquire() is False and held.generation is None


def test_acquire_polls_at_the_given_period_until_the_lock_is_free(world, capsys):
    world.store.put("p.lock")
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 2:
            world.store.objects.clear()  # the holder released it
    held = lock(world, sleep=sleep)
    assert held.acquire(lambda: False, poll_seconds=60) is True
    assert sleeps == [60, 60] and held.generation is not None
    assert capsys.readouterr().out == "another loader holds gs://bkt/p.lock; waiting\n" * 2


def test_acquire_gives_up_without_the_lock_when_another_loader_finished(world):
    world.store.put("p.lock")
    sleeps = []
    assert lock(world, sleep=sleeps.append).acquire(lambda: True, poll_seconds=60) is False
    assert sleeps == []


def test_acquire_asks_nothing_when_the_lock_is_free(world):
    asked = []
    assert lock(world).acquire(lambda: asked.append(1), poll_seconds=60) is True
    assert asked == []


def test_renew_rewrites_on_the_held_generation_with_a_fresh_time(world):
    held = lock(world)
    held.try_acquire()
    world.now[0] = NOW + 60
    held.renew()
    assert world.log[-1] == ("write", "p.lock", 101)
    assert held.generation == 102 and held.lost is False
    assert json.loads(world.store.objects["p.lock"][2]) == {"holder": "me", "renewed": NOW + 60}


def test_a_renewal_refused_by_the_precondition_marks_the_lock_lost(world):
    held = lock(world)
    held.try_acquire()
    world.store.put("p.lock")  # taken over as stale by another loader
    held.renew()
    assert held.lost is True and held.generation == 101


def test_release_deletes_on_the_held_generation_once(world):
    held = lock(world)
    held.try_acquire()
    held.release()
    held.release()
    assert world.log[1:] == [("delete", "p.lock", 101)]
    assert "p.lock" not in world.store.objects and held.generation is None


def test_a_lost_lock_is_not_deleted(world):
    held = lock(world)
    held.try_acquire()
    held.lost = True
    held.release()
    assert world.log == [("write", "p.lock", 0)]


def test_a_lock_never_held_is_not_deleted(world):
    lock(world).release()
    assert world.log == []


# --- The heartbeat --------------------------------------------------------------------------------


class Stop:
    def __init__(self, rounds):
        self.rounds, self.waits = rounds, []

    def wait(self, every):
        self.waits.append(every)
        return len(self.waits) > self.rounds


class Renewing:
    def __init__(self, fail_on=(), lose_on=None):
        self.calls, self.fail_on, self.lose_on, self.lost = 0, fail_on, lose_on, False

    def renew(self):
        self.calls += 1
        if self.calls in self.fail_on:
            raise loader.LoaderError("Cloud Storage answered HTTP 503 writing gs://bkt/p.lock; the Job retries")
        if self.calls == self.lose_on:
            self.lost = True


def test_the_heartbeat_renews_each_period_until_stopped():
    stop, held = Stop(rounds=3), Renewing()
    loader._renew_until(held, stop, 60)
    assert held.calls == 3 and stop.waits == [60, 60, 60, 60]


def test_a_failed_renewal_is_printed_and_retried_next_round(capsys):
    stop, held = Stop(rounds=2), Renewing(fail_on=(1,))
    loader._renew_until(held, stop, 60)
    assert held.calls == 2
    assert capsys.readouterr().out == ("lock renewal failed: Cloud Storage answered HTTP 503 writing "
                                       "gs://bkt/p.lock; the Job retries\n")


def test_a_renewal_failing_on_the_network_is_retried_too(capsys):
    class Unreachable(Renewing):
        def renew(self):
            self.calls += 1
            if self.calls == 1:
                raise urllib.error.URLError("timed out")
    stop, held = Stop(rounds=2), Unreachable()
    loader._renew_until(held, stop, 60)
    assert held.calls == 2 and capsys.readouterr().out == "lock renewal failed: <urlopen error timed out>\n"


def test_the_heartbeat_stops_once_the_lock_is_lost():
    stop, held = Stop(rounds=5), Renewing(lose_on=2)
    loader._renew_until(held, stop, 60)
    assert held.calls == 2 and stop.waits == [60, 60]


# --- Config.from_env ------------------------------------------------------------------------------


def test_config_reads_every_variable_the_job_sets(world):
    # model_store.py `_loader_pod` sets these names; MOUNT is /gcs there.
    assert loader.Config.from_env(world.env) == loader.Config(
        model=MODEL, revision=SHA, bucket="bkt", prefix=PREFIX, target=world.tmp / PREFIX, marker=".complete",
        patterns=["model*.safetensors", "*.json"], workers=3, max_file_bytes=100, stale_seconds=300.0,
        holder="loader-xyz")


def test_config_splits_include_on_any_whitespace():
    env = {"MODEL_ID": "m", "REVISION": "r", "BUCKET": "b", "PREFIX": "m/r", "MOUNT": "/gcs", "MARKER": ".complete",
           "INCLUDE": " a  b\tc ", "WORKERS": "1", "MAX_FILE_BYTES": "10737418240", "LOCK_STALE_SECONDS": "300"}
    cfg = loader.Config.from_env(env)
    assert cfg.patterns == ["a", "b", "c"]
    assert cfg.target == Path("/gcs/m/r") and cfg.max_file_bytes == 10737418240


def test_config_holder_defaults_to_loader_without_hostname(world):
    del world.env["HOSTNAME"]
    assert loader.Config.from_env(world.env).holder == "loader"


@pytest.mark.parametrize("key", ["MODEL_ID", "REVISION", "BUCKET", "PREFIX", "MOUNT", "MARKER", "INCLUDE", "WORKERS",
                                 "MAX_FILE_BYTES", "LOCK_STALE_SECONDS"])
def test_config_requires_each_variable_the_job_sets(world, key):
    del world.env[key]
    with pytest.raises(KeyError, match=key):
        loader.Config.from_env(world.env)


# --- run ------------------------------------------------------------------------------------------


def test_a_run_checks_locks_downloads_verifies_renews_marks_then_releases(world, capsys):
    hub = Hub(FILES, world.log)
    world.log.append("start")
    assert run(world, hub) == 0
    assert world.log == [
        "start",
        ("stat", f"{PREFIX}/.complete"),
        ("model_info", MODEL, SHA, True),
        ("write", f"{PREFIX}.lock", 0),
        ("stat", f"{PREFIX}/.complete"),
        ("download", {"repo_id": MODEL, "revision": SHA, "local_dir": str(world.target),
                      "allow_patterns": ["model*.safetensors", "*.json"], "max_workers": 3}),
        ("write", f"{PREFIX}.lock", 101),
        ("delete", f"{PREFIX}.lock", 102),
    ]
    assert (world.target / ".complete").read_text() == f"{MODEL}@{SHA}\n"
    assert not (world.target / "consolidated.pt").exists()
    assert world.store.bodies == [{"holder": "loader-xyz", "renewed": NOW}] * 2  # the pod's HOSTNAME
    assert capsys.readouterr().out == "copied and checked 2 files, 0.0 GB, in 0 s\n"


def test_the_marker_is_written_before_the_lock_is_released(world):
    seen = []

    class Watching(Store):
        def __call__(self, method, url, headers, body):
            if method == "DELETE":
                seen.append((world.target / ".complete").is_file())
            return super().__call__(method, url, headers, body)
    world.bucket = loader.Bucket("bkt", Watching(world.clock, world.log))
    assert run(world, Hub(FILES, world.log)) == 0 and seen == [True]


def test_the_report_line_gives_gigabytes_and_seconds(world, capsys):
    class Big(Hub):
        def model_info(self, repo_id, revision, files_metadata):
            info = super().model_info(repo_id, revision, files_metadata)
            info.siblings[0].size = 1_500_000_000  # a sparse file of that size below
            return info

        def snapshot_download(self, **kw):
            super().snapshot_download(**kw)
            with open(Path(kw["local_dir"]) / "model.safetensors", "r+b") as f:
                f.truncate(1_500_000_000)
            world.now[0] += 42.4
    world.env["MAX_FILE_BYTES"] = str(10 * GIB)
    assert run(world, Big(FILES, world.log)) == 0
    assert capsys.readouterr().out == "copied and checked 2 files, 1.5 GB, in 42 s\n"


def test_a_complete_prefix_is_left_alone(world, capsys):
    world.store.put(f"{PREFIX}/.complete")
    assert run(world, Hub(FILES, world.log)) == 0
    assert world.log == [("stat", f"{PREFIX}/.complete")]
    assert capsys.readouterr().out == f"gs://bkt/{PREFIX} is complete; nothing to download\n"


def test_a_commit_resolved_to_another_is_refused_before_the_lock(world):
    with pytest.raises(loader.LoaderError) as e:
        run(world, Hub(FILES, world.log, sha="f" * 40))
    assert str(e.value) == (f"the Hub resolved {SHA} to {'f' * 40}; refusing to fill a prefix named after one "
                            "commit with another")
    assert e.value.code == 2
    assert [x[0] for x in world.log] == ["stat", "model_info"]


@pytest.mark.parametrize("revision", ["main", "0123456789ABCDEF0123456789ABCDEF01234567", SHA[:39], SHA + "0"])
def test_a_revision_that_is_not_a_full_lowercase_commit_downloads_what_it_resolves_to(world, revision):
    world.env["REVISION"] = revision
    assert run(world, Hub(FILES, world.log)) == 0
    assert world.log[1] == ("model_info", MODEL, revision, True)
    assert world.log[4][1]["revision"] == SHA
    assert (world.target / ".complete").read_text() == f"{MODEL}@{SHA}\n"  # the commit, not the branch


def test_a_refused_file_list_takes_no_lock(world):
    with pytest.raises(loader.LoaderError):
        run(world, Hub({"model.safetensors": b"w" * 101}, world.log))  # MAX_FILE_BYTES is 100
    assert [x[0] for x in world.log] == ["stat", "model_info"]


def test_a_loader_that_waited_for_a_finished_copy_exits_without_downloading(world, capsys):
    world.store.put(f"{PREFIX}.lock")
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        world.store.put(f"{PREFIX}/.complete")
    assert run(world, Hub(FILES, world.log), sleep) == 0
    assert sleeps == [60.0]  # a fifth of LOCK_STALE_SECONDS 300
    assert "download" not in [x[0] for x in world.log]
    assert capsys.readouterr().out.splitlines()[-1] == f"another loader completed gs://bkt/{PREFIX}"


def test_a_copy_finished_by_the_previous_holder_is_not_downloaded_and_the_lock_is_released(world):
    class Finishing(Store):
        def __call__(self, method, url, headers, body):
            reply = super().__call__(method, url, headers, body)
            if method == "POST":
                self.put(f"{PREFIX}/.complete")  # the previous holder marked it just before we got the lock
            return reply
    world.bucket = loader.Bucket("bkt", Finishing(world.clock, world.log))
    assert run(world, Hub(FILES, world.log)) == 0
    assert [x[0] for x in world.log] == ["stat", "model_info", "write", "stat", "delete"]


def test_an_incomplete_copy_raises_the_whole_line_and_releases_the_lock(world):
    class Short(Hub):
        def snapshot_download(self, **kw):
            super().snapshot_download(**kw)
            (Path(kw["local_dir"]) / "model.safetensors").write_bytes(b"w" * 39)
            (Path(kw["local_dir"]) / "config.json").unlink()
    with pytest.raises(loader.LoaderError) as e:
        run(world, Short(FILES, world.log))
    assert str(e.value) == (f"the copy of {MODEL}@{SHA} is incomplete after the download (2 problems, first: "
                            "config.json missing); no completion marker written, the Job retries")
    assert e.value.code == 1
    assert not (world.target / ".complete").exists()
    assert world.log[-1] == ("delete", f"{PREFIX}.lock", 101)  # no renewal: released as taken


def test_a_lock_taken_over_during_the_download_writes_no_marker_and_is_not_deleted(world):
    hub = Hub(FILES, world.log, on_download=lambda: world.store.put(f"{PREFIX}.lock"))
    with pytest.raises(loader.LoaderError) as e:
        run(world, hub)
    assert str(e.value) == ("another loader took over the lock while this one ran (no renewal for 300 s); no "
                            "completion marker written, the Job retries")
    assert e.value.code == 1
    assert not (world.target / ".complete").exists()
    assert world.log[-1] == ("write", f"{PREFIX}.lock", 101)


def test_a_download_that_raises_still_releases_the_lock(world):
    class Failing(Hub):
        def snapshot_download(self, **kw):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError):
        run(world, Failing(FILES, world.log))
    assert world.log[-1] == ("delete", f"{PREFIX}.lock", 101)
    assert not (world.target / ".complete").exists()


def test_the_heartbeat_renews_at_a_fifth_of_the_stale_period(world, monkeypatch):
    beats = []
    monkeypatch.setattr(loader, "_renew_until", lambda lock, stop, every: beats.append((lock.name, every)))
    cfg = loader.Config.from_env(world.env)
    assert loader.run(cfg, Hub(FILES, world.log), world.bucket, world.clock, lambda s: None) == 0
    assert beats == [(f"{PREFIX}.lock", 60.0)]


def test_without_heartbeat_no_renewal_thread_runs(world, monkeypatch):
    beats = []
    monkeypatch.setattr(loader, "_renew_until", lambda lock, stop, every: beats.append(every))
    assert run(world, Hub(FILES, world.log)) == 0 and beats == []


# --- fail and main --------------------------------------------------------------------------------


def test_fail_prints_one_line_and_leaves_it_on_the_termination_log(tmp_path, capsys):
    assert loader.fail("the cause; the fix", 2, str(tmp_path / "log")) == 2
    assert capsys.readouterr() == ("", "model loader failed: the cause; the fix\n")
    assert (tmp_path / "log").read_text() == "the cause; the fix\n"


def test_fail_without_a_writable_termination_log_still_returns_the_code(tmp_path, capsys):
    assert loader.fail("x", 1, str(tmp_path / "missing" / "log")) == 1
    assert capsys.readouterr().err == "model loader failed: x\n"


def test_main_turns_a_loader_error_into_its_line_and_code(world, capsys):
    assert loader.main(world.env, Hub(FILES, world.log, sha="f" * 40), world.bucket) == 2
    line = f"the Hub resolved {SHA} to {'f' * 40}; refusing to fill a prefix named after one commit with another"
    assert capsys.readouterr().err == f"model loader failed: {line}\n"
    assert (world.tmp / "termination-log").read_text() == line + "\n"


def test_main_explains_any_other_exception(world, capsys):
    class Gated(Hub):
        def model_info(self, *a, **kw):
            raise GatedRepoError(403)
    assert loader.main(world.env, Gated(FILES, world.log), world.bucket) == 2
    assert (world.tmp / "termination-log").read_text() == GATED.format(403) + "\n"
    assert capsys.readouterr().err == f"model loader failed: {GATED.format(403)}\n"


def test_main_explains_an_exception_that_is_not_an_oserror(world, capsys):
    class Broken(Hub):
        def model_info(self, *a, **kw):
            raise KeyError("siblings")
    assert loader.main(world.env, Broken(FILES, world.log), world.bucket) == 1
    assert capsys.readouterr().err == "model loader failed: unexpected KeyError: 'siblings'; the Job retries\n"


def test_main_returns_0_after_a_whole_copy_and_writes_no_termination_line(world):
    assert loader.main(world.env, Hub(FILES, world.log), world.bucket) == 0
    assert not (world.tmp / "termination-log").exists()


def test_main_writes_to_dev_termination_log_by_default(world, monkeypatch):
    failed = []
    monkeypatch.setattr(loader, "fail", lambda line, code, path: failed.append((code, path)) or code)
    del world.env["TERMINATION_LOG"]
    assert loader.main(world.env, Hub(FILES, world.log, sha="f" * 40), world.bucket) == 2
    assert failed == [(2, "/dev/termination-log")]


def test_main_uses_huggingface_hub_and_the_named_bucket_by_default(world, monkeypatch):
    made = []
    monkeypatch.setitem(sys.modules, "huggingface_hub", Hub(FILES, world.log))
    monkeypatch.setattr(loader, "Bucket", lambda name: made.append(name) or world.bucket)
    assert loader.main(world.env) == 0
    assert made == ["bkt"] and (world.target / ".complete").is_file()


def test_main_reads_the_process_environment_by_default(world, monkeypatch):
    monkeypatch.setattr(loader.os, "environ", dict(world.env))
    assert loader.main(None, Hub(FILES, world.log), world.bucket) == 0
