// Compiles reca/status.h in its LibTorch-only form (as in the CUDA build) and
// checks the subset of the Abseil API that reca/ relies on.
#define RECA_FORCE_FALLBACK_STATUS 1
#include "reca/status.h"

#include <memory>
#include <sstream>

#include "gtest/gtest.h"

namespace reca {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  RECA_ASSIGN_OR_RETURN(int h, Half(x));
  RECA_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status Check(int x) {
  RECA_RETURN_IF_ERROR(Quarter(x).status());
  return OkStatus();
}

TEST(StatusFallbackTest, CodesMessagesAndMacros) {
  EXPECT_TRUE(OkStatus().ok());
  Status s = NotFoundError("missing file x");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "missing file x");
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "NOT_FOUND: missing file x");
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd: 3");
  EXPECT_EQ(Check(6).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Check(4).ok());
}

TEST(StatusFallbackTest, StatusOrHoldsMoveOnlyValues) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> v = std::move(p).value();
  EXPECT_EQ(*v, 7);
}

}  // namespace
}  // namespace reca
