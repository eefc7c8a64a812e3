// String kernels: StringNormalizer (stopwords, case sensitivity, case change, empty result,
// locale refusal) and TfIdfVectorizer (n-grams with skips counted by brute force from the
// definition, TF/IDF/TFIDF modes with weights, int32/int64/string inputs, 1-D and 2-D, refusals).
#include <gtest/gtest.h>

#include <map>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Dims;
using ir::Tensor;

std::string normalizer(const std::string& in_dims, const std::string& attrs) {
  return "<ir_version: 8, opset_import: [\"\" : 10]>\ng (string[" + in_dims +
         "] X) => (string Y) {\n Y = StringNormalizer" + (attrs.empty() ? "" : "<" + attrs + ">") +
         "(X)\n}";
}

TEST(StringNormalizer, StopwordsAndCaseChange) {
  const Tensor x = Tensor::from_strings({5}, {"Monday", "monday", "Tuesday", "MONDAY", "wed"});
  auto sensitive = run_text1(normalizer("5",
                                        "case_change_action = \"UPPER\", is_case_sensitive = 1, "
                                        "stopwords = [\"monday\"]"),
                             {{"X", x}});
  ASSERT_OK(sensitive);
  EXPECT_EQ(sensitive->dims(), Dims{4});
  EXPECT_EQ(sensitive->strings(), (std::vector<std::string>{"MONDAY", "TUESDAY", "MONDAY", "WED"}));

  auto insensitive = run_text1(
      normalizer("5", "case_change_action = \"LOWER\", stopwords = [\"MonDay\"]"), {{"X", x}});
  ASSERT_OK(insensitive);
  EXPECT_EQ(insensitive->strings(), (std::vector<std::string>{"tuesday", "wed"}));

  auto unchanged = run_text1(normalizer("5", "is_case_sensitive = 0"), {{"X", x}});
  ASSERT_OK(unchanged);
  EXPECT_EQ(unchanged->strings(), x.strings());
}

TEST(StringNormalizer, AllDroppedGivesOneEmptyString) {
  auto one_d = run_text1(normalizer("2", "stopwords = [\"a\", \"b\"]"),
                         {{"X", Tensor::from_strings({2}, {"A", "b"})}});
  ASSERT_OK(one_d);
  EXPECT_EQ(one_d->dims(), Dims{1});
  EXPECT_EQ(one_d->strings(), std::vector<std::string>{""});
  auto two_d = run_text1(normalizer("1,2", "stopwords = [\"a\", \"b\"]"),
                         {{"X", Tensor::from_strings({1, 2}, {"a", "B"})}});
  ASSERT_OK(two_d);
  EXPECT_EQ(two_d->dims(), (Dims{1, 1}));
}

TEST(StringNormalizer, KeepsTwoDimensionalShapeAndRefusesOthers) {
  auto y = run_text1(normalizer("1,3", "case_change_action = \"UPPER\", stopwords = [\"x\"]"),
                     {{"X", Tensor::from_strings({1, 3}, {"a", "X", "c\xc3\xa9"})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{1, 2}));
  // ASCII case mapping: the UTF-8 bytes of 'é' are kept as they are.
  EXPECT_EQ(y->strings(), (std::vector<std::string>{"A", "C\xc3\xa9"}));
  auto bad =
      run_text1(normalizer("2,2", ""), {{"X", Tensor::from_strings({2, 2}, {"a", "b", "c", "d"})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("[C] or [1, C]"), std::string::npos)
      << bad.status().message();
}

TEST(StringNormalizer, PlanTimeRefusals) {
  Status s = plan_status(normalizer("2", "locale = \"tr_TR\""));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("locale 'tr_TR' is not supported"), std::string::npos);
  EXPECT_OK(plan_status(normalizer("2", "locale = \"en_US\"")));
  s = plan_status(normalizer("2", "case_change_action = \"TITLE\""));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("case_change_action"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// TfIdfVectorizer.

using Gram = std::vector<int64_t>;

// Counts, by brute force over every (start, skip) pair, the grams of `pool` in one row; a unigram
// is one item whatever the skip, so only skip 0 counts it.
std::vector<double> brute_force(const std::vector<int64_t>& row, const std::vector<Gram>& pool,
                                const std::vector<int64_t>& indexes, int64_t min_n, int64_t max_n,
                                int64_t max_skip, size_t out_size) {
  std::vector<double> out(out_size, 0.0);
  const int64_t C = static_cast<int64_t>(row.size());
  for (size_t gi = 0; gi < pool.size(); ++gi) {
    const int64_t n = static_cast<int64_t>(pool[gi].size());
    if (n < min_n || n > max_n) continue;
    for (int64_t s = 0; s < C; ++s) {
      for (int64_t k = 0; k <= (n == 1 ? 0 : max_skip); ++k) {
        bool match = true;
        for (int64_t j = 0; j < n && match; ++j) {
          const int64_t p = s + j * (k + 1);
          match = p < C && row[p] == pool[gi][j];
        }
        if (match) out[indexes[gi]] += 1;
      }
    }
  }
  return out;
}

std::string ints_text(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

TEST(TfIdfVectorizer, CountsMatchBruteForceForEveryGramRangeAndSkip) {
  // Unigrams {2, 3, 5, 4}, bigrams {5,6} {7,8} {6,7}, trigram {7,5,6}; outputs permuted.
  const std::vector<Gram> pool{{2}, {3}, {5}, {4}, {5, 6}, {7, 8}, {6, 7}, {7, 5, 6}};
  const std::vector<int64_t> flat{2, 3, 5, 4, 5, 6, 7, 8, 6, 7, 7, 5, 6};
  const std::vector<int64_t> indexes{6, 5, 4, 3, 2, 1, 0, 7};
  const std::vector<int64_t> rows{1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8, 7, 5, 6, 2, 7, 7, 8, 5};
  for (int64_t min_n = 1; min_n <= 3; ++min_n) {
    for (int64_t max_n = min_n; max_n <= 3; ++max_n) {
      for (int64_t skip = 0; skip <= 3; ++skip) {
        const std::string text =
            "<ir_version: 8, opset_import: [\"\" : 9]>\ng (int32[2,10] X) => (float[2,8] Y) {\n"
            " Y = TfIdfVectorizer<mode = \"TF\", min_gram_length = " +
            std::to_string(min_n) + ", max_gram_length = " + std::to_string(max_n) +
            ", max_skip_count = " + std::to_string(skip) +
            ", ngram_counts = [0, 4, 10], ngram_indexes = [" + ints_text(indexes) +
            "], pool_int64s = [" + ints_text(flat) + "]>(X)\n}";
        std::vector<int32_t> x(rows.begin(), rows.end());
        auto y = run_text1(text, {{"X", make_tensor<int32_t>({2, 10}, x)}});
        ASSERT_OK(y);
        ASSERT_EQ(y->dims(), (Dims{2, 8}));
        auto got = values_of<float>(*y);
        for (int r = 0; r < 2; ++r) {
          const std::vector<int64_t> row(rows.begin() + r * 10, rows.begin() + r * 10 + 10);
          const auto want = brute_force(row, pool, indexes, min_n, max_n, skip, 8);
          for (size_t i = 0; i < 8; ++i) {
            EXPECT_EQ(got[r * 8 + i], want[i]) << "min " << min_n << " max " << max_n << " skip "
                                               << skip << " row " << r << " out " << i;
          }
        }
      }
    }
  }
}

TEST(TfIdfVectorizer, ModesApplyWeightsPerOutputCoordinate) {
  const std::vector<int64_t> x{1, 2, 1, 2, 1, 9};
  const std::vector<float> w{0.5f, 2.0f, 3.0f, 4.0f};
  // Grams: 1 -> out 2, 2 -> out 0, 7 -> out 3, {1,2} -> out 1.
  const std::vector<float> tf{2, 2, 3, 0};
  std::map<std::string, std::vector<float>> want;
  want["TF"] = tf;
  for (size_t i = 0; i < tf.size(); ++i) {
    want["IDF"].push_back(tf[i] > 0 ? w[i] : 0.0f);
    want["TFIDF"].push_back(tf[i] * w[i]);
  }
  for (const auto& [mode, expected] : want) {
    const std::string text =
        "<ir_version: 8, opset_import: [\"\" : 9]>\ng (int64[6] X) => (float[4] Y) {\n"
        " Y = TfIdfVectorizer<mode = \"" +
        mode +
        "\", min_gram_length = 1, max_gram_length = 2, max_skip_count = 0, "
        "ngram_counts = [0, 3], ngram_indexes = [2, 0, 3, 1], pool_int64s = [1, 2, 7, 1, 2], "
        "weights = [0.5, 2.0, 3.0, 4.0]>(X)\n}";
    auto y = run_text1(text, {{"X", make_tensor<int64_t>({6}, x)}});
    ASSERT_OK(y);
    EXPECT_EQ(y->dims(), Dims{4});
    EXPECT_EQ(values_of<float>(*y), expected) << mode;
  }
}

TEST(TfIdfVectorizer, StringPool) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 9]>
    g (string[2,4] X) => (float[2,3] Y) {
      Y = TfIdfVectorizer<mode = "TF", min_gram_length = 1, max_gram_length = 2,
          max_skip_count = 1, ngram_counts = [0, 2], ngram_indexes = [0, 1, 2],
          pool_strings = ["a", "b", "a", "b"]>(X)
    })";
  auto y = run_text1(
      text, {{"X", Tensor::from_strings({2, 4}, {"a", "x", "b", "b", "b", "a", "c", "a"})}});
  ASSERT_OK(y);
  // Row 0: a once, b twice, (a,b) with skip 1 once. Row 1: a twice, b once, no (a,b).
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{1, 2, 1, 2, 1, 0}));
}

TEST(TfIdfVectorizer, EmptyRowsGiveZeros) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 9]>
    g (int64[2,0] X) => (float[2,2] Y) {
      Y = TfIdfVectorizer<mode = "TF", min_gram_length = 1, max_gram_length = 1,
          max_skip_count = 0, ngram_counts = [0], ngram_indexes = [0, 1], pool_int64s = [4, 5]>(X)
    })";
  auto y = run_text1(text, {{"X", make_tensor<int64_t>({2, 0}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{2, 2}));
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{0, 0, 0, 0}));
}

TEST(TfIdfVectorizer, Refusals) {
  auto plan = [](const std::string& type, const std::string& attrs) {
    return plan_status("<ir_version: 8, opset_import: [\"\" : 9]>\ng (" + type +
                       " X) => (float Y) {\n Y = TfIdfVectorizer<" + attrs + ">(X)\n}");
  };
  const std::string common = "min_gram_length = 1, max_gram_length = 1, max_skip_count = 0, ";
  Status s = plan("int64[4]", common +
                                  "mode = \"BM25\", ngram_counts = [0], "
                                  "ngram_indexes = [0], pool_int64s = [1]");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("mode must be"), std::string::npos);
  s = plan("int64[4]", common +
                           "mode = \"TF\", ngram_counts = [0], ngram_indexes = [0, 1], "
                           "pool_int64s = [1]");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ngram_indexes"), std::string::npos);
  s = plan("string[4]", common +
                            "mode = \"TF\", ngram_counts = [0], ngram_indexes = [0], "
                            "pool_int64s = [1]");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("int32 or int64"), std::string::npos);
  s = plan("int64[4]",
           "min_gram_length = 2, max_gram_length = 1, max_skip_count = 0, "
           "mode = \"TF\", ngram_counts = [0], ngram_indexes = [0], "
           "pool_int64s = [1]");
  ASSERT_FALSE(s.ok());
  s = plan("int64[4]", common +
                           "mode = \"TF\", ngram_counts = [0, 1], ngram_indexes = [0], "
                           "pool_int64s = [1, 2]");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a multiple of 2"), std::string::npos) << s.message();
  // 3-D input: refused when run.
  auto y = run_text1(
      "<ir_version: 8, opset_import: [\"\" : 9]>\ng (int64[1,1,2] X) => (float Y) "
      "{\n Y = TfIdfVectorizer<" +
          common +
          "mode = \"TF\", ngram_counts = [0], ngram_indexes = [0], "
          "pool_int64s = [1]>(X)\n}",
      {{"X", make_tensor<int64_t>({1, 1, 2}, {1, 1})}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("[C] or [N, C]"), std::string::npos);
}

}  // namespace
}  // namespace compressor
