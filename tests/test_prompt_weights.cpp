// A1111's emphasis syntax: the docstring examples of modules/prompt_parser.py's
// parse_prompt_attention, then escapes, unbalanced brackets, explicit factors and BREAK, each
// expected list being what that Python function returns for the prompt (weights compared exactly:
// the doubles multiply in A1111's order).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "text/prompt_weights.h"
#include "text/text_cleaner.h"

namespace diffuse {
namespace {

std::string show(const std::vector<WeightedText>& runs) {
  std::ostringstream s;
  s.precision(17);
  s << "[";
  for (const WeightedText& r : runs) s << (&r == &runs.front() ? "" : ", ") << "['" << r.text << "', " << r.weight << "]";
  return s.str() + "]";
}

struct Case {
  std::string prompt;
  std::vector<WeightedText> expected;
};

void PrintTo(const Case& c, std::ostream* os) { *os << "'" << c.prompt << "'"; }

class PromptWeights : public ::testing::TestWithParam<Case> {};

TEST_P(PromptWeights, MatchesA1111) {
  const std::vector<WeightedText> got = parse_prompt_weights(GetParam().prompt);
  EXPECT_EQ(got, GetParam().expected) << "prompt '" << GetParam().prompt << "'\n     got " << show(got)
                                      << "\nexpected " << show(GetParam().expected);
}

// parse_prompt_attention's docstring, verbatim.
INSTANTIATE_TEST_SUITE_P(
    Docstring, PromptWeights,
    ::testing::Values(Case{"normal text", {{"normal text", 1.0}}},
                      Case{"an (important) word", {{"an ", 1.0}, {"important", 1.1}, {" word", 1.0}}},
                      Case{"(unbalanced", {{"unbalanced", 1.1}}},
                      Case{"\\(literal\\]", {{"(literal]", 1.0}}},
                      Case{"(unnecessary)(parens)", {{"unnecessaryparens", 1.1}}},
                      Case{"a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                           {{"a ", 1.0},
                            {"house", 1.5730000000000004},
                            {" ", 1.1},
                            {"on", 1.0},
                            {" a ", 1.1},
                            {"hill", 0.55},
                            {", sun, ", 1.1},
                            {"sky", 1.4641000000000006},
                            {".", 1.1}}}));

INSTANTIATE_TEST_SUITE_P(
    Brackets, PromptWeights,
    ::testing::Values(Case{"", {{"", 1.0}}},
                      Case{"(abc:3.12)", {{"abc", 3.12}}},
                      Case{"(a: 1.5 )", {{"a", 1.5}}},  // spaces around the factor
                      Case{"(a:-1)", {{"a", -1.0}}},
                      Case{"(a:+.5)", {{"a", 0.5}}},
                      Case{"(a:1.)", {{"a", 1.0}}},
                      Case{"[(a)]", {{"a", 1.0}}},
                      Case{"((a)[b])", {{"a", 1.2100000000000002}, {"b", 1.0}}},
                      Case{"[[a]] (b", {{"a", 0.8264462809917354}, {" ", 1.0}, {"b", 1.1}}},
                      Case{"a [b (c:1.3) d] e",
                           {{"a ", 1.0}, {"b ", 0.9090909090909091}, {"c", 1.1818181818181819}, {" d", 0.9090909090909091}, {" e", 1.0}}},
                      // Closers with no opener, a factor with no round bracket, colons: plain text.
                      Case{"a)b]", {{"a)b]", 1.0}}},
                      Case{"[a]]b)", {{"a", 0.9090909090909091}, {"]b)", 1.0}}},
                      Case{"a:1.2)", {{"a:1.2)", 1.0}}},
                      Case{"a:b", {{"a:b", 1.0}}},
                      Case{"[a:1.5]", {{"a:1.5", 0.9090909090909091}}}));

INSTANTIATE_TEST_SUITE_P(
    Escapes, PromptWeights,
    ::testing::Values(Case{"a \\(b\\) c", {{"a (b) c", 1.0}}},
                      Case{"a\\\\b", {{"a\\b", 1.0}}},
                      Case{"a\\b", {{"ab", 1.0}}},  // a lone backslash vanishes
                      Case{"\\ ", {{" ", 1.0}}}));

INSTANTIATE_TEST_SUITE_P(
    Break, PromptWeights,
    ::testing::Values(Case{"a BREAK b", {{"a", 1.0}, {"BREAK", -1.0}, {"b", 1.0}}},
                      Case{"a\tBREAK\nb", {{"a", 1.0}, {"BREAK", -1.0}, {"b", 1.0}}},
                      Case{"BREAK", {{"", 1.0}, {"BREAK", -1.0}, {"", 1.0}}},
                      Case{"a  BREAK  BREAK b", {{"a", 1.0}, {"BREAK", -1.0}, {"", 1.0}, {"BREAK", -1.0}, {"b", 1.0}}},
                      Case{"a,BREAK,b", {{"a,", 1.0}, {"BREAK", -1.0}, {",b", 1.0}}},
                      // Only the whole upper-case word: letters, digits and '_' (any script) join it.
                      Case{"aBREAK b", {{"aBREAK b", 1.0}}},
                      Case{"BREAK_x", {{"BREAK_x", 1.0}}},
                      Case{"x BREAKy BREAK", {{"x BREAKy", 1.0}, {"BREAK", -1.0}, {"", 1.0}}},
                      Case{"\xc3\xa9" "BREAK b", {{"\xc3\xa9" "BREAK b", 1.0}}},
                      // Inside brackets the marker is multiplied too: no break, a negative weight.
                      Case{"(a BREAK b)", {{"a", 1.1}, {"BREAK", -1.1}, {"b", 1.1}}},
                      Case{"(a:0) BREAK", {{"a", 0.0}, {"", 1.0}, {"BREAK", -1.0}, {"", 1.0}}},
                      Case{"(((a BREAK b:0)))", {{"aBREAKb", 0.0}}}));

TEST(PromptWeights, BreakMarkerIsOnlyAnUnweightedBreak) {
  const std::vector<WeightedText> runs = parse_prompt_weights("a BREAK b (c BREAK d)");
  ASSERT_EQ(runs.size(), 6u) << show(runs);
  EXPECT_TRUE(is_break(runs[1])) << show(runs);
  EXPECT_FALSE(is_break(runs[4])) << "a BREAK inside brackets is no break in A1111: " << show(runs);
  EXPECT_FALSE(is_break({"break", -1.0}));
}

TEST(PromptWeights, AFactorThatIsNotANumberIsAnError) {
  // A1111's pattern takes these factors and Python's float() refuses them.
  for (const auto& [prompt, factor] : {std::pair{"(a:1.2.3)", "\"1.2.3\""}, std::pair{"(a:.)", "\".\""}}) {
    try {
      parse_prompt_weights(prompt);
      ADD_FAILURE() << "'" << prompt << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(factor), std::string::npos) << e.what();
    }
  }
}


// Nested brackets make the parse quadratic in the prompt's length: prompts past 64 KiB are refused.
TEST(PromptWeights, OverlongPromptIsRefused) {
  std::string prompt;
  while (prompt.size() <= kMaxPromptTextBytes) prompt += "(a";
  try {
    parse_prompt_weights(prompt);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a prompt may hold"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(parse_prompt_weights(prompt.substr(0, kMaxPromptTextBytes)));
}
}  // namespace
}  // namespace diffuse
