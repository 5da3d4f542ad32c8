"""Finding the endpoint without --url: the stack outputs, and for a ClusterIP Service the same
`kubectl port-forward` the queryCommand uses, started and always stopped by this command."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

from smoke import EXIT_USAGE, SmokeError, interrupts

# How long `pulumi stack output` may take (it reads the state backend, maybe remote).
PULUMI_TIMEOUT_S = 60
# How long kubectl gets to open the local port: it resolves the Service to a pod first.
FORWARD_START_S = 20
# In-cluster DNS name of a ClusterIP Service, as the stack exports it: http://SVC.NS.svc.cluster.local:PORT
_CLUSTER_IP = re.compile(r"^https?://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)/?$")


@dataclass(frozen=True)
class StackOutputs:
    endpoint: str
    namespace: Optional[str]
    cluster_name: Optional[str]
    engine: Optional[str]


def stack_outputs(stack: str) -> StackOutputs:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise SmokeError("no --url and no Pulumi CLI on PATH to read the stack outputs: "
                         "pass --url http://HOST:PORT (make smoke URL=...) or install the Pulumi CLI", EXIT_USAGE)
    # Without --show-secrets: the outputs read here are not secret, and secrets stay "[secret]".
    try:
        run = subprocess.run([pulumi, "stack", "output", "--json", "--stack", stack], capture_output=True,
                             text=True, timeout=PULUMI_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SmokeError(f"`pulumi stack output --stack {stack}` took over {PULUMI_TIMEOUT_S} s; "
                         "check `pulumi whoami` and the state backend, or pass --url", EXIT_USAGE) from None
    if run.returncode != 0:
        said = (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise SmokeError(f"`pulumi stack output --stack {stack}` failed: {said}; "
                         "check the stack name (--stack) and `pulumi login`, or pass --url", EXIT_USAGE)
    try:
        outputs = json.loads(run.stdout)
        endpoint = outputs["endpoint"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise SmokeError(f"stack {stack} has no `endpoint` output; has `pulumi up` finished? Or pass --url",
                         EXIT_USAGE) from None
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise SmokeError(f"stack {stack} output endpoint={endpoint!r} is not a URL yet; "
                         "run `pulumi up` (or `pulumi refresh`) again, or pass --url", EXIT_USAGE)
    return StackOutputs(endpoint=endpoint, namespace=outputs.get("namespace"),
                        cluster_name=outputs.get("clusterName"), engine=outputs.get("engine"))


def cluster_ip_service(endpoint: str) -> Optional[tuple[str, str, int]]:
    """(service, namespace, port) when the endpoint is only reachable inside the cluster."""
    match = _CLUSTER_IP.match(endpoint)
    return (match.group(1), match.group(2), int(match.group(3))) if match else None


def free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def kube_context(stack: str, cluster_name: Optional[str], root=None) -> Optional[str]:
    """The kubectl context `gcloud container clusters get-credentials` creates for this stack's
    cluster (gke_PROJECT_LOCATION_CLUSTER), so the port-forward cannot reach another stack's cluster
    that merely happens to be the current context (dev and prod share namespace and Service names).
    None when the stack file does not name the project: then kubectl's current context is used."""
    from planner import stack_config
    try:
        values = stack_config.resolve(stack, **({"root": root} if root else {})).values
    except stack_config.StackConfigError:
        return None
    project, location = values.get("gcp:project"), values.get("gke-llm-serving:location")
    if not (project and location and cluster_name):
        return None
    return f"gke_{project}_{location}_{cluster_name}"


class PortForward:
    """`kubectl -n NS port-forward service/SVC LOCAL:PORT` as a child process.

    kubectl ends a port-forward when a connection to the pod fails (as it does while the model
    loads and the port is closed), so `ensure()` starts it again; readiness polling calls it.
    """

    def __init__(self, service: str, namespace: str, port: int, cluster_name: Optional[str] = None,
                 context: Optional[str] = None):
        self.service, self.namespace, self.port, self.cluster_name = service, namespace, port, cluster_name
        self.context = context
        self.local_port = free_local_port()
        self.url = f"http://127.0.0.1:{self.local_port}"
        self._proc: Optional[subprocess.Popen] = None
        self._log = tempfile.TemporaryFile(mode="w+")
        self._ever_up = False

    def _command(self) -> list[str]:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise SmokeError("the endpoint is a ClusterIP Service and kubectl is not on PATH to port-forward it: "
                             "install kubectl, or port-forward yourself and pass --url", EXIT_USAGE)
        context = ["--context", self.context] if self.context else []
        return [kubectl, *context, "-n", self.namespace, "port-forward", f"service/{self.service}",
                f"{self.local_port}:{self.port}"]

    def _said(self) -> str:
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().splitlines() if line.strip()]
        return lines[-1] if lines else "no message"

    def ensure(self) -> None:
        """Running and accepting on the local port, or SmokeError. A pod that is not running yet
        (pending node, image pull) is a `NotYet`: the readiness wait goes on."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self._log.seek(0)
        self._log.truncate()
        # stdout: kubectl writes a line per connection there; nobody reads it, so it must not be a pipe.
        # Started outside `blocking()`: a signal inside Popen, after the fork, would leave the child
        # running and unrecorded; here it only schedules the cancel, seen just below.
        self._proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=self._log)
        with interrupts.blocking():  # up to FORWARD_START_S in the event loop: a signal stops it at once
            interrupts.raise_if_signalled()
            self._wait_until_open()

    def _wait_until_open(self) -> None:
        deadline = time.monotonic() + FORWARD_START_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                said = self._said()
                if self._ever_up or "not running" in said or "pending" in said.lower():
                    raise NotYet(f"port-forward: {said}")
                hint = (f"gcloud container clusters get-credentials {self.cluster_name} ..."
                        if self.cluster_name else "gcloud container clusters get-credentials ...")
                raise SmokeError(f"kubectl port-forward service/{self.service} failed: {said}; check kubectl's "
                                 f"context ({hint}, as in the queryCommand) or pass --url", EXIT_USAGE)
            if _accepts(self.local_port):
                self._ever_up = True
                return
            time.sleep(0.1)
        self.stop()
        raise SmokeError(f"kubectl port-forward service/{self.service} did not open port {self.local_port} in "
                         f"{FORWARD_START_S} s; check `kubectl -n {self.namespace} get pods`", EXIT_USAGE)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._log.close()


class NotYet(Exception):
    """The endpoint is not reachable yet, but may become so while the readiness wait lasts."""
