#!/usr/bin/python3
"""TLS and mutual TLS on loopback (issue 9), with a development CA and
certificates made by openssl in the test (as README's "TLS" section shows):

- the users' port serves TLS: recactl trusting the CA lists jobs; a plaintext
  client gets nowhere;
- the workers' port (--worker_listen, --tls_client_ca) refuses a client without
  a client certificate, admits one whose certificate the CA signed, and a real
  reca-worker with --tls_ca/--tls_cert/--tls_key/--token_file registers there.

usage: tls_test.py COORDINATOR WORKER TRAINER RECACTL_PY STUB EVALUATOR EVAL
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import cluster_fixture
from cluster_fixture import Binaries

BINS = Binaries(sys.argv[1:8])
del sys.argv[1:8]
cluster_fixture.load_stubs(BINS.py_stubs)
import local_cluster  # noqa: E402  (on sys.path through Binaries)
from reca.v1 import worker_service_pb2, worker_service_pb2_grpc  # noqa: E402

grpc = cluster_fixture.grpc


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder):
    """A CA, the coordinator's certificate for 127.0.0.1, and a worker's client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=reca-dev-ca",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    for name, ext in (("coordinator", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("worker", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=reca-{name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)
        with open(os.path.join(folder, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
                cwd=folder)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_for_file(path, proc, what, log):
    deadline = time.time() + 30
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{what} did not start:\n" + read(log).decode(errors="replace"))
        time.sleep(0.05)
    return int(read(path))


def stop(procs):
    """SIGTERM each running process, then SIGKILL what has not exited within 20 s."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="reca-tls-", dir=os.environ.get("TEST_TMPDIR"))
        cls.certs = os.path.join(cls.root, "certs")
        os.makedirs(cls.certs)
        make_certificates(cls.certs)
        cls.hashes = local_cluster.make_tokens(cls.root, "tester")
        cls.log = os.path.join(cls.root, "coordinator.log")
        c = lambda name: os.path.join(cls.certs, name)
        with open(cls.log, "w") as log:
            cls.coordinator = subprocess.Popen(
                [BINS.coordinator, "--listen=127.0.0.1:0", f"--port_file={cls.root}/port",
                 "--worker_listen=127.0.0.1:0", f"--worker_port_file={cls.root}/worker_port",
                 f"--tls_cert={c('coordinator.pem')}", f"--tls_key={c('coordinator.key')}",
                 f"--tls_client_ca={c('ca.pem')}", f"--auth_tokens_file={cls.hashes}",
                 "--health_listen=127.0.0.1:0", f"--health_port_file={cls.root}/health_port",
                 "--metrics_listen=", f"--db={cls.root}/db", f"--runs_root={cls.root}/runs"],
                stdout=log, stderr=subprocess.STDOUT)
        cls.port = wait_for_file(f"{cls.root}/port", cls.coordinator, "the coordinator", cls.log)
        cls.worker_port = wait_for_file(f"{cls.root}/worker_port", cls.coordinator,
                                        "the coordinator", cls.log)
        cls.health_port = wait_for_file(f"{cls.root}/health_port", cls.coordinator,
                                        "the coordinator", cls.log)
        cls.worker = None

    @classmethod
    def tearDownClass(cls):
        stop([cls.worker, cls.coordinator])
        shutil.rmtree(cls.root, ignore_errors=True)

    def recactl(self, *args):
        env = dict(os.environ, RECA_PY_STUBS=BINS.py_stubs,
                   RECA_COORDINATOR=f"127.0.0.1:{self.port}",
                   RECA_TOKEN_FILE=local_cluster.token_path(self.root, "user"))
        return subprocess.run(["/usr/bin/python3", BINS.recactl_py, "--timeout", "5", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    def worker_call(self, client_cert):
        """RegisterWorker on the workers' port over TLS, with or without a client certificate."""
        c = lambda name: os.path.join(self.certs, name)
        with cluster_fixture.reca_client.connect(
                f"127.0.0.1:{self.worker_port}", role="worker",
                token_file=local_cluster.token_path(self.root, "worker"), tls_ca=c("ca.pem"),
                tls_cert=c("worker.pem") if client_cert else None,
                tls_key=c("worker.key") if client_cert else None) as conn:
            stub = conn.stub(worker_service_pb2_grpc.WorkerServiceStub)
            try:
                stub.RegisterWorker(worker_service_pb2.RegisterWorkerRequest(), timeout=5)
                return grpc.StatusCode.OK
            except grpc.RpcError as e:
                return e.code()

    def test_users_port_serves_tls(self):
        ok = self.recactl("--tls-ca", os.path.join(self.certs, "ca.pem"), "list")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("no jobs", ok.stderr)
        plaintext = self.recactl("list")
        self.assertEqual(plaintext.returncode, 1)
        self.assertIn("UNAVAILABLE", plaintext.stderr)

    def test_health_port_answers_probes_in_plaintext_without_a_token(self):
        # What a Kubernetes grpc probe sends: grpc.health.v1.Health/Check with
        # an empty HealthCheckRequest; b"\x08\x01" is {status: SERVING}.
        with grpc.insecure_channel(f"127.0.0.1:{self.health_port}") as channel:
            check = channel.unary_unary("/grpc.health.v1.Health/Check")
            self.assertEqual(check(b"", timeout=5), b"\x08\x01")
            # Nothing else is served there.
            submit = channel.unary_unary("/reca.v1.JobService/ListJobs")
            with self.assertRaises(grpc.RpcError) as e:
                submit(b"", timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_workers_port_requires_a_client_certificate(self):
        self.assertEqual(self.worker_call(client_cert=False), grpc.StatusCode.UNAVAILABLE)
        # With one: past TLS and the token check, to the handler (which wants a worker_id).
        self.assertEqual(self.worker_call(client_cert=True), grpc.StatusCode.INVALID_ARGUMENT)

    def test_a_worker_daemon_registers_over_mutual_tls(self):
        c = lambda name: os.path.join(self.certs, name)
        log = os.path.join(self.root, "w1.log")
        with open(log, "w") as f:
            type(self).worker = subprocess.Popen(
                [BINS.worker, f"--coordinator=127.0.0.1:{self.worker_port}", "--worker_id=w1",
                 "--cpu_slots=1", "--address=127.0.0.1", "--rendezvous_ports=29100-29109",
                 f"--trainer={BINS.trainer}", "--metrics_listen=", f"--tls_ca={c('ca.pem')}",
                 f"--tls_cert={c('worker.pem')}", f"--tls_key={c('worker.key')}",
                 f"--token_file={local_cluster.token_path(self.root, 'worker')}"],
                stdout=f, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while b"worker w1 registered" not in read(self.log):
            self.assertIsNone(self.worker.poll(), read(log).decode(errors="replace"))
            self.assertLess(time.time(), deadline, read(self.log).decode(errors="replace"))
            time.sleep(0.1)

    def test_a_worker_started_before_its_coordinator_connects_once_it_is_up(self):
        """Over TLS, a daemon whose first attempts failed must still connect (a worker pod
        scheduled before the coordinator's, a coordinator restart): gRPC 1.51's fail-fast
        calls never did (common/grpc_client.h)."""
        c = lambda name: os.path.join(self.certs, name)
        port = cluster_fixture.free_port()
        root = os.path.join(self.root, "late")
        os.makedirs(root)
        log = os.path.join(root, "w2.log")
        procs = []
        try:
            with open(log, "w") as f:
                procs.append(subprocess.Popen(
                    [BINS.worker, f"--coordinator=127.0.0.1:{port}", "--worker_id=w2",
                     "--cpu_slots=1", "--address=127.0.0.1", "--rendezvous_ports=29110-29119",
                     f"--trainer={BINS.trainer}", "--metrics_listen=", f"--tls_ca={c('ca.pem')}",
                     f"--token_file={local_cluster.token_path(self.root, 'worker')}",
                     "--rpc_deadline_s=2"],
                    stdout=f, stderr=subprocess.STDOUT))
            deadline = time.time() + 15
            while b"register failed (try 2)" not in read(log):  # no coordinator, twice
                self.assertLess(time.time(), deadline, read(log).decode(errors="replace"))
                time.sleep(0.1)
            with open(os.path.join(root, "coordinator.log"), "w") as f:
                procs.append(subprocess.Popen(
                    [BINS.coordinator, f"--listen=127.0.0.1:{port}",
                     f"--tls_cert={c('coordinator.pem')}", f"--tls_key={c('coordinator.key')}",
                     f"--auth_tokens_file={self.hashes}", "--metrics_listen=",
                     f"--db={root}/db", f"--runs_root={root}/runs"],
                    stdout=f, stderr=subprocess.STDOUT))
            deadline = time.time() + 20
            while b"worker w2: registered" not in read(log):
                self.assertLess(time.time(), deadline, read(log).decode(errors="replace"))
                time.sleep(0.1)
        finally:
            stop(reversed(procs))


if __name__ == "__main__":
    unittest.main(verbosity=2)
