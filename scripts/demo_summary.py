#!/usr/bin/python3
"""Prints the demo's summary from the coordinator's records (through its API):
steps, loss at the start and end of each job, throughput, checkpoints, grids.

usage: demo_summary.py PRETRAIN_JOB RECA_JOB
The coordinator, token and TLS come from cli/reca_client.py, as for recactl
(demo.sh exports RECA_COORDINATOR and RECA_TOKEN_FILE for its local cluster).
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import reca_client  # noqa: E402


def mean(points):
    return statistics.fmean(p.value for p in points) if points else float("nan")


def main():
    conn = reca_client.connect()
    stub, api, job_pb2 = conn.jobs, conn.api, conn.pb.job_pb2
    for label, job_id in (("pre-training", sys.argv[1]), ("RecA", sys.argv[2])):
        job = stub.GetJob(api.GetJobRequest(job_id=job_id), timeout=10).job
        loss = stub.GetMetrics(api.GetMetricsRequest(job_id=job_id, names=["loss"], rank=0), timeout=10).points
        rate = stub.GetMetrics(api.GetMetricsRequest(job_id=job_id, names=["samples_per_s"], rank=-1),
                               timeout=10).points
        by_step = {}
        for p in rate:
            by_step[p.step] = by_step.get(p.step, 0.0) + p.value  # all ranks: the job's samples/s
        ckpts = stub.ListCheckpoints(api.ListCheckpointsRequest(job_id=job_id), timeout=10).checkpoints
        wall = (job.end_unix_micros - job.start_unix_micros) / 1e6 if job.end_unix_micros else float("nan")
        workers = ", ".join(f"rank {p.rank} on {p.worker_id}" for p in job.attempt.placements)
        print(f"{label}: {job.id} {job_pb2.JobState.Name(job.state)}, {len(loss)} steps in {wall:.0f} s ({workers})")
        print(f"  loss (mean of 20 steps): {mean(loss[:20]):.3f} at the start -> {mean(loss[-20:]):.3f} at the end")
        if by_step:
            print(f"  throughput: {statistics.median(by_step.values()):.0f} samples/s (median step, both ranks)")
        if ckpts:
            print(f"  checkpoints: {len(ckpts)}, last {ckpts[-1].path} ({ckpts[-1].bytes / 1e6:.1f} MB)")
        log = os.path.join(job.output_dir, "ranks", "rank-0", "train.log")
        if os.path.exists(log):
            for line in open(log, errors="replace"):
                if "held-out reconstruction loss after" in line or line.startswith("throughput:"):
                    print("  " + line.strip())
        print(f"  grids: {job.output_dir}/recon_final.png, {job.output_dir}/t2i_final.png")
        print(f"  rank logs: {job.output_dir}/ranks/rank-*/train.log")
    print("Compare the reconstructions and text-to-image grids before/after RecA; "
          "`recactl metrics JOB --csv` has every step.")


if __name__ == "__main__":
    main()
