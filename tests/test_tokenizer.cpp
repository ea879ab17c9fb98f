#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "golden.h"
#include "text/clip_tokenizer.h"
#include "text/text_cleaner.h"

namespace diffuse {
namespace {

using testing::fixture;

struct Case {
  std::string text;
  std::vector<int> ids, ids77_pad_eos, ids77_pad_zero;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    std::ifstream in(fixture("tokenizer/cases.json"));
    std::vector<Case> out;
    for (const auto& c : nlohmann::json::parse(in))
      out.push_back({c.at("text"), c.at("ids"), c.at("ids77_pad_eos"), c.at("ids77_pad_zero")});
    return out;
  }();
  return all;
}

std::string show(const std::vector<int>& ids, size_t i) {
  return i < ids.size() ? std::to_string(ids[i]) : "nothing";
}

::testing::AssertionResult same_ids(const char* what, const std::string& text,
                                    const std::vector<int>& got, const std::vector<int>& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t n = std::min(got.size(), want.size());
  auto first = std::mismatch(got.begin(), got.begin() + long(n), want.begin()).first;
  size_t i = size_t(first - got.begin());
  return ::testing::AssertionFailure()
         << what << " of \"" << text << "\" first differ at position " << i << ": got "
         << show(got, i) << ", expected " << show(want, i) << " (" << got.size()
         << " ids, expected " << want.size() << ")";
}

void expect_every_case(const ClipTokenizer& tokenizer) {
  ASSERT_FALSE(cases().empty());
  for (const Case& c : cases()) {
    EXPECT_TRUE(same_ids("ids", c.text, tokenizer.encode(c.text), c.ids));
    EXPECT_TRUE(same_ids("ids77_pad_eos", c.text, tokenizer.encode_padded(c.text, 49407),
                         c.ids77_pad_eos));
    EXPECT_TRUE(same_ids("ids77_pad_zero", c.text, tokenizer.encode_padded(c.text, 0),
                         c.ids77_pad_zero));
  }
}

TEST(ClipTokenizer, BuiltinVocabularyMatchesEveryCase) {
  expect_every_case(ClipTokenizer::builtin());
}

TEST(ClipTokenizer, DiffusersFilesMatchEveryCase) {
  expect_every_case(ClipTokenizer::from_files(fixture("tokenizer/vocab.json"),
                                              fixture("tokenizer/merges.txt")));
}

void expect_error_naming(const std::string& vocab, const std::string& merges,
                         const std::string& named) {
  try {
    ClipTokenizer::from_files(vocab, merges);
    ADD_FAILURE() << "no error for a missing " << named;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
  }
}

TEST(ClipTokenizer, MissingFileErrorNamesIt) {
  std::string vocab = fixture("tokenizer/vocab.json"), merges = fixture("tokenizer/merges.txt");
  expect_error_naming(fixture("tokenizer/no_vocab.json"), merges, "no_vocab.json");
  expect_error_naming(vocab, fixture("tokenizer/no_merges.txt"), "no_merges.txt");
}

TEST(ClipTokenizer, SpecialTokensSurviveCleaning) {
  const ClipTokenizer& t = ClipTokenizer::builtin();
  EXPECT_EQ(t.encode("a<|endoftext|>"), (std::vector<int>{320, ClipTokenizer::kEos}));
  EXPECT_EQ(t.encode("a <|ENDOFTEXT|>"), (std::vector<int>{320, ClipTokenizer::kEos}));
}

TEST(ClipTokenizer, PaddingNeedsRoomForBosAndEos) {
  EXPECT_EQ(ClipTokenizer::builtin().encode_padded("a photo", 0, 3),
            (std::vector<int>{ClipTokenizer::kBos, 320, ClipTokenizer::kEos}));
  EXPECT_THROW(ClipTokenizer::builtin().encode_padded("a", 0, 1), Error);
}

std::u32string fixed(std::string_view utf8) { return fix_text(decode_utf8(utf8)); }

TEST(TextCleaner, RepairsMojibakeEvenTwiceOver) {
  EXPECT_EQ(fixed("don\xC3\xA2\xE2\x82\xAC\xE2\x84\xA2t"), U"don't");  // "donâ€™t"
  // "ÃƒÂ©tÃƒÂ©": "été" mis-decoded as windows-1252 twice.
  EXPECT_EQ(fixed("\xC3\x83\xC6\x92\xC3\x82\xC2\xA9t\xC3\x83\xC6\x92\xC3\x82\xC2\xA9"),
            U"\u00E9t\u00E9");
  EXPECT_EQ(fixed("caf\xC3\xA9 na\xC3\xAFve"), U"caf\u00E9 na\u00EFve");   // already right
}

TEST(TextCleaner, UnescapesEntitiesUnlessTheLineLooksLikeHtml) {
  EXPECT_EQ(fixed("&#x41;&#66;&COPY;&amp;amp;&#59;&nosuch;"), U"AB\u00A9&&#59;&nosuch;");
  EXPECT_EQ(fixed("<b>&amp;</b>"), U"<b>&amp;</b>");
  EXPECT_EQ(fixed("&amp;\n<b>\n&amp;"), U"&\n<b>\n&amp;");
}

TEST(TextCleaner, LowerCasesLikePython) {
  EXPECT_EQ(to_lower(U"ΟΔΟΣ ΟΔΟΣ. Σ aΣb"), U"οδος οδος. σ aσb");
  EXPECT_EQ(to_lower(U"\u0130"), U"i\u0307");
}


using testing::expect_refused_quickly;

// A 10^8-token prompt (200 MB of "a ") is refused by its size before any of it is decoded.
TEST(ClipTokenizer, HundredMillionTokenPromptIsRefusedQuickly) {
  std::string prompt(200'000'000, ' ');
  for (size_t i = 0; i < prompt.size(); i += 2) prompt[i] = 'a';
  expect_refused_quickly([&] { ClipTokenizer::builtin().encode(prompt); }, "more than the 65536 a prompt may hold");
}

// BPE's time grows with the square of a word's length: a word past 16384 bytes is refused.
TEST(ClipTokenizer, OverlongWordIsRefusedQuickly) {
  std::string word;
  for (size_t i = 0; i < 60'000; ++i) word += char('a' + (i * 7919) % 26);
  expect_refused_quickly([&] { ClipTokenizer::builtin().encode("a " + word); }, "a word of 60000 bytes");
  EXPECT_FALSE(ClipTokenizer::builtin().encode(word.substr(0, 16384)).empty());
}
}  // namespace
}  // namespace diffuse
