#!/usr/bin/env python3
"""Screenshot-free checks of the shipped Grafana dashboards (`make test`):

  * each file is exactly what generate.py writes (no hand edits that drift);
  * each loads as Grafana expects: uid, title, schemaVersion, panels with
    unique integer ids, a type, a gridPos inside the 24-column grid, targets
    with unique refIds; every datasource reference resolves to the
    dashboard's `datasource` variable (a Prometheus datasource variable) and
    every `$variable` an expression uses is defined;
  * every PromQL expression parses (promtool check rules, one recording rule
    per expression) and names only metrics that the services export (read
    from their exporters' sources), as do the alert rules.

    check_dashboards.py [REPO_ROOT]
"""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GRAFANA = os.path.join(ROOT, "deploy", "grafana")
sys.path.insert(0, GRAFANA)
import generate  # noqa: E402

EXPORTERS = ["coordinator/prometheus_export.cc", "worker/prometheus_export.cc",
             "evaluator/prometheus_export.cc", "common/service_metrics.cc"]
PANEL_TYPES = {"timeseries", "table", "stat", "gauge", "bargauge", "text"}
DS_REF = {"type": "prometheus", "uid": "${datasource}"}


def exported_metrics():
    names = set()
    for rel in EXPORTERS:
        with open(os.path.join(ROOT, rel)) as f:
            names |= set(re.findall(r'"(reca_[a-z0-9_]+)"', f.read()))
    return names


def unknown_metrics(expr, known):
    """Metric names in `expr` that no service exports (histogram series count
    by their family's name)."""
    out = set()
    for name in re.findall(r"\b(reca_[a-z0-9_]+)", expr):
        if name in known or any(name.endswith(s) and name[: -len(s)] in known
                                for s in ("_bucket", "_sum", "_count")):
            continue
        out.add(name)
    return sorted(out)


def check_dashboard(name, d, known, errors):
    def err(msg):
        errors.append(f"{name}: {msg}")

    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in d:
            err(f"missing {key}")
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err("no `datasource` variable of type datasource (query prometheus)")
    ids = set()
    exprs = []
    for p in d.get("panels", []):
        pid = p.get("id")
        where = f"panel {pid} ({p.get('title')!r})"
        if not isinstance(pid, int) or pid in ids:
            err(f"{where}: id missing or not unique")
        ids.add(pid)
        if p.get("type") not in PANEL_TYPES:
            err(f"{where}: unknown type {p.get('type')!r}")
        if not p.get("title"):
            err(f"{where}: no title")
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] + g["w"] > 24:
            err(f"{where}: gridPos {g} is not inside the 24-column grid")
        if p.get("datasource") != DS_REF:
            err(f"{where}: datasource {p.get('datasource')} is not the $datasource variable")
        refs = set()
        if not p.get("targets"):
            err(f"{where}: no targets")
        for t in p.get("targets", []):
            if t.get("datasource") != DS_REF:
                err(f"{where}: target {t.get('refId')} does not use the $datasource variable")
            if not t.get("refId") or t["refId"] in refs:
                err(f"{where}: refId missing or repeated")
            refs.add(t.get("refId"))
            expr = t.get("expr", "")
            if not expr.strip():
                err(f"{where}: empty expr")
            for var in re.findall(r"\$\{?([A-Za-z_]+)", expr):
                if var not in variables:
                    err(f"{where}: ${var} is not a dashboard variable")
            unknown = unknown_metrics(expr, known)
            if unknown:
                err(f"{where}: metrics no service exports: {unknown}")
            exprs.append(expr)
    return exprs


def promtool_parses(exprs, errors):
    """promtool check rules parses PromQL: one recording rule per expression."""
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:expr{i}", "expr": e.replace("$job_id", "job-1")}
        for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(rules, f)  # JSON is YAML
        path = f.name
    try:
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            errors.append("promtool cannot parse the dashboards' PromQL:\n" + r.stdout + r.stderr)
    finally:
        os.unlink(path)


def main():
    errors = []
    known = exported_metrics()
    exprs = []
    for name, d in generate.DASHBOARDS.items():
        path = os.path.join(GRAFANA, name)
        with open(path) as f:
            text = f.read()
        if text != generate.render(d):
            errors.append(f"{name}: differs from what generate.py writes; run deploy/grafana/generate.py")
        exprs += check_dashboard(name, json.loads(text), known, errors)
    with open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")) as f:
        unknown = unknown_metrics(f.read(), known)
        if unknown:
            errors.append(f"alerts.yml: metrics no service exports: {unknown}")
    promtool_parses(exprs, errors)
    for e in errors:
        print("FAIL:", e)
    if errors:
        return 1
    print(f"PASS: {len(generate.DASHBOARDS)} dashboards, {len(exprs)} expressions, "
          f"{len(known)} exported metric names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
