// Coordinator: the recorded checkpoints' lifecycle after the commit — the
// resume point handed to a new attempt, the retention policy, and the
// deletion of retired checkpoints by workers (idempotent, retried until a
// worker acknowledges it).
#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/coordinator.h"
#include "coordinator/keys.h"
#include "coordinator/retention.h"
#include "reca/status.h"

namespace reca::coordinator {
absl::StatusOr<std::vector<v1::Checkpoint>> Coordinator::CheckpointRecords(
    const std::string& job_id) const {
  RECA_ASSIGN_OR_RETURN(std::vector<KeyValue> rows,
                        deps_.store.Scan(keys::CheckpointPrefix(job_id)));
  std::vector<v1::Checkpoint> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!out[i].ParseFromString(rows[i].second)) {
      return absl::DataLossError(absl::StrCat(
          "coordinator store: ", rows[i].first, ": unreadable checkpoint record"));
    }
  }
  return out;
}

absl::Status Coordinator::FillResumePoint(const v1::Job& job,
                                          v1::Assignment* assignment) {
  if (job.latest_checkpoint_path().empty()) return absl::OkStatus();
  RECA_ASSIGN_OR_RETURN(
      std::optional<std::string> value,
      deps_.store.Get(keys::Checkpoint(job.id(), job.latest_checkpoint_step())));
  if (!value || !assignment->mutable_resume()->ParseFromString(*value)) {
    return absl::DataLossError(absl::StrCat(
        "coordinator store: the record of ", job.id(), "'s checkpoint at step ",
        job.latest_checkpoint_step(), " is missing or unreadable"));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::FallBackFromUnusableCheckpoint(
    JobEntry& entry, v1::Job updated, const std::string& why,
    const std::string& worker_id) {
  const int64_t bad_step = updated.attempt().resume_step();
  RECA_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> records,
                        CheckpointRecords(updated.id()));  // by step
  WriteBatch batch;
  const v1::Checkpoint* fallback = nullptr;
  for (v1::Checkpoint& c : records) {
    if (c.step() == bad_step) {
      c.set_retired(true);  // no longer listed, resumed from or scored
      c.set_unusable_reason(why);
      batch.Put(keys::Checkpoint(updated.id(), c.step()),
                c.SerializeAsString());
    } else if (c.step() < bad_step && !c.retired()) {
      fallback = &c;
    }
  }
  updated.set_unusable_checkpoints(updated.unusable_checkpoints() + 1);
  if (fallback != nullptr) {
    updated.set_latest_checkpoint_step(fallback->step());
    updated.set_latest_checkpoint_path(fallback->path());
    updated.set_latest_checkpoint_unix_micros(fallback->commit_unix_micros());
  } else {
    updated.set_latest_checkpoint_step(-1);
    updated.clear_latest_checkpoint_path();
    updated.clear_latest_checkpoint_unix_micros();
  }
  updated.set_failure(why);
  updated.set_failure_reason("checkpoint_unreadable");
  updated.set_state(v1::RESTARTING);
  const std::string message = absl::StrCat(
      "attempt (epoch ", updated.attempt().epoch(),
      ") could not resume from its checkpoint at step ", bad_step, " (", why,
      "); the checkpoint is marked unusable and the job restarts from ",
      fallback != nullptr ? absl::StrCat("its checkpoint at step ", fallback->step())
                          : std::string("its base (no earlier checkpoint)"),
      " once its other ranks have stopped (no restart spent; reported by ",
      worker_id, ")");
  RECA_RETURN_IF_ERROR(
      CommitJob(entry, std::move(updated), message, std::move(batch)));
  return MaybeFinish(entry);
}

absl::Status Coordinator::RetireCheckpoints(JobEntry& entry) {
  const v1::Job& job = entry.job;
  if (job.checkpoint_keep() <= 0) return absl::OkStatus();
  RECA_ASSIGN_OR_RETURN(std::optional<KeepBest> best,
                        ParseKeepBest(job.checkpoint_keep_best()));
  RECA_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> records,
                        CheckpointRecords(job.id()));
  RetentionInput in;
  in.keep = job.checkpoint_keep();
  in.best = best;
  std::map<int64_t, v1::Checkpoint*> live;
  for (v1::Checkpoint& c : records) {
    if (c.retired()) continue;
    in.steps.push_back(c.step());
    live[c.step()] = &c;
    if (eval_pending_.count({job.id(), c.step()})) in.pinned.insert(c.step());
  }
  if (static_cast<int64_t>(in.steps.size()) <= in.keep) return absl::OkStatus();
  if (best) {
    for (const auto& [step, record] : live) {
      RECA_ASSIGN_OR_RETURN(
          std::optional<std::string> value,
          deps_.store.Get(keys::Eval(job.id(), step, best->suite)));
      v1::EvalScore score;
      if (!value || !score.ParseFromString(*value) || !score.error().empty())
        continue;
      auto it = score.values().find(best->metric);
      if (it != score.values().end()) in.scores[step] = it->second;
    }
  }
  const RetentionDecision decision = ApplyRetention(in);
  if (decision.drop.empty()) return absl::OkStatus();
  WriteBatch batch;
  for (int64_t step : decision.drop) {
    v1::Checkpoint* c = live.at(step);
    c->set_retired(true);
    batch.Put(keys::Checkpoint(job.id(), step), c->SerializeAsString());
  }
  std::string why = absl::StrCat("keeps the newest ", in.keep);
  if (decision.best) {
    absl::StrAppend(&why, " and the best by ", job.checkpoint_keep_best(),
                    " (step ", *decision.best, ")");
  }
  RECA_RETURN_IF_ERROR(CommitJob(
      entry, entry.job,
      absl::StrCat("retention: checkpoint step",
                   decision.drop.size() > 1 ? "s " : " ",
                   absl::StrJoin(decision.drop, ", "), " retired (", why,
                   "); a worker deletes ",
                   decision.drop.size() > 1 ? "them" : "it"),
      std::move(batch)));
  for (int64_t step : decision.drop) {
    deletions_[{job.id(), step}] =
        Deletion{live.at(step)->path(), absl::InfinitePast()};
  }
  return absl::OkStatus();
}

absl::Status Coordinator::LoadDeletions(const std::string& job_id) {
  RECA_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> records,
                        CheckpointRecords(job_id));
  for (const v1::Checkpoint& c : records) {
    // An unusable one is not deleted here: the next attempt's rank 0 discards
    // it (it lies above the resume point), and a new checkpoint of the same
    // step may replace it.
    if (c.retired() && c.deleted_unix_micros() == 0 &&
        c.unusable_reason().empty()) {
      deletions_[{job_id, c.step()}] = Deletion{c.path(), absl::InfinitePast()};
    }
  }
  return absl::OkStatus();
}

absl::Status Coordinator::AckDeletions(const v1::HeartbeatRequest& request) {
  WriteBatch batch;
  for (const v1::Checkpoint& done : request.deleted_checkpoints()) {
    auto it = deletions_.find({done.job_id(), done.step()});
    if (it == deletions_.end()) continue;  // acknowledged before
    RECA_ASSIGN_OR_RETURN(
        std::optional<std::string> value,
        deps_.store.Get(keys::Checkpoint(done.job_id(), done.step())));
    v1::Checkpoint record;
    if (value && record.ParseFromString(*value)) {
      record.set_deleted_unix_micros(NowMicros());
      batch.Put(keys::Checkpoint(done.job_id(), done.step()),
                record.SerializeAsString());
    }
    std::cerr << "coordinator: " << done.job_id() << ": checkpoint step "
              << done.step() << " deleted by " << request.worker_id() << "\n";
  }
  if (batch.empty()) return absl::OkStatus();
  // Not synced: a lost acknowledgement only sends the deletion again.
  RECA_RETURN_IF_ERROR(deps_.store.Write(batch.set_sync(false)));
  for (const v1::Checkpoint& done : request.deleted_checkpoints())
    deletions_.erase({done.job_id(), done.step()});
  return absl::OkStatus();
}

void Coordinator::HandOutDeletions(v1::HeartbeatResponse* response) {
  const absl::Time now = deps_.clock.Now();
  // Long enough for the worker to delete and say so in a later heartbeat.
  const absl::Duration retry_after =
      std::max(absl::Seconds(5), 5 * options_.heartbeat_interval);
  constexpr int kPerHeartbeat = 16;
  for (auto& [key, deletion] : deletions_) {
    if (response->delete_checkpoints_size() >= kPerHeartbeat) break;
    if (deletion.handed_until > now) continue;
    v1::Checkpoint* c = response->add_delete_checkpoints();
    c->set_job_id(key.first);
    c->set_step(key.second);
    c->set_path(deletion.path);
    deletion.handed_until = now + retry_after;
  }
}

}  // namespace reca::coordinator
