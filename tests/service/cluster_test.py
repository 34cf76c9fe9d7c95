#!/usr/bin/python3
"""The control plane as processes on loopback (issue 4): a real reca-coordinator
and two reca-worker daemons run a real 2-rank reca-train job to completion; a
coordinator killed with SIGKILL mid-queue restarts from RocksDB with nothing
lost; the API works from Python's grpcio (generated stubs) and from recactl;
every evaluator scores each checkpoint once though one is killed; every
daemon's /metrics passes promtool, and a real Prometheus (Debian's) scraping
the whole run has data for every expression of the shipped Grafana dashboards
and loads the shipped alert rules (issue 7).

usage: cluster_test.py COORDINATOR WORKER TRAINER RECACTL_PY STUB EVALUATOR EVAL
  the coordinator, worker and trainer binaries, cli/recactl.py, one generated
  stub file (<stubs>/reca/v1/job_service_pb2.py: its folder's grandparent is the
  stubs root), and the evaluator and scorer binaries.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import cluster_fixture
from cluster_fixture import HERE, JOB_TIMEOUT_S, Binaries, Cluster, ServiceTest, tiny_spec, trainer_pid

BINS = Binaries(sys.argv[1:8])
del sys.argv[1:8]
RECACTL_PY, PY_STUBS = BINS.recactl_py, BINS.py_stubs
cluster_fixture.load_stubs(PY_STUBS)
import grpc  # noqa: E402
from reca.v1 import job_pb2, job_service_pb2  # noqa: E402

TERMINAL = {job_pb2.SUCCEEDED, job_pb2.FAILED, job_pb2.CANCELLED}


class ClusterTest(ServiceTest):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="reca-cluster-", dir=os.environ.get("TEST_TMPDIR"))
        # The spec's files must be in ROOT/data (the coordinator checks paths, the ranks
        # also symlinks).
        os.makedirs(os.path.join(cls.root, "data"))
        roots = f"--data_roots={cls.root}/data"
        cls.cluster = Cluster(cls.root, BINS, coordinator_flags=[roots], worker_flags=[roots])
        cls.cluster.start_prometheus()
        cls.started = time.time()
        cls.cluster.start_coordinator()
        cls.cluster.start_workers()
        cls.connect()

    def test_0_health_and_reflection(self):
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check",
                                         request_serializer=lambda b: b, response_deserializer=lambda b: b)
        self.assertEqual(check(b"", timeout=5), b"\x08\x01")  # status: SERVING
        reflect = self.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                             request_serializer=lambda b: b, response_deserializer=lambda b: b)
        reply = b"".join(reflect(iter([b"\x3a\x00"]), timeout=5))  # list_services: ""
        self.assertIn(b"reca.v1.JobService", reply)
        self.assertIn(b"reca.v1.WorkerService", reply)

    def test_1_oversized_and_invalid_requests_are_refused(self):
        with self.assertRaises(grpc.RpcError) as big:  # over --max_request_bytes (4 MiB)
            self.submit({"name": "x" * (5 << 20)})
        self.assertEqual(big.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        with self.assertRaises(grpc.RpcError) as spec:  # under it, over --max_spec_bytes (256 KiB)
            self.submit({"name": "x" * (300 << 10)})
        self.assertEqual(spec.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("more than the limit of 262144", spec.exception.details())
        with self.assertRaises(grpc.RpcError) as lr:
            self.submit({"optimizer": {"lr": -1}})
        self.assertEqual(lr.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("spec.optimizer.lr: must be > 0", lr.exception.details())
        for spec, error in (({"model": {"init": "/etc/passwd"}},
                             "spec.model.init: /etc/passwd is outside the allowed roots"),
                            ({"reca": {"templates_file": "data/../../x"}},
                             "spec.reca.templates_file: data/../../x: '..' is not allowed")):
            with self.assertRaises(grpc.RpcError) as path:
                self.submit(spec)
            self.assertEqual(path.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(error, path.exception.details())
        listed = self.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=10).jobs
        self.assertEqual(len(listed), 0)  # nothing refused was queued

    def test_1a_a_symlink_out_of_the_data_roots_fails_only_its_job(self):
        outside = os.path.join(self.root, "outside.txt")
        with open(outside, "w") as f:
            f.write("describe the image\n")
        link = os.path.join(self.root, "data", "templates.txt")
        os.symlink(outside, link)  # inside the root by name, outside by target
        spec = tiny_spec("symlink-out", steps=2, every=0)
        spec["reca"]["templates_file"] = link
        job, _ = self.watch(self.submit(spec).job.id)  # the coordinator cannot see the link
        self.assertEqual(job_pb2.JobState.Name(job.state), "FAILED", self.diagnostics(job))
        self.assertEqual(job.failure_reason, "invalid_job")  # at once, no restart
        self.assertEqual(job.restarts, 0)
        self.assertIn(f"resolves (through a symlink) to {outside}", job.failure)

    def test_2_two_rank_job_runs_to_completion(self):
        submitted = self.submit(tiny_spec("it-2rank"), ranks=2)
        self.assertTrue(submitted.created)
        job, events = self.watch(submitted.job.id)
        self.assertEqual(job_pb2.JobState.Name(job.state), "SUCCEEDED", self.diagnostics(job))
        self.assertEqual(sorted(p.worker_id for p in job.attempt.placements), ["w1", "w2"])
        states = [job_pb2.JobState.Name(e.state) for e in events]
        for s in ("QUEUED", "SCHEDULED", "RUNNING", "SUCCEEDED"):
            self.assertIn(s, states)
        self.assertEqual(job.latest_checkpoint_step, 12)
        ckpts = self.jobs.ListCheckpoints(job_service_pb2.ListCheckpointsRequest(job_id=job.id), timeout=10)
        self.assertEqual([c.step for c in ckpts.checkpoints], [6, 12])
        for c in ckpts.checkpoints:
            self.assertEqual(len(c.manifest_sha256), 64)
            self.assertTrue(os.path.exists(os.path.join(c.path, "MANIFEST.json")), c.path)
        loss = self.jobs.GetMetrics(job_service_pb2.GetMetricsRequest(job_id=job.id, names=["loss"], rank=0),
                                    timeout=10)
        self.assertEqual([p.step for p in loss.points], list(range(1, 13)))
        both = self.jobs.GetMetrics(job_service_pb2.GetMetricsRequest(job_id=job.id, names=["loss"], rank=-1),
                                    timeout=10)
        self.assertEqual({p.rank for p in both.points}, {0, 1})
        self.assertTrue(os.path.exists(os.path.join(job.output_dir, "model.safetensors")))

    def test_2b_a_killed_rank_restarts_the_gang_from_its_checkpoint(self):
        spec = tiny_spec("it-kill-rank", steps=60, every=10)
        spec["batch_per_rank"] = 4
        job_id = self.submit(spec, ranks=2).job.id
        deadline = time.time() + JOB_TIMEOUT_S
        while True:  # until a checkpoint is committed, then SIGKILL rank 1's trainer
            job = self.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=10).job
            self.assertNotIn(job.state, TERMINAL, self.diagnostics(job))
            if job.latest_checkpoint_step >= 10:
                break
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        victim = trainer_pid(job.output_dir, 1)
        self.assertIsNotNone(victim, "rank 1's trainer was not found (did the job end first?)")
        os.kill(victim, signal.SIGKILL)
        job, events = self.watch(job_id)
        self.assertEqual(job_pb2.JobState.Name(job.state), "SUCCEEDED", self.diagnostics(job))
        self.assertEqual(job.restarts, 1)
        messages = [e.message for e in events]
        # Whichever exit is reported first (the victim's, or its peer's failed
        # all-reduce) starts the restart; both are events.
        self.assertTrue(any("rank 1 on w2" in m and "killed by SIGKILL" in m for m in messages), messages)
        self.assertTrue(any("restart 1 of 3 from its checkpoint at step" in m for m in messages), messages)
        self.assertTrue(any("queued again (restart 1 of 3)" in m for m in messages), messages)
        with open(os.path.join(job.output_dir, "ranks", "rank-1", "train.log"), errors="replace") as f:
            self.assertIn("resuming from", f.read())  # the new attempt started from the checkpoint
        loss = self.jobs.GetMetrics(job_service_pb2.GetMetricsRequest(job_id=job.id, names=["loss"], rank=0),
                                    timeout=10)
        self.assertEqual([p.step for p in loss.points], list(range(1, 61)))  # every step, once

    def scrape(self, url):
        """Fetches /metrics, has promtool lint it, returns {series: value}."""
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                              text=True, timeout=30)
        self.assertEqual((lint.returncode, lint.stdout + lint.stderr), (0, ""), text[:2000])
        series = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                series[name] = float(value)
        return series, text

    def test_2a_metrics_after_a_job(self):
        """/metrics after test 2's job: promtool accepts it; the live state and the RPCs show."""
        series, text = self.scrape(self.cluster.url("coordinator"))
        self.assertGreaterEqual(series['reca_jobs{state="succeeded"}'], 1)
        self.assertEqual(series["reca_workers"], 2)
        self.assertEqual(series['reca_worker_slots{worker="w1",kind="cpu"}'], 1)
        self.assertGreaterEqual(
            series['reca_grpc_server_handled_total{code="OK",method="/reca.v1.JobService/SubmitJob"}'], 1)
        self.assertGreaterEqual(series['reca_grpc_server_handled_total{code="OK",'
                                       'method="/reca.v1.WorkerService/Heartbeat"}'], 1)
        self.assertGreater(series['reca_store_write_seconds_count{sync="true"}'], 0)
        self.assertNotIn("reca_job_steps_total", text)  # the job ended: its series went
        for w in ("w1", "w2"):
            series, _ = self.scrape(self.cluster.url(w))
            self.assertEqual(series[f'reca_worker_registered{{worker="{w}"}}'], 1)
            self.assertGreaterEqual(
                series[f'reca_worker_rank_exits_total{{worker="{w}",cause="success"}}'], 1)
            self.assertGreaterEqual(
                series[f'reca_worker_heartbeats_total{{worker="{w}",outcome="ok"}}'], 1)

    def test_3_coordinator_restart_mid_queue_loses_nothing(self):
        # Too big for the 2-slot fleet: they stay queued.
        ids = [self.submit(tiny_spec(f"it-queued-{i}"), ranks=3, request_id=f"queued-{i}").job.id
               for i in range(2)]
        before = {j.id: j for j in self.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=10).jobs}
        self.assertIn("needs 3 cpu slots; the fleet has 2", before[ids[0]].queue_reason)

        self.kill_coordinator()

        after = {j.id: j for j in self.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=10).jobs}
        self.assertEqual(sorted(after), sorted(before))
        for job_id, job in before.items():
            self.assertEqual(after[job_id].state, job.state, job_id)
            self.assertEqual(after[job_id].spec, job.spec, job_id)
        again = self.submit(tiny_spec("it-queued-0"), ranks=3, request_id="queued-0")
        self.assertFalse(again.created)
        self.assertEqual(again.job.id, ids[0])
        # The workers carry on with the restarted coordinator: a new job runs.
        job, _ = self.watch(self.submit(tiny_spec("it-after-restart", steps=4, every=0)).job.id)
        self.assertEqual(job_pb2.JobState.Name(job.state), "SUCCEEDED", self.diagnostics(job))
        for job_id in ids:
            cancelled = self.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job_id), timeout=10)
            self.assertEqual(cancelled.job.state, job_pb2.CANCELLED)

    def test_4_recactl_submit_wait_get_metrics(self):
        spec_path = os.path.join(self.root, "job.yaml")
        with open(spec_path, "w") as f:
            json.dump(tiny_spec("it-recactl", steps=4, every=0), f)  # JSON is YAML
        env = dict(os.environ, RECA_COORDINATOR=self.cluster.address, RECA_PY_STUBS=PY_STUBS,
                   RECA_TOKEN_FILE=self.cluster.token_file["user"])
        run = lambda *args: subprocess.run(["/usr/bin/python3", RECACTL_PY, *args], env=env, capture_output=True, text=True,
                                           timeout=JOB_TIMEOUT_S)
        submitted = run("submit", spec_path, "--ranks", "2", "--set", "optimizer.lr=2e-4")
        self.assertEqual(submitted.returncode, 0, submitted.stderr)
        job_id = submitted.stdout.strip().splitlines()[-1]
        self.assertTrue(job_id.startswith("job-"), submitted.stdout)
        watched = run("watch", job_id)
        self.assertEqual(watched.returncode, 0, watched.stdout + watched.stderr + self.diagnostics())
        got = run("get", job_id, "--json")
        self.assertEqual(got.returncode, 0, got.stderr)
        job = json.loads(got.stdout)
        self.assertEqual(job["job"]["state"] if "job" in job else job["state"], "SUCCEEDED")
        metrics = run("metrics", job_id, "--name", "loss", "--csv")
        self.assertEqual(metrics.returncode, 0, metrics.stderr)
        self.assertGreaterEqual(len(metrics.stdout.strip().splitlines()), 5)  # header + 4 steps
        bad = run("submit", spec_path, "--set", "optimizer.lr=-1")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("spec.optimizer.lr", bad.stderr)

    def test_4a_recactl_tokens_create_list_revoke(self):
        env = dict(os.environ, RECA_COORDINATOR=self.cluster.address, RECA_PY_STUBS=PY_STUBS)
        run = lambda token_file, *args: subprocess.run(
            ["/usr/bin/python3", RECACTL_PY, "--token-file", token_file, *args], env=env,
            capture_output=True, text=True, timeout=60)
        admin, user = self.cluster.token_file["admin"], self.cluster.token_file["user"]
        alice = os.path.join(self.root, "alice.token")
        created = run(admin, "token", "create", "alice", "--role", "user", "--out", alice)
        self.assertEqual(created.returncode, 0, created.stderr)
        self.assertEqual(os.stat(alice).st_mode & 0o777, 0o600)
        clash = run(admin, "token", "create", "bob", "--role", "user", "--out", alice)
        self.assertEqual(clash.returncode, 2)  # refused before a token exists
        self.assertIn(f"--out: {alice}: File exists", clash.stderr)
        listed = run(alice, "list")
        self.assertEqual(listed.returncode, 0, listed)
        self.assertNotIn("job-", listed.stdout)  # the tester's jobs are not alice's
        self.assertIn("no jobs", listed.stderr)
        self.assertIn("job-", run(admin, "list").stdout)  # an admin sees every job
        denied = run(user, "token", "list")  # a user token cannot manage tokens
        self.assertEqual(denied.returncode, 1)
        self.assertIn("PERMISSION_DENIED", denied.stderr)
        tokens = run(admin, "token", "list")
        self.assertEqual(tokens.returncode, 0, tokens.stderr)
        self.assertNotIn(" bob ", tokens.stdout)
        row = [line for line in tokens.stdout.splitlines() if " alice " in line][0]
        revoked = run(admin, "token", "revoke", row.split()[0])
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        self.assertIn("(user alice)", revoked.stdout)
        after = run(alice, "list")
        self.assertEqual(after.returncode, 1)
        self.assertIn("UNAUTHENTICATED: invalid token", after.stderr)
        nobody = subprocess.run(["/usr/bin/python3", RECACTL_PY, "list"], env=env,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(nobody.returncode, 1)
        self.assertIn("UNAUTHENTICATED: no token", nobody.stderr)
        self.assertIn("--token-file", nobody.stderr)


    def test_5_every_checkpoint_scored_once_though_an_evaluator_dies(self):
        spec = tiny_spec("it-eval", steps=4, every=2)
        spec["eval"] = {"suites": ["shapes_eval", "recon", "shapes_edit"], "every_n_checkpoints": 1,
                        "base": False}
        job_id = self.submit(spec).job.id
        e1 = self.cluster.start_evaluator("e1")
        # Kill e1 (SIGKILL: no goodbye) once it is scoring; its reca-eval dies with it.
        deadline = time.time() + JOB_TIMEOUT_S
        while "claimed by e1" not in self.cluster.log("coordinator"):
            self.assertLess(time.time(), deadline, self.diagnostics())
            self.assertIsNone(e1.poll(), self.cluster.log("e1"))
            time.sleep(0.1)
        e1.kill()
        e1.wait()
        self.cluster.start_evaluator("e2")
        job, _ = self.watch(job_id)
        self.assertEqual(job_pb2.JobState.Name(job.state), "SUCCEEDED", self.diagnostics(job))
        while True:
            scores = self.jobs.ListEvaluations(job_service_pb2.ListEvaluationsRequest(job_id=job_id),
                                               timeout=10)
            if scores.pending == 0 and len(scores.scores) >= 6:
                break
            self.assertLess(time.time(), deadline, self.diagnostics() + self.cluster.log("e2"))
            time.sleep(0.5)
        got = sorted((s.step, s.suite) for s in scores.scores)
        self.assertEqual(got, [(2, "recon"), (2, "shapes_edit"), (2, "shapes_eval"),
                               (4, "recon"), (4, "shapes_edit"), (4, "shapes_eval")])
        for s in scores.scores:
            self.assertEqual(s.error, "", s)
            self.assertEqual(s.evaluator_id, "e2", s)  # e1's claim expired and went to e2
        shapes = [s for s in scores.scores if s.suite == "shapes_eval"][0]
        for tag in ("overall", "single_object", "two_object", "counting", "colors", "position",
                    "color_attr"):
            self.assertIn(tag, shapes.values)
        edit = [s for s in scores.scores if s.suite == "shapes_edit"][0]
        for key in ("overall", "carried_out", "preserved", "categories.add", "categories.extract"):
            self.assertIn(key, edit.values)
        self.assertEqual(edit.values["pairs"], 8)  # --edit_pairs_per_category=1
        recon = [s for s in scores.scores if s.suite == "recon"][0]
        self.assertGreater(recon.values["psnr"], 0)
        self.assertTrue(os.path.exists(os.path.join(shapes.output_dir, "scores.json")))
        metrics = self.jobs.GetMetrics(job_service_pb2.GetMetricsRequest(
            job_id=job_id, names=["eval/shapes_eval/overall"], rank=-1), timeout=10)
        self.assertEqual([p.step for p in metrics.points], [2, 4])
        # The before/after report (first vs last scored step) beside the steps' folders.
        report = os.path.join(os.path.dirname(shapes.output_dir), "report.md")
        with open(report) as f:
            self.assertIn("step 2 → step 4", f.read())
        series, _ = self.scrape(self.cluster.url("e2"))
        self.assertGreaterEqual(series['reca_evaluator_tasks_total{evaluator="e2",outcome="scored"}'], 2)
        self.assertIn(f'reca_eval_score{{job_id="{job_id}",suite="shapes_edit",metric="categories.move"}}',
                      series)
        self.assertEqual(series['reca_evaluator_busy{evaluator="e2"}'], 0)
        self.assertIn(f'reca_eval_score{{job_id="{job_id}",suite="recon",metric="psnr"}}', series)

    def test_5a_sweep_2x2_grid_gates_on_regressions(self):
        """`recactl sweep run --wait` (issue 10): a 2x2 grid of tiny jobs, 2 at a time, and
        its regression gate against a baseline report: one that the run crosses (exit 1,
        naming the points) and one it passes (exit 0)."""
        env = dict(os.environ, RECA_COORDINATOR=self.cluster.address, RECA_PY_STUBS=PY_STUBS,
                   RECA_TOKEN_FILE=self.cluster.token_file["user"])
        run = lambda *args: subprocess.run(["/usr/bin/python3", RECACTL_PY, "sweep", *args],
                                           env=env, capture_output=True, text=True,
                                           timeout=4 * JOB_TIMEOUT_S)
        folder = os.path.join(self.root, "sweep")
        os.makedirs(folder)
        sweep_file = os.path.join(folder, "grid.yaml")
        with open(sweep_file, "w") as f:
            json.dump({"name": "it-grid", "spec": tiny_spec("base", steps=2, every=0),
                       "axes": [{"field": "optimizer.lr", "values": [1e-4, 5e-4]},
                                {"field": "batch_per_rank", "values": [1, 2]}],
                       "concurrency": 2, "metrics": ["loss", "samples_per_s", "duration_s"],
                       "regression": {"rules": [{"metric": "loss", "max_increase": 0.10},
                                                {"metric": "samples_per_s", "max_decrease": 0.9}]}},
                      f)
        # Baselines by point: one far better than any tiny run (the gate must fail), one
        # far worse (it must pass).
        points = [{"optimizer.lr": lr, "batch_per_rank": b}
                  for lr in ("0.0001", "0.0005") for b in ("1", "2")]
        for name, loss in (("better", 1e-3), ("worse", 1e3)):
            with open(os.path.join(folder, f"{name}.json"), "w") as f:
                json.dump({"points": [{"values": v, "metrics": {"loss": loss, "samples_per_s": 1e-3}}
                                      for v in points]}, f)

        failing = run("run", sweep_file, "--wait", "--baseline", os.path.join(folder, "better.json"),
                      "--report-dir", os.path.join(folder, "failing"))
        self.assertEqual(failing.returncode, 1, failing.stdout + failing.stderr + self.diagnostics())
        sweep_id = failing.stdout.splitlines()[0]
        self.assertTrue(sweep_id.startswith("sweep-"), failing.stdout)
        for i in range(4):
            self.assertIn(f"recactl: point {i}: loss ", failing.stderr)
        self.assertIn("**FAIL**: 4 problem(s)", failing.stdout)
        with open(os.path.join(folder, "failing", "report.json")) as f:
            report = json.load(f)
        self.assertFalse(report["passed"])
        self.assertEqual(report["sweep"]["state"], "SUCCEEDED")
        self.assertEqual([p["values"] for p in report["points"]], points)
        self.assertEqual([c["status"] for c in report["checks"] if c["metric"] == "loss"],
                         ["FAIL"] * 4)
        for p in report["points"]:
            self.assertEqual(p["state"], "SUCCEEDED", p)
            self.assertGreater(p["metrics"]["loss"], 0)
            self.assertGreater(p["metrics"]["samples_per_s"], 0)

        passing = run("report", sweep_id, "--baseline", os.path.join(folder, "worse.json"),
                      "--json")
        self.assertEqual(passing.returncode, 0, passing.stdout + passing.stderr)
        self.assertTrue(json.loads(passing.stdout)["passed"])
        self.assertEqual({c["status"] for c in json.loads(passing.stdout)["checks"]}, {"pass"})

        # The points ran as ordinary jobs of the user, never more than 2 at once, each with
        # its point's values.
        sweep = self.jobs.GetSweep(job_service_pb2.GetSweepRequest(sweep_id=sweep_id), timeout=10).sweep
        spans = []
        for p in sweep.points:
            job = self.get(p.job_id).job
            self.assertEqual(job.spec.batch_per_rank, int(p.values[1].value))
            self.assertAlmostEqual(job.spec.optimizer.lr, float(p.values[0].value))
            spans += [(job.start_unix_micros, 1), (job.end_unix_micros, -1)]
        running = peak = 0
        for _, delta in sorted(spans):
            running += delta
            peak = max(peak, running)
        self.assertLessEqual(peak, 2)
        self.assertIn(sweep_id, run("list").stdout)
        # A bad point refuses the whole sweep, naming the point and the field: checked by
        # recactl (types), and by the coordinator (values) before anything runs.
        for value, code, message in (("abc", 2, "expected an integer"),
                                     ("-1", 1, "must be in [1, 100000000]")):
            bad = run("run", sweep_file, "--set", f"steps={value}")
            self.assertEqual(bad.returncode, code, bad.stderr)
            self.assertIn(f"points[0] (optimizer.lr=0.0001, batch_per_rank=1): spec.steps: {message}",
                          bad.stderr)
        self.assertEqual(run("list").stdout.count("it-grid"), 1)

    def test_6_every_dashboard_expression_has_data_in_prometheus(self):
        """The shipped dashboards against a real Prometheus that scraped this whole test run:
        every panel's PromQL returns data (for some job that ran, where it is per job)."""
        sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "grafana"))
        import generate
        time.sleep(3)  # a last scrape of the final state
        jobs = [j.id for j in self.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=10).jobs]
        api = f"http://{self.cluster.prometheus_address}/api/v1/query_range"
        start, end = self.started, time.time()
        missing = []
        for name, dashboard in generate.DASHBOARDS.items():
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    expr = target["expr"]
                    found = False
                    for job_id in (jobs if "$job_id" in expr else [None]):
                        query = urllib.parse.urlencode({
                            "query": expr.replace("$job_id", job_id or ""),
                            "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"})
                        reply = json.load(urllib.request.urlopen(f"{api}?{query}", timeout=30))
                        self.assertEqual(reply["status"], "success", (expr, reply))
                        if reply["data"]["result"]:
                            found = True
                            break
                    if not found:
                        missing.append(f"{name}: {panel['title']}: {expr}")
        self.assertEqual(missing, [], "panels without data:\n" + "\n".join(missing)
                         + "\n" + self.cluster.log("prometheus"))
        # The shipped alert rules loaded and evaluated without errors.
        rules = json.load(urllib.request.urlopen(
            f"http://{self.cluster.prometheus_address}/api/v1/rules", timeout=10))
        loaded = [r for g in rules["data"]["groups"] for r in g["rules"]]
        self.assertGreaterEqual(len(loaded), 6)
        self.assertEqual([r["name"] for r in loaded if r.get("health") == "err"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
