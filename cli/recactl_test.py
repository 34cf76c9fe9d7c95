#!/usr/bin/python3
"""recactl against an in-process fake JobService (a real gRPC server on 127.0.0.1:0).

    RECA_PY_STUBS=build/python /usr/bin/python3 cli/recactl_test.py [-v] [TestCase.test_x]

Also `local up/status/down` with stand-in binaries: a reca-coordinator that serves the fake
(this file with --fake-coordinator) and a reca-worker that sleeps. Every test is bounded.
"""

import contextlib
import io
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import recactl  # noqa: E402
import local_cluster  # noqa: E402
import reca_client  # noqa: E402
import sweep as sweeplib  # noqa: E402

recactl._import_stubs()
import grpc  # noqa: E402
from reca.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc  # noqa: E402

PYTHON = "/usr/bin/python3"
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")
NOW_US = int(time.time() * 1e6)

# Like examples/real_data.yaml.
REAL_DATA_YAML = """\
name: reca-real-data
steps: 2000
batch_per_rank: 32
model: {family: mar, preset: medium, init: runs/pretrain-medium/model.safetensors}
data:
  sources:
    - name: laion-recon
      type: webdataset
      task: recon
      repeat: 2
      shards: "data/laion/shard-{0000..0127}.tar"   # key.jpg|png + key.txt|json
    - name: coco-captions
      type: image_folder
      task: i2t
      repeat: 2
      manifest: data/coco/train.jsonl               # {"path": ..., "caption": ...}
  resize: auto          # the family's policy (mar: center_crop)
  prefetch_steps: 4
  max_bad_samples: 1000
  max_bad_fraction: 0.01
optimizer: {lr: 1.0e-4, ema_decay: 0.9999}
checkpoint: {every: 250, keep: 3}
"""


def make_job(job_id="j-1", state=job_pb2.RUNNING, step=0, total=100, ranks=1, **kw):
    job = job_pb2.Job(id=job_id, name=kw.pop("name", "demo"), state=state, total_steps=total,
                      resources=job_pb2.Resources(ranks=ranks),
                      submit_unix_micros=int(time.time() * 1e6) - 90_000_000,
                      **kw)
    if not job.latest_checkpoint_path:
        job.latest_checkpoint_step = -1
    for r in range(ranks if step else 0):
        job.progress.add(rank=r, step=step, loss=0.5 + r * 0.1, samples_per_second=100.0,
                         step_seconds=0.25, update_unix_micros=NOW_US)
    return job


def event(seq, state, message):
    return job_pb2.JobEvent(job_id="j-1", seq=seq, unix_micros=NOW_US, state=state,
                            message=message)


class FakeJobService(job_service_pb2_grpc.JobServiceServicer):
    """Records requests; answers from `jobs`; `watch_calls` scripts WatchJob: one list per
    call of responses, where the string "UNAVAILABLE" aborts the stream there."""

    def __init__(self):
        self.lock = threading.Lock()
        self.submits = []
        self.unavailable_submits = 0
        self.jobs = {}
        self.events = {}
        self.watch_calls = []
        self.watch_requests = 0
        self.metrics = []
        self.scores = []
        self.pending = 0
        self.checkpoints = []
        self.list_requests = []
        self.metric_requests = []
        self.max_page_size = 1000
        self.authorization = []  # the "authorization" metadata of each ListJobs/WatchJob call

    def SubmitJob(self, request, context):
        with self.lock:
            self.submits.append(request)
            if self.unavailable_submits > 0:
                self.unavailable_submits -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "coordinator starting")
            created = all(r.request_id != request.request_id for r in self.submits[:-1])
        job = make_job("j-%d" % len(self.submits), state=job_pb2.QUEUED, name=request.spec.name,
                       request_id=request.request_id)
        return job_service_pb2.SubmitJobResponse(job=job, created=created)

    def _job(self, job_id, context):
        if job_id not in self.jobs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no job '{job_id}'")
        return self.jobs[job_id]

    def GetJob(self, request, context):
        job = self._job(request.job_id, context)
        events = self.events.get(request.job_id, []) if request.include_events else []
        return job_service_pb2.GetJobResponse(job=job, events=events)

    def _note_authorization(self, context):
        with self.lock:
            self.authorization.append(dict(context.invocation_metadata()).get("authorization"))

    def ListJobs(self, request, context):
        self._note_authorization(context)
        self.list_requests.append(request)
        jobs = [j for j in self.jobs.values() if not request.states or j.state in request.states]
        jobs = [j for j in jobs if j.name.startswith(request.name_prefix)]
        start = int(request.page_token or 0)
        size = min(request.page_size or 100, self.max_page_size)
        end = start + size
        return job_service_pb2.ListJobsResponse(
            jobs=jobs[start:end], next_page_token=str(end) if end < len(jobs) else "")

    def CancelJob(self, request, context):
        job = self._job(request.job_id, context)
        job.cancel_requested = True
        return job_service_pb2.CancelJobResponse(job=job)

    def WatchJob(self, request, context):
        self._note_authorization(context)
        self._job(request.job_id, context)
        with self.lock:
            call = self.watch_calls[min(self.watch_requests, len(self.watch_calls) - 1)]
            self.watch_requests += 1
        for item in call:
            if item == "UNAVAILABLE":
                context.abort(grpc.StatusCode.UNAVAILABLE, "coordinator restarting")
            yield item

    def GetMetrics(self, request, context):
        self.metric_requests.append(request)
        self._job(request.job_id, context)
        return job_service_pb2.GetMetricsResponse(points=[
            p for p in self.metrics
            if (not request.names or p.name in request.names)
            and (request.rank < 0 or p.rank == request.rank)])

    def ListCheckpoints(self, request, context):
        self._job(request.job_id, context)
        return job_service_pb2.ListCheckpointsResponse(checkpoints=self.checkpoints)

    def ListEvaluations(self, request, context):
        self._job(request.job_id, context)
        return job_service_pb2.ListEvaluationsResponse(scores=self.scores, pending=self.pending)


def serve(fake, address="127.0.0.1:0"):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    job_service_pb2_grpc.add_JobServiceServicer_to_server(fake, server)
    port = server.add_insecure_port(address)
    server.start()
    return server, port


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


class RecactlTestBase(unittest.TestCase):
    def setUp(self):
        self.fake = FakeJobService()
        self.server, self.port = serve(self.fake)
        self.address = f"127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.saved = (recactl.RETRY_BACKOFF_S, recactl.PLAIN_PROGRESS_EVERY_S,
                      recactl.WATCH_RECONNECT_S)
        recactl.RETRY_BACKOFF_S = 0.05
        recactl.PLAIN_PROGRESS_EVERY_S = 0.0

    def tearDown(self):
        self.server.stop(None)
        shutil.rmtree(self.tmp, ignore_errors=True)
        (recactl.RETRY_BACKOFF_S, recactl.PLAIN_PROGRESS_EVERY_S,
         recactl.WATCH_RECONNECT_S) = self.saved

    def run_cli(self, *argv, coordinator=True):
        out, err = io.StringIO(), io.StringIO()
        args = list(argv) + (["--coordinator", self.address, "--timeout", "10"]
                             if coordinator else [])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = recactl.main(args)
            except SystemExit as e:  # argparse
                code = e.code
        return Result(code, out.getvalue(), err.getvalue())

    def spec(self):
        return self.write("job.yaml", "name: demo\nsteps: 10\ndata: {sources: [{task: recon}]}\n")

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class SubmitTest(RecactlTestBase):
    def test_sends_the_parsed_spec_and_prints_only_the_id(self):
        r = self.run_cli("submit", self.write("real_data.yaml", REAL_DATA_YAML), "--ranks", "2",
                         "--threads", "3", "--priority", "5", "--set", "optimizer.lr=1e-4",
                         "--set", "data.sources[1].repeat=7", "--set", "seed=42",
                         "--set", "name=custom", "--request-id", "req-1")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.out, "j-1\n")
        req = self.fake.submits[0]
        self.assertEqual(req.request_id, "req-1")
        self.assertEqual(req.resources.ranks, 2)
        self.assertEqual(req.resources.threads_per_rank, 3)
        self.assertEqual(req.resources.accelerator, job_pb2.CPU)
        self.assertEqual(req.priority, 5)
        spec = req.spec
        self.assertEqual(spec.name, "custom")
        self.assertEqual(spec.seed, 42)
        self.assertEqual(spec.steps, 2000)
        self.assertEqual(spec.model.preset, "medium")
        self.assertEqual(spec.model.init, "runs/pretrain-medium/model.safetensors")
        self.assertAlmostEqual(spec.optimizer.lr, 1e-4)  # `1e-4` is a float (YAML 1.2)
        self.assertAlmostEqual(spec.optimizer.ema_decay, 0.9999)
        self.assertEqual(len(spec.data.sources), 2)
        s0, s1 = spec.data.sources
        self.assertEqual((s0.name, s0.type, s0.task, s0.repeat),
                         ("laion-recon", "webdataset", "recon", 2))
        self.assertEqual(list(s0.shards), ["data/laion/shard-{0000..0127}.tar"])  # a list of one
        self.assertEqual((s1.type, s1.manifest, s1.repeat),
                         ("image_folder", "data/coco/train.jsonl", 7))
        self.assertEqual(spec.data.max_bad_samples, 1000)
        self.assertEqual(spec.checkpoint.every, 250)
        self.assertFalse(spec.HasField("samples"))
        self.assertFalse(spec.HasField("batch_per_rank") and spec.batch_per_rank != 32)

    def test_the_examples_parse(self):
        examples = [os.path.join(EXAMPLES, n)
                    for n in ("pretrain.yaml", "reca.yaml", "real_data.yaml")
                    if os.path.exists(os.path.join(EXAMPLES, n))]
        if not examples:
            self.skipTest(f"no examples in {EXAMPLES}")
        for path in examples:
            recactl.load_spec(path)

    def test_unset_fields_stay_unset_and_gpu(self):
        path = self.write("small.yaml",
                          "steps: 5\nmodel: {init: ~}\nschedule:\n  decay: constant\n")
        r = self.run_cli("submit", path, "--gpu",
                         "--set", "data.sources=[{type: shapes, task: i2t}]")
        self.assertEqual(r.code, 0, r)
        req = self.fake.submits[0]
        self.assertEqual(req.resources.accelerator, job_pb2.GPU)
        self.assertEqual(req.spec.steps, 5)
        self.assertFalse(req.spec.HasField("name"))
        self.assertFalse(req.spec.model.HasField("init"))
        self.assertEqual(req.spec.schedule.decay, "constant")
        self.assertEqual(req.spec.data.sources[0].task, "i2t")
        self.assertTrue(req.request_id)  # a generated UUID

    def test_json_spec(self):
        path = self.write("job.json", json.dumps({"name": "j", "optimizer": {"lr": 0.01},
                                                  "data": {"sources": [{"task": "t2i"}]}}))
        r = self.run_cli("submit", path)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(self.fake.submits[0].spec.data.sources[0].task, "t2i")

    def test_retries_unavailable_with_the_same_request_id(self):
        self.fake.unavailable_submits = 2
        r = self.run_cli("submit", self.spec())
        self.assertEqual(r.code, 0, r)
        self.assertEqual(len(self.fake.submits), 3)
        ids = {s.request_id for s in self.fake.submits}
        self.assertEqual(len(ids), 1, ids)
        self.assertEqual(r.out, "j-3\n")
        self.assertIn("UNAVAILABLE", r.err)

    def test_gives_up_after_bounded_retries(self):
        self.fake.unavailable_submits = 100
        r = self.run_cli("submit", self.spec())
        self.assertEqual(r.code, 1, r)
        self.assertEqual(len(self.fake.submits), recactl.SUBMIT_ATTEMPTS)
        self.assertIn("recactl: UNAVAILABLE: coordinator starting", r.err)
        self.assertEqual(r.out, "")

    def test_a_repeated_request_says_so(self):
        self.run_cli("submit", self.spec(), "--request-id", "x")
        r = self.run_cli("submit", self.spec(), "--request-id", "x")
        self.assertEqual(r.code, 0, r)
        self.assertIn("already submitted", r.err)

    def test_unknown_field_exits_2_naming_field_and_file(self):
        path = self.write("bad.yaml", "steps: 10\noptimizer:\n  lrr: 0.1\n")
        r = self.run_cli("submit", path)
        self.assertEqual(r.code, 2, r)
        self.assertIn(path, r.err)
        self.assertIn("spec.optimizer.lrr: unknown field", r.err)
        self.assertIn("lr", r.err)
        self.assertEqual(self.fake.submits, [])
        self.assertNotIn("Traceback", r.err)

    def test_unknown_field_in_a_source(self):
        path = self.write("bad.yaml", "data:\n  sources:\n    - {type: shapes, tsk: recon}\n")
        r = self.run_cli("submit", path)
        self.assertEqual(r.code, 2, r)
        self.assertIn("spec.data.sources[0].tsk: unknown field", r.err)

    def test_spec_errors_exit_2(self):
        cases = {
            "steps: ten\n": "spec.steps: expected an integer",
            "steps: 1\nsteps: 2\n": ":2: duplicate key 'steps'",
            "model: [1, 2]\n": "spec.model: expected a mapping",
            "steps: [1\n": "bad.yaml:",
            "- 1\n": "a job spec is a mapping",
        }
        for text, message in cases.items():
            r = self.run_cli("submit", self.write("bad.yaml", text))
            self.assertEqual(r.code, 2, (text, r))
            self.assertIn(message, r.err, (text, r))
        r = self.run_cli("submit", os.path.join(self.tmp, "missing.yaml"))
        self.assertEqual(r.code, 2, r)
        self.assertIn("missing.yaml", r.err)
        r = self.run_cli("submit", self.spec(), "--set", "steps")
        self.assertEqual(r.code, 2, r)
        self.assertIn("KEY=VALUE", r.err)
        self.assertEqual(self.fake.submits, [])

    def test_submit_wait_follows_the_job(self):
        queued = make_job("j-1", state=job_pb2.QUEUED)
        done = make_job("j-1", state=job_pb2.SUCCEEDED, step=100)
        self.fake.jobs["j-1"] = queued
        self.fake.watch_calls = [[job_service_pb2.WatchJobResponse(job=queued),
                                  job_service_pb2.WatchJobResponse(job=done)]]
        r = self.run_cli("submit", self.spec(), "--wait")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.out, "j-1\n")  # the watch goes to stderr
        self.assertIn("SUCCEEDED", r.err)


class ReadCommandsTest(RecactlTestBase):
    def setUp(self):
        super().setUp()
        job = make_job("j-1", state=job_pb2.RUNNING, step=40, ranks=2, output_dir="/runs/j-1",
                       latest_checkpoint_step=25, latest_checkpoint_path="/runs/j-1/ckpt/step-25")
        job.attempt.epoch = 7
        job.attempt.master_addr, job.attempt.master_port = "127.0.0.1", 29500
        job.attempt.placements.add(rank=0, worker_id="w1")
        job.attempt.placements.add(rank=1, worker_id="w2")
        self.fake.jobs["j-1"] = job
        self.fake.jobs["j-2"] = make_job("j-2", state=job_pb2.QUEUED, name="other",
                                         queue_reason="needs 4 CPU slots, 2 free")
        self.fake.jobs["j-3"] = make_job("j-3", state=job_pb2.FAILED, step=3,
                                         failure="rank 1 on w2: error: boom")
        self.fake.events["j-1"] = [event(1, job_pb2.QUEUED, "submitted"),
                                   event(2, job_pb2.SCHEDULED,
                                         "scheduled on w1 (rank 0), w2 (rank 1), epoch 7"),
                                   event(3, job_pb2.RUNNING, "all ranks started")]

    def test_get(self):
        r = self.run_cli("get", "j-1")
        self.assertEqual(r.code, 0, r)
        for text in ["RUNNING", "2 ranks x CPU", "rank 0 -> w1, rank 1 -> w2", "epoch 7",
                     "step 40/100 (40.0%)", "loss 0.5500", "200.0 samples/s",
                     "step 25: /runs/j-1/ckpt/step-25", "/runs/j-1", "scheduled on w1",
                     "all ranks started"]:
            self.assertIn(text, r.out)
        self.assertRegex(r.out, r"\n\s+1\s+40\s+0\.6000\s+100\.0\s+250\.0")  # rank 1's row
        r = self.run_cli("get", "j-2")
        self.assertIn("needs 4 CPU slots, 2 free", r.out)
        r = self.run_cli("get", "j-3")
        self.assertIn("rank 1 on w2: error: boom", r.out)

    def test_get_json(self):
        r = self.run_cli("get", "j-1", "--json")
        self.assertEqual(r.code, 0, r)
        doc = json.loads(r.out)
        self.assertEqual(doc["job"]["state"], "RUNNING")
        self.assertEqual(len(doc["events"]), 3)

    def test_not_found(self):
        r = self.run_cli("get", "j-404")
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.err, "recactl: NOT_FOUND: no job 'j-404'\n")
        r = self.run_cli("watch", "nope")
        self.assertEqual(r.code, 1, r)
        self.assertIn("NOT_FOUND", r.err)

    def test_list_pages_through(self):
        self.fake.max_page_size = 3
        for i in range(4, 8):
            self.fake.jobs[f"j-{i}"] = make_job(f"j-{i}", state=job_pb2.SUCCEEDED, step=100)
        r = self.run_cli("list")
        self.assertEqual(r.code, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "NAME", "STATE", "RANKS", "STEP", "LOSS", "AGE"])
        self.assertEqual([l.split()[0] for l in lines[1:]], [f"j-{i}" for i in range(1, 8)])
        self.assertEqual([q.page_token for q in self.fake.list_requests], ["", "3", "6"])
        self.assertEqual(lines[1].split(),
                         ["j-1", "demo", "RUNNING", "2", "40/100", "0.5500", "1m30s"])
        self.assertEqual(lines[2].split()[4:6], ["-/100", "-"])
        r = self.run_cli("list", "--limit", "2", "-q")
        self.assertEqual(r.out, "j-1\nj-2\n")
        self.assertEqual(self.fake.list_requests[-1].page_size, 2)

    def test_list_filters(self):
        r = self.run_cli("list", "--state", "running,failed", "--name-prefix", "de")
        self.assertEqual(r.code, 0, r)
        req = self.fake.list_requests[-1]
        self.assertEqual(list(req.states), [job_pb2.RUNNING, job_pb2.FAILED])
        self.assertEqual(req.name_prefix, "de")
        self.assertEqual([l.split()[0] for l in r.out.splitlines()[1:]], ["j-1", "j-3"])
        r = self.run_cli("list", "--state", "DONE")
        self.assertEqual(r.code, 2, r)
        self.assertIn("unknown state", r.err)

    def test_cancel(self):
        r = self.run_cli("cancel", "j-1")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.out, "j-1 RUNNING: cancel requested, its ranks are stopping\n")

    def add_metrics(self):
        for step in (1, 2):
            for rank in (0, 1):
                self.fake.metrics.append(job_pb2.MetricPoint(name="loss", rank=rank, step=step,
                                                             value=1.0 / (step + rank)))
                self.fake.metrics.append(job_pb2.MetricPoint(name="samples_per_s", rank=rank,
                                                             step=step, value=100.0 + step))

    def test_metrics_table(self):
        self.add_metrics()
        r = self.run_cli("metrics", "j-1")
        self.assertEqual(r.code, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0].split(), ["STEP", "RANK", "NAME", "VALUE"])
        self.assertEqual(lines[1].split(), ["1", "0", "loss", "1"])
        self.assertEqual(lines[4].split(), ["1", "1", "samples_per_s", "101"])
        self.assertEqual(len(lines), 9)
        req = self.fake.metric_requests[-1]
        self.assertEqual(req.rank, -1)  # all ranks, not rank 0

    def test_metrics_filters_and_csv(self):
        self.add_metrics()
        r = self.run_cli("metrics", "j-1", "--name", "loss", "--rank", "1", "--from", "2",
                         "--to", "9", "--csv")
        self.assertEqual(r.code, 0, r)
        req = self.fake.metric_requests[-1]
        self.assertEqual((list(req.names), req.rank, req.min_step, req.max_step),
                         (["loss"], 1, 2, 9))
        self.assertEqual(r.out.splitlines()[0], "step,rank,name,value,unix_micros")
        self.assertEqual(r.out.splitlines()[1], "1,1,loss,0.5,0")

    def test_metrics_wide(self):
        self.add_metrics()
        r = self.run_cli("metrics", "j-1", "--wide", "--csv")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.out.splitlines(), [
            "step,rank,loss,samples_per_s", "1,0,1.0,101.0", "1,1,0.5,101.0",
            "2,0,0.5,102.0", "2,1,0.3333333333333333,102.0"])
        r = self.run_cli("metrics", "j-1", "--wide")
        self.assertEqual(r.out.splitlines()[0].split(), ["STEP", "RANK", "loss", "samples_per_s"])
        self.assertEqual(r.out.splitlines()[4].split(), ["2", "1", "0.333333", "102"])

    def test_eval_shows_scores_and_the_change_from_the_base(self):
        r = self.run_cli("eval", "j-1")
        self.assertEqual(r.code, 0, r)
        self.assertIn("no scores yet", r.err)
        tags = {"overall": 0.2, "position": 0.1, "color_attr": 0.05}
        self.fake.scores.extend([
            job_pb2.EvalScore(job_id="j-1", step=0, suite="shapes_eval", values=tags),
            job_pb2.EvalScore(job_id="j-1", step=0, suite="recon", values={"psnr": 15.0}),
            job_pb2.EvalScore(job_id="j-1", step=400, suite="shapes_eval",
                              values={"overall": 0.35, "position": 0.3, "color_attr": 0.1,
                                      "images": 1200}),
            job_pb2.EvalScore(job_id="j-1", step=400, suite="recon", error="reca-eval: boom")])
        self.fake.pending = 1
        r = self.run_cli("eval", "j-1")
        self.assertEqual(r.code, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "recon:")
        self.assertIn("error: reca-eval: boom", r.out)
        i = lines.index("shapes_eval:")
        self.assertEqual(lines[i + 1].split()[:4], ["STEP", "OVERALL", "POSITION", "COLOR_ATTR"])
        self.assertEqual(lines[i + 2].split()[:4], ["base", "0.200", "0.100", "0.050"])
        self.assertEqual(lines[i + 3].split()[:7],
                         ["400", "0.350", "(+0.150)", "0.300", "(+0.200)", "0.100", "(+0.050)"])
        self.assertNotIn("IMAGES", r.out)
        self.assertIn("1 checkpoint(s) still waiting", r.out)
        r = self.run_cli("eval", "j-1", "--wait", "--wait-timeout", "1")
        self.assertEqual(r.code, 1, r)
        self.assertIn("DEADLINE_EXCEEDED: 1 checkpoint(s) of j-1 still unscored", r.err)
        self.fake.pending = 0  # all scored, one with an error: --wait fails
        r = self.run_cli("eval", "j-1", "--wait")
        self.assertEqual(r.code, 1, r)
        self.assertIn("error: reca-eval: boom", r.out)
        self.assertIn("1 evaluation(s) of j-1 failed", r.err)
        self.fake.pending = 1
        r = self.run_cli("eval", "j-1", "--json")
        doc = json.loads(r.out)
        self.assertEqual(doc["pending"], 1)
        self.assertEqual(doc["scores"][3]["values"]["position"], 0.3)  # by step, then suite
        self.assertNotIn("report:", self.run_cli("eval", "j-1").out)
        # The evaluator's before/after report, when the eval directory is visible here.
        with tempfile.TemporaryDirectory() as eval_dir:
            self.fake.scores[2].output_dir = os.path.join(eval_dir, "step-00000400")
            with open(os.path.join(eval_dir, "report.md"), "w") as f:
                f.write("# report\n")
            r = self.run_cli("eval", "j-1")
            self.assertIn(f"report: {eval_dir}/report.md", r.out)

    def test_checkpoints(self):
        r = self.run_cli("checkpoints", "j-1", "--latest", "--path-only")
        self.assertEqual(r.code, 1, r)
        self.assertIn("no committed checkpoint", r.err)
        for step in (50, 100):
            self.fake.checkpoints.append(job_pb2.Checkpoint(
                job_id="j-1", step=step, path=f"/runs/j-1/checkpoints/step-{step:08d}",
                bytes=20800000, epoch=3, commit_unix_micros=NOW_US))
        r = self.run_cli("checkpoints", "j-1", "--latest", "--path-only")
        self.assertEqual((r.code, r.out), (0, "/runs/j-1/checkpoints/step-00000100\n"), r)
        r = self.run_cli("checkpoints", "j-1")
        lines = r.out.splitlines()
        self.assertEqual(lines[0].split(), ["STEP", "PATH", "SIZE", "BYTES", "EPOCH", "COMMITTED"])
        self.assertEqual(lines[1].split()[:5], ["50", "/runs/j-1/checkpoints/step-00000050",
                                                "20.8", "MB", "20800000"])
        self.assertEqual(len(lines), 3)


class WatchTest(RecactlTestBase):
    def responses(self, final_state, failure=""):
        W = job_service_pb2.WatchJobResponse
        return [
            W(job=make_job(state=job_pb2.QUEUED), events=[event(1, job_pb2.QUEUED, "submitted")]),
            W(job=make_job(state=job_pb2.RUNNING, step=10),
              events=[event(2, job_pb2.SCHEDULED, "scheduled on w1 (rank 0), epoch 1"),
                      event(3, job_pb2.RUNNING, "rank 0 started")]),
            W(job=make_job(state=job_pb2.RUNNING, step=50)),
            W(job=make_job(state=final_state, step=60, failure=failure),
              events=[event(4, final_state, failure or "all ranks exited 0")]),
        ]

    def test_succeeded_exits_0(self):
        self.fake.jobs["j-1"] = make_job()
        self.fake.watch_calls = [self.responses(job_pb2.SUCCEEDED)]
        r = self.run_cli("watch", "j-1")
        self.assertEqual(r.code, 0, r)
        lines = r.out.splitlines()
        self.assertIn("submitted", lines[0])
        self.assertTrue(any("step 10/100" in l and "ETA 22s" in l for l in lines), r)
        self.assertTrue(any("step 50/100" in l and "loss 0.5000" in l for l in lines), r)
        self.assertIn("job j-1 SUCCEEDED", r.out)
        self.assertNotIn("\r", r.out)  # not a terminal: plain lines

    def test_failed_exits_1_and_prints_the_failure(self):
        self.fake.jobs["j-1"] = make_job()
        self.fake.watch_calls = [self.responses(job_pb2.FAILED, "rank 0 on w1: error: nan loss")]
        r = self.run_cli("watch", "j-1")
        self.assertEqual(r.code, 1, r)
        self.assertIn("job j-1 FAILED: rank 0 on w1: error: nan loss", r.out)

    def test_cancelled_exits_1(self):
        self.fake.jobs["j-1"] = make_job()
        self.fake.watch_calls = [self.responses(job_pb2.CANCELLED)]
        r = self.run_cli("watch", "j-1")
        self.assertEqual(r.code, 1, r)
        self.assertIn("job j-1 CANCELLED", r.out)

    def test_reconnects_after_unavailable_without_repeating_events(self):
        self.fake.jobs["j-1"] = make_job()
        full = self.responses(job_pb2.SUCCEEDED)
        # The coordinator dies after two messages; the new stream starts from scratch.
        self.fake.watch_calls = [full[:2] + ["UNAVAILABLE"], full]
        r = self.run_cli("watch", "j-1")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(self.fake.watch_requests, 2)
        self.assertEqual(r.out.count("rank 0 started"), 1, r)
        self.assertIn("reconnecting", r.out)

    def test_gives_up_reconnecting_after_a_bound(self):
        self.fake.jobs["j-1"] = make_job()
        self.fake.watch_calls = [["UNAVAILABLE"]]
        recactl.WATCH_RECONNECT_S = 0.5
        start = time.monotonic()
        r = self.run_cli("watch", "j-1")
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(r.code, 1, r)
        self.assertIn("gave up reconnecting", r.err)

    def test_terminal_progress_bar(self):
        self.fake.jobs["j-1"] = make_job()
        self.fake.watch_calls = [self.responses(job_pb2.SUCCEEDED)]
        client = recactl.Client(self.address, 10)

        class Tty(io.StringIO):
            def isatty(self):
                return True

        out = Tty()
        try:
            self.assertEqual(recactl.watch_job(client, "j-1", out), 0)
        finally:
            client.close()
        text = out.getvalue()
        self.assertIn("\r[############............]  50.0% step 50/100 | loss 0.5000", text)
        # Event lines clear the bar first, so each starts on a clean line.
        self.assertIn("\r\x1b[K", text)
        self.assertTrue(text.endswith("\n"))


class CliProcessTest(RecactlTestBase):
    """As a user runs it: a separate process, no tracebacks for expected errors."""

    def run_process(self, *argv, env=None):
        full_env = dict(os.environ, RECA_COORDINATOR=self.address, **(env or {}))
        p = subprocess.run([PYTHON, os.path.join(HERE, "recactl.py")] + list(argv),
                           capture_output=True, text=True, timeout=60, env=full_env,
                           cwd=self.tmp)
        return Result(p.returncode, p.stdout, p.stderr)

    def test_errors_without_tracebacks(self):
        r = self.run_process("get", "j-9")
        self.assertEqual(r.code, 1, r)
        self.assertIn("recactl: NOT_FOUND", r.err)
        r = self.run_process("submit", self.write("bad.yaml", "stepz: 3\n"))
        self.assertEqual(r.code, 2, r)
        self.assertIn("spec.stepz: unknown field", r.err)
        r = self.run_process("list", "--coordinator", "127.0.0.1:1", "--timeout", "2")
        self.assertEqual(r.code, 1, r)
        self.assertIn("recactl: UNAVAILABLE", r.err)
        for res in (r,):
            self.assertNotIn("Traceback", res.err)

    def test_coordinator_from_local_cluster_json(self):
        os.makedirs(os.path.join(self.tmp, "runs", "local"))
        with open(os.path.join(self.tmp, "runs", "local", "cluster.json"), "w") as f:
            json.dump({"address": self.address, "processes": []}, f)
        self.fake.jobs["j-1"] = make_job()
        env = dict(os.environ)
        env.pop("RECA_COORDINATOR", None)
        p = subprocess.run([PYTHON, os.path.join(HERE, "recactl.py"), "list", "-q"],
                           capture_output=True, text=True, timeout=60, env=env, cwd=self.tmp)
        self.assertEqual((p.returncode, p.stdout), (0, "j-1\n"), p.stderr)


FAKE_WORKER = """#!/bin/sh
echo "fake worker $*"
exec sleep 120
"""


class RecaClientTest(RecactlTestBase):
    """cli/reca_client.py: the one way Python connects (address, token, TLS)."""

    def setUp(self):
        super().setUp()
        self.env = {k: os.environ.pop(k) for k in
                    ("RECA_COORDINATOR", "RECA_TOKEN", "RECA_TOKEN_FILE", "RECA_TLS_CA")
                    if k in os.environ}
        self.cwd = os.getcwd()
        os.chdir(self.tmp)  # runs/local/ is relative to the working directory

    def tearDown(self):
        os.chdir(self.cwd)
        for k in ("RECA_COORDINATOR", "RECA_TOKEN", "RECA_TOKEN_FILE", "RECA_TLS_CA"):
            os.environ.pop(k, None)
        os.environ.update(self.env)
        super().tearDown()

    def local_cluster_at(self, address):
        """runs/local as `recactl local up` leaves it: cluster.json and the tokens."""
        os.makedirs("runs/local", exist_ok=True)
        with open("runs/local/cluster.json", "w") as f:
            json.dump({"address": address}, f)
        local_cluster.make_tokens("runs/local", "tester")
        with open(local_cluster.token_path("runs/local", "user")) as f:
            return f.read().strip()

    def test_every_call_carries_the_token_streams_too(self):
        token_file = self.write("t", "tok-1\n")
        self.fake.jobs["j-1"] = make_job(state=job_pb2.SUCCEEDED)
        self.fake.watch_calls = [[job_service_pb2.WatchJobResponse(job=self.fake.jobs["j-1"])]]
        with reca_client.connect(self.address, token_file=token_file) as conn:
            conn.jobs.ListJobs(conn.api.ListJobsRequest(), timeout=10)
            list(conn.jobs.WatchJob(conn.api.WatchJobRequest(job_id="j-1"), timeout=10))
            conn.reconnect()  # a fresh channel keeps the token
            conn.jobs.ListJobs(conn.api.ListJobsRequest(), timeout=10)
        self.assertEqual(self.fake.authorization, ["Bearer tok-1"] * 3)

    def test_settings_in_order_argument_environment_local_cluster(self):
        local_token = self.local_cluster_at(self.address)
        # Nothing given: the local cluster's address and its user token.
        with reca_client.connect() as conn:
            self.assertEqual(conn.address, self.address)
            conn.jobs.ListJobs(conn.api.ListJobsRequest(), timeout=10)
        os.environ["RECA_TOKEN_FILE"] = self.write("file", "from-file\n")
        with reca_client.connect() as conn:
            conn.jobs.ListJobs(conn.api.ListJobsRequest(), timeout=10)
        os.environ["RECA_TOKEN"] = "from-env"
        with reca_client.connect() as conn:
            conn.jobs.ListJobs(conn.api.ListJobsRequest(), timeout=10)
        with reca_client.connect(token_file=self.write("arg", "from-arg")) as conn:
            conn.jobs.ListJobs(conn.api.ListJobsRequest(), timeout=10)
        self.assertEqual(self.fake.authorization, ["Bearer " + local_token, "Bearer from-file",
                                                   "Bearer from-env", "Bearer from-arg"])
        # $RECA_COORDINATOR wins over the local cluster, whose token then is not sent.
        for k in ("RECA_TOKEN", "RECA_TOKEN_FILE"):
            del os.environ[k]
        os.environ["RECA_COORDINATOR"] = "127.0.0.1:1"
        self.assertEqual(reca_client.resolve_address(), "127.0.0.1:1")
        self.assertIsNone(reca_client.resolve_token("127.0.0.1:1"))
        self.assertEqual(reca_client.resolve_address("10.0.0.1:7070"), "10.0.0.1:7070")
        del os.environ["RECA_COORDINATOR"]
        shutil.rmtree("runs")
        self.assertEqual(reca_client.resolve_address(), reca_client.DEFAULT_COORDINATOR)

    def test_bad_settings_name_the_setting_and_the_file(self):
        def error(**kw):
            with self.assertRaises(reca_client.SettingsError) as e:
                reca_client.connect(self.address, **kw)
            return str(e.exception)
        self.assertEqual(error(token_file="/nonexistent/t"), "token_file: /nonexistent/t: no such file")
        self.assertIn("expected one token", error(token_file=self.write("two", "a b\n")))
        os.environ["RECA_TOKEN_FILE"] = "/nonexistent/u"
        self.assertEqual(error(), "$RECA_TOKEN_FILE: /nonexistent/u: no such file")
        del os.environ["RECA_TOKEN_FILE"]
        os.environ["RECA_TLS_CA"] = "/nonexistent/ca.pem"
        self.assertIn("$RECA_TLS_CA: /nonexistent/ca.pem:", error())
        del os.environ["RECA_TLS_CA"]
        self.assertIn("tls_ca: /nonexistent/x.pem:", error(tls_ca="/nonexistent/x.pem"))
        self.assertEqual(error(tls_cert="c.pem"), "tls_cert and tls_key go together")
        # recactl reports them as usage errors (exit 2), naming its own flag.
        r = self.run_cli("list", "--token-file", "/nonexistent/t")
        self.assertEqual(r.code, 2, r)
        self.assertIn("--token-file: /nonexistent/t: no such file", r.err)
        r = self.run_cli("list", "--tls-ca", "/nonexistent/ca.pem")
        self.assertEqual(r.code, 2, r)
        self.assertIn("--tls-ca: /nonexistent/ca.pem:", r.err)

    def test_recactl_sends_the_token_it_resolves(self):
        os.environ["RECA_TOKEN"] = "tok-2"
        self.assertEqual(self.run_cli("list").code, 0)
        self.assertEqual(self.fake.authorization, ["Bearer tok-2"])


class LocalClusterTest(unittest.TestCase):
    """`local up/status/down` with stand-ins for the binaries (the real ones: tests/)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        self.dir = os.path.join(self.tmp, "local")

    def tearDown(self):
        state = local_cluster.read_state(self.dir)
        if state:  # a failed test must not leak processes
            for p in state["processes"]:
                if local_cluster.alive(p):
                    os.kill(p["pid"], signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def script(self, name, text):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)

    def recactl(self, *argv, timeout=90):
        p = subprocess.run([PYTHON, os.path.join(HERE, "recactl.py"), "local"] + list(argv)
                           + ["--dir", self.dir, "--bin", self.bin],
                           capture_output=True, text=True, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr)

    def test_up_status_down(self):
        self.script("reca-coordinator", f"#!/bin/sh\nexec {PYTHON} {os.path.abspath(__file__)} "
                                        "--fake-coordinator \"$@\"\n")
        self.script("reca-worker", FAKE_WORKER)
        self.script("reca-evaluator", FAKE_WORKER)
        r = self.recactl("up", "--workers", "2", "--slots", "3")
        self.assertEqual(r.code, 0, r)
        state = local_cluster.read_state(self.dir)
        address = state["address"]
        self.assertIn(f"export RECA_COORDINATOR={address}\n", r.out)
        names = [p["name"] for p in state["processes"]]
        self.assertEqual(names, ["coordinator", "w1", "w2", "e1"])
        self.assertIn("--evaluator_id=e1", state["processes"][3]["argv"])
        self.assertIn(f"--eval_binary={self.bin}/reca-eval", state["processes"][3]["argv"])
        self.assertIn(f"--trainer={self.bin}/reca-train", state["processes"][1]["argv"])
        self.assertTrue(all(local_cluster.alive(p) for p in state["processes"]))
        coord = state["processes"][0]["argv"]
        self.assertEqual(coord[1:], [f"--listen={address}", f"--db={self.dir}/db",
                                     f"--runs_root={self.dir}/runs",
                                     f"--metrics_listen={state['metrics_address']}",
                                     f"--auth_tokens_file={self.dir}/tokens/hashes"])
        # Owner-only tokens, one per role, and the coordinator gets only their hashes.
        self.assertEqual(os.stat(os.path.join(self.dir, "tokens")).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(os.path.join(self.dir, "tokens", "hashes")).st_mode & 0o777, 0o600)
        for role in local_cluster.TOKEN_ROLES:
            path = local_cluster.token_path(self.dir, role)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, path)
            with open(path) as f:
                token = f.read().strip()
            with open(os.path.join(self.dir, "tokens", "hashes")) as f:
                hashes = f.read()
            self.assertNotIn(token, hashes)
            self.assertIn(hashlib.sha256(token.encode()).hexdigest(), hashes)
        w1, w2 = (p["argv"] for p in state["processes"][1:3])
        self.assertIn("--worker_id=w1", w1)
        self.assertIn(f"--token_file={self.dir}/tokens/worker.token", w1)
        self.assertIn("--cpu_slots=3", w1)
        self.assertIn(f"--coordinator={address}", w2)
        r1 = [a for a in w1 if a.startswith("--rendezvous_ports=")][0].split("=")[1]
        r2 = [a for a in w2 if a.startswith("--rendezvous_ports=")][0].split("=")[1]
        lo1, hi1 = map(int, r1.split("-"))
        lo2, hi2 = map(int, r2.split("-"))
        self.assertTrue(hi1 < lo2 or hi2 < lo1, (r1, r2))

        r = self.recactl("up")
        self.assertEqual(r.code, 1, r)
        self.assertIn("already runs", r.err)

        r = self.recactl("status")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.out.count("alive"), 4, r)
        self.assertIn("jobs: 1 (1 RUNNING)", r.out)
        self.assertIn(f"metrics: http://{state['metrics_address']}/metrics", r.out)
        self.assertEqual(r.out.count(" metrics http://127.0.0.1:"), 4, r.out)  # each daemon's

        pids = [p["pid"] for p in state["processes"]]
        r = self.recactl("down", "--grace", "5")
        self.assertEqual(r.code, 0, r)
        self.assertIn("stopped coordinator, w1, w2, e1", r.out)
        self.assertIsNone(local_cluster.read_state(self.dir))
        for p in state["processes"]:
            self.assertFalse(local_cluster.alive(p), p)
        for pid in pids:  # gone, or a zombie until this test's subprocess reaper
            self.assertIn((local_cluster._proc_stat(pid) or ("gone",))[0], ("gone", "Z"), pid)
        r = self.recactl("status")
        self.assertEqual(r.code, 1, r)
        r = self.recactl("down")
        self.assertEqual(r.code, 0, r)

    def test_up_fails_cleanly(self):
        r = self.recactl("up")
        self.assertEqual(r.code, 2, r)
        self.assertIn("reca-coordinator: no such executable", r.err)
        self.script("reca-coordinator", "#!/bin/sh\necho 'bad flag --listen' >&2\nexit 3\n")
        self.script("reca-worker", FAKE_WORKER)
        r = self.recactl("up")
        self.assertEqual(r.code, 1, r)
        self.assertIn("exited with status 3", r.err)
        self.assertIn("bad flag --listen", r.err)
        self.assertIsNone(local_cluster.read_state(self.dir))
        self.assertNotIn("Traceback", r.err)


def fake_coordinator_main(argv):
    """Stand-in reca-coordinator: serves FakeJobService on --listen until SIGTERM."""
    listen = [a.split("=", 1)[1] for a in argv if a.startswith("--listen=")][0]
    fake = FakeJobService()
    fake.jobs["j-1"] = make_job()
    server, _ = serve(fake, listen)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait(300)
    server.stop(1)


class SweepFileTest(unittest.TestCase):
    """cli/sweep.py: the sweep file, its expansion, and the report's regression gate."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.path = os.path.join(self.tmp, "sweep.yaml")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def parse(self, tree):
        return sweeplib.parse(tree, self.path, recactl._read_spec_file)

    def expand(self, tree):
        return sweeplib.expand(self.parse(tree), lambda t, f, v: recactl._set_path(t, f, v, f))

    def error(self, tree):
        with self.assertRaises(sweeplib.SweepError) as e:
            self.parse(tree)
        return str(e.exception)

    def test_bad_files_name_the_field(self):
        spec = {"steps": 2}
        grid = [{"field": "optimizer.lr", "values": [1e-4]}]
        self.assertIn("sweep.yaml.axis: unknown key", self.error({"spec": spec, "axis": grid}))
        self.assertIn("exactly one", self.error({"axes": grid}))
        self.assertIn("base: no such file", self.error({"base": "nope.yaml", "axes": grid}))
        self.assertIn("axes[0]: give `values:` (grid) or `random:`", self.error(
            {"spec": spec, "axes": [{"field": "seed", "values": [1], "random": {"choice": [1]}}]}))
        self.assertIn("axes[1].field: optimizer.lr is swept twice",
                      self.error({"spec": spec, "axes": grid * 2}))
        self.assertIn("axes[0].random.log: needs min > 0", self.error(
            {"spec": spec, "axes": [{"field": "optimizer.lr", "random": {"min": 0, "max": 1,
                                                                        "log": True}}]}))
        self.assertIn("samples: 3 draws need a random axis",
                      self.error({"spec": spec, "axes": grid, "samples": 3}))
        self.assertIn("concurrency: must be >= 1",
                      self.error({"spec": spec, "axes": grid, "concurrency": 0}))
        self.assertIn("regression.rules[0]: give max_increase, max_decrease, max or min",
                      self.error({"spec": spec, "axes": grid,
                                  "regression": {"rules": [{"metric": "loss"}]}}))
        self.assertIn("regression.rules[0].max_increase: must be >= 0", self.error(
            {"spec": spec, "axes": grid,
             "regression": {"rules": [{"metric": "loss", "max_increase": -1}]}}))

    def test_grid_crosses_and_random_draws_repeat_with_the_seed(self):
        with open(os.path.join(self.tmp, "base.yaml"), "w") as f:
            f.write("name: base\nsteps: 4\ndata:\n  sources:\n    - {type: shapes, task: recon}\n")
        tree = {"name": "s", "base": "base.yaml", "set": {"steps": 8}, "samples": 2, "seed": 7,
                "axes": [{"field": "optimizer.lr", "values": [1e-4, 1e-3]},
                         {"field": "data.sources[0].repeat", "values": [1, 2]},
                         {"field": "reca.cfg_drop", "random": {"min": 1e-3, "max": 1e-1, "log": True}},
                         {"field": "seed", "random": {"choice": [0, 1, 2]}}]}
        points = self.expand(tree)
        self.assertEqual(len(points), 2 * 2 * 2)
        self.assertEqual([v[:2] for v, _ in points][::2],
                         [[("optimizer.lr", a), ("data.sources[0].repeat", b)]
                          for a in (1e-4, 1e-3) for b in (1, 2)])
        for i, (values, spec) in enumerate(points):
            self.assertEqual(spec["name"], f"s-{i}")
            self.assertEqual(spec["steps"], 8)  # `set:` applies to every point
            self.assertEqual(spec["data"]["sources"][0]["type"], "shapes")
            self.assertEqual(spec["data"]["sources"][0]["repeat"], values[1][1])
            self.assertTrue(1e-3 <= spec["reca"]["cfg_drop"] <= 1e-1)
            self.assertIn(spec["seed"], (0, 1, 2))
        self.assertEqual(points, self.expand(tree))  # the same file, the same points
        tree["seed"] = 8
        self.assertNotEqual(points, self.expand(tree))

    def test_the_gate_fails_on_a_failed_point_or_a_crossed_threshold(self):
        rows = [{"index": i, "values": {"optimizer.lr": lr}, "job_id": f"job-{i}",
                 "state": state, "error": "", "metrics": {"loss": loss, "samples_per_s": sps}}
                for i, (lr, state, loss, sps) in enumerate(
                    [("0.001", "SUCCEEDED", 1.0, 100.0), ("0.01", "SUCCEEDED", 1.2, 50.0),
                     ("0.1", "FAILED", None, None)])]
        rules = sweeplib.parse_rules([{"metric": "loss", "max_increase": 0.1},
                                      {"metric": "samples_per_s", "max_decrease": 10,
                                       "absolute": True},
                                      {"metric": "loss", "max": 1.1}], "rules")
        baseline_path = os.path.join(self.tmp, "baseline.json")
        with open(baseline_path, "w") as f:
            json.dump({"points": [
                {"values": {"optimizer.lr": "0.001"}, "metrics": {"loss": 0.95, "samples_per_s": 105}},
                {"values": {"optimizer.lr": "0.01"}, "metrics": {"loss": 1.0, "samples_per_s": 70}}]}, f)
        checks = sweeplib.check(rows, rules, sweeplib.load_baseline(baseline_path))
        got = {(c["index"], c["metric"], c["rule"]): c["status"] for c in checks}
        self.assertEqual(got, {
            (0, "loss", "max_increase"): "pass",        # 1.0 <= 0.95 * 1.1
            (0, "samples_per_s", "max_decrease"): "pass",  # 100 >= 105 - 10
            (0, "loss", "max"): "pass",
            (1, "loss", "max_increase"): "FAIL",        # 1.2 > 1.0 * 1.1
            (1, "samples_per_s", "max_decrease"): "FAIL",  # 50 < 70 - 10
            (1, "loss", "max"): "FAIL",
            (2, "loss", "max_increase"): "skipped",     # no value: the point failed
            (2, "samples_per_s", "max_decrease"): "skipped",
            (2, "loss", "max"): "skipped"})
        info = {"id": "sweep-000001", "name": "s", "state": "FAILED", "seed": 0,
                "concurrency": 2, "axes": ["optimizer.lr"]}
        markdown, data, failures = sweeplib.report(info, rows, ["loss", "samples_per_s"], rules,
                                                   checks, baseline_path)
        self.assertFalse(data["passed"])
        self.assertEqual(len(failures), 4)
        self.assertEqual(failures[0], "point 2 (optimizer.lr=0.1) FAILED")
        self.assertIn("point 1: loss 1.2 crossed 1.1 (baseline 1, +10%)", failures)
        self.assertIn("| 1 | 0.01 | SUCCEEDED | job-1 | 1.2 | 50 |", markdown)
        self.assertIn("**FAIL**: 4 problem(s)", markdown)
        # Without a baseline only the bounds of their own are checked, and the report says so.
        checks = sweeplib.check(rows[:1], rules, None)
        self.assertEqual([c["rule"] for c in checks], ["max"])
        markdown, data, failures = sweeplib.report(info, rows[:1], ["loss"], rules, checks, None)
        self.assertTrue(data["passed"])
        self.assertIn("were not checked", markdown)

    def test_the_shipped_sweeps_load_and_the_baseline_covers_the_ci_sweep(self):
        bench = os.path.join(os.path.dirname(HERE), "bench", "sweeps")
        _, example = recactl.load_sweep(os.path.join(EXAMPLES, "sweep.yaml"))
        self.assertEqual(len(example.points), 4)
        plan, ci = recactl.load_sweep(os.path.join(bench, "ci.yaml"))
        self.assertEqual(len(ci.points), 4)
        self.assertEqual(plan.baseline, os.path.join(bench, "baseline.json"))
        baseline = sweeplib.load_baseline(plan.baseline)
        for p in ci.points:
            base = baseline.get(sweeplib._key({v.field: v.value for v in p.values}))
            self.assertIsNotNone(base, f"baseline.json lacks point {p.index}")
            self.assertEqual(base["state"], "SUCCEEDED")
            for rule in plan.rules:
                self.assertIsNotNone(base["metrics"].get(rule["metric"]),
                                     f"baseline.json: point {p.index} has no {rule['metric']}")

    def test_a_bad_baseline_is_named(self):
        path = os.path.join(self.tmp, "b.json")
        with open(path, "w") as f:
            f.write("{\"points\": 3}")
        with self.assertRaises(sweeplib.SweepError) as e:
            sweeplib.load_baseline(path)
        self.assertIn("not a sweep report", str(e.exception))
        with self.assertRaises(sweeplib.SweepError):
            sweeplib.load_baseline(os.path.join(self.tmp, "missing.json"))

    def test_final_values(self):
        P = job_pb2.MetricPoint
        points = [P(name="loss", rank=r, step=s, value=10.0 - s + r) for s in range(1, 11)
                  for r in (0, 1)]
        self.assertAlmostEqual(sweeplib.final_value(points, "loss"), (1.0 + 0.0) / 2)  # rank 0, last 2
        sps = [P(name="samples_per_s", rank=r, step=s, value=5.0) for s in (1, 2) for r in (0, 1)]
        self.assertEqual(sweeplib.final_value(sps, "samples_per_s"), 10.0)  # summed over ranks
        self.assertIsNone(sweeplib.final_value([], "loss"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fake-coordinator":
        fake_coordinator_main(sys.argv[2:])
    else:
        unittest.main()
