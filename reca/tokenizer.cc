#include "reca/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "reca/shapes_world.h"

namespace reca {
namespace {

bool IsPunct(char c) {
  return c == ',' || c == '.' || c == ':' || c == ';' || c == '?' || c == '!';
}

// Every word the built-in text can produce.
std::set<std::string> BuiltinWords() {
  std::set<std::string> words;
  auto add_text = [&](const std::string& text) {
    for (std::string& w : Tokenizer::Split(text)) words.insert(std::move(w));
  };
  for (const std::string& t : ReconTemplates()) add_text(t);
  for (int i = 0; i < kNumShapeKinds; ++i) add_text(ShapeKindName(static_cast<ShapeKind>(i)));
  for (int i = 0; i < kNumColors; ++i) add_text(ColorNameString(static_cast<ColorName>(i)));
  add_text("zero one two three four shape shapes some a an and , . :");
  add_text("at the top bottom left right on in center");
  // Edit instructions (reca/shapes_edit.h): verbs and background names.
  add_text("add change remove replace move extract make with to background grey slate beige");
  add_text(kUncondPrompt);
  add_text(kT2IPrefix);
  add_text(kI2TQuestion);
  return words;
}

}  // namespace

const std::vector<std::string>& ReconTemplates() {
  static const std::vector<std::string>* const kTemplates = new std::vector<std::string>{
#include "reca/recon_templates.inc"
  };
  return *kTemplates;
}

Tokenizer::Tokenizer() {
  id_to_word_ = {"<pad>", "<unk>", "<bos>", "<eos>", "<user>", "<assistant>"};
  for (const std::string& w : BuiltinWords()) id_to_word_.push_back(w);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < id_to_word_.size(); ++i) {
    word_to_id_[id_to_word_[i]] = static_cast<int64_t>(i);
    for (char c : id_to_word_[i]) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  fingerprint_ = h;
}

std::vector<std::string> Tokenizer::Split(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else if (IsPunct(c)) {
      flush();
      out.emplace_back(1, c);
    } else {
      cur.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  flush();
  return out;
}

std::vector<int64_t> Tokenizer::Encode(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const std::string& w : Split(text)) {
    auto it = word_to_id_.find(w);
    ids.push_back(it == word_to_id_.end() ? kUnk : it->second);
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (id == kEos) break;
    if (id <= kAssistant || id >= vocab_size()) continue;
    if (!out.empty()) out += ' ';
    out += id_to_word_[id];
  }
  return out;
}

}  // namespace reca
