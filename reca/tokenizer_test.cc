#include "reca/tokenizer.h"

#include <set>

#include "gtest/gtest.h"
#include "reca/shapes_edit.h"
#include "reca/shapes_world.h"

namespace reca {
namespace {

TEST(TokenizerTest, SplitsPunctuationAndLowercases) {
  EXPECT_EQ(Tokenizer::Split("Describe the image, precisely."),
            (std::vector<std::string>{"describe", "the", "image", ",", "precisely", "."}));
}

TEST(TokenizerTest, CoversAllBuiltinTextWithoutUnknowns) {
  Tokenizer tok;
  ShapesWorld world({1, 32});
  for (uint64_t i = 0; i < 200; ++i) {
    const Scene s = world.SceneAt(i);
    for (const std::string& text : {ShapesWorld::DenseCaption(s), ShapesWorld::SparseCaption(s, i)}) {
      for (int64_t id : tok.Encode(text)) ASSERT_NE(id, Tokenizer::kUnk) << text;
    }
  }
  for (const std::string& t : ReconTemplates()) {
    for (int64_t id : tok.Encode(t)) ASSERT_NE(id, Tokenizer::kUnk) << t;
  }
  for (uint64_t i = 0; i < 400; ++i) {
    const EditPair p = EditPairAt({3, 32}, i);
    for (const std::string& text : {p.dense_instruction, p.sparse_instruction}) {
      for (int64_t id : tok.Encode(text)) ASSERT_NE(id, Tokenizer::kUnk) << text;
    }
  }
  EXPECT_EQ(tok.Encode("zebra")[0], Tokenizer::kUnk);
}

TEST(TokenizerTest, RoundTripAndStableVocabulary) {
  Tokenizer a, b;
  EXPECT_EQ(a.vocab_size(), b.vocab_size());
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  const std::string text = "two shapes: a red circle at the top left and a blue square .";
  std::vector<int64_t> ids = a.Encode(text);
  ids.push_back(Tokenizer::kEos);
  ids.push_back(42);  // after <eos>: ignored
  EXPECT_EQ(a.Decode(ids), "two shapes : a red circle at the top left and a blue square .");
  EXPECT_EQ(a.Word(Tokenizer::kUser), "<user>");
}

TEST(TokenizerTest, FewHundredDistinctTemplates) {
  const auto& t = ReconTemplates();
  EXPECT_GE(t.size(), 300u);
  EXPECT_EQ(std::set<std::string>(t.begin(), t.end()).size(), t.size());
  EXPECT_EQ(t[0], "Describe the image in detail, including colours, shapes and positions.");
}

}  // namespace
}  // namespace reca
