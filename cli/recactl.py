#!/usr/bin/python3
"""recactl: the command-line client of the RecA service (DESIGN.md §5.1).

    recactl submit job.yaml [--ranks N] [--set optimizer.lr=1e-4] [--wait]
    recactl get|cancel|watch JOB
    recactl list [--state RUNNING]
    recactl metrics JOB [--name loss] [--csv]
    recactl checkpoints JOB [--latest --path-only]
    recactl local up|status|down          # a coordinator + workers on loopback

The coordinator is --coordinator, else $RECA_COORDINATOR, else the address in
runs/local/cluster.json (`recactl local up`), else 127.0.0.1:7070.

Exit status: 0 success; 1 an RPC failed, or the watched job did not succeed;
2 a usage error (bad flags, an unreadable or invalid job spec); 130 interrupted.

The generated Python stubs (reca/v1/*_pb2.py) come from $RECA_PY_STUBS, else
PYTHONPATH, else <repo>/build/python (the CMake build writes them there).
"""

import argparse
import collections
import csv
import json
import os
import re
import shutil
import sys
import time
import uuid

import local_cluster
import reca_client
import sweep as sweeplib
from reca_client import DEFAULT_COORDINATOR, DEFAULT_LOCAL_DIR

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Retries of UNAVAILABLE (and, for the idempotent SubmitJob, DEADLINE_EXCEEDED):
# the attempts per call and the first pause, doubled after each try.
SUBMIT_ATTEMPTS = 5
READ_ATTEMPTS = 3
RETRY_BACKOFF_S = 0.5
# How long `watch` keeps reconnecting while the coordinator is unreachable.
WATCH_RECONNECT_S = 120.0
# Without a terminal, `watch` prints progress at most this often.
PLAIN_PROGRESS_EVERY_S = 5.0
RECENT_EVENTS = 15

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")

# Filled by _import_stubs().
grpc = None
json_format = None
pb = None  # reca_client.load_stubs()'s namespace: job_pb2, job_service_pb2_grpc, ...


class CliError(Exception):
    """An expected failure: printed as `recactl: <message>`, then exit `code`."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def _import_stubs():
    """The stubs and grpcio, through reca_client (the one place that finds them)."""
    global grpc, json_format, pb
    if pb is not None:
        return
    pb = _settings(reca_client.load_stubs)
    from google.protobuf import json_format as json_format_module
    grpc, json_format = reca_client.grpc, json_format_module


# ---------------------------------------------------------------------------
# Job spec files: YAML (1.2 core schema, as reca-train reads them) or JSON.

def _yaml_loader():
    try:
        import yaml
    except ImportError:
        raise CliError("YAML specs need the yaml module (Debian's python3-yaml); "
                       "JSON specs (.json) do not", 2)

    class Loader(yaml.SafeLoader):
        """YAML 1.2 core schema scalars (PyYAML does 1.1: `on` is a bool, `1e-3` a string),
        and duplicate keys are errors, as in reca-train."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key '{key_node.value}'", key_node.start_mark)
                    seen.add(key_node.value)
            return super().construct_mapping(node, deep)

    Loader.yaml_implicit_resolvers = {}
    for tag, pattern, first in [
            ("null", r"~|null|Null|NULL|", list("~nN") + [""]),
            ("bool", r"true|True|TRUE|false|False|FALSE", list("tTfF")),
            ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", list("-+0123456789")),
            ("float", r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                      r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)", list("-+0123456789.")),
    ]:
        Loader.add_implicit_resolver("tag:yaml.org,2002:" + tag,
                                     re.compile(f"^(?:{pattern})$"), first)

    def construct_int(loader, node):
        text = loader.construct_scalar(node)
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 16 if text.startswith("0x") else 10)

    def construct_float(loader, node):
        text = loader.construct_scalar(node).lower()
        if text.endswith(".inf"):
            return float(text.replace(".inf", "inf"))
        return float("nan") if text == ".nan" else float(text)

    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Loader.add_constructor("tag:yaml.org,2002:float", construct_float)
    return yaml, Loader


def _parse_yaml(text, origin):
    yaml, loader = _yaml_loader()
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        raise CliError(f"{where}: {getattr(e, 'problem', None) or e}", 2)


def _read_spec_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CliError(f"{path}: {e.strerror}", 2)
    if path.endswith(".json"):
        def no_duplicates(pairs):
            keys = [k for k, _ in pairs]
            for k in keys:
                if keys.count(k) > 1:
                    raise ValueError(f"duplicate key '{k}'")
            return dict(pairs)
        try:
            tree = json.loads(text, object_pairs_hook=no_duplicates)
        except json.JSONDecodeError as e:
            raise CliError(f"{path}:{e.lineno}: {e.msg}", 2)
        except ValueError as e:
            raise CliError(f"{path}: {e}", 2)
    else:
        tree = _parse_yaml(text, path)
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise CliError(f"{path}: a job spec is a mapping, not {type(tree).__name__}", 2)
    return tree


_SET_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[[0-9]+\])*)$")


def _apply_set(tree, assignment):
    """`a.b=value` or `data.sources[0].repeat=2`: the value is a YAML scalar (or flow list)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise CliError(f"--set {assignment}: expected KEY=VALUE, e.g. optimizer.lr=1e-4", 2)
    return _set_path(tree, key, _parse_yaml(text, f"--set {key}"), f"--set {key}")


def _set_path(tree, key, value, where):
    """Sets the spec field `key` (`a.b`, `data.sources[0].repeat`) of `tree` to `value`."""
    steps = []  # dict keys (str) and list indices (int), in order
    for segment in key.split("."):
        m = _SET_SEGMENT.match(segment)
        if not m:
            raise CliError(f"{where}: bad key segment '{segment}'", 2)
        steps.append(m.group(1))
        steps += [int(i) for i in re.findall(r"\[([0-9]+)\]", m.group(2))]
    node = tree
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise CliError(f"{where}: '{step}' is inside a non-mapping", 2)
            if last:
                node[step] = value
            else:
                if node.get(step) is None:
                    node[step] = [] if isinstance(steps[i + 1], int) else {}
                node = node[step]
        else:
            if not isinstance(node, list) or step > len(node):
                have = len(node) if isinstance(node, list) else 0
                raise CliError(f"{where}: index {step} out of range (the list has {have})", 2)
            if step == len(node):
                node.append({})
            if last:
                node[step] = value
            else:
                node = node[step]
    return tree


def _spec_tree(value, descriptor, path):
    """Checks `value` against the message `descriptor` field by field; returns a dict for
    json_format.ParseDict. Unknown fields and wrong types raise CliError naming the field."""
    from google.protobuf.descriptor import FieldDescriptor as F
    if not isinstance(value, dict):
        raise CliError(f"{path}: expected a mapping, got {value!r}", 2)
    fields = descriptor.fields_by_name
    out = {}
    for key, v in value.items():
        key = str(key)
        p = f"{path}.{key}"
        field = fields.get(key)
        if field is None:
            raise CliError(f"{p}: unknown field (known: {', '.join(sorted(fields))})", 2)
        if v is None:
            continue
        if field.label == F.LABEL_REPEATED:
            items = v if isinstance(v, list) else [v]  # `shards: "a-{0..9}.tar"` is a list of one
            out[key] = [_spec_value(x, field, f"{p}[{i}]") for i, x in enumerate(items)]
        else:
            out[key] = _spec_value(v, field, p)
    return out


def _spec_value(v, field, path):
    from google.protobuf.descriptor import FieldDescriptor as F
    kind = field.cpp_type
    if kind == F.CPPTYPE_MESSAGE:
        return _spec_tree(v, field.message_type, path)
    if kind == F.CPPTYPE_STRING and isinstance(v, str):
        return v
    if kind == F.CPPTYPE_BOOL and isinstance(v, bool):
        return v
    if kind in (F.CPPTYPE_INT32, F.CPPTYPE_INT64, F.CPPTYPE_UINT32, F.CPPTYPE_UINT64):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    if kind in (F.CPPTYPE_DOUBLE, F.CPPTYPE_FLOAT):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    expected = {F.CPPTYPE_STRING: "a string", F.CPPTYPE_BOOL: "true or false",
                F.CPPTYPE_DOUBLE: "a number", F.CPPTYPE_FLOAT: "a number"}.get(kind, "an integer")
    raise CliError(f"{path}: expected {expected}, got {v!r}", 2)


def load_spec(path, assignments=()):
    """The file (YAML or JSON) plus `--set` overrides as a reca.v1.JobSpec."""
    tree = _read_spec_file(path)
    for a in assignments:
        _apply_set(tree, a)
    try:
        checked = _spec_tree(tree, pb.job_spec_pb2.JobSpec.DESCRIPTOR, "spec")
        return json_format.ParseDict(checked, pb.job_spec_pb2.JobSpec())
    except CliError as e:
        raise CliError(f"{path}: {e}", 2)
    except json_format.ParseError as e:
        raise CliError(f"{path}: {e}", 2)


# ---------------------------------------------------------------------------
# Formatting helpers.

def _state(value):
    try:
        return pb.job_pb2.JobState.Name(value)
    except ValueError:
        return str(value)


def _fmt_time(micros):
    if not micros:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(micros / 1e6))


def _fmt_duration(seconds):
    seconds = max(0, int(round(seconds)))
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}d{h}h"
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _fmt_age(micros):
    return _fmt_duration(time.time() - micros / 1e6) if micros else "-"


def _fmt_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0


def _fmt_num(x):
    return f"{x:.6g}"


def _print_table(headers, rows, out, right=()):
    """Columns padded to their widest cell; `right` names right-aligned columns."""
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        parts = [c.rjust(w) if headers[i] in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        out.write("  ".join(parts).rstrip() + "\n")


def _progress_summary(job):
    """(step, loss or None, samples/s summed over ranks, seconds per step or None)."""
    reported = [p for p in job.progress if p.step > 0 or p.update_unix_micros > 0]
    if not reported:
        return 0, None, 0.0, None
    step = max(p.step for p in reported)
    loss = sum(p.loss for p in reported) / len(reported)
    rate = sum(p.samples_per_second for p in reported)
    timed = [p.step_seconds for p in reported if p.step_seconds > 0]
    return step, loss, rate, (sum(timed) / len(timed) if timed else None)


def _resources(job):
    r = job.resources
    accel = "GPU" if r.accelerator == pb.job_pb2.GPU else "CPU"
    ranks = r.ranks or 1
    text = f"{ranks} rank{'s' if ranks != 1 else ''} x {accel}"
    if r.threads_per_rank:
        text += f", {r.threads_per_rank} thread{'s' if r.threads_per_rank != 1 else ''} per rank"
    return text


def _event_line(ev):
    return f"{_fmt_time(ev.unix_micros)}  {_state(ev.state):<9}  {ev.message}"


# ---------------------------------------------------------------------------
# The client.

class Client:
    """recactl's calls over a reca_client.Connection (the address, token and TLS)."""

    def __init__(self, address, timeout, token=None, root_certificates=None):
        self.address = address
        self.timeout = timeout
        self.conn = reca_client.Connection(address, token, root_certificates)
        self._connect()

    def _connect(self, fresh=False):
        """The stubs; `fresh`: on a new channel. Retries after UNAVAILABLE use a new
        channel (reca_client.Connection.reconnect says why)."""
        if fresh:
            self.conn.reconnect()
        self.stub, self.admin = self.conn.jobs, self.conn.admin

    def call(self, method, request, attempts=READ_ATTEMPTS, retry_deadline=False, admin=False):
        """A unary call, retried on UNAVAILABLE (the coordinator restarting) with backoff.
        `admin`: an AdminService method (else JobService)."""
        retryable = {grpc.StatusCode.UNAVAILABLE}
        if retry_deadline:
            retryable.add(grpc.StatusCode.DEADLINE_EXCEEDED)
        pause = RETRY_BACKOFF_S
        for attempt in range(1, attempts + 1):
            try:
                return getattr(self.admin if admin else self.stub, method)(
                    request, timeout=self.timeout)
            except grpc.RpcError as e:
                if e.code() not in retryable or attempt == attempts:
                    raise
                sys.stderr.write(f"recactl: {e.code().name}: {e.details()}; "
                                 f"retry {attempt}/{attempts - 1} in {pause:.1f}s\n")
                time.sleep(pause)
                pause = min(pause * 2, 8.0)
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    self._connect(fresh=True)

    def close(self):
        self.conn.close()


def probe_coordinator(address, timeout):
    """True when a JobService answers at `address` within `timeout` seconds (asking for no
    token: UNAUTHENTICATED is an answer)."""
    _import_stubs()
    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
            stub = pb.job_service_pb2_grpc.JobServiceStub(channel)
            stub.ListJobs(pb.job_service_pb2.ListJobsRequest(page_size=1), timeout=timeout)
            return True
        except grpc.FutureTimeoutError:
            return False
        except grpc.RpcError as e:
            return e.code() == grpc.StatusCode.UNAUTHENTICATED


def count_jobs(address, local_dir, timeout=5.0):
    """{state name: count} over every job, for `local status` (with the local admin token)."""
    _import_stubs()
    client = Client(address, timeout, token=_settings(
        reca_client.read_token_file, local_cluster.token_path(local_dir, "admin"),
        "admin token", missing_ok=True))
    try:
        counts = {}
        for job in _list_jobs(client, [], "", 0):
            counts[_state(job.state)] = counts.get(_state(job.state), 0) + 1
        return counts
    finally:
        client.close()


def _list_jobs(client, states, name_prefix, limit):
    token, jobs = "", []
    while True:
        page = min(limit - len(jobs), 1000) if limit else 1000
        resp = client.call("ListJobs", pb.job_service_pb2.ListJobsRequest(
            states=states, name_prefix=name_prefix, page_size=page, page_token=token))
        jobs.extend(resp.jobs)
        token = resp.next_page_token
        if not token or (limit and len(jobs) >= limit):
            return jobs[:limit] if limit else jobs


# ---------------------------------------------------------------------------
# watch

class WatchView:
    """Renders a WatchJob stream: on a terminal, event lines above a progress bar redrawn in
    place; otherwise one line per event and a progress line at most every few seconds."""

    def __init__(self, out):
        self.out = out
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.bar_shown = False
        self.last_state = None
        self.last_plain = 0.0
        self.last_plain_step = -1
        self.rate_anchor = None  # (monotonic time, step) for an ETA without step_seconds

    def _write_line(self, text):
        if self.bar_shown:
            self.out.write("\r\x1b[K")
            self.bar_shown = False
        self.out.write(text + "\n")
        self.out.flush()

    def event(self, ev):
        self._write_line(_event_line(ev))
        self.last_state = ev.state

    def note(self, text):
        self._write_line(text)

    def _eta(self, job, step, step_s):
        remaining = job.total_steps - step
        if remaining <= 0:
            return 0.0
        if step_s:
            return remaining * step_s
        now = time.monotonic()
        if self.rate_anchor is None or step < self.rate_anchor[1]:
            self.rate_anchor = (now, step)
        t0, s0 = self.rate_anchor
        return remaining * (now - t0) / (step - s0) if step > s0 and now > t0 else None

    def _progress_text(self, job):
        step, loss, rate, step_s = _progress_summary(job)
        eta = self._eta(job, step, step_s)
        parts = [f"step {step}/{job.total_steps}" if job.total_steps else f"step {step}"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if rate:
            parts.append(f"{rate:.1f} samples/s")
        if eta is not None:
            parts.append(f"ETA {_fmt_duration(eta)}")
        return step, " | ".join(parts)

    def update(self, job):
        if job.state != self.last_state:
            reason = job.queue_reason if job.state == pb.job_pb2.QUEUED else ""
            self._write_line(f"{_fmt_time(time.time() * 1e6)}  {_state(job.state):<9}  "
                             f"{reason}".rstrip())
            self.last_state = job.state
        if job.state not in (pb.job_pb2.SCHEDULED, pb.job_pb2.RUNNING):
            return
        step, text = self._progress_text(job)
        if self.tty:
            width = shutil.get_terminal_size((80, 24)).columns
            if job.total_steps:
                frac = min(1.0, step / job.total_steps)
                n = 24
                filled = int(frac * n)
                text = f"[{'#' * filled}{'.' * (n - filled)}] {100 * frac:5.1f}% {text}"
            self.out.write("\r" + text[:max(10, width - 1)] + "\x1b[K")
            self.out.flush()
            self.bar_shown = True
        elif _progress_summary(job)[1] is not None:  # no line before the first report
            now = time.monotonic()
            if step != self.last_plain_step and now - self.last_plain >= PLAIN_PROGRESS_EVERY_S:
                self._write_line(f"{_fmt_time(time.time() * 1e6)}  progress   {text}")
                self.last_plain, self.last_plain_step = now, step

    def finish(self, job):
        """Prints the outcome; returns the exit status (0 only for SUCCEEDED)."""
        step, loss, _, _ = _progress_summary(job)
        state = _state(job.state)
        if job.state == pb.job_pb2.SUCCEEDED:
            took = ""
            if job.start_unix_micros and job.end_unix_micros:
                took = f" in {_fmt_duration((job.end_unix_micros - job.start_unix_micros) / 1e6)}"
            detail = f"step {step}/{job.total_steps}"
            if loss is not None:
                detail += f", loss {loss:.4f}"
            self._write_line(f"job {job.id} SUCCEEDED{took}: {detail}")
            if job.output_dir:
                self._write_line(f"output: {job.output_dir}")
            if job.latest_checkpoint_path:
                self._write_line(f"checkpoint: {job.latest_checkpoint_path}")
            return 0
        if job.state == pb.job_pb2.FAILED:
            self._write_line(f"job {job.id} FAILED: {job.failure or '(no cause recorded)'}")
        else:
            self._write_line(f"job {job.id} {state}" + (f" at step {step}" if step else ""))
        return 1


def watch_job(client, job_id, out, reconnect_s=None):
    """Follows the job until it ends; reconnects while the coordinator is UNAVAILABLE (for
    at most `reconnect_s` seconds in a row). Returns the exit status."""
    reconnect_s = WATCH_RECONNECT_S if reconnect_s is None else reconnect_s
    view = WatchView(out)
    last_seq = None
    down_since, pause = None, RETRY_BACKOFF_S
    request = pb.job_service_pb2.WatchJobRequest(job_id=job_id)
    while True:
        try:
            for resp in client.stub.WatchJob(request):
                down_since, pause = None, RETRY_BACKOFF_S
                for ev in resp.events:
                    if last_seq is None or ev.seq > last_seq:
                        view.event(ev)
                        last_seq = ev.seq
                view.update(resp.job)
                if _state(resp.job.state) in TERMINAL_STATES:
                    return view.finish(resp.job)
            reason = "the stream ended before the job did"
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            reason = e.details()
        now = time.monotonic()
        if down_since is None:
            down_since = now
            view.note(f"recactl: lost the watch ({reason}); reconnecting to {client.address} "
                      f"for up to {_fmt_duration(reconnect_s)}")
        elif now - down_since > reconnect_s:
            raise CliError(f"UNAVAILABLE: gave up reconnecting to {client.address} after "
                           f"{_fmt_duration(reconnect_s)}: {reason}")
        time.sleep(pause)
        pause = min(pause * 2, 5.0)
        client._connect(fresh=True)


# ---------------------------------------------------------------------------
# Commands. Each takes (args, client) and returns the exit status.

def cmd_submit(args, client):
    spec = load_spec(args.spec, args.set or [])
    jr = pb.job_pb2
    request = pb.job_service_pb2.SubmitJobRequest(
        request_id=args.request_id or str(uuid.uuid4()),
        spec=spec,
        resources=jr.Resources(ranks=args.ranks, accelerator=jr.GPU if args.gpu else jr.CPU,
                               threads_per_rank=args.threads),
        priority=args.priority,
        owner=args.owner)
    # The same request (and request_id) on every retry: the coordinator creates one job.
    resp = client.call("SubmitJob", request, attempts=SUBMIT_ATTEMPTS, retry_deadline=True)
    sys.stdout.write(resp.job.id + "\n")
    sys.stdout.flush()
    if not resp.created:
        sys.stderr.write(f"recactl: request {request.request_id} was already submitted: "
                         f"job {resp.job.id} ({_state(resp.job.state)})\n")
    if args.wait:
        return watch_job(client, resp.job.id, sys.stderr)  # stdout stays just the id
    return 0


def cmd_get(args, client):
    resp = client.call("GetJob", pb.job_service_pb2.GetJobRequest(job_id=args.job,
                                                                  include_events=True))
    out = sys.stdout
    if args.json:
        out.write(json_format.MessageToJson(resp, preserving_proto_field_name=True, indent=2,
                                            sort_keys=False) + "\n")
        return 0
    job = resp.job
    step, loss, rate, _ = _progress_summary(job)
    state = _state(job.state) + (" (cancel requested)" if job.cancel_requested
                                 and _state(job.state) not in TERMINAL_STATES else "")
    lines = [("id", job.id), ("name", job.name), ("state", state)]
    if job.queue_reason and job.state == pb.job_pb2.QUEUED:
        lines.append(("queued", job.queue_reason))
    if job.failure:
        lines.append(("failure" if _state(job.state) == "FAILED" else "last failure", job.failure))
    if job.restarts or job.max_restarts:
        lines.append(("restarts", f"{job.restarts} of {job.max_restarts}"))
    if job.preemptions:
        lines.append(("preempted", f"{job.preemptions} time(s)"
                      + (f", now by {job.preempted_by}" if job.preempted_by else "")))
    lines += [("owner", f"{job.owner or '-'} (priority {job.priority})"),
              ("resources", _resources(job)),
              ("submitted", f"{_fmt_time(job.submit_unix_micros)} "
                            f"({_fmt_age(job.submit_unix_micros)} ago)"),
              ("started", _fmt_time(job.start_unix_micros)),
              ("ended", _fmt_time(job.end_unix_micros))]
    if job.HasField("attempt") and job.attempt.placements:
        a = job.attempt
        lines.append(("attempt", f"epoch {a.epoch}, rendezvous {a.master_addr}:{a.master_port}"))
        lines.append(("placements", ", ".join(f"rank {p.rank} -> {p.worker_id}"
                                              for p in a.placements)))
    progress = f"step {step}/{job.total_steps}"
    if job.total_steps:
        progress += f" ({100.0 * step / job.total_steps:.1f}%)"
    if loss is not None:
        progress += f", loss {loss:.4f}, {rate:.1f} samples/s"
    lines.append(("progress", progress))
    if job.latest_checkpoint_step >= 0 and job.latest_checkpoint_path:
        lines.append(("checkpoint",
                      f"step {job.latest_checkpoint_step}: {job.latest_checkpoint_path}"))
    else:
        lines.append(("checkpoint", "-"))
    lines.append(("output_dir", job.output_dir or "-"))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        out.write(f"{k.ljust(width)}  {v}\n")
    if job.progress:
        out.write("\n")
        _print_table(
            ["RANK", "STEP", "LOSS", "SAMPLES/S", "STEP_MS", "DATA_WAIT_MS", "ALLREDUCE_MS",
             "UPDATED"],
            [[p.rank, p.step, f"{p.loss:.4f}", f"{p.samples_per_second:.1f}",
              f"{1e3 * p.step_seconds:.1f}", f"{1e3 * p.data_wait_seconds:.1f}",
              f"{1e3 * p.allreduce_seconds:.1f}",
              (_fmt_age(p.update_unix_micros) + " ago") if p.update_unix_micros else "-"]
             for p in job.progress],
            out, right={"RANK", "STEP", "LOSS", "SAMPLES/S", "STEP_MS", "DATA_WAIT_MS",
                        "ALLREDUCE_MS"})
    if resp.events:
        events = list(resp.events)[-RECENT_EVENTS:]
        shown = f" (last {len(events)} of {len(resp.events)})" \
            if len(events) < len(resp.events) else ""
        out.write(f"\nevents{shown}:\n")
        for ev in events:
            out.write("  " + _event_line(ev) + "\n")
    return 0


def _parse_states(values):
    states = []
    for value in values or []:
        for name in value.split(","):
            name = name.strip().upper()
            if not name:
                continue
            try:
                states.append(pb.job_pb2.JobState.Value(name))
            except ValueError:
                known = [n for n in pb.job_pb2.JobState.keys() if n != "JOB_STATE_UNSPECIFIED"]
                raise CliError(f"--state {name}: unknown state (known: {', '.join(known)})", 2)
    return states


def cmd_list(args, client):
    jobs = _list_jobs(client, _parse_states(args.state), args.name_prefix or "", args.limit)
    out = sys.stdout
    if args.quiet:
        for job in jobs:
            out.write(job.id + "\n")
        return 0
    if args.json:
        out.write(json.dumps([json_format.MessageToDict(j, preserving_proto_field_name=True)
                              for j in jobs], indent=2) + "\n")
        return 0
    rows = []
    for job in jobs:
        step, loss, _, _ = _progress_summary(job)
        rows.append([job.id, job.name, _state(job.state), job.resources.ranks or 1,
                     f"{step if job.progress else '-'}/{job.total_steps}",
                     f"{loss:.4f}" if loss is not None else "-",
                     _fmt_age(job.submit_unix_micros)])
    _print_table(["ID", "NAME", "STATE", "RANKS", "STEP", "LOSS", "AGE"], rows, out,
                 right={"RANKS", "STEP", "LOSS", "AGE"})
    if not jobs:
        sys.stderr.write("recactl: no jobs\n")
    return 0


def cmd_cancel(args, client):
    job = client.call("CancelJob", pb.job_service_pb2.CancelJobRequest(job_id=args.job)).job
    state = _state(job.state)
    if state in TERMINAL_STATES:
        sys.stdout.write(f"{job.id} {state}\n")
    else:
        sys.stdout.write(f"{job.id} {state}: cancel requested, its ranks are stopping\n")
    return 0


def cmd_watch(args, client):
    return watch_job(client, args.job, sys.stdout)


def cmd_metrics(args, client):
    names = [n for value in args.name or [] for n in value.split(",") if n]
    resp = client.call("GetMetrics", pb.job_service_pb2.GetMetricsRequest(
        job_id=args.job, names=names, min_step=args.from_step, max_step=args.to_step,
        rank=args.rank, limit=args.limit))
    points = sorted(resp.points, key=lambda p: (p.step, p.rank, p.name))
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n") if args.csv else None
    if args.wide:
        # One row per (step, rank), one column per metric name.
        columns = sorted({p.name for p in points})
        rows = {}
        for p in points:
            rows.setdefault((p.step, p.rank), {})[p.name] = p.value
        if writer:
            writer.writerow(["step", "rank"] + columns)
            for (step, rank), values in sorted(rows.items()):
                writer.writerow([step, rank] + [repr(values[c]) if c in values else ""
                                                for c in columns])
        elif points:
            _print_table(["STEP", "RANK"] + columns,
                         [[step, rank] + [_fmt_num(values[c]) if c in values else "-"
                                          for c in columns]
                          for (step, rank), values in sorted(rows.items())],
                         out, right=set(["STEP", "RANK"] + columns))
    elif writer:
        writer.writerow(["step", "rank", "name", "value", "unix_micros"])
        for p in points:
            writer.writerow([p.step, p.rank, p.name, repr(p.value), p.unix_micros])
    elif points:
        _print_table(["STEP", "RANK", "NAME", "VALUE"],
                     [[p.step, p.rank, p.name, _fmt_num(p.value)] for p in points],
                     out, right={"STEP", "RANK", "VALUE"})
    if not points:
        sys.stderr.write(f"recactl: no metric points for job {args.job}\n")
    elif len(points) == (args.limit or 100000):
        sys.stderr.write(f"recactl: stopped at {len(points)} points (--limit, --from, --to)\n")
    return 0


def cmd_checkpoints(args, client):
    resp = client.call("ListCheckpoints",
                       pb.job_service_pb2.ListCheckpointsRequest(job_id=args.job))
    ckpts = sorted(resp.checkpoints, key=lambda c: c.step)
    if args.latest:
        if not ckpts:
            raise CliError(f"job {args.job} has no committed checkpoint")
        ckpts = ckpts[-1:]
    out = sys.stdout
    if args.path_only:
        for c in ckpts:
            out.write(c.path + "\n")
        return 0
    if not ckpts:
        sys.stderr.write(f"recactl: job {args.job} has no committed checkpoint yet\n")
        return 0
    _print_table(["STEP", "PATH", "SIZE", "BYTES", "EPOCH", "COMMITTED"],
                 [[c.step, c.path, _fmt_bytes(c.bytes), c.bytes, c.epoch,
                   _fmt_time(c.commit_unix_micros)] for c in ckpts],
                 out, right={"STEP", "SIZE", "BYTES", "EPOCH"})
    return 0


# The columns `eval` shows first, per suite; other values follow by name.
EVAL_ORDER = {"shapes_eval": ["overall", "single_object", "two_object", "counting", "colors",
                              "position", "color_attr"],
              "recon": ["psnr", "ssim", "heldout_loss"],
              "shapes_edit": ["overall"] + [f"categories.{c}" for c in (
                  "add", "remove", "replace", "adjust", "move", "background", "compose",
                  "extract")] + ["carried_out", "preserved", "masked_psnr"]}
EVAL_SKIP = {"images", "prompts", "seconds", "pairs"}


def cmd_eval(args, client):
    request = pb.job_service_pb2.ListEvaluationsRequest(job_id=args.job)
    resp = client.call("ListEvaluations", request)
    if args.wait:
        deadline, last = time.monotonic() + args.wait_timeout, None
        while resp.pending:
            if time.monotonic() > deadline:
                raise CliError(f"DEADLINE_EXCEEDED: {resp.pending} checkpoint(s) of {args.job} "
                               f"still unscored after {_fmt_duration(args.wait_timeout)}")
            if resp.pending != last:
                sys.stderr.write(f"recactl: waiting for the evaluator: {resp.pending} "
                                 f"checkpoint(s) of {args.job} to score\n")
                last = resp.pending
            time.sleep(2.0)
            resp = client.call("ListEvaluations", request)
    scores = sorted(resp.scores, key=lambda s: (s.step, s.suite))
    if args.json:
        from google.protobuf import json_format
        json.dump({"scores": [json_format.MessageToDict(s, preserving_proto_field_name=True)
                              for s in scores], "pending": resp.pending}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not scores:
        sys.stderr.write(f"recactl: job {args.job} has no scores yet "
                         f"({resp.pending} checkpoint(s) waiting for the evaluator)\n")
        return 0
    base = {s.suite: s for s in scores if s.step == 0 and not s.error}
    for suite in sorted({s.suite for s in scores}):
        rows = [s for s in scores if s.suite == suite]
        names = [n for n in EVAL_ORDER.get(suite, []) if any(n in r.values for r in rows)]
        names += sorted({n for r in rows for n in r.values} - set(names) - EVAL_SKIP)
        table = []
        for r in rows:
            label = "base" if r.step == 0 else str(r.step)
            if r.error:
                table.append([label] + ["-"] * len(names) + [f"error: {r.error}"])
                continue
            cells = []
            for n in names:
                v = r.values.get(n)
                if v is None:
                    cells.append("-")
                    continue
                cell = f"{v:.3f}"
                b = base.get(suite)
                if b is not None and r.step != 0 and n in b.values:
                    cell += f" ({v - b.values[n]:+.3f})"
                cells.append(cell)
            table.append([label] + cells + [r.output_dir])
        sys.stdout.write(f"{suite}:\n")
        heads = [n.split(".")[-1].upper() for n in names]  # categories.add -> ADD
        _print_table(["STEP"] + heads + ["OUTPUT"], table, sys.stdout,
                     right={"STEP"} | set(heads))
    if resp.pending:
        sys.stdout.write(f"({resp.pending} checkpoint(s) still waiting for the evaluator)\n")
    # The evaluator's before/after report (first vs latest scored step), when
    # this machine sees the job's eval directory (local mode, a shared volume).
    reports = {os.path.join(os.path.dirname(s.output_dir), "report.md")
               for s in scores if s.output_dir}
    for report in sorted(r for r in reports if os.path.exists(r)):
        sys.stdout.write(f"report: {report} (and report.png: the grids side by side)\n")
    failed = [s for s in scores if s.error]
    if args.wait and failed:  # --wait gates on the evaluations (the demo, CI)
        sys.stderr.write(f"recactl: {len(failed)} evaluation(s) of {args.job} failed\n")
        return 1
    return 0


ROLES = ("user", "worker", "evaluator", "admin")


# ---------------------------------------------------------------------------
# Sweeps (cli/sweep.py has the file format, the expansion and the report).

def _sweep_state(value):
    """RUNNING, SUCCEEDED, ...: the SweepState without its SWEEP_ prefix."""
    try:
        return pb.job_pb2.SweepState.Name(value).replace("SWEEP_", "", 1)
    except ValueError:
        return str(value)


def _point_state(point):
    if point.job_id or point.error or point.state:
        return _state(point.state) if point.state else "FAILED"
    return "WAITING"


def _point_label(point):
    return ", ".join(f"{v.field}={v.value}" for v in point.values)


def load_sweep(path, assignments=()):
    """The sweep file (+ --set on the base) as (Plan, SubmitSweepRequest.sweep)."""
    tree = _read_spec_file(path)
    try:
        plan = sweeplib.parse(tree, path, _read_spec_file)
    except sweeplib.SweepError as e:
        raise CliError(str(e), 2)
    for a in assignments:
        _apply_set(plan.base, a)
    jr = pb.job_pb2
    sweep = jr.Sweep(name=plan.name, concurrency=plan.concurrency, priority=plan.priority,
                     seed=plan.seed, metrics=plan.metrics,
                     resources=jr.Resources(ranks=plan.ranks, accelerator=jr.GPU if plan.gpu else jr.CPU,
                                            threads_per_rank=plan.threads))
    for field, kind, detail in plan.axes:
        axis = sweep.axes.add(field=field, random=kind == "random")
        if kind == "grid" or "choice" in detail:
            axis.values.extend(sweeplib.yaml_text(v) for v in (detail if kind == "grid"
                                                               else detail["choice"]))
        else:
            axis.min, axis.max = float(detail["min"]), float(detail["max"])
            axis.log, axis.integer = bool(detail.get("log")), bool(detail.get("integer"))
    for rule in plan.rules:
        sweep.rules.add(**rule)
    setter = lambda tree, field, value: _set_path(tree, field, value, f"{path}: axes: {field}")
    for i, (values, tree) in enumerate(sweeplib.expand(plan, setter)):
        label = ", ".join(f"{f}={sweeplib.yaml_text(v)}" for f, v in values)
        try:
            checked = _spec_tree(tree, pb.job_spec_pb2.JobSpec.DESCRIPTOR, "spec")
            spec = json_format.ParseDict(checked, pb.job_spec_pb2.JobSpec())
        except (CliError, json_format.ParseError) as e:
            raise CliError(f"{path}: points[{i}] ({label}): {e}", 2)
        point = sweep.points.add(index=i, spec=spec)
        for f, v in values:
            point.values.add(field=f, value=sweeplib.yaml_text(v))
    return plan, sweep


def _print_points(sweep, out):
    _print_table(["#"] + [a.field for a in sweep.axes] + ["STATE", "JOB"],
                 [[p.index] + [v.value for v in p.values] + [_point_state(p), p.job_id or "-"]
                  for p in sweep.points], out, right={"#"})


def _sweep_progress(sweep):
    counts = collections.Counter(_point_state(p) for p in sweep.points)
    ended = sum(counts[s] for s in ("SUCCEEDED", "FAILED", "CANCELLED"))
    rest = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())
                     if s not in ("SUCCEEDED", "FAILED", "CANCELLED"))
    done = ", ".join(f"{counts[s]} {s}" for s in ("SUCCEEDED", "FAILED", "CANCELLED") if counts[s])
    return (f"{sweep.id}: {ended}/{len(sweep.points)} points ended" +
            (f" ({done})" if done else "") + (f"; {rest}" if rest else ""))


def wait_sweep(client, sweep_id, out, interval=1.0):
    """Polls GetSweep until the sweep and its points' jobs have ended; prints each change."""
    seen, last = {}, None
    while True:
        sweep = client.call("GetSweep", pb.job_service_pb2.GetSweepRequest(sweep_id=sweep_id)).sweep
        for p in sweep.points:
            state = _point_state(p)
            if seen.get(p.index) != state and state != "WAITING":
                why = f": {p.error}" if p.error else ""
                out.write(f"recactl: point {p.index} ({_point_label(p)}) {p.job_id or '-'} "
                          f"{state}{why}\n")
                seen[p.index] = state
        line = _sweep_progress(sweep)
        if line != last:
            out.write(f"recactl: {line}\n")
            out.flush()
            last = line
        if sweep.end_unix_micros:
            return sweep
        time.sleep(interval)


def wait_evaluations(client, sweep, out, timeout):
    """Waits until the evaluator has scored every due checkpoint of the sweep's jobs."""
    deadline = time.monotonic() + timeout
    for p in sweep.points:
        if not p.job_id:
            continue
        request = pb.job_service_pb2.ListEvaluationsRequest(job_id=p.job_id)
        last = None
        while True:
            pending = client.call("ListEvaluations", request).pending
            if not pending:
                break
            if time.monotonic() > deadline:
                raise CliError(f"DEADLINE_EXCEEDED: {pending} checkpoint(s) of {p.job_id} still "
                               f"unscored after {_fmt_duration(timeout)} (is an evaluator "
                               "running?)")
            if pending != last:
                out.write(f"recactl: waiting for the evaluator: {pending} checkpoint(s) of "
                          f"{p.job_id}\n")
                last = pending
            time.sleep(1.0)


def sweep_report(client, sweep, baseline_path):
    """(markdown, json dict, failures) of a sweep, checked against its rules."""
    metrics = list(sweep.metrics) or list(sweeplib.DEFAULT_METRICS)
    train = [m for m in metrics if m != "duration_s"]
    rows = []
    for p in sweep.points:
        job, points, scores = None, [], []
        if p.job_id:
            job = client.call("GetJob", pb.job_service_pb2.GetJobRequest(job_id=p.job_id)).job
            points = client.call("GetMetrics", pb.job_service_pb2.GetMetricsRequest(
                job_id=p.job_id, names=train, rank=-1)).points
            if any("." in m for m in metrics):
                scores = client.call("ListEvaluations", pb.job_service_pb2.ListEvaluationsRequest(
                    job_id=p.job_id)).scores
        row = sweeplib.point_row(p, _point_state(p), job, points, scores, metrics)
        if not row["error"] and job is not None and job.state == pb.job_pb2.FAILED:
            row["error"] = job.failure
        rows.append(row)
    rules = [{"metric": r.metric, "absolute": r.absolute,
              **{k: getattr(r, k) for k in ("max_increase", "max_decrease", "max", "min")
                 if r.HasField(k)}} for r in sweep.rules]
    try:
        baseline = sweeplib.load_baseline(baseline_path) if baseline_path else None
    except sweeplib.SweepError as e:
        raise CliError(str(e), 2)
    checks = sweeplib.check(rows, rules, baseline)
    info = {"id": sweep.id, "name": sweep.name, "state": _sweep_state(sweep.state),
            "seed": sweep.seed, "concurrency": sweep.concurrency,
            "axes": [a.field for a in sweep.axes]}
    return sweeplib.report(info, rows, metrics, rules, checks, baseline_path)


def _emit_report(client, sweep, args, baseline_path):
    markdown, data, failures = sweep_report(client, sweep, baseline_path)
    if args.report_dir:
        os.makedirs(args.report_dir, exist_ok=True)
        with open(os.path.join(args.report_dir, "report.md"), "w") as f:
            f.write(markdown)
        with open(os.path.join(args.report_dir, "report.json"), "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        sys.stderr.write(f"recactl: report in {args.report_dir}/report.md and report.json\n")
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if args.json else markdown)
    for line in failures:
        sys.stderr.write(f"recactl: {line}\n")
    return 0 if not failures else 1


def cmd_sweep(args, client):
    js = pb.job_service_pb2
    if args.action == "run":
        if not args.target:
            raise CliError("sweep run: give the sweep file", 2)
        plan, sweep = load_sweep(args.target, args.set or [])
        baseline = None if args.no_baseline else args.baseline or plan.baseline
        if baseline and not os.path.isfile(baseline):
            raise CliError(f"baseline {baseline}: no such file (--baseline, regression.baseline)", 2)
        if args.dry_run:
            _print_points(sweep, sys.stdout)
            sys.stderr.write(f"recactl: {len(sweep.points)} points, {sweep.concurrency} at a "
                             f"time; nothing submitted (--dry-run)\n")
            return 0
        request = js.SubmitSweepRequest(request_id=args.request_id or str(uuid.uuid4()),
                                        sweep=sweep, owner=args.owner)
        resp = client.call("SubmitSweep", request, attempts=SUBMIT_ATTEMPTS, retry_deadline=True)
        sys.stdout.write(resp.sweep.id + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"recactl: {resp.sweep.id}: {len(resp.sweep.points)} points, "
                         f"{resp.sweep.concurrency} at a time\n")
        if not args.wait:
            return 0
        sweep = wait_sweep(client, resp.sweep.id, sys.stderr)
        if any("." in m for m in sweep.metrics):
            wait_evaluations(client, sweep, sys.stderr, args.eval_timeout)
        return _emit_report(client, sweep, args, baseline)
    if args.action == "list":
        sweeps = client.call("ListSweeps", js.ListSweepsRequest()).sweeps
        if not sweeps:
            sys.stderr.write("recactl: no sweeps\n")
            return 0
        _print_table(["SWEEP", "NAME", "OWNER", "STATE", "POINTS", "SUBMITTED"],
                     [[s.id, s.name, s.owner, _sweep_state(s.state),
                       _sweep_progress(s).split(": ", 1)[1], _fmt_time(s.submit_unix_micros)]
                      for s in sweeps], sys.stdout)
        return 0
    if not args.target:
        raise CliError(f"sweep {args.action}: give the sweep id", 2)
    if args.action == "cancel":
        sweep = client.call("CancelSweep", js.CancelSweepRequest(sweep_id=args.target)).sweep
        sys.stderr.write(f"recactl: {sweep.id} {_sweep_state(sweep.state)}\n")
        return 0
    sweep = client.call("GetSweep", js.GetSweepRequest(sweep_id=args.target)).sweep
    if args.action == "get":
        if args.json:
            sys.stdout.write(json_format.MessageToJson(sweep, preserving_proto_field_name=True,
                                                       indent=2) + "\n")
            return 0
        sys.stdout.write(f"{sweep.id} {sweep.name}: {_sweep_state(sweep.state)}"
                         f", owner {sweep.owner}, {sweep.concurrency} at a time\n")
        _print_points(sweep, sys.stdout)
        return 0
    # report
    if args.wait:
        sweep = wait_sweep(client, sweep.id, sys.stderr)
        if any("." in m for m in sweep.metrics):
            wait_evaluations(client, sweep, sys.stderr, args.eval_timeout)
    if args.baseline and not os.path.isfile(args.baseline):
        raise CliError(f"baseline {args.baseline}: no such file", 2)
    return _emit_report(client, sweep, args, args.baseline)


def _role_name(value):
    return pb.admin_service_pb2.Role.Name(value)[len("ROLE_"):].lower()


def cmd_token(args, client):
    ap = pb.admin_service_pb2
    if args.action == "create":
        if not args.name or not args.role:
            raise CliError("token create: NAME and --role are required", 2)
        fd = None
        if args.out:  # before the token exists: a bad path leaves no orphan token
            try:
                fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as e:
                raise CliError(f"--out: {args.out}: {e.strerror}", 2)
        try:
            resp = client.call("CreateToken", ap.CreateTokenRequest(
                name=args.name, role=ap.Role.Value("ROLE_" + args.role.upper())),
                attempts=1, admin=True)
        except BaseException:
            if fd is not None:
                os.close(fd)
                os.unlink(args.out)
            raise
        if fd is not None:
            with os.fdopen(fd, "w") as f:
                f.write(resp.secret + "\n")
            sys.stderr.write(f"recactl: token {resp.token.id} ({args.role} {args.name}) "
                             f"written to {args.out} (mode 600)\n")
        else:
            sys.stdout.write(resp.secret + "\n")
            sys.stderr.write(f"recactl: token {resp.token.id} ({args.role} {args.name}); "
                             "shown once, store it now\n")
        return 0
    if args.action == "list":
        resp = client.call("ListTokens", ap.ListTokensRequest(include_revoked=args.all),
                           admin=True)
        rows = [[t.id, t.name, _role_name(t.role), _fmt_time(t.created_unix_micros),
                 t.created_by, _fmt_time(t.revoked_unix_micros) if t.revoked_unix_micros else ""]
                for t in resp.tokens]
        _print_table(["ID", "NAME", "ROLE", "CREATED", "BY", "REVOKED"], rows, sys.stdout)
        return 0
    if not args.name:
        raise CliError("token revoke: the token ID is required (`recactl token list`)", 2)
    resp = client.call("RevokeToken", ap.RevokeTokenRequest(id=args.name), attempts=1,
                       admin=True)
    sys.stdout.write(f"revoked {resp.token.id} ({_role_name(resp.token.role)} {resp.token.name})\n")
    return 0


def cmd_local(args):
    local_dir = os.path.abspath(args.dir)
    if args.action == "up":
        return local_cluster.up(local_cluster.UpOptions(
            dir=local_dir, workers=args.workers, slots=args.slots, port=args.port,
            bin_dir=args.bin or local_cluster.default_bin_dir(REPO),
            wait_s=args.wait_timeout, coordinator_flags=args.coordinator_flag or [],
            worker_flags=args.worker_flag or [], evaluators=args.evaluators,
            evaluator_flags=args.evaluator_flag or []), probe=probe_coordinator)
    if args.action == "status":
        return local_cluster.status(local_dir, count_jobs=lambda a: count_jobs(a, local_dir))
    return local_cluster.down(local_dir, grace_s=args.grace)


# ---------------------------------------------------------------------------
# Command line.

def _settings(resolve, *args, **kwargs):
    """A reca_client setting; its SettingsError is a usage error (exit 2)."""
    try:
        return resolve(*args, **kwargs)
    except reca_client.SettingsError as e:
        raise CliError(str(e), 2)


def resolve_token(args, address):
    """reca_client's token for `address`, --token-file first; the local cluster's admin
    token for `recactl token`."""
    return _settings(reca_client.resolve_token, address, getattr(args, "token_file", None),
                     role="admin" if args.command == "token" else "user",
                     token_file_setting="--token-file")


def build_parser():
    # The connection flags work before or after the command (SUPPRESS keeps a subcommand
    # from overwriting a value given before it).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--coordinator", default=argparse.SUPPRESS, metavar="HOST:PORT",
                        help="the coordinator (default: $RECA_COORDINATOR, else "
                             "runs/local/cluster.json, else " + DEFAULT_COORDINATOR + ")")
    common.add_argument("--timeout", type=float, default=argparse.SUPPRESS, metavar="SECONDS",
                        help="deadline of each call (default 30)")
    common.add_argument("--token-file", default=argparse.SUPPRESS, metavar="FILE",
                        help="your token (default: $RECA_TOKEN, else $RECA_TOKEN_FILE, else the "
                             "local cluster's runs/local/tokens/user.token)")
    common.add_argument("--tls-ca", default=argparse.SUPPRESS, metavar="PEM",
                        help="connect with TLS, trusting this CA (default: $RECA_TLS_CA; "
                             "unset: plaintext)")

    parser = argparse.ArgumentParser(
        prog="recactl", description="Client of the RecA post-training service.",
        parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `recactl COMMAND --help` for a command's flags.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("submit", parents=[common], help="queue a job from a YAML/JSON spec")
    p.add_argument("spec", metavar="JOB.yaml", help="the job spec (.json is JSON, else YAML)")
    p.add_argument("--ranks", type=int, default=1, help="data-parallel ranks (default 1)")
    p.add_argument("--gpu", action="store_true", help="one GPU per rank (default: a CPU slot)")
    p.add_argument("--threads", type=int, default=0, metavar="T",
                   help="LibTorch threads per rank (default: the worker's)")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a spec field, e.g. optimizer.lr=1e-4 or "
                        "data.sources[0].repeat=2 (repeatable)")
    p.add_argument("--request-id", metavar="ID",
                   help="idempotency key (default: a fresh UUID, reused on retries)")
    p.add_argument("--owner", default="",
                   help="admins only: submit for this user (default: your token's name)")
    p.add_argument("--wait", action="store_true",
                   help="then follow it like `watch` (on stderr); exit 0 only on SUCCEEDED")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("get", parents=[common], help="a job's state, progress and events")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--json", action="store_true", help="the GetJob response as JSON")
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("list", parents=[common], help="jobs in submit order")
    p.add_argument("--state", action="append", metavar="STATE",
                   help="only these states (repeatable or comma-separated)")
    p.add_argument("--name-prefix", metavar="P")
    p.add_argument("--limit", type=int, default=0, help="at most N jobs (default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="job ids only")
    p.add_argument("--json", action="store_true", help="the jobs as a JSON list")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("cancel", parents=[common], help="cancel a job")
    p.add_argument("job", metavar="JOB")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("watch", parents=[common],
                       help="follow a job until it ends (exit 0 only on SUCCEEDED)")
    p.add_argument("job", metavar="JOB")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("metrics", parents=[common], help="a job's metric history")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="only these metrics (repeatable or comma-separated)")
    p.add_argument("--rank", type=int, default=-1, help="only this rank (default: all)")
    p.add_argument("--from", dest="from_step", type=int, default=0, metavar="STEP")
    p.add_argument("--to", dest="to_step", type=int, default=0, metavar="STEP")
    p.add_argument("--limit", type=int, default=0, help="at most N points (default: server's)")
    p.add_argument("--wide", action="store_true", help="one column per metric name")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("checkpoints", parents=[common], help="a job's committed checkpoints")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--latest", action="store_true", help="only the newest (exit 1 if none)")
    p.add_argument("--path-only", action="store_true", help="print only the paths")
    p.set_defaults(func=cmd_checkpoints)

    p = sub.add_parser("eval", parents=[common],
                       help="the evaluator's scores per checkpoint, with the change from the base")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--json", action="store_true", help="the raw scores as JSON")
    p.add_argument("--wait", action="store_true",
                   help="first wait until every checkpoint due for scoring has its scores; "
                        "exit 1 if any evaluation failed")
    p.add_argument("--wait-timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="--wait: give up after this long (default 1800)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sweep", parents=[common],
                       help="run a job spec over a grid or random axes, report, gate on regressions")
    p.add_argument("action", choices=["run", "get", "list", "cancel", "report"])
    p.add_argument("target", nargs="?", metavar="FILE|SWEEP",
                   help="run: the sweep file (README: Sweeps); get, cancel, report: the sweep id")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="run: override a field of the base spec (repeatable)")
    p.add_argument("--wait", action="store_true",
                   help="run, report: wait for every point, then print the report; exit 1 "
                        "when a point did not succeed or a metric crossed its threshold")
    p.add_argument("--eval-timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="--wait with evaluator metrics (SUITE.KEY): how long to wait for the "
                        "scores once the jobs ended (default 1800)")
    p.add_argument("--baseline", metavar="REPORT.json",
                   help="run, report: an earlier report.json to check the rules against "
                        "(default: the file's regression.baseline)")
    p.add_argument("--no-baseline", action="store_true",
                   help="run: ignore the file's regression.baseline (the relative rules are "
                        "not checked; e.g. to make a first baseline)")
    p.add_argument("--report-dir", metavar="DIR",
                   help="run --wait, report: also write DIR/report.md and DIR/report.json")
    p.add_argument("--json", action="store_true",
                   help="get: the sweep as JSON; run --wait, report: the report as JSON")
    p.add_argument("--dry-run", action="store_true",
                   help="run: print the points and submit nothing")
    p.add_argument("--request-id", metavar="ID",
                   help="run: idempotency key (default: a fresh UUID, reused on retries)")
    p.add_argument("--owner", default="", help="run, admins only: submit for this user")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("token", parents=[common], help="admins: create, list and revoke tokens")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("name", nargs="?", metavar="NAME|ID",
                   help="create: the user's (or worker's) name; revoke: the token id")
    p.add_argument("--role", choices=ROLES, help="create: what the token may call")
    p.add_argument("--out", metavar="FILE", help="create: write the token here (mode 600) "
                                                 "instead of stdout")
    p.add_argument("--all", action="store_true", help="list: revoked tokens too")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("local", help="a coordinator and workers on this machine (loopback)")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--dir", default=DEFAULT_LOCAL_DIR,
                   help="state, RocksDB, runs and logs (default runs/local)")
    p.add_argument("--workers", type=int, default=2, help="up: worker daemons (default 2)")
    p.add_argument("--slots", type=int, default=1, help="up: CPU slots per worker (default 1)")
    p.add_argument("--port", type=int, default=0, help="up: coordinator port (0: a free one)")
    p.add_argument("--bin", metavar="DIR",
                   help="the reca-* binaries (default $RECA_BIN, else <repo>/build/bin)")
    p.add_argument("--wait-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="up: how long to wait for the coordinator (default 30)")
    p.add_argument("--grace", type=float, default=40.0, metavar="SECONDS",
                   help="down: SIGTERM-to-SIGKILL grace for the workers, then the "
                        "coordinator (default 40: more than a worker's stop grace for its ranks)")
    p.add_argument("--coordinator-flag", action="append", metavar="FLAG",
                   help="up: an extra reca-coordinator flag (repeatable)")
    p.add_argument("--worker-flag", action="append", metavar="FLAG",
                   help="up: an extra reca-worker flag (repeatable)")
    p.add_argument("--evaluators", type=int, default=1,
                   help="up: evaluator daemons scoring committed checkpoints (default 1)")
    p.add_argument("--evaluator-flag", action="append", metavar="FLAG",
                   help="up: an extra reca-evaluator flag (repeatable)")
    p.set_defaults(func=None)
    return parser


def _job_of(args):
    return getattr(args, "job", None)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130


def _run(args):
    client = None
    try:
        _import_stubs()
        if args.command == "local":
            return cmd_local(args)
        address = reca_client.resolve_address(getattr(args, "coordinator", None))
        client = Client(address, getattr(args, "timeout", 30.0),
                        token=resolve_token(args, address),
                        root_certificates=_settings(reca_client.resolve_tls_ca,
                                                    getattr(args, "tls_ca", None), "--tls-ca"))
        return args.func(args, client)
    except CliError as e:
        sys.stderr.write(f"recactl: {e}\n")
        return e.code
    except local_cluster.LocalClusterError as e:
        sys.stderr.write(f"recactl local {args.action}: {e}\n")
        return e.code
    except Exception as e:  # gRPC's errors; anything else is a bug and keeps its traceback
        if grpc is None or not isinstance(e, grpc.RpcError):
            raise
        code, details = e.code(), e.details() or ""
        if code == grpc.StatusCode.NOT_FOUND and _job_of(args) and _job_of(args) not in details:
            details = f"job {_job_of(args)}: {details or 'not found'}"
        sys.stderr.write(f"recactl: {code.name}: {details}\n")
        if code == grpc.StatusCode.PERMISSION_DENIED and args.command == "token":
            sys.stderr.write("recactl: token commands need an admin token (--token-file; the local "
                             "cluster's is runs/local/tokens/admin.token)\n")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            sys.stderr.write("recactl: pass your token with --token-file or $RECA_TOKEN "
                             "(an admin creates one with `recactl token create`)\n")
        if code == grpc.StatusCode.UNAVAILABLE and client is not None:
            sys.stderr.write(f"recactl: is a coordinator running at {client.address}? "
                             "(--coordinator, $RECA_COORDINATOR, `recactl local up`)\n")
        return 1
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `recactl list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    sys.exit(status)
