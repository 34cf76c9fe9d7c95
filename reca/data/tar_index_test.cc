#include "reca/data/tar_index.h"

#include <string>

#include "gtest/gtest.h"
#include "reca/data/tar_test_util.h"
#include "reca/file_util.h"

namespace reca {
namespace {

using tar_test::HeaderSpec;
using tar_test::TarBuilder;

class TarIndexTest : public ::testing::Test {
 protected:
  // Writes `bytes` to a fresh file and scans it.
  TarIndex Scan(const std::string& bytes) {
    path_ = ::testing::TempDir() + "/tar_index_test_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".tar";
    EXPECT_TRUE(WriteFileAtomic(path_, bytes).ok());
    StatusOr<TarIndex> index = ScanTarFile(path_);
    EXPECT_TRUE(index.ok()) << index.status();
    return index.ok() ? *index : TarIndex{};
  }
  // The data of `m` as stored in the scanned file.
  std::string Data(const TarMember& m) {
    StatusOr<std::string> all = ReadFile(path_);
    EXPECT_TRUE(all.ok());
    return all->substr(static_cast<size_t>(m.data_offset), static_cast<size_t>(m.size));
  }
  std::string path_;
};

TEST_F(TarIndexTest, RegularMembersWithTheirDataRanges) {
  const std::string big(1300, 'x');
  TarIndex index = Scan(TarBuilder()
                            .File("a.txt", "hello")
                            .Dir("sub/")
                            .File("sub/b.png", big)
                            .File("./c.json", "{}")
                            .Finish());
  EXPECT_EQ(index.problem, "");
  EXPECT_EQ(index.problem_offset, -1);
  ASSERT_EQ(index.members.size(), 3u);
  EXPECT_EQ(index.members[0].name, "a.txt");
  EXPECT_EQ(index.members[0].data_offset, 512);
  EXPECT_EQ(index.members[0].size, 5);
  EXPECT_EQ(Data(index.members[0]), "hello");
  EXPECT_EQ(index.members[1].name, "sub/b.png");
  EXPECT_EQ(index.members[1].data_offset, 512 * 4);
  EXPECT_EQ(Data(index.members[1]), big);
  EXPECT_EQ(index.members[2].name, "c.json");  // "./" stripped
  EXPECT_EQ(Data(index.members[2]), "{}");
}

TEST_F(TarIndexTest, UstarPrefixGnuLongNamePaxPathAndBase256Size) {
  HeaderSpec prefixed;
  prefixed.name = "x.jpg";
  prefixed.prefix = "some/deep/dir";
  prefixed.size = 3;
  HeaderSpec b256;
  b256.name = "b256.txt";
  b256.gnu = true;
  b256.base256_size = true;
  b256.size = 700;
  const std::string long_name = std::string(150, 'n') + "/key.txt";
  const std::string pax_name = std::string(120, 'p') + "/key.png";
  TarIndex index = Scan(TarBuilder()
                            .Entry(prefixed, "abc")
                            .GnuLongName(long_name, "long")
                            .PaxPath(pax_name, "pax")
                            .File("after.txt", "plain")  // pax/long names apply once
                            .Entry(b256, std::string(700, 'b'))
                            .Finish());
  EXPECT_EQ(index.problem, "");
  ASSERT_EQ(index.members.size(), 5u);
  EXPECT_EQ(index.members[0].name, "some/deep/dir/x.jpg");
  EXPECT_EQ(Data(index.members[0]), "abc");
  EXPECT_EQ(index.members[1].name, long_name);
  EXPECT_EQ(Data(index.members[1]), "long");
  EXPECT_EQ(index.members[2].name, pax_name);
  EXPECT_EQ(Data(index.members[2]), "pax");
  EXPECT_EQ(index.members[3].name, "after.txt");
  EXPECT_EQ(index.members[4].name, "b256.txt");
  EXPECT_EQ(index.members[4].size, 700);
  EXPECT_EQ(Data(index.members[4]), std::string(700, 'b'));
}

TEST_F(TarIndexTest, SkipsNonRegularEntries) {
  TarIndex index = Scan(TarBuilder()
                            .File("link", "", '2')
                            .Dir("d/")
                            .File("global", "9 a=b\n", 'g')
                            .File("fifo", "", '6')
                            .File("old-style-dir/", "", '\0')
                            .File("contiguous.txt", "c", '7')
                            .File("v7.txt", "v", '\0')
                            .Finish());
  EXPECT_EQ(index.problem, "");
  ASSERT_EQ(index.members.size(), 2u);
  EXPECT_EQ(index.members[0].name, "contiguous.txt");
  EXPECT_EQ(index.members[1].name, "v7.txt");
}

TEST_F(TarIndexTest, StopsAtTheEndOfArchiveAndAcceptsAMissingOne) {
  TarIndex index = Scan(TarBuilder().File("a.txt", "a").Finish() + "trailing garbage");
  EXPECT_EQ(index.problem, "");
  EXPECT_EQ(index.members.size(), 1u);
  index = Scan(TarBuilder().File("a.txt", "a").File("b.txt", "b").bytes());
  EXPECT_EQ(index.problem, "");
  EXPECT_EQ(index.members.size(), 2u);
}

TEST_F(TarIndexTest, BadChecksumKeepsTheMembersBefore) {
  std::string bytes = TarBuilder().File("a.txt", "a").File("b.txt", "b").File("c.txt", "c").Finish();
  bytes[1024 + 10] ^= 0x20;  // the second header's name
  TarIndex index = Scan(bytes);
  ASSERT_EQ(index.members.size(), 1u);
  EXPECT_EQ(index.members[0].name, "a.txt");
  EXPECT_EQ(index.problem, "corrupt at byte 1024: bad header checksum");
  EXPECT_EQ(index.problem_offset, 1024);
  EXPECT_EQ(index.damaged_member, "");
}

TEST_F(TarIndexTest, MemberRunningPastTheEndIsTruncation) {
  const std::string bytes =
      TarBuilder().File("a.txt", "a").File("b.jpg", std::string(2000, 'j')).bytes();
  TarIndex index = Scan(bytes.substr(0, 1024 + 512 + 1000));
  ASSERT_EQ(index.members.size(), 1u);
  EXPECT_EQ(index.damaged_member, "b.jpg");
  EXPECT_EQ(index.problem_offset, 1024);
  EXPECT_EQ(index.problem,
            "truncated at byte 1024: member 'b.jpg' needs 2000 bytes of data, the file has 1000");
}

TEST_F(TarIndexTest, PartialHeaderIsTruncation) {
  TarIndex index = Scan(TarBuilder().File("a.txt", "a").bytes() + std::string(100, 'h'));
  EXPECT_EQ(index.members.size(), 1u);
  EXPECT_EQ(index.problem, "truncated at byte 1024: a partial header of 100 bytes");
}

TEST_F(TarIndexTest, MalformedPaxHeaderIsCorruption) {
  TarIndex index = Scan(TarBuilder().File("a.txt", "a").File("pax", "99 path=x\n", 'x').File("b.txt", "b").Finish());
  EXPECT_EQ(index.members.size(), 1u);
  EXPECT_EQ(index.problem, "corrupt at byte 1024: malformed pax header");
}

TEST(TarIndexFileTest, MissingFileIsNotFound) {
  StatusOr<TarIndex> index = ScanTarFile(::testing::TempDir() + "/no-such.tar");
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), StatusCode::kNotFound);
  EXPECT_NE(index.status().message().find("no-such.tar"), std::string::npos);
}

}  // namespace
}  // namespace reca
