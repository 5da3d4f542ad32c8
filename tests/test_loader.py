"""The loader Job's program, run in-process against fakes of the Hub and of Cloud Storage (issue 16
items 3 and 4): the marker only on a copy whose every file has the size the Hub lists, one loader per
prefix through a generation-match lock, and one line naming the cause and the fix when it fails."""

import errno
import json
import types
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from components.serving import model_loader as loader

MODEL = "acme/tiny-moe"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PREFIX = f"{MODEL}/{COMMIT}"
TOKEN = "hf_secret_token_never_printed"
SHARDS = {"model-00001-of-00002.safetensors": 40, "model-00002-of-00002.safetensors": 24}
INDEX = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}


def hub_files(index=INDEX, shards=SHARDS) -> dict[str, bytes]:
    files = {name: b"w" * size for name, size in shards.items()}
    files["model.safetensors.index.json"] = json.dumps(index).encode()
    files["config.json"] = b"{}"
    files["consolidated.00.pt"] = b"p" * 99  # the duplicate original-format copy, never taken
    return files


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeGcs:
    """The bucket seen two ways, as on the pod: files under the FUSE mount (`root`) and objects through
    the JSON API, with generations and preconditions as Cloud Storage applies them."""

    def __init__(self, root: Path, clock: Clock):
        self.root, self.clock = root, clock
        self.generations: dict[str, int] = {}
        self.updated: dict[str, float] = {}
        self.next_generation = 1000
        self.calls = []

    def put(self, name: str, body: bytes, age: float = 0.0) -> int:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        self.next_generation += 1
        self.generations[name] = self.next_generation
        self.updated[name] = self.clock() - age
        return self.next_generation

    def _generation(self, name):
        if name not in self.generations and (self.root / name).is_file():
            self.put(name, (self.root / name).read_bytes())  # written through the mount
        return self.generations.get(name, 0) if (self.root / name).is_file() else 0

    def __call__(self, method, url, headers, body):
        self.calls.append((method, url))
        if url == loader.TOKEN_URL:
            assert headers == {"Metadata-Flavor": "Google"}
            return 200, json.dumps({"access_token": "ya29.pod-token", "expires_in": 3599}).encode()
        assert headers["Authorization"] == "Bearer ya29.pod-token"
        parsed = urlparse(url)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        if parsed.path.startswith("/upload/storage/v1/b/bucket/o"):
            name = query["name"]
            if self._generation(name) != int(query["ifGenerationMatch"]):
                return 412, b"{}"
            return 200, json.dumps({"generation": str(self.put(name, body))}).encode()
        name = unquote(parsed.path.split("/o/", 1)[1])
        current = self._generation(name)
        if method == "GET":
            if not current:
                return 404, b"{}"
            stamp = datetime.fromtimestamp(self.updated[name], timezone.utc).isoformat().replace("+00:00", "Z")
            return 200, json.dumps({"name": name, "generation": str(current), "updated": stamp}).encode()
        if method == "DELETE":
            if not current or current != int(query.get("ifGenerationMatch", current)):
                return 412 if current else 404, b"{}"
            (self.root / name).unlink()
            del self.generations[name]
            return 204, b""
        raise AssertionError(f"unexpected {method} {url}")


class FakeHub:
    """huggingface_hub's model_info and snapshot_download, over an in-memory repo."""

    def __init__(self, files: dict[str, bytes], sha=COMMIT, deliver=None, fail=None, written=None):
        self.files, self.sha, self.fail = files, sha, fail
        self.deliver = deliver  # which files a download really writes (None: all it was asked for)
        self.written = written or (lambda name, body: body)  # what lands on disk for each
        self.downloads = []
        self.on_download = None

    def model_info(self, repo_id, revision, files_metadata):
        assert files_metadata is True  # sizes are only listed on request
        if self.fail:
            raise self.fail
        siblings = [types.SimpleNamespace(rfilename=n, size=len(b)) for n, b in self.files.items()]
        return types.SimpleNamespace(sha=self.sha, siblings=siblings)

    def snapshot_download(self, repo_id, revision, local_dir, allow_patterns, max_workers):
        self.downloads.append((repo_id, revision, tuple(allow_patterns), max_workers))
        names = [n for n in self.files if loader.wanted({n: 0}, allow_patterns)]
        for name in names if self.deliver is None else self.deliver:
            body = self.written(name, self.files[name])
            (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(local_dir) / name).write_bytes(body)
        if self.on_download:
            self.on_download()
        return local_dir  # returns normally, as huggingface_hub 0.30 did after a Hub error


@pytest.fixture
def world(tmp_path):
    clock = Clock()
    gcs = FakeGcs(tmp_path / "gcs", clock)
    (tmp_path / "gcs").mkdir()
    env = {"MODEL_ID": MODEL, "REVISION": COMMIT, "BUCKET": "bucket", "PREFIX": PREFIX, "MOUNT": str(tmp_path / "gcs"),
           "MARKER": ".complete", "INCLUDE": "model*.safetensors *.json tokenizer*", "WORKERS": "1",
           "MAX_FILE_BYTES": "200", "LOCK_STALE_SECONDS": "300", "HOSTNAME": "loader-abc", "HF_TOKEN": TOKEN,
           "TERMINATION_LOG": str(tmp_path / "termination-log")}
    return types.SimpleNamespace(clock=clock, gcs=gcs, env=env, target=tmp_path / "gcs" / PREFIX,
                                 termination=tmp_path / "termination-log")


def run(world, hub):
    cfg = loader.Config.from_env(world.env)
    return loader.run(cfg, hub, loader.Bucket("bucket", world.gcs), world.clock, world.clock.sleep, heartbeat=False)


def main(world, hub):
    return loader.main(world.env, hub, loader.Bucket("bucket", world.gcs))


# --- Verify before the marker (item 3) --------------------------------------------------------


def test_a_whole_copy_gets_the_marker_naming_the_commit(world):
    hub = FakeHub(hub_files())
    assert run(world, hub) == 0
    assert (world.target / ".complete").read_text() == f"{MODEL}@{COMMIT}\n"
    assert hub.downloads == [(MODEL, COMMIT, ("model*.safetensors", "*.json", "tokenizer*"), 1)]
    assert not (world.target / "consolidated.00.pt").exists()


def test_a_download_that_returns_normally_without_every_shard_gets_no_marker(world, capsys):
    # huggingface_hub 0.30 returned the existing local_dir after a Hub error (review-engines A2).
    hub = FakeHub(hub_files(), deliver=["model-00001-of-00002.safetensors", "config.json", "model.safetensors.index.json"])
    assert main(world, hub) == 1  # a retry may finish it
    assert not (world.target / ".complete").exists()
    assert "model-00002-of-00002.safetensors missing" in capsys.readouterr().err


def test_a_file_shorter_than_the_hub_lists_gets_no_marker(world, capsys):
    hub = FakeHub(hub_files(), written=lambda name, body: body[:-1] if name == "model-00002-of-00002.safetensors" else body)
    assert main(world, hub) == 1
    assert not (world.target / ".complete").exists()
    assert "model-00002-of-00002.safetensors has 23 bytes, the Hub says 24" in capsys.readouterr().err


def test_an_index_naming_a_shard_the_hub_listing_lacks_gets_no_marker(world, capsys):
    index = {"weight_map": {**INDEX["weight_map"], "c": "model-00003-of-00003.safetensors"}}
    assert main(world, FakeHub(hub_files(index=index))) == 1
    assert not (world.target / ".complete").exists()
    assert "names model-00003-of-00003.safetensors" in capsys.readouterr().err


def test_a_complete_prefix_is_not_downloaded_again(world):
    world.gcs.put(f"{PREFIX}/.complete", b"done")
    hub = FakeHub(hub_files())
    assert run(world, hub) == 0 and hub.downloads == []


def test_a_file_bigger_than_the_staging_request_is_refused_before_downloading(world, capsys):
    hub = FakeHub(hub_files(shards={"model.safetensors": 201}))  # MAX_FILE_BYTES is 200 here
    assert main(world, hub) == 2  # permanent: the Job fails at once
    assert hub.downloads == []
    assert "model.safetensors is 201 bytes (0.0 GiB), more than the 200 bytes" in capsys.readouterr().err


def test_a_file_exactly_at_the_staging_bound_is_copied(world):
    hub = FakeHub({"model.safetensors": b"w" * 200, "config.json": b"{}"})  # MAX_FILE_BYTES is 200
    assert run(world, hub) == 0 and (world.target / ".complete").exists()


def test_a_repo_without_safetensors_is_refused(world, capsys):
    hub = FakeHub({"pytorch_model.bin": b"b" * 10, "config.json": b"{}"})
    assert main(world, hub) == 2 and hub.downloads == []
    # The line names the model the Job was given: on a cluster with several stacks, that says which.
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "acme/tiny-moe has no *.safetensors weights at this revision; the bucket mode serves safetensors only: "
        "pick a revision or a repo with safetensors, or weightSource hub")


def test_a_commit_the_hub_resolves_to_another_is_refused(world):
    hub = FakeHub(hub_files(), sha="f" * 40)
    assert main(world, hub) == 2 and hub.downloads == []


# --- One loader per prefix (item 3) -----------------------------------------------------------


def test_a_second_loader_waits_on_a_live_lock_and_exits_when_the_first_completes(world):
    world.gcs.put(f"{PREFIX}.lock", b'{"holder": "first"}')
    hub = FakeHub(hub_files())
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        world.clock.sleep(seconds)
        world.gcs.put(f"{PREFIX}.lock", b'{"holder": "first"}')  # the first loader renews
        if len(sleeps) == 3:
            world.gcs.put(f"{PREFIX}/.complete", b"done")  # ... and finishes
    cfg = loader.Config.from_env(world.env)
    assert loader.run(cfg, hub, loader.Bucket("bucket", world.gcs), world.clock, sleep, heartbeat=False) == 0
    assert hub.downloads == [] and len(sleeps) == 3
    assert sleeps[0] == 60  # polls at a fifth of the 300 s staleness


def test_a_lock_nobody_renewed_for_the_stale_period_is_taken_over(world):
    world.gcs.put(f"{PREFIX}.lock", b'{"holder": "killed"}', age=301)
    hub = FakeHub(hub_files())
    assert run(world, hub) == 0 and len(hub.downloads) == 1
    assert not (world.gcs.root / f"{PREFIX}.lock").exists()  # released after the marker


def test_a_lock_renewed_just_inside_the_stale_period_is_respected(world):
    world.gcs.put(f"{PREFIX}.lock", b'{"holder": "slow"}', age=299)
    lock = loader.Lock(loader.Bucket("bucket", world.gcs), f"{PREFIX}.lock", "me", 300, world.clock)
    assert lock.try_acquire() is False


def test_two_loaders_cannot_both_take_over_one_stale_lock(world):
    world.gcs.put(f"{PREFIX}.lock", b'{"holder": "killed"}', age=600)
    bucket = loader.Bucket("bucket", world.gcs)
    first = loader.Lock(bucket, f"{PREFIX}.lock", "first", 300, world.clock)
    second = loader.Lock(bucket, f"{PREFIX}.lock", "second", 300, world.clock)
    stale = bucket.stat(f"{PREFIX}.lock")
    assert first.try_acquire() is True
    # The second saw the same stale object; its takeover is conditional on that generation: refused.
    assert bucket.write(f"{PREFIX}.lock", b"second", int(stale["generation"])) is None
    assert second.try_acquire() is False  # and the first's lock is fresh


def test_a_loader_whose_lock_was_taken_over_writes_no_marker(world, capsys):
    hub = FakeHub(hub_files())
    hub.on_download = lambda: world.gcs.put(f"{PREFIX}.lock", b'{"holder": "usurper"}')
    assert main(world, hub) == 1
    assert not (world.target / ".complete").exists()
    assert "another loader took over the lock" in capsys.readouterr().err


def test_the_lock_is_created_only_if_absent(world):
    run(world, FakeHub(hub_files()))
    creates = [u for m, u in world.gcs.calls if m == "POST" and "ifGenerationMatch=0" in u]
    assert creates and all(f"name={PREFIX.replace('/', '%2F')}.lock" in u for u in creates)


# --- Why it failed (item 4) -------------------------------------------------------------------


from fake_hub import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError  # noqa: E402


@pytest.mark.parametrize("error, code, words", [
    (GatedRepoError(403), 2, "it is gated and the account of the hfToken has not been granted access; accept its licence at https://huggingface.co/acme/tiny-moe"),
    (GatedRepoError(401), 2, "(HTTP 401): it is gated"),
    (RevisionNotFoundError(404), 2, "revision 0123456789abcdef0123456789abcdef01234567 does not exist in acme/tiny-moe (HTTP 404); set modelRevision"),
    (RepositoryNotFoundError(401), 2, "the hfToken is invalid or expired, or the repo is private or misspelt"),
    (HfHubHTTPError(403), 2, "pulumi config set --secret hfToken"),
    (HfHubHTTPError(503), 1, "the Hub answered HTTP 503"),
    (HfHubHTTPError(429), 1, "the Hub answered HTTP 429"),
    (OSError(errno.ENOSPC, "No space left on device", "/gcs/x.incomplete"), 1, "no space left while writing /gcs/x.incomplete"),
    (ConnectionError("reset"), 1, "cannot reach the Hub or Cloud Storage"),
    (RuntimeError("boom\nsecond line"), 1, "unexpected RuntimeError: boom; the Job retries"),
])
def test_a_failure_ends_in_one_line_with_cause_and_fix(world, capsys, error, code, words):
    assert main(world, FakeHub(hub_files(), fail=error)) == code
    err = capsys.readouterr().err
    assert words in err
    assert err.count("\n") == 1 and "Traceback" not in err  # one line, never a traceback
    assert words in world.termination.read_text()  # what the pod status shows
    assert TOKEN not in err


def test_disk_full_while_copying_is_reported_not_marked(world, capsys):
    hub = FakeHub(hub_files())
    original = hub.snapshot_download

    def full(**kw):
        original(**kw)
        raise OSError(errno.ENOSPC, "No space left on device")
    hub.snapshot_download = full
    assert main(world, hub) == 1
    assert "no space left" in capsys.readouterr().err and not (world.target / ".complete").exists()


def test_cloud_storage_refusing_the_loader_names_the_missing_grant(world, capsys):
    def refusing(method, url, headers, body):
        if url == loader.TOKEN_URL:
            return 200, b'{"access_token": "ya29.pod-token"}'
        return 403, b"{}"
    assert loader.main(world.env, FakeHub(hub_files()), loader.Bucket("bucket", refusing)) == 2
    assert "needs roles/storage.objectUser on the bucket" in capsys.readouterr().err


def test_an_expired_token_is_refreshed_once(world):
    tokens = iter(["old", "ya29.pod-token"])
    seen = []

    def http(method, url, headers, body):
        if url == loader.TOKEN_URL:
            return 200, json.dumps({"access_token": next(tokens)}).encode()
        seen.append(headers["Authorization"])
        if headers["Authorization"] == "Bearer old":
            return 401, b"{}"
        return 404, b"{}"
    assert loader.Bucket("bucket", http).stat("x") is None
    assert seen == ["Bearer old", "Bearer ya29.pod-token"]
