"""The service's processes on loopback for the multi-process tests: a
reca-coordinator, two reca-worker daemons, evaluators and a Prometheus, each
started (and restarted) on demand with its log under ROOT/logs; every wait is
bounded. Shared by cluster_test.py, fault_test.py and chaos_test.py."""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
JOB_TIMEOUT_S = 240
# Set by load_stubs: the generated Python stubs and grpcio.
grpc = job_pb2 = job_service_pb2 = job_service_pb2_grpc = None
reca_client = None  # cli/reca_client.py, imported by load_stubs


def load_stubs(py_stubs):
    """Imports cli/reca_client (the one module Python clients connect through; Binaries
    puts cli/ on sys.path), grpcio and the generated reca.v1 stubs from `py_stubs`."""
    global grpc, job_pb2, job_service_pb2, job_service_pb2_grpc, reca_client
    import reca_client as client_module
    pb = client_module.load_stubs(py_stubs)
    reca_client = client_module
    grpc, job_pb2, job_service_pb2, job_service_pb2_grpc = (
        client_module.grpc, pb.job_pb2, pb.job_service_pb2, pb.job_service_pb2_grpc)


class Binaries:
    """The test's command line: COORDINATOR WORKER TRAINER RECACTL_PY STUB EVALUATOR EVAL."""

    def __init__(self, argv):
        (self.coordinator, self.worker, self.trainer, self.recactl_py, self.stub, self.evaluator,
         self.eval) = (os.path.abspath(a) for a in argv[:7])
        # <stubs>/reca/v1/job_service_pb2.py: its folder's grandparent is the stubs root.
        self.py_stubs = os.path.dirname(os.path.dirname(os.path.dirname(self.stub)))
        # cli/: local_cluster (the tokens) and reca_client (the connection)
        sys.path.insert(0, os.path.dirname(self.recactl_py))


def tiny_spec(name, steps=12, every=6):
    return {"name": name, "steps": steps, "batch_per_rank": 2, "log_every": 4,
            "model": {"family": "mar", "preset": "tiny"},
            "reca": {"collapse_every": 2},  # the collapse series appear mid-run
            "checkpoint": {"every": every, "keep": 0}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """The processes and their folders; every wait is bounded."""

    def __init__(self, root, bins, coordinator_flags=(), worker_flags=()):
        self.root = root
        self.bins = bins
        self.coordinator_flags = list(coordinator_flags)
        self.worker_flags = list(worker_flags)
        self.logs = os.path.join(root, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.port = None
        self.coordinator = None
        self.workers = []
        self.evaluators = {}  # by name
        base = random.randrange(20000, 60000, 100)  # rendezvous ports, away from other tests'
        self.ranges = [f"{base}-{base + 49}", f"{base + 50}-{base + 99}"]
        # /metrics ports, fixed up front so Prometheus scrapes the same targets
        # across the coordinator's restart and evaluators started later.
        self.metrics = {name: f"127.0.0.1:{free_port()}" for name in ("coordinator", "w1", "w2", "e1", "e2")}
        self.prometheus = None
        # Tokens as `recactl local up` makes them: ROOT/tokens/<role>.token, the hashes
        # for the coordinator.
        import local_cluster
        self.token_hashes = local_cluster.make_tokens(root, "tester")
        self.token_file = {role: local_cluster.token_path(root, role)
                           for role in local_cluster.TOKEN_ROLES}

    def token(self, role):
        with open(self.token_file[role]) as f:
            return f.read().strip()

    def start_coordinator(self):
        port_file = os.path.join(self.root, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        listen = f"127.0.0.1:{self.port or 0}"
        with open(os.path.join(self.logs, "coordinator.log"), "a") as log:
            self.coordinator = subprocess.Popen(
                [self.bins.coordinator, f"--listen={listen}", f"--port_file={port_file}",
                 f"--metrics_listen={self.metrics['coordinator']}",
                 f"--db={self.root}/db", f"--runs_root={self.root}/runs", "--lease_ttl_s=6",
                 "--heartbeat_interval_s=0.5", "--eval_claim_ttl_s=3",
                 f"--auth_tokens_file={self.token_hashes}", *self.coordinator_flags],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            if self.coordinator.poll() is not None or time.time() > deadline:
                raise RuntimeError("coordinator did not start:\n" + self.log("coordinator"))
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())
        self.address = f"127.0.0.1:{self.port}"

    def url(self, name):
        return f"http://{self.metrics[name]}/metrics"

    def start_prometheus(self):
        """A real Prometheus (Debian's) scraping every daemon each second, with the shipped alert rules."""
        config = os.path.join(self.root, "prometheus.yml")
        alerts = os.path.join(HERE, "..", "..", "deploy", "prometheus", "alerts.yml")
        with open(config, "w") as f:
            json.dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                       "rule_files": [os.path.abspath(alerts)],
                       "scrape_configs": [{"job_name": "reca", "static_configs": [
                           {"targets": list(self.metrics.values())}]}]}, f)
        self.prometheus_address = f"127.0.0.1:{free_port()}"
        with open(os.path.join(self.logs, "prometheus.log"), "a") as log:
            self.prometheus = subprocess.Popen(
                ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.root}/prometheus",
                 f"--web.listen-address={self.prometheus_address}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{self.prometheus_address}/-/ready", timeout=2)
                return
            except OSError:
                if self.prometheus.poll() is not None or time.time() > deadline:
                    raise RuntimeError("prometheus did not start:\n" + self.log("prometheus"))
                time.sleep(0.2)

    def start_workers(self):
        for i in range(len(self.ranges)):
            self.workers.append(self.start_worker(f"w{i + 1}"))

    def start_worker(self, name):
        """Starts worker `name` (w1 or w2); returns its process."""
        i = int(name[1:]) - 1
        with open(os.path.join(self.logs, f"{name}.log"), "a") as log:
            return subprocess.Popen(
                [self.bins.worker, f"--coordinator={self.address}", f"--worker_id={name}",
                 "--cpu_slots=1", "--address=127.0.0.1", f"--rendezvous_ports={self.ranges[i]}",
                 "--threads=1", f"--trainer={self.bins.trainer}", "--stop_grace_s=10",
                 f"--metrics_listen={self.metrics[name]}",
                 f"--token_file={self.token_file['worker']}", *self.worker_flags],
                stdout=log, stderr=subprocess.STDOUT)

    def start_evaluator(self, name):
        metrics = self.metrics[name]
        with open(os.path.join(self.logs, f"{name}.log"), "a") as log:
            proc = subprocess.Popen(
                [self.bins.evaluator, f"--coordinator={self.address}", f"--evaluator_id={name}",
                 f"--eval_binary={self.bins.eval}", "--threads=1", "--prompts_per_tag=2",
                 "--images_per_prompt=1", "--edit_pairs_per_category=1", "--poll_interval_s=0.2", f"--metrics_listen={metrics}",
                 f"--token_file={self.token_file['evaluator']}"],
                stdout=log, stderr=subprocess.STDOUT)
        self.evaluators[name] = proc
        return proc

    def log(self, name):
        path = os.path.join(self.logs, f"{name}.log")
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()[-6000:]

    def stop(self):
        procs = self.workers + list(self.evaluators.values()) + [
            p for p in (self.coordinator, self.prometheus) if p]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()




def trainer_pid(output_dir, rank):
    """The pid of the reca-train process of `rank` writing to `output_dir`, or None."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == "reca-train" and f"--out={output_dir}" in argv \
                and f"--rank={rank}" in argv:
            return int(pid)
    return None


class ServiceTest(unittest.TestCase):
    """A test case over `cls.cluster` (set up by the subclass) with a JobService stub `cls.jobs`."""

    @classmethod
    def connect(cls):
        if getattr(cls, "conn", None) is not None:
            cls.conn.close()
        cls.conn = reca_client.connect(cls.cluster.address,
                                       token_file=cls.cluster.token_file["user"])
        cls.channel = cls.conn.channel
        grpc.channel_ready_future(cls.channel).result(timeout=30)
        cls.jobs = cls.conn.jobs

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        if os.environ.get("KEEP_CLUSTER_TEST_DIR"):
            print("cluster folder kept:", cls.root)
        else:
            shutil.rmtree(cls.root, ignore_errors=True)

    def submit(self, spec, ranks=1, request_id=None, priority=0):
        request = job_service_pb2.SubmitJobRequest(request_id=request_id or str(uuid.uuid4()),
                                                   priority=priority)
        from google.protobuf import json_format
        json_format.ParseDict(spec, request.spec)
        request.resources.ranks = ranks
        return self.jobs.SubmitJob(request, timeout=10)

    def watch(self, job_id):
        """Follows WatchJob until the job ends; returns (job, events)."""
        events, job = [], None
        for update in self.jobs.WatchJob(job_service_pb2.WatchJobRequest(job_id=job_id), timeout=JOB_TIMEOUT_S):
            job = update.job
            events.extend(update.events)
        self.assertIsNotNone(job)
        return job, events

    def diagnostics(self, job=None):
        text = "\n--- coordinator ---\n" + self.cluster.log("coordinator")
        for w in ("w1", "w2"):
            text += f"\n--- {w} ---\n" + self.cluster.log(w)
        if job is not None:
            for r in range(len(job.attempt.placements)):
                path = os.path.join(job.output_dir, "ranks", f"rank-{r}", "train.log")
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        text += f"\n--- rank {r} ---\n" + f.read()[-3000:]
        return text

    @classmethod
    def kill_coordinator(cls, down_s=0.0):
        """SIGKILLs the coordinator (no shutdown path runs), waits `down_s`, starts it again on the
        same port and RocksDB, and reconnects."""
        cls.cluster.coordinator.kill()
        cls.cluster.coordinator.wait()
        time.sleep(down_s)
        cls.cluster.start_coordinator()
        cls.connect()

    def kill_worker(self, name, down_s=0.0):
        """SIGKILLs worker `name` (its ranks die with it), waits `down_s`, and starts it again, as
        its supervisor (systemd, Kubernetes) would."""
        i = int(name[1:]) - 1
        self.cluster.workers[i].kill()
        self.cluster.workers[i].wait()
        time.sleep(down_s)
        self.cluster.workers[i] = self.cluster.start_worker(name)

    def get(self, job_id):
        return self.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id, include_events=True),
                                timeout=10)

    def wait_until(self, what, predicate, timeout=JOB_TIMEOUT_S, job=None):
        """Polls `predicate` every 50 ms until it is true; fails after `timeout` s."""
        deadline = time.time() + timeout
        while not predicate():
            if time.time() > deadline:
                self.fail(f"timed out waiting for {what}" + self.diagnostics(job))
            time.sleep(0.05)
