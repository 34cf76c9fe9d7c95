// Word-level tokenizer for the shapes world's captions, RecA templates and
// the fixed prompts, plus the prompt layouts the mar family uses.
//
// The vocabulary is a pure function of the built-in word lists (specials
// first, then sorted words), so a checkpoint records only its size and a
// fingerprint. Unknown words map to <unk>. Thread-safe after construction.
#ifndef RECA_TOKENIZER_H_
#define RECA_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace reca {

class Tokenizer {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kUnk = 1;
  static constexpr int64_t kBos = 2;
  static constexpr int64_t kEos = 3;
  static constexpr int64_t kUser = 4;
  static constexpr int64_t kAssistant = 5;

  // The built-in vocabulary (shapes world, templates, prompts).
  Tokenizer();

  int64_t vocab_size() const { return static_cast<int64_t>(id_to_word_.size()); }
  // FNV-1a over the word list; recorded in checkpoints to catch a changed vocabulary.
  uint64_t fingerprint() const { return fingerprint_; }

  // Lower-cases, splits on spaces and splits off , . : ; ? ! as tokens.
  static std::vector<std::string> Split(const std::string& text);
  std::vector<int64_t> Encode(const std::string& text) const;
  // Skips specials and padding.
  std::string Decode(const std::vector<int64_t>& ids) const;
  const std::string& Word(int64_t id) const { return id_to_word_.at(id); }

 private:
  std::vector<std::string> id_to_word_;
  std::unordered_map<std::string, int64_t> word_to_id_;
  uint64_t fingerprint_ = 0;
};

// The ~360 reconstruction instructions ("Describe the image in detail, ...").
const std::vector<std::string>& ReconTemplates();

// Fixed prompt texts.
inline constexpr const char* kUncondPrompt = "generate an image .";
inline constexpr const char* kT2IPrefix = "generate an image :";
inline constexpr const char* kI2TQuestion = "what is in this image ?";

}  // namespace reca

#endif  // RECA_TOKENIZER_H_
