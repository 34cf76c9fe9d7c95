#!/usr/bin/python3
"""The front door as a new user meets it (issue 22): the README's commands, run
as written, on a local cluster started by `recactl local up`.

- `scripts/demo.sh`, the script `make demo` runs, end to end in a short form
  (small step counts and evaluation sizes through its environment variables;
  the same script, cluster, recactl and summary code): it exits 0 and prints
  every step, the summary and the before/after scores, and leaves its grids;
- the same script exits non-zero, with its cluster stopped, when a step fails;
- the README's "The API from Python" block, extracted from README.md and run as
  written from a folder laid out like the repository, against `recactl local up`.

usage: demo_test.py COORDINATOR WORKER TRAINER RECACTL_PY STUB EVALUATOR EVAL
  (as cluster_test.py). Every process it starts ends within bounded time.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import cluster_fixture
from cluster_fixture import HERE, Binaries

BINS = Binaries(sys.argv[1:8])
del sys.argv[1:8]
REPO = os.path.dirname(os.path.dirname(HERE))
DEMO_TIMEOUT_S = 600  # the short demo takes 2-3 minutes on 2 cores
README_MARKER = "<!-- readme-api-example:"


def make_bin_dir(folder):
    """What `make` leaves in build/bin: the reca-* binaries and a recactl launcher."""
    os.makedirs(folder)
    for name, path in (("reca-coordinator", BINS.coordinator), ("reca-worker", BINS.worker),
                       ("reca-train", BINS.trainer), ("reca-evaluator", BINS.evaluator),
                       ("reca-eval", BINS.eval)):
        os.symlink(path, os.path.join(folder, name))
    launcher = os.path.join(folder, "recactl")
    with open(launcher, "w") as f:  # as cli/CMakeLists.txt writes it
        f.write(f'#!/bin/sh\nRECA_BIN="${{RECA_BIN:-{folder}}}"\nexport RECA_BIN\n'
                f'exec /usr/bin/python3 "{BINS.recactl_py}" "$@"\n')
    os.chmod(launcher, 0o755)
    return folder


def readme_python_example():
    """The fenced Python block after README.md's marker, as written."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    at = text.index(README_MARKER)
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, at)
    return match.group(1)


class FrontDoorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="demo_test.", dir=os.environ.get("TEST_TMPDIR"))
        cls.bin = make_bin_dir(os.path.join(cls.root, "bin"))
        # Only what the script and the user's shell would have: no RECA_* settings
        # from the caller, the stubs where the build put them.
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("RECA_")}
        cls.env.update(RECA_PY_STUBS=BINS.py_stubs, PYTHONUNBUFFERED="1")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def demo(self, folder, **settings):
        env = dict(self.env, BIN=self.bin, DIR=os.path.join(self.root, folder), **settings)
        try:
            return subprocess.run(["bash", os.path.join(REPO, "scripts", "demo.sh")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=DEMO_TIMEOUT_S)
        finally:  # whatever happened, nothing keeps running
            subprocess.run([os.path.join(self.bin, "recactl"), "local", "down", "--dir",
                            env["DIR"]], env=env, capture_output=True, timeout=120)

    def assert_cluster_down(self, folder):
        status = subprocess.run([os.path.join(self.bin, "recactl"), "local", "status", "--dir",
                                 os.path.join(self.root, folder)], env=self.env,
                                capture_output=True, text=True, timeout=60)
        self.assertNotIn("running", status.stdout.lower(), status.stdout + status.stderr)

    def test_1_short_demo_runs_every_step(self):
        run = self.demo("demo", PRETRAIN_STEPS="60", RECA_STEPS="30", EVAL_PROMPTS_PER_TAG="2",
                        EVAL_IMAGES_PER_PROMPT="1")
        print(run.stdout[-6000:])
        self.assertEqual(run.returncode, 0, run.stdout[-6000:])
        out = run.stdout
        for step in ("== 1/5 starting the local cluster", "== 2/5 pre-training",
                     "== 3/5 RecA", "== 4/5 summary", "== 5/5 stopping the cluster"):
            self.assertIn(step, out)
        jobs = re.findall(r"^submitted (job-\d+)$", out, re.M)
        self.assertEqual(len(jobs), 2, out)
        for job in jobs:
            self.assertRegex(out, rf"job {job} SUCCEEDED in .*: step \d+/\d+")
        # The summary from the coordinator's records (through reca_client, with the token).
        self.assertRegex(out, rf"pre-training: {jobs[0]} SUCCEEDED, 60 steps in \d+ s")
        self.assertRegex(out, rf"RecA: {jobs[1]} SUCCEEDED, 30 steps in \d+ s")
        self.assertRegex(out, r"loss \(mean of 20 steps\): [\d.]+ at the start -> [\d.]+ at the end")
        # The evaluator's scores of the base and of the last checkpoint.
        self.assertRegex(out, r"shapes_eval:\n\s*STEP\s+OVERALL")
        self.assertRegex(out, r"\n\s*base\s+\d\.\d{3}")
        self.assertRegex(out, r"\n\s*30\s+\d\.\d{3} \([+-]\d\.\d{3}\)")
        self.assertIn("recon:", out)
        reca_dir = os.path.join(self.root, "demo", "runs", jobs[1])
        for grid in ("recon_final.png", "t2i_final.png"):
            self.assertGreater(os.path.getsize(os.path.join(reca_dir, grid)), 0, grid)
        self.assert_cluster_down("demo")

    def test_2_a_failing_step_fails_the_demo(self):
        # steps: 0 is an invalid spec: recactl submit refuses it at step 2.
        run = self.demo("demo-bad", PRETRAIN_STEPS="0")
        self.assertNotEqual(run.returncode, 0, run.stdout)
        self.assertIn("== 2/5 pre-training", run.stdout)
        self.assertIn("spec.steps", run.stdout)
        self.assertNotIn("== 3/5", run.stdout)
        self.assert_cluster_down("demo-bad")

    def test_3_readme_python_example_runs_as_written(self):
        # A folder laid out like the repository: cli/ and the local cluster's runs/local.
        work = os.path.join(self.root, "readme")
        os.makedirs(work)
        os.symlink(os.path.dirname(BINS.recactl_py), os.path.join(work, "cli"))
        recactl = os.path.join(self.bin, "recactl")
        up = subprocess.run([recactl, "local", "up", "--workers", "2", "--evaluators", "0"],
                            cwd=work, env=self.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(up.returncode, 0, up.stdout + up.stderr)
        try:
            run = subprocess.run(["/usr/bin/python3", "-c", readme_python_example()], cwd=work,
                                 env=self.env, capture_output=True, text=True, timeout=300)
        finally:
            subprocess.run([recactl, "local", "down"], cwd=work, env=self.env,
                           capture_output=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(run.stdout.splitlines()[-1], "SUCCEEDED [50, 50]", run.stdout)


if __name__ == "__main__":
    cluster_fixture.load_stubs(BINS.py_stubs)
    unittest.main(verbosity=2)
