#include "common/report_outbox.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace reca {
namespace {

TEST(ReportOutboxTest, InOrderKeptThroughOutagesDroppedWhenRefused) {
  std::vector<std::string> log, sent;
  ReportOutbox outbox(3, [&](const std::string& line) { log.push_back(line); });
  absl::Status next = absl::UnavailableError("down");
  outbox.Push("a", [&] {
    if (!next.ok()) return next;
    sent.push_back("a");
    return absl::OkStatus();
  });
  outbox.Push("b", [&] {
    sent.push_back("b");
    return absl::FailedPreconditionError("stale epoch");
  });
  int c_tries = 0;
  outbox.Push("c", [&] {
    ++c_tries;
    return absl::InternalError("hiccup");
  });
  for (int i = 0; i < 5; ++i) EXPECT_EQ(outbox.Flush(), 3u);  // "a" waits; nothing overtakes it
  EXPECT_TRUE(sent.empty());
  next = absl::OkStatus();
  EXPECT_EQ(outbox.Flush(), 1u);  // a sent, b refused (dropped), c failed once
  EXPECT_EQ(sent, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(outbox.Flush(), 1u);
  EXPECT_EQ(outbox.Flush(), 0u);  // c dropped after its 3rd try
  EXPECT_EQ(c_tries, 3);
  EXPECT_EQ(log.front(), "a: report not delivered (try 1), will retry: UNAVAILABLE: down (3 queued)");
  EXPECT_EQ(log.back(), "c: report dropped after 3 tries: INTERNAL: hiccup");
}

}  // namespace
}  // namespace reca
