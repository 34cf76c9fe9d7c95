#include "reca/cli_args.h"

#include "gtest/gtest.h"

namespace reca {
namespace {

TEST(CliArgsTest, ParsesFormsAndRejectsUnknownAndMalformed) {
  const char* argv[] = {"prog", "--steps=10", "--lr", "0.5", "--bf16", "--out", "dir", "--extra=1"};
  auto args = CliArgs::Parse(8, argv);
  ASSERT_TRUE(args.ok()) << args.status();
  int64_t steps = 0;
  double lr = 0;
  bool bf16 = false;
  std::string out;
  ASSERT_TRUE(args->Get("steps", &steps).ok());
  ASSERT_TRUE(args->Get("lr", &lr).ok());
  ASSERT_TRUE(args->Get("bf16", &bf16).ok());
  ASSERT_TRUE(args->Get("out", &out).ok());
  EXPECT_EQ(steps, 10);
  EXPECT_EQ(lr, 0.5);
  EXPECT_TRUE(bf16);
  EXPECT_EQ(out, "dir");
  Status unused = args->CheckAllUsed();
  EXPECT_EQ(unused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unused.message().find("--extra"), std::string::npos);

  const char* bad[] = {"prog", "--steps=ten"};
  auto b = CliArgs::Parse(2, bad);
  ASSERT_TRUE(b.ok());
  Status s = b->Get("steps", &steps);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--steps"), std::string::npos);
  const char* positional[] = {"prog", "oops"};
  EXPECT_FALSE(CliArgs::Parse(2, positional).ok());
}

TEST(CliArgsTest, TakeRemainingReturnsUnaskedFlags) {
  const char* argv[] = {"prog", "--steps=3", "--optimizer.lr=1e-4", "--name", "x"};
  auto args = CliArgs::Parse(5, argv);
  ASSERT_TRUE(args.ok());
  int64_t steps = 0;
  ASSERT_TRUE(args->Get("steps", &steps).ok());
  const auto rest = args->TakeRemaining();
  EXPECT_EQ(rest, (std::map<std::string, std::string>{{"optimizer.lr", "1e-4"}, {"name", "x"}}));
  EXPECT_TRUE(args->CheckAllUsed().ok());
}

}  // namespace
}  // namespace reca
