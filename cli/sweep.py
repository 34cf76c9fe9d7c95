"""Sweeps for recactl (issue 10): the sweep file, its expansion into points, and the
report with its regression gate. No gRPC here: recactl.py submits and polls.

A sweep file (YAML):

    name: tiny-grid
    base: reca.yaml                  # a job spec, relative to this file (or `spec:` inline)
    set: {steps: 20}                 # overrides of the base, like `submit --set`
    axes:
      - {field: optimizer.lr, values: [1.0e-4, 5.0e-4]}       # grid: every value
      - {field: model.family, values: [mar, flow]}
      - {field: reca.cfg_drop, random: {min: 0.0, max: 0.2}}   # random: drawn per point
      - {field: seed, random: {choice: [0, 1, 2]}}
    samples: 2                       # random draws per grid combination (default 1)
    seed: 0                          # of the random draws
    concurrency: 2                   # points running at once
    resources: {ranks: 1, gpu: false, threads: 0}
    priority: 0
    metrics: [loss, samples_per_s, shapes_eval.overall]
    regression:
      baseline: baseline.json        # an earlier report.json (relative to this file)
      rules:
        - {metric: loss, max_increase: 0.10}        # at most 10% above the baseline's
        - {metric: samples_per_s, max_decrease: 0.30}
        - {metric: shapes_eval.overall, max_decrease: 0.02, absolute: true}
        - {metric: loss, max: 5.0}                  # a bound of its own

Report metrics: a training metric the trainer logs (`loss`, `loss_by_source/shapes-recon`,
`mfu`, ...) is rank 0's mean over the last 20% of its logged steps; `samples_per_s` is the
whole job's (summed over ranks per step, then averaged so); `SUITE.KEY` (`shapes_eval.overall`,
`recon.psnr`) is the evaluator's score of the job's last scored checkpoint; `duration_s` is
the job's wall time from start to end.
"""
import itertools
import json
import math
import os
import random

SWEEP_KEYS = ("name", "base", "spec", "set", "axes", "samples", "seed", "concurrency",
              "resources", "priority", "metrics", "regression")
AXIS_KEYS = ("field", "values", "random")
RANDOM_KEYS = ("min", "max", "log", "integer", "choice")
RESOURCE_KEYS = ("ranks", "gpu", "threads")
REGRESSION_KEYS = ("baseline", "rules")
RULE_KEYS = ("metric", "max_increase", "max_decrease", "absolute", "max", "min")
DEFAULT_METRICS = ["loss", "samples_per_s"]
FINAL_WINDOW = 0.2  # the share of the last logged steps a training metric is averaged over


class SweepError(Exception):
    """A bad sweep file or baseline; the message names the file and the field."""


def _check_keys(value, allowed, where):
    if not isinstance(value, dict):
        raise SweepError(f"{where}: expected a mapping, got {value!r}")
    for key in value:
        if key not in allowed:
            raise SweepError(f"{where}.{key}: unknown key (known: {', '.join(allowed)})")


def _number(value, where, integer=False, minimum=None):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool):
        raise SweepError(f"{where}: expected {'an integer' if integer else 'a number'}, "
                         f"got {value!r}")
    if minimum is not None and value < minimum:
        raise SweepError(f"{where}: must be >= {minimum} (got {value})")
    return value


def yaml_text(value):
    """A value as the YAML scalar SweepValue.value holds (and the report shows)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Plan:
    """A parsed sweep file."""

    def __init__(self):
        self.name = "sweep"
        self.base = {}          # the base spec tree
        self.overrides = {}     # `set:`
        self.grid = []          # (field, [values])
        self.random = []        # (field, spec dict)
        self.axes = []          # every axis in file order: (field, kind, detail)
        self.samples = 1
        self.seed = 0
        self.concurrency = 2
        self.ranks, self.gpu, self.threads = 1, False, 0
        self.priority = 0
        self.metrics = list(DEFAULT_METRICS)
        self.baseline = None    # a path, resolved against the sweep file
        self.rules = []         # dicts with RULE_KEYS


def parse(tree, path, read_spec):
    """The sweep file's tree as a Plan. `read_spec(path)` loads a base job spec file."""
    _check_keys(tree, SWEEP_KEYS, path)
    plan = Plan()
    here = os.path.dirname(os.path.abspath(path))
    plan.name = str(tree.get("name") or os.path.splitext(os.path.basename(path))[0])
    if ("base" in tree) == ("spec" in tree):
        raise SweepError(f"{path}: give the base job spec as `base: FILE` or `spec:` inline "
                         "(exactly one)")
    if "base" in tree:
        base_path = os.path.join(here, str(tree["base"]))
        if not os.path.isfile(base_path):
            raise SweepError(f"{path}: base: no such file {base_path}")
        plan.base = read_spec(base_path)
    else:
        plan.base = tree["spec"]
        if not isinstance(plan.base, dict):
            raise SweepError(f"{path}: spec: expected a mapping")
    plan.overrides = tree.get("set") or {}
    if not isinstance(plan.overrides, dict):
        raise SweepError(f"{path}: set: expected a mapping of field: value")

    axes = tree.get("axes") or []
    if not isinstance(axes, list) or not axes:
        raise SweepError(f"{path}: axes: expected a non-empty list")
    seen = set()
    for i, axis in enumerate(axes):
        where = f"{path}: axes[{i}]"
        _check_keys(axis, AXIS_KEYS, where)
        field = axis.get("field")
        if not isinstance(field, str) or not field:
            raise SweepError(f"{where}.field: expected a spec field, e.g. optimizer.lr")
        if field in seen:
            raise SweepError(f"{where}.field: {field} is swept twice")
        seen.add(field)
        if ("values" in axis) == ("random" in axis):
            raise SweepError(f"{where}: give `values:` (grid) or `random:` (exactly one)")
        if "values" in axis:
            values = axis["values"]
            if not isinstance(values, list) or not values:
                raise SweepError(f"{where}.values: expected a non-empty list")
            plan.grid.append((field, values))
            plan.axes.append((field, "grid", values))
            continue
        r = axis["random"]
        _check_keys(r, RANDOM_KEYS, f"{where}.random")
        if "choice" in r:
            if set(r) - {"choice"} or not isinstance(r["choice"], list) or not r["choice"]:
                raise SweepError(f"{where}.random: `choice:` is a non-empty list, on its own")
        else:
            if "min" not in r or "max" not in r:
                raise SweepError(f"{where}.random: needs min and max (or choice)")
            lo = _number(r["min"], f"{where}.random.min")
            hi = _number(r["max"], f"{where}.random.max")
            if hi < lo:
                raise SweepError(f"{where}.random: max {hi} is below min {lo}")
            if r.get("log") and lo <= 0:
                raise SweepError(f"{where}.random.log: needs min > 0")
        plan.random.append((field, r))
        plan.axes.append((field, "random", r))

    plan.samples = _number(tree.get("samples", 1), f"{path}: samples", integer=True, minimum=1)
    if plan.samples > 1 and not plan.random:
        raise SweepError(f"{path}: samples: {plan.samples} draws need a random axis")
    plan.seed = _number(tree.get("seed", 0), f"{path}: seed", integer=True, minimum=0)
    plan.concurrency = _number(tree.get("concurrency", 2), f"{path}: concurrency",
                               integer=True, minimum=1)
    res = tree.get("resources") or {}
    _check_keys(res, RESOURCE_KEYS, f"{path}: resources")
    plan.ranks = _number(res.get("ranks", 1), f"{path}: resources.ranks", integer=True, minimum=1)
    plan.gpu = bool(res.get("gpu", False))
    plan.threads = _number(res.get("threads", 0), f"{path}: resources.threads", integer=True,
                           minimum=0)
    plan.priority = _number(tree.get("priority", 0), f"{path}: priority", integer=True)
    metrics = tree.get("metrics", DEFAULT_METRICS)
    if not isinstance(metrics, list) or not all(isinstance(m, str) and m for m in metrics):
        raise SweepError(f"{path}: metrics: expected a list of metric names")
    plan.metrics = list(metrics)

    reg = tree.get("regression") or {}
    _check_keys(reg, REGRESSION_KEYS, f"{path}: regression")
    if reg.get("baseline"):
        plan.baseline = os.path.join(here, str(reg["baseline"]))
    plan.rules = parse_rules(reg.get("rules") or [], f"{path}: regression.rules")
    for rule in plan.rules:
        if rule["metric"] not in plan.metrics:
            plan.metrics.append(rule["metric"])  # a rule's metric is reported
    return plan


def parse_rules(rules, where):
    if not isinstance(rules, list):
        raise SweepError(f"{where}: expected a list")
    out = []
    for i, rule in enumerate(rules):
        w = f"{where}[{i}]"
        _check_keys(rule, RULE_KEYS, w)
        if not isinstance(rule.get("metric"), str) or not rule["metric"]:
            raise SweepError(f"{w}.metric: expected a metric name")
        limits = [k for k in ("max_increase", "max_decrease", "max", "min") if k in rule]
        if not limits:
            raise SweepError(f"{w}: give max_increase, max_decrease, max or min")
        checked = {"metric": rule["metric"], "absolute": bool(rule.get("absolute", False))}
        for k in limits:
            checked[k] = float(_number(rule[k], f"{w}.{k}"))
            if k.startswith("max_") and checked[k] < 0:
                raise SweepError(f"{w}.{k}: must be >= 0 (got {rule[k]})")
        out.append(checked)
    return out


def expand(plan, set_path):
    """The points, in order: [(values, tree)] with values [(field, value)] in axis order.
    Grid axes cross (the first varies slowest); each combination gets `samples` random
    draws of the random axes, from Random(seed) in point order, so a sweep file expands
    the same way every time. `set_path(tree, field, value)` sets a spec field."""
    rng = random.Random(plan.seed)
    grid_fields = [f for f, _ in plan.grid]
    order = [f for f, _, _ in plan.axes]
    points = []
    for combo in itertools.product(*[values for _, values in plan.grid]):
        for _ in range(plan.samples):
            chosen = dict(zip(grid_fields, combo))
            for field, r in plan.random:
                chosen[field] = _draw(rng, r)
            tree = json.loads(json.dumps(plan.base))  # a deep copy
            for field, value in plan.overrides.items():
                set_path(tree, str(field), value)
            for field in order:
                set_path(tree, field, chosen[field])
            tree["name"] = f"{plan.name}-{len(points)}"
            points.append(([(f, chosen[f]) for f in order], tree))
    return points


def _draw(rng, r):
    if "choice" in r:
        return rng.choice(r["choice"])
    lo, hi = float(r["min"]), float(r["max"])
    if r.get("log"):
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        value = rng.uniform(lo, hi)
    if r.get("integer"):
        return int(round(value))
    return float(f"{value:.6g}")  # readable in tables; exact in the spec


# ---------------------------------------------------------------------------
# The report: one row per point, from what the coordinator recorded.

def final_value(points, name):
    """A training metric's final value from its MetricPoints (see the module doc)."""
    if name == "samples_per_s":
        by_step = {}
        for p in points:
            by_step[p.step] = by_step.get(p.step, 0.0) + p.value
    else:
        by_step = {p.step: p.value for p in points if p.rank == 0}
    if not by_step:
        return None
    steps = sorted(by_step)
    window = steps[-max(1, math.ceil(FINAL_WINDOW * len(steps))):]
    return sum(by_step[s] for s in window) / len(window)


def eval_value(scores, name):
    """`SUITE.KEY` of the latest scored checkpoint, or None."""
    suite, _, key = name.partition(".")
    best = None
    for s in scores:
        if s.suite == suite and not s.error and key in s.values:
            if best is None or s.step > best.step:
                best = s
    return None if best is None else best.values[key]


def point_row(point, state, job, metric_points, scores, metrics):
    """One report row of a SweepPoint whose state is named `state`. `job` may be None
    (never started); the metric sources may be empty."""
    row = {"index": point.index,
           "values": {v.field: v.value for v in point.values},
           "job_id": point.job_id,
           "state": state,
           "error": point.error,
           "metrics": {}}
    by_name = {}
    for p in metric_points:
        by_name.setdefault(p.name, []).append(p)
    for m in metrics:
        if m == "duration_s":
            ok = job is not None and job.start_unix_micros and job.end_unix_micros
            value = (job.end_unix_micros - job.start_unix_micros) / 1e6 if ok else None
        elif m in by_name or "." not in m:
            value = final_value(by_name.get(m, []), m)
        else:
            value = eval_value(scores, m)
        row["metrics"][m] = value
    return row


def _key(values):
    return json.dumps(sorted(values.items()))


def load_baseline(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise SweepError(f"baseline {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise SweepError(f"baseline {path}: not JSON: {e}")
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise SweepError(f"baseline {path}: not a sweep report (no points list; "
                         "use an earlier run's report.json)")
    out = {}
    for i, p in enumerate(data["points"]):
        if not isinstance(p, dict) or not isinstance(p.get("values"), dict) \
                or not isinstance(p.get("metrics"), dict):
            raise SweepError(f"baseline {path}: points[{i}]: needs values and metrics mappings")
        out[_key(p["values"])] = p
    return out


def check(rows, rules, baseline):
    """Every rule against every point: [check dicts]. A check without the values it needs
    is skipped (and says why), not failed: a failed point fails the sweep by itself."""
    checks = []
    for row in rows:
        base_row = baseline.get(_key(row["values"])) if baseline is not None else None
        for rule in rules:
            m = rule["metric"]
            value = row["metrics"].get(m)
            for kind in ("max_increase", "max_decrease", "max", "min"):
                if kind not in rule or (baseline is None and kind.startswith("max_")):
                    continue  # relative rules need a baseline (report() says so)
                c = {"index": row["index"], "metric": m, "rule": kind, "threshold": rule[kind],
                     "absolute": rule["absolute"], "value": value, "baseline": None,
                     "limit": None, "status": "skipped", "note": ""}
                checks.append(c)
                if value is None:
                    c["note"] = "no value"
                    continue
                if kind in ("max", "min"):
                    c["limit"] = rule[kind]
                else:
                    base = (base_row or {}).get("metrics", {}).get(m)
                    if base is None:
                        c["note"] = "no baseline value for this point"
                        continue
                    c["baseline"] = base
                    margin = rule[kind] if rule["absolute"] else rule[kind] * abs(base)
                    c["limit"] = base + margin if kind == "max_increase" else base - margin
                upper = kind in ("max", "max_increase")
                crossed = value > c["limit"] if upper else value < c["limit"]
                c["status"] = "FAIL" if crossed else "pass"
    return checks


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _rule_text(c):
    t = c["threshold"]
    if c["rule"] in ("max", "min"):
        return f"{c['rule']} {_fmt(t)}"
    sign = "+" if c["rule"] == "max_increase" else "-"
    return f"{sign}{_fmt(t)}" if c["absolute"] else f"{sign}{t * 100:g}%"


def report(sweep, rows, metrics, rules, checks, baseline_path):
    """The report as (markdown, json-able dict) and the failure lines. `sweep`: a dict
    with id, name, state, seed, concurrency and axes (the swept fields)."""
    failures = []
    for row in rows:
        if row["state"] != "SUCCEEDED":
            values = ", ".join(f"{k}={v}" for k, v in row["values"].items())
            why = f": {row['error']}" if row["error"] else ""
            failures.append(f"point {row['index']} ({values}) {row['state']}{why}")
    for c in checks:
        if c["status"] == "FAIL":
            against = (f" (baseline {_fmt(c['baseline'])}, {_rule_text(c)})"
                       if c["baseline"] is not None else f" ({_rule_text(c)})")
            failures.append(f"point {c['index']}: {c['metric']} {_fmt(c['value'])} crossed "
                            f"{_fmt(c['limit'])}{against}")
    fields = sweep["axes"]
    lines = [f"## Sweep {sweep['id']} `{sweep['name']}`: {sweep['state']}, {len(rows)} points",
             ""]
    header = ["#"] + fields + ["state", "job"] + metrics
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = [str(row["index"])] + [row["values"].get(f, "") for f in fields]
        cells += [row["state"] + (f" ({row['error']})" if row["error"] else ""),
                  row["job_id"] or "-"]
        cells += [_fmt(row["metrics"].get(m)) for m in metrics]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if checks:
        lines += ["", "### Regression checks" + (f" against `{baseline_path}`"
                                                 if baseline_path else ""), ""]
        lines.append("| # | metric | rule | baseline | value | limit | result |")
        lines.append("|---|---|---|---|---|---|---|")
        for c in checks:
            result = c["status"] + (f" ({c['note']})" if c["note"] else "")
            lines.append(f"| {c['index']} | {c['metric']} | {_rule_text(c)} | "
                         f"{_fmt(c['baseline'])} | {_fmt(c['value'])} | {_fmt(c['limit'])} | "
                         f"{result} |")
    if baseline_path is None and any(k in r for r in rules for k in ("max_increase", "max_decrease")):
        lines += ["", "No baseline report (`--baseline`, `regression.baseline`): the rules "
                      "relative to a baseline were not checked."]
    passed = not failures
    lines += ["", "**PASS**: every point succeeded and no metric crossed its threshold"
              if passed else f"**FAIL**: {len(failures)} problem(s)"]
    lines += [f"- {f}" for f in failures]
    data = {"sweep": sweep, "metrics": metrics, "points": rows, "checks": checks,
            "baseline": baseline_path, "passed": passed, "failures": failures}
    return "\n".join(lines) + "\n", data, failures
