#include "coordinator/scheduler.h"

#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

WorkerCapacity Cpu(const std::string& id, int total, int free) {
  return {id, total, 0, free, 0};
}

TEST(SchedulerTest, GangIsPlacedWholeOrNotAtAll) {
  ScheduleResult r =
      Schedule({{"a", 2, false}}, {Cpu("w1", 1, 1), Cpu("w2", 1, 1)});
  ASSERT_EQ(r.placed.size(), 1u);
  EXPECT_EQ(r.placed[0].worker_per_rank,
            (std::vector<std::string>{"w1", "w2"}));

  r = Schedule({{"a", 3, false}}, {Cpu("w1", 2, 2), Cpu("w2", 2, 0)});
  EXPECT_TRUE(r.placed.empty());
  ASSERT_EQ(r.waiting.size(), 1u);
  EXPECT_EQ(r.waiting[0].reason, "waiting for 3 free cpu slots (2 free now)");
}

TEST(SchedulerTest, PacksOntoTheWorkerWithMostFreeSlots) {
  ScheduleResult r =
      Schedule({{"a", 2, false}}, {Cpu("w1", 4, 1), Cpu("w2", 4, 3)});
  ASSERT_EQ(r.placed.size(), 1u);
  EXPECT_EQ(r.placed[0].worker_per_rank,
            (std::vector<std::string>{"w2", "w2"}));
}

TEST(SchedulerTest, AvoidedWorkersTakeOnlyTheRanksNoOtherCan) {
  GangRequest job{"a", 2, false};
  job.avoid = {"w2"};
  ScheduleResult r = Schedule({job}, {Cpu("w1", 1, 1), Cpu("w2", 4, 4), Cpu("w3", 1, 1)});
  ASSERT_EQ(r.placed.size(), 1u);
  EXPECT_EQ(r.placed[0].worker_per_rank, (std::vector<std::string>{"w1", "w3"}));
  // Not enough elsewhere: the avoided worker still takes the rest (a job is
  // never starved by its own history).
  job.ranks = 3;
  r = Schedule({job}, {Cpu("w1", 1, 1), Cpu("w2", 4, 4), Cpu("w3", 1, 1)});
  ASSERT_EQ(r.placed.size(), 1u);
  EXPECT_EQ(r.placed[0].worker_per_rank, (std::vector<std::string>{"w1", "w3", "w2"}));
}

TEST(SchedulerTest, TooBigForTheFleetStaysQueuedWithoutBlockingOthers) {
  ScheduleResult r = Schedule({{"big", 5, false}, {"small", 1, false}},
                              {Cpu("w1", 2, 2), Cpu("w2", 2, 2)});
  ASSERT_EQ(r.placed.size(), 1u);
  EXPECT_EQ(r.placed[0].job_id, "small");
  ASSERT_EQ(r.waiting.size(), 1u);
  EXPECT_EQ(r.waiting[0].reason,
            "needs 5 cpu slots; the fleet has 4 (2 workers with cpu slots)");
}

TEST(SchedulerTest, AWaitingGangHoldsBackLaterJobsOfItsKindOnly) {
  std::vector<WorkerCapacity> fleet = {{"w1", 2, 1, 1, 1}};
  ScheduleResult r =
      Schedule({{"a", 2, false}, {"b", 1, false}, {"g", 1, true}}, fleet);
  ASSERT_EQ(r.placed.size(), 1u);
  EXPECT_EQ(r.placed[0].job_id, "g");
  ASSERT_EQ(r.waiting.size(), 2u);
  EXPECT_EQ(r.waiting[1].job_id, "b");
  EXPECT_EQ(r.waiting[1].reason, "behind a in the queue");
}

TEST(SchedulerTest, PlacedRanksUseUpSlotsForLaterJobs) {
  ScheduleResult r = Schedule(
      {{"a", 1, false}, {"b", 1, false}, {"c", 1, false}}, {Cpu("w1", 2, 2)});
  EXPECT_EQ(r.placed.size(), 2u);
  ASSERT_EQ(r.waiting.size(), 1u);
  EXPECT_EQ(r.waiting[0].job_id, "c");
}

TEST(SchedulerTest, EmptyFleet) {
  ScheduleResult r = Schedule({{"a", 1, true}}, {});
  ASSERT_EQ(r.waiting.size(), 1u);
  EXPECT_EQ(r.waiting[0].reason,
            "needs 1 gpu slots; the fleet has 0 (0 workers with gpu slots)");
}

TEST(SchedulerTest, ClassifyAnswersForANewJobFromThePassSummary) {
  ScheduleResult r = Schedule({{"a", 2, false, 0}}, {Cpu("w1", 2, 1)});
  KindSummary cpu = r.kinds[0];
  EXPECT_EQ(cpu.blocker, "a");
  EXPECT_EQ(*Classify({"b", 1, false, 0}, cpu), "behind a in the queue");
  EXPECT_FALSE(Classify({"c", 1, false, 1}, cpu).has_value());  // outranks a: needs a pass
  EXPECT_EQ(*Classify({"d", 3, false, 0}, cpu),
            "needs 3 cpu slots; the fleet has 2 (1 worker with cpu slots)");
  KindSummary gpu = r.kinds[1];
  EXPECT_EQ(gpu.total, 0);
  KindSummary fits{4, 2, 2, "", 0};
  EXPECT_FALSE(Classify({"e", 2, false, 0}, fits).has_value());  // may start now
  EXPECT_EQ(*Classify({"f", 3, false, 0}, fits), "waiting for 3 free cpu slots (2 free now)");
  EXPECT_EQ(fits.blocker, "f");
}

}  // namespace
}  // namespace reca::coordinator
