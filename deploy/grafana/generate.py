#!/usr/bin/env python3
"""Writes the Grafana dashboards (deploy/grafana/*.json) from the compact
definitions below. The JSON files are what Grafana's file provisioning (or the
Kubernetes sidecar) loads; `check_dashboards.py` (in `make test`) fails when
they differ from what this script writes, so edit here and re-run:

    deploy/grafana/generate.py

Every panel queries the Prometheus datasource chosen by the dashboard's
`datasource` variable; per-job panels use the `job_id` variable.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}


def panel(title, exprs, unit="short", kind="timeseries", legend=None, width=12, desc=""):
    """One panel; exprs: [(expr, legend)] or [expr]."""
    targets = []
    for i, e in enumerate(exprs):
        expr, fmt = (e if isinstance(e, tuple) else (e, legend or ""))
        targets.append({"datasource": DS, "expr": expr, "legendFormat": fmt,
                        "refId": chr(ord("A") + i)})
    p = {"type": kind, "title": title, "datasource": DS, "targets": targets,
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "options": {}, "gridPos": {"w": width, "h": 8}}
    if desc:
        p["description"] = desc
    if kind == "table":
        for t in targets:
            t["format"] = "table"
            t["instant"] = True
    return p


def dashboard(uid, title, panels, job_var=False):
    templating = [{"name": "datasource", "type": "datasource", "query": "prometheus",
                   "label": "Prometheus", "current": {}, "hide": 0}]
    if job_var:
        templating.append({"name": "job_id", "type": "query", "label": "Job", "datasource": DS,
                           "query": {"query": "label_values(reca_job_info, job_id)",
                                     "refId": "job_id"},
                           "definition": "label_values(reca_job_info, job_id)",
                           "refresh": 2, "current": {}, "hide": 0, "sort": 1})
    x = y = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
        w = p["gridPos"]["w"]
        if x + w > 24:
            x, y = 0, y + 8
        p["gridPos"].update({"x": x, "y": y})
        x += w
    return {"uid": uid, "title": title, "tags": ["reca"], "timezone": "browser",
            "schemaVersion": 37, "version": 1, "editable": True, "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": templating}, "annotations": {"list": []},
            "panels": panels}


J = '{job_id="$job_id"}'
STEP_MEAN = ('(rate(reca_job_step_duration_seconds_sum{job_id="$job_id"}[5m]) / '
             'rate(reca_job_step_duration_seconds_count{job_id="$job_id"}[5m]))')

DASHBOARDS = {
    "reca-jobs-overview.json": dashboard("reca-jobs-overview", "RecA / Jobs overview", [
        panel("Jobs by state", [("reca_jobs", "{{state}}")]),
        panel("Queue depth and oldest wait", [("reca_queue_depth", "queued"),
                                             ("reca_queue_oldest_wait_seconds / 60",
                                              "oldest wait (min)")]),
        panel("Queue wait p50 / p95 (jobs started in the last hour)",
              [("histogram_quantile(0.5, sum by (le) (increase(reca_queue_wait_seconds_bucket[1h])))",
                "p50"),
               ("histogram_quantile(0.95, sum by (le) (increase(reca_queue_wait_seconds_bucket[1h])))",
                "p95")], unit="s"),
        panel("Failures in the last hour, by cause",
              [("increase(reca_job_failures_total[1h])", "{{reason}}"),
               ("increase(reca_checkpoint_unreadable_total[1h])",
                "unusable checkpoint (the job went on from an earlier one)")]),
        panel("Admissions per hour", [("increase(reca_jobs_submitted_total[1h])", "submitted")]),
        panel("Running jobs", [("reca_job_info", "")], kind="table", width=24),
        panel("Progress (fraction of steps)",
              [("max by (job_id) (reca_job_steps_total) / on (job_id) reca_job_total_steps",
                "{{job_id}}")], unit="percentunit"),
        panel("Throughput by job (samples/s, all ranks)",
              [("sum by (job_id) (reca_job_samples_per_second)", "{{job_id}}")]),
    ]),
    "reca-job-detail.json": dashboard("reca-job-detail", "RecA / Job detail", [
        panel("Samples/s by rank", [(f"reca_job_samples_per_second{J}", "rank {{rank}}"),
                                    (f"rate(reca_job_samples_total{J}[1m])",
                                     "rank {{rank}} (1m average)")]),
        panel("Step time p50 / p95 by rank",
              [('histogram_quantile(0.5, sum by (le, rank) '
                '(rate(reca_job_step_duration_seconds_bucket{job_id="$job_id"}[5m])))',
                "p50 rank {{rank}}"),
               ('histogram_quantile(0.95, sum by (le, rank) '
                '(rate(reca_job_step_duration_seconds_bucket{job_id="$job_id"}[5m])))',
                "p95 rank {{rank}}")], unit="s"),
        panel("Loss by rank", [(f"reca_job_loss{J}", "rank {{rank}}")]),
        panel("Steps by rank", [(f"reca_job_steps_total{J}", "rank {{rank}}")]),
        panel("Data-loader wait share of a step",
              [(f"reca_job_data_wait_seconds{J} / {STEP_MEAN}", "rank {{rank}}")],
              unit="percentunit"),
        panel("All-reduce share of a step",
              [(f"reca_job_allreduce_seconds{J} / {STEP_MEAN}", "rank {{rank}}")],
              unit="percentunit"),
        panel("MFU by rank", [(f"reca_job_mfu_ratio{J}", "rank {{rank}}")], unit="percentunit",
              desc="Model FLOP/s / the device's peak: reca-worker --gpu_peak_flops, "
                   "else a dense GEMM the trainer measured on its device."),
        panel("Model FLOP/s by rank",
              [(f"reca_job_model_flops_per_second{J}", "rank {{rank}}")], unit="flops"),
        panel("Copy-collapse check: reconstruction / text-to-image level",
              [(f"reca_job_collapse_ratio{J}", "recon / t2i level"),
               (f"reca_job_collapse_alarm{J}", "alarm")],
              desc="Below reca.collapse_ratio (0.2) the generator copies its condition (RecaCollapseAlarm)."),
        panel("Checkpoint: age and step",
              [(f"time() - reca_job_last_checkpoint_timestamp_seconds{J}", "age (s)"),
               (f"reca_job_checkpoint_step{J}", "step")]),
        panel("Restarts (from the last committed checkpoint)",
              [(f"reca_job_restarts_total{J}", "restarts")],
              desc="Attempts that failed in a way a retry can fix; spec.max_restarts bounds them."),
        panel("Since each rank last reported progress",
              [(f"reca_job_progress_age_seconds{J}", "rank {{rank}}")], unit="s"),
        panel("Evaluation scores (last scored checkpoint)",
              [(f"reca_eval_score{J}", "{{suite}} {{metric}}")], width=24),
        panel("ShapesEdit per category (last scored checkpoint)",
              [('reca_eval_score{job_id="$job_id", suite="shapes_edit", '
                'metric=~"overall|carried_out|preserved|categories[.].*"}', "{{metric}}")],
              unit="percentunit", kind="bargauge", width=24,
              desc="Fraction of the fixed edit pairs judged correct (instruction carried out and "
                   "everything else preserved), overall and per edit category."),
    ], job_var=True),
    "reca-fleet.json": dashboard("reca-fleet", "RecA / Fleet", [
        panel("Live workers", [("reca_workers", "workers")]),
        panel("Slots used / offered by worker",
              [('reca_worker_slots_used{kind="cpu"}', "{{worker}} cpu used"),
               ('reca_worker_slots{kind="cpu"}', "{{worker}} cpu"),
               ('reca_worker_slots_used{kind="gpu"}', "{{worker}} gpu used"),
               ('reca_worker_slots{kind="gpu"}', "{{worker}} gpu")]),
        panel("Heartbeat age (as the coordinator sees it)",
              [("reca_worker_heartbeat_age_seconds", "{{worker}}")], unit="s"),
        panel("Heartbeats per second by outcome",
              [("sum by (worker, outcome) (rate(reca_worker_heartbeats_total[5m]))",
                "{{worker}} {{outcome}}")]),
        panel("Rank processes running", [("reca_worker_ranks_running", "{{worker}}")]),
        panel("Rank exits in the last hour, by cause",
              [("sum by (cause) (increase(reca_worker_rank_exits_total[1h]))", "{{cause}}")]),
        panel("Reports waiting for the coordinator",
              [("reca_worker_pending_reports", "{{worker}}")]),
        panel("Leases lost in the last hour",
              [("increase(reca_worker_leases_lost_total[1h])", "{{worker}}")]),
    ]),
    "reca-control-plane.json": dashboard("reca-control-plane", "RecA / Control plane", [
        panel("gRPC calls per second by method",
              [("sum by (method) (rate(reca_grpc_server_handled_total[5m]))", "{{method}}")]),
        panel("gRPC errors per second by method and code",
              [('sum by (method, code) (rate(reca_grpc_server_handled_total{code!="OK"}[5m]))',
                "{{method}} {{code}}")]),
        panel("gRPC latency p99 by method",
              [("histogram_quantile(0.99, sum by (le, method) "
                "(rate(reca_grpc_server_handling_seconds_bucket[5m])))", "{{method}}")],
              unit="s"),
        panel("RocksDB write latency p50 / p99",
              [("histogram_quantile(0.5, sum by (le, sync) "
                "(rate(reca_store_write_seconds_bucket[5m])))", "p50 sync={{sync}}"),
               ("histogram_quantile(0.99, sum by (le, sync) "
                "(rate(reca_store_write_seconds_bucket[5m])))", "p99 sync={{sync}}")],
              unit="s"),
        panel("Refused calls (no or invalid token, wrong role) in the last hour",
              [("sum by (service, code) (increase(reca_rpc_auth_denied_total[1h]))",
                "{{service}} {{code}}")],
              desc="UNAUTHENTICATED (no, unknown or revoked token) and PERMISSION_DENIED "
                   "(a role calling another's service), by service"),
        panel("RocksDB write errors", [("reca_store_write_errors_total", "errors")]),
        panel("Coordinator uptime", [("time() - reca_coordinator_start_time_seconds", "uptime")],
              unit="s"),
        panel("Builds running", [("reca_build_info", "{{job}} {{version}}")], kind="table"),
    ]),
    "reca-evaluator.json": dashboard("reca-evaluator", "RecA / Evaluator", [
        panel("Checkpoints waiting / being scored",
              [("reca_eval_queue_depth", "waiting"), ("reca_eval_claims", "scoring")]),
        panel("Evaluators busy", [("reca_evaluator_busy", "{{evaluator}}")]),
        panel("Tasks in the last hour, by outcome",
              [("sum by (outcome) (increase(reca_evaluator_tasks_total[1h]))", "{{outcome}}")]),
        panel("Scoring duration p50 / p95",
              [("histogram_quantile(0.5, sum by (le) "
                "(increase(reca_evaluator_scoring_duration_seconds_bucket[1h])))", "p50"),
               ("histogram_quantile(0.95, sum by (le) "
                "(increase(reca_evaluator_scoring_duration_seconds_bucket[1h])))", "p95")],
              unit="s"),
        panel("Scores recorded", [("reca_eval_scores_total", "scores")]),
        panel("Last scored checkpoint, per suite and metric",
              [("reca_eval_score", "{{job_id}} {{suite}} {{metric}}")], width=24),
    ]),
}


def render(d):
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


def main():
    for name, d in DASHBOARDS.items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(render(d))
    print(f"wrote {len(DASHBOARDS)} dashboards to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
