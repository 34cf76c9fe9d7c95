"""`recactl local up|status|down`: the embedded local cluster (DESIGN.md §5.7).

One reca-coordinator and N reca-worker daemons on loopback, started as detached
processes (each in its own session, so a Ctrl-C in the shell that started them
does not reach them), with everything under one folder:

    DIR/cluster.json   the address and each process (pid, start time, command, log)
    DIR/db             the coordinator's RocksDB
    DIR/runs           job outputs (checkpoints, metrics)
    DIR/logs/*.log     each process's stdout and stderr
    DIR/tokens/        the cluster's bearer tokens (owner-only: the folder 0700, each
                       file 0600): admin, user (named $USER), worker, evaluator, and
                       hashes (what the coordinator reads: "ROLE NAME SHA256" lines)

cluster.json records each process's start time (from /proc) next to its pid, so a
later `down` never signals an unrelated process that reused the pid.
"""

import hashlib
import json
import os
import secrets
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

STATE_FILE = "cluster.json"
# Ports each worker offers for rank 0's c10d TCPStore (--rendezvous_ports=MIN-MAX); the
# blocks of different workers are disjoint and below Linux's ephemeral range.
PORTS_PER_WORKER = 16
RENDEZVOUS_PORT_RANGE = (20000, 32000)


class LocalClusterError(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


@dataclass
class UpOptions:
    dir: str
    workers: int = 2
    evaluators: int = 1
    evaluator_flags: list = field(default_factory=list)
    slots: int = 1
    port: int = 0
    bin_dir: str = ""
    wait_s: float = 30.0
    coordinator_flags: list = field(default_factory=list)
    worker_flags: list = field(default_factory=list)


def default_bin_dir(repo):
    return os.environ.get("RECA_BIN") or os.path.join(repo, "build", "bin")


def read_state(local_dir):
    try:
        with open(os.path.join(local_dir, STATE_FILE), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LocalClusterError(f"{os.path.join(local_dir, STATE_FILE)}: unreadable ({e})")


def recorded_address(local_dir):
    """The coordinator address in DIR/cluster.json, or None (no file, or unreadable)."""
    try:
        return (read_state(local_dir) or {}).get("address")
    except LocalClusterError:
        return None


def _write_state(local_dir, state):
    path = os.path.join(local_dir, STATE_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _remove_state(local_dir):
    try:
        os.unlink(os.path.join(local_dir, STATE_FILE))
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------
# Tokens.

TOKEN_ROLES = ("admin", "user", "worker", "evaluator")


def token_dir(local_dir):
    return os.path.join(local_dir, "tokens")


def token_path(local_dir, role):
    return os.path.join(token_dir(local_dir), f"{role}.token")


def make_tokens(local_dir, user):
    """Creates DIR/tokens/<role>.token for each role (kept when present, so a second `up`
    honours the tokens already handed out) and DIR/tokens/hashes for --auth_tokens_file.
    Returns the path of the hashes file."""
    folder = token_dir(local_dir)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    names = {"admin": "admin", "user": user, "worker": "workers", "evaluator": "evaluators"}
    lines = ["# recactl local up: ROLE NAME SHA256 of each token in this folder"]
    for role in TOKEN_ROLES:
        path = token_path(local_dir, role)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("reca_" + secrets.token_hex(32) + "\n")
        os.chmod(path, 0o600)
        with open(path) as f:
            token = f.read().strip()
        lines.append(f"{role} {names[role]} {hashlib.sha256(token.encode()).hexdigest()}")
    hashes = os.path.join(folder, "hashes")
    fd = os.open(hashes, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(hashes, 0o600)
    return hashes


def local_user():
    """The name the local user token carries: $USER when it is a valid token name."""
    user = os.environ.get("USER", "")
    ok = user and len(user) <= 128 and all(c.isalnum() or c in "-_.@" for c in user)
    return user if ok else "local"


# ---------------------------------------------------------------------------
# Processes.

def _proc_stat(pid):
    """(state letter, session id, start time in clock ticks) of `pid`, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # fields 3.. of proc(5); comm may hold spaces
    return fields[0], int(fields[3]), int(fields[19])


def alive(proc):
    """Whether the recorded process still runs (not a zombie, not a reused pid)."""
    stat = _proc_stat(proc["pid"])
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return proc.get("start_ticks") in (None, stat[2])


def _session_members(proc):
    """Every live pid in the session the recorded daemon leads (it and whatever it started,
    even after it exited: Linux does not reuse a pid that still names a session)."""
    stat = _proc_stat(proc["pid"])
    if proc.get("start_ticks") is None or (stat is not None and stat[2] != proc["start_ticks"]):
        return []  # unknown start time, or the pid now belongs to another process
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            member = _proc_stat(int(name))
            if (member is not None and member[1] == proc["pid"] and member[0] not in ("Z", "X")
                    and member[2] >= proc["start_ticks"]):
                pids.append(int(name))
    return pids


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stop(procs, grace_s, err):
    """SIGTERM each live process, wait up to `grace_s`, then SIGKILL what is left of each one's
    session (its children included). Returns the names that needed SIGKILL."""
    live = [p for p in procs if alive(p)]
    for p in live:
        _signal(p["pid"], signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive(p) for p in live):
        time.sleep(0.1)
    killed = []
    for p in procs:
        # The daemon leads its own session; its children (trainer ranks) may outlive it.
        stragglers = ([p["pid"]] if alive(p) else []) + \
            [q for q in _session_members(p) if q != p["pid"]]
        if stragglers:
            killed.append(p["name"])
            for q in stragglers:
                _signal(q, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(alive(p) for p in live):
        time.sleep(0.05)
    for p in live:
        if alive(p):
            err.write(f"recactl: {p['name']} (pid {p['pid']}) survived SIGKILL\n")
    return killed


def _start(name, argv, local_dir):
    log_path = os.path.join(local_dir, "logs", f"{name}.log")
    with open(log_path, "ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    stat = _proc_stat(proc.pid)
    return proc, {"name": name, "pid": proc.pid, "start_ticks": stat[2] if stat else None,
                  "argv": argv, "log": log_path}


def _log_tail(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            tail = f.read().splitlines()[-lines:]
    except OSError:
        return ""
    return "".join(f"\n  | {line}" for line in tail)


# ---------------------------------------------------------------------------
# Ports.

def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rendezvous_base(count):
    """The first of `count` consecutive free ports in RENDEZVOUS_PORT_RANGE."""
    lo, hi = RENDEZVOUS_PORT_RANGE
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(lo, hi - count)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise LocalClusterError(f"no {count} consecutive free ports in {lo}-{hi}")


# ---------------------------------------------------------------------------
# Commands.

def _check_binary(bin_dir, name):
    path = os.path.join(bin_dir, name)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise LocalClusterError(
            f"{path}: no such executable (build it: cmake --build build; or pass --bin DIR / "
            "set RECA_BIN)", 2)
    return path


def up(opts, probe, out=None, err=None):
    """Starts the cluster; `probe(address, timeout_s) -> bool` says when the coordinator
    answers. Returns the exit status (raises LocalClusterError on failure, leaving nothing
    running)."""
    out, err = out or sys.stdout, err or sys.stderr
    local_dir = opts.dir
    if opts.workers < 0 or opts.slots < 1:
        raise LocalClusterError("--workers must be >= 0 and --slots >= 1", 2)
    state = read_state(local_dir)
    if state is not None:
        running = [p for p in state.get("processes", []) if alive(p)]
        if running:
            raise LocalClusterError(
                f"a local cluster already runs in {local_dir} (coordinator "
                f"{state.get('address')}, {len(running)} live processes): "
                "`recactl local down` first")
        _remove_state(local_dir)  # stale: every process is gone
    coordinator_bin = _check_binary(opts.bin_dir, "reca-coordinator")
    worker_bin = _check_binary(opts.bin_dir, "reca-worker") if opts.workers else None
    os.makedirs(os.path.join(local_dir, "logs"), exist_ok=True)
    os.makedirs(os.path.join(local_dir, "runs"), exist_ok=True)

    hashes = make_tokens(local_dir, local_user())
    port = opts.port or free_port()
    address = f"127.0.0.1:{port}"
    metrics_address = f"127.0.0.1:{free_port()}"  # Prometheus /metrics
    state = {"address": address, "metrics_address": metrics_address, "dir": local_dir,
             "started": time.time(), "processes": []}
    try:
        proc, record = _start("coordinator", [
            coordinator_bin, f"--listen={address}", f"--db={os.path.join(local_dir, 'db')}",
            f"--runs_root={os.path.join(local_dir, 'runs')}",
            f"--metrics_listen={metrics_address}", f"--auth_tokens_file={hashes}"]
            + opts.coordinator_flags, local_dir)
        record["metrics"] = metrics_address
        state["processes"].append(record)
        _write_state(local_dir, state)  # from here on `local down` can clean up
        deadline = time.monotonic() + opts.wait_s
        while not probe(address, 1.0):
            if proc.poll() is not None:
                raise LocalClusterError(f"reca-coordinator exited with status {proc.returncode}; "
                                        f"{record['log']}:{_log_tail(record['log'])}")
            if time.monotonic() > deadline:
                raise LocalClusterError(f"reca-coordinator does not answer at {address} after "
                                        f"{opts.wait_s:.0f}s; {record['log']}:"
                                        f"{_log_tail(record['log'])}")
            time.sleep(0.2)

        base = _rendezvous_base(PORTS_PER_WORKER * opts.workers) if opts.workers else 0
        workers = []
        for i in range(1, opts.workers + 1):
            lo = base + (i - 1) * PORTS_PER_WORKER
            metrics = f"127.0.0.1:{free_port()}"
            wproc, wrecord = _start(f"w{i}", [
                worker_bin, f"--coordinator={address}", f"--worker_id=w{i}",
                f"--cpu_slots={opts.slots}", "--address=127.0.0.1",
                f"--rendezvous_ports={lo}-{lo + PORTS_PER_WORKER - 1}", "--threads=1",
                f"--metrics_listen={metrics}", f"--token_file={token_path(local_dir, 'worker')}",
                # The trainer of the same --bin (a daemon's default is the one beside
                # its own executable, which differs when DIR holds links).
                f"--trainer={os.path.abspath(os.path.join(opts.bin_dir, 'reca-train'))}"]
                + opts.worker_flags, local_dir)
            wrecord["rendezvous_ports"] = [lo, lo + PORTS_PER_WORKER - 1]
            wrecord["metrics"] = metrics
            state["processes"].append(wrecord)
            workers.append((wproc, wrecord))
            _write_state(local_dir, state)
        if opts.evaluators:
            evaluator_bin = _check_binary(opts.bin_dir, "reca-evaluator")
            for i in range(1, opts.evaluators + 1):
                metrics = f"127.0.0.1:{free_port()}"
                eproc, erecord = _start(f"e{i}", [
                    evaluator_bin, f"--coordinator={address}", f"--evaluator_id=e{i}",
                    "--threads=1", f"--metrics_listen={metrics}",
                    f"--token_file={token_path(local_dir, 'evaluator')}",
                    f"--eval_binary={os.path.abspath(os.path.join(opts.bin_dir, 'reca-eval'))}"]
                    + opts.evaluator_flags,
                    local_dir)
                erecord["metrics"] = metrics
                state["processes"].append(erecord)
                workers.append((eproc, erecord))
                _write_state(local_dir, state)
        # A daemon with bad flags exits at once: catch that here rather than at submit time.
        time.sleep(0.5 if workers else 0)
        for wproc, wrecord in workers:
            if wproc.poll() is not None:
                raise LocalClusterError(f"{wrecord['name']} exited with status "
                                        f"{wproc.returncode}; {wrecord['log']}:"
                                        f"{_log_tail(wrecord['log'])}")
    except BaseException:
        _stop(list(reversed(state["processes"])), 5.0, err)
        _remove_state(local_dir)
        raise

    for p in state["processes"]:
        extra = f", rendezvous ports {p['rendezvous_ports'][0]}-{p['rendezvous_ports'][1]}" \
            if "rendezvous_ports" in p else ""
        err.write(f"{p['name']:<12} pid {p['pid']:<8} log {p['log']}{extra}\n")
    out.write(f"# local cluster in {local_dir}: coordinator {address}, {opts.workers} "
              f"worker(s) x {opts.slots} CPU slot(s), {opts.evaluators} evaluator(s)\n")
    out.write(f"export RECA_COORDINATOR={address}\n")
    out.write(f"export RECA_TOKEN_FILE={os.path.abspath(token_path(local_dir, 'user'))}\n")
    out.flush()
    return 0


def status(local_dir, count_jobs, out=None):
    """Prints each process (alive or dead) and the jobs by state; exit 0 only if all live."""
    out = out or sys.stdout
    state = read_state(local_dir)
    if state is None:
        out.write(f"no local cluster in {local_dir} (start one: recactl local up)\n")
        return 1
    address = state.get("address")
    out.write(f"local cluster in {local_dir}, coordinator {address}\n")
    if state.get("metrics_address"):
        out.write(f"metrics: http://{state['metrics_address']}/metrics\n")
    all_alive = True
    for p in state.get("processes", []):
        ok = alive(p)
        all_alive &= ok
        metrics = f" metrics http://{p['metrics']}/metrics" if p.get("metrics") else ""
        out.write(f"  {p['name']:<12} pid {p['pid']:<8} {'alive' if ok else 'DEAD ':<6} "
                  f"{p['log']}{metrics}\n")
    try:
        counts = count_jobs(address)
        detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        out.write(f"jobs: {sum(counts.values())}" + (f" ({detail})" if detail else "") + "\n")
    except Exception as e:  # an RPC error: the coordinator is down or unhealthy
        code = getattr(e, "code", None)
        out.write(f"jobs: unknown ({code().name if callable(code) else type(e).__name__}: "
                  f"{e.details() if hasattr(e, 'details') else e})\n")
        all_alive = False
    out.write(f"export RECA_COORDINATOR={address}\n")
    out.write(f"export RECA_TOKEN_FILE={os.path.abspath(token_path(local_dir, 'user'))}\n")
    return 0 if all_alive else 1


def down(local_dir, grace_s=40.0, out=None, err=None):
    """SIGTERMs the workers, then the coordinator; SIGKILLs stragglers after `grace_s`."""
    out, err = out or sys.stdout, err or sys.stderr
    state = read_state(local_dir)
    if state is None:
        out.write(f"no local cluster in {local_dir}\n")
        return 0
    procs = state.get("processes", [])
    workers = [p for p in procs if p["name"] != "coordinator"]
    coordinator = [p for p in procs if p["name"] == "coordinator"]
    live = [p["name"] for p in procs if alive(p)]
    # Workers first, so that they stop their ranks and report while the coordinator listens.
    killed = _stop(workers, grace_s, err) + _stop(coordinator, grace_s, err)
    _remove_state(local_dir)
    summary = f"stopped {', '.join(live)}" if live else "nothing was running"
    if killed:
        summary += f" (SIGKILL after {grace_s:.0f}s: {', '.join(killed)})"
    out.write(f"local cluster in {local_dir}: {summary}\n")
    return 0
