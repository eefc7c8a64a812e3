// Kernel family 'string_ops': StringNormalizer (opset 10) and TfIdfVectorizer (opset 9).
//
// StringNormalizer drops stopwords from a [C] or [1, C] string tensor, then lower- or
// upper-cases what is left. Case mapping and case-insensitive stopword matching are ASCII only
// (bytes outside A-Z/a-z, including UTF-8 sequences, are kept as they are); that is why the only
// locales accepted are the default ones, "" and "en_US". When every element is dropped the output
// is one empty string, shaped [1] or [1, 1].
//
// TfIdfVectorizer counts, per row of a [C] or [N, C] int32/int64/string tensor, the n-grams of the
// pool that occur in it: for every start position, every gram length n in
// [min_gram_length, max_gram_length] and every skip k in [0, max_skip_count], the n items at
// positions start, start + (k + 1), ..., start + (n - 1)(k + 1) of the row (unigrams are counted
// once per position, not once per skip). The pool is stored in the attributes: ngram_counts[n-1]
// is where the n-grams start in pool_int64s / pool_strings, and the j-th n-gram of the pool (in
// pool order) is counted in output coordinate ngram_indexes[j]. Modes: TF keeps counts, IDF
// replaces every non-zero count by weights[i], TFIDF multiplies counts by weights[i]; weights are
// indexed by output coordinate (as ONNX Runtime does) and default to 1.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

/// The strings of a STRINGS attribute (empty when absent).
std::vector<std::string> attr_strings(const ir::Node& node, std::string_view name) {
  const ir::Attribute* a = node.attribute(name);
  if (a == nullptr) return {};
  const auto& p = a->proto().strings();
  return {p.begin(), p.end()};
}

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string ascii_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// StringNormalizer.

enum class CaseChange { kNone, kLower, kUpper };

StatusOr<std::unique_ptr<Kernel>> make_string_normalizer(const NodeView& view) {
  const ir::Node& node = view.node();
  const DType xt = view.input_dtype(0);
  if (xt != DType::kUndefined && xt != DType::kString) {
    return view.error("input must be a string tensor, got " + std::string(ir::dtype_name(xt)));
  }
  const ir::Attribute* action = node.attribute("case_change_action");
  const std::string a = action ? action->s() : "NONE";
  CaseChange change;
  if (a == "NONE") {
    change = CaseChange::kNone;
  } else if (a == "LOWER") {
    change = CaseChange::kLower;
  } else if (a == "UPPER") {
    change = CaseChange::kUpper;
  } else {
    return view.error("case_change_action must be LOWER, UPPER or NONE, got '" + a + "'");
  }
  const ir::Attribute* locale = node.attribute("locale");
  if (locale != nullptr && !locale->s().empty() && locale->s() != "en_US") {
    return view.error("locale '" + locale->s() +
                      "' is not supported (only the default, \"\" or \"en_US\", with ASCII case "
                      "mapping)");
  }
  const bool case_sensitive = node.attr_int("is_case_sensitive", 0) != 0;
  std::unordered_set<std::string> stopwords;
  for (std::string& w : attr_strings(node, "stopwords")) {
    stopwords.insert(case_sensitive ? std::move(w) : ascii_lower(std::move(w)));
  }
  return make_kernel<exec::LambdaKernel>([change, case_sensitive, stopwords = std::move(stopwords)](
                                             KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::kString) {
      return ctx.error("input must be a string tensor, got " +
                       std::string(ir::dtype_name(x.dtype())));
    }
    const bool two_d = x.rank() == 2;
    if (!(x.rank() == 1 || (two_d && x.dims()[0] == 1))) {
      return ctx.error("input must have shape [C] or [1, C], got " + ir::dims_to_string(x.dims()));
    }
    std::vector<std::string> kept;
    for (const std::string& s : x.strings()) {
      if (!stopwords.empty() && stopwords.count(case_sensitive ? s : ascii_lower(s)) > 0) {
        continue;
      }
      switch (change) {
        case CaseChange::kLower:
          kept.push_back(ascii_lower(s));
          break;
        case CaseChange::kUpper:
          kept.push_back(ascii_upper(s));
          break;
        case CaseChange::kNone:
          kept.push_back(s);
          break;
      }
    }
    if (kept.empty()) kept.emplace_back();
    const int64_t c = static_cast<int64_t>(kept.size());
    ctx.outputs[0] = Tensor::from_strings(two_d ? Dims{1, c} : Dims{c}, std::move(kept));
    return Status::ok_status();
  });
}

// ---------------------------------------------------------------------------------------------
// TfIdfVectorizer.

enum class TfIdfMode { kTf, kIdf, kTfIdf };

/// The pool's n-grams as a trie over token ids: following the children of the root with the
/// items of a gram reaches the node holding the gram's output coordinate.
struct NgramTrie {
  struct Node {
    std::unordered_map<int64_t, int32_t> children;
    int64_t out = -1;  ///< Output coordinate of the gram ending here, or -1.
  };
  std::vector<Node> nodes{Node{}};

  void insert(const int64_t* gram, int64_t n, int64_t out) {
    int32_t at = 0;
    for (int64_t j = 0; j < n; ++j) {
      auto it = nodes[at].children.find(gram[j]);
      if (it == nodes[at].children.end()) {
        nodes.push_back(Node{});
        const int32_t id = static_cast<int32_t>(nodes.size() - 1);
        nodes[at].children.emplace(gram[j], id);
        at = id;
      } else {
        at = it->second;
      }
    }
    if (nodes[at].out < 0) nodes[at].out = out;  // a repeated gram keeps its first coordinate
  }
};

struct TfIdfParams {
  TfIdfMode mode = TfIdfMode::kTf;
  int64_t min_n = 1, max_n = 1, max_skip = 0;
  int64_t out_size = 0;
  std::vector<float> weights;  ///< Per output coordinate; empty means 1.
  bool strings = false;        ///< Pool of strings (token ids below) or of integers.
  std::unordered_map<std::string, int64_t> string_ids;
  NgramTrie trie;
};

class TfIdfKernel final : public Kernel {
 public:
  explicit TfIdfKernel(TfIdfParams p) : p_(std::move(p)) {}

  Status compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const bool is_string = x.dtype() == DType::kString;
    if (is_string != p_.strings ||
        (!is_string && x.dtype() != DType::kInt32 && x.dtype() != DType::kInt64)) {
      return ctx.error(std::string("input must be ") +
                       (p_.strings ? "a string tensor (pool_strings is set)"
                                   : "an int32 or int64 tensor (pool_int64s is set)") +
                       ", got " + std::string(ir::dtype_name(x.dtype())));
    }
    if (x.rank() != 1 && x.rank() != 2) {
      return ctx.error("input must have shape [C] or [N, C], got " + ir::dims_to_string(x.dims()));
    }
    const int64_t rows = x.rank() == 2 ? x.dims()[0] : 1;
    const int64_t cols = x.dims().back();
    // Token ids: integers as they are, strings by their place in the pool (-1 when absent).
    std::vector<int64_t> tokens;
    if (is_string) {
      tokens.reserve(x.strings().size());
      for (const std::string& s : x.strings()) {
        auto it = p_.string_ids.find(s);
        tokens.push_back(it == p_.string_ids.end() ? -1 : it->second);
      }
    } else {
      tokens = to_int64_vector(x);
    }
    Tensor y =
        Tensor::zeros(DType::kFloat, x.rank() == 2 ? Dims{rows, p_.out_size} : Dims{p_.out_size});
    float* out = reinterpret_cast<float*>(y.mutable_data());
    exec::parallel_for(ctx.pool, rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        count_row(tokens.data() + r * cols, cols, out + r * p_.out_size);
    });
    ctx.outputs[0] = std::move(y);
    return Status::ok_status();
  }

 private:
  void count_row(const int64_t* row, int64_t cols, float* out) const {
    const auto& nodes = p_.trie.nodes;
    std::vector<float> counts(static_cast<size_t>(p_.out_size), 0.0f);
    for (int64_t s = 0; s < cols; ++s) {
      for (int64_t k = 0; k <= p_.max_skip; ++k) {
        const int64_t step = k + 1;
        int32_t at = 0;
        for (int64_t j = 0; j < p_.max_n; ++j) {
          const int64_t pos = s + j * step;
          if (pos >= cols) break;
          auto it = nodes[at].children.find(row[pos]);
          if (it == nodes[at].children.end()) break;
          at = it->second;
          // Unigrams do not depend on the skip: count them on the first pass only.
          const int64_t n = j + 1;
          if (n >= p_.min_n && nodes[at].out >= 0 && (n > 1 || k == 0)) ++counts[nodes[at].out];
        }
      }
    }
    for (int64_t i = 0; i < p_.out_size; ++i) {
      const float w = p_.weights.empty() ? 1.0f : p_.weights[i];
      switch (p_.mode) {
        case TfIdfMode::kTf:
          out[i] = counts[i];
          break;
        case TfIdfMode::kIdf:
          out[i] = counts[i] > 0 ? w : 0.0f;
          break;
        case TfIdfMode::kTfIdf:
          out[i] = counts[i] * w;
          break;
      }
    }
  }

  TfIdfParams p_;
};

StatusOr<std::unique_ptr<Kernel>> make_tfidf(const NodeView& view) {
  const ir::Node& node = view.node();
  TfIdfParams p;
  const ir::Attribute* mode = node.attribute("mode");
  if (mode == nullptr) return view.error("attribute 'mode' is required");
  if (mode->s() == "TF") {
    p.mode = TfIdfMode::kTf;
  } else if (mode->s() == "IDF") {
    p.mode = TfIdfMode::kIdf;
  } else if (mode->s() == "TFIDF") {
    p.mode = TfIdfMode::kTfIdf;
  } else {
    return view.error("mode must be TF, IDF or TFIDF, got '" + mode->s() + "'");
  }
  for (const char* name : {"min_gram_length", "max_gram_length", "max_skip_count"}) {
    if (node.attribute(name) == nullptr) {
      return view.error(std::string("attribute '") + name + "' is required");
    }
  }
  p.min_n = node.attr_int("min_gram_length", 1);
  p.max_n = node.attr_int("max_gram_length", 1);
  p.max_skip = node.attr_int("max_skip_count", 0);
  if (p.min_n < 1 || p.max_n < p.min_n) {
    return view.error("gram lengths must satisfy 1 <= min_gram_length <= max_gram_length, got " +
                      std::to_string(p.min_n) + " and " + std::to_string(p.max_n));
  }
  if (p.max_skip < 0) {
    return view.error("max_skip_count must be >= 0, got " + std::to_string(p.max_skip));
  }

  const std::vector<std::string> pool_strings = attr_strings(node, "pool_strings");
  std::vector<int64_t> pool = node.attr_ints("pool_int64s");
  const bool has_strings = node.attribute("pool_strings") != nullptr;
  const bool has_ints = node.attribute("pool_int64s") != nullptr;
  if (has_strings == has_ints) {
    return view.error("exactly one of pool_strings and pool_int64s must be set");
  }
  p.strings = has_strings;
  if (p.strings) {
    pool.clear();
    for (const std::string& s : pool_strings) {
      const auto it = p.string_ids.emplace(s, static_cast<int64_t>(p.string_ids.size())).first;
      pool.push_back(it->second);
    }
  }
  const DType xt = view.input_dtype(0);
  if (xt != DType::kUndefined) {
    const bool ok = p.strings ? xt == DType::kString : (xt == DType::kInt32 || xt == DType::kInt64);
    if (!ok) {
      return view.error(std::string("input must be ") +
                        (p.strings ? "a string tensor (pool_strings is set)"
                                   : "an int32 or int64 tensor (pool_int64s is set)") +
                        ", got " + std::string(ir::dtype_name(xt)));
    }
  }

  // Split the pool into its n-gram sections and number the grams in pool order.
  const std::vector<int64_t> counts = node.attr_ints("ngram_counts");
  const std::vector<int64_t> indexes = node.attr_ints("ngram_indexes");
  const int64_t pool_size = static_cast<int64_t>(pool.size());
  int64_t gram = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    const int64_t n = static_cast<int64_t>(s) + 1;
    const int64_t begin = counts[s];
    const int64_t end = s + 1 < counts.size() ? counts[s + 1] : pool_size;
    if (begin < 0 || end < begin || end > pool_size) {
      return view.error("ngram_counts must be non-decreasing offsets into a pool of " +
                        std::to_string(pool_size) + " items, got " + std::to_string(begin) +
                        " for " + std::to_string(n) + "-grams");
    }
    if ((end - begin) % n != 0) {
      return view.error("the " + std::to_string(n) + "-gram section of the pool has " +
                        std::to_string(end - begin) + " items, not a multiple of " +
                        std::to_string(n));
    }
    for (int64_t at = begin; at < end; at += n, ++gram) {
      if (gram >= static_cast<int64_t>(indexes.size())) {
        return view.error("ngram_indexes has " + std::to_string(indexes.size()) +
                          " entries, fewer than the pool's n-grams");
      }
      const int64_t out = indexes[gram];
      if (out < 0) return view.error("ngram_indexes must be >= 0, got " + std::to_string(out));
      p.out_size = std::max(p.out_size, out + 1);
      p.trie.insert(pool.data() + at, n, out);
    }
  }
  if (gram != static_cast<int64_t>(indexes.size())) {
    return view.error("ngram_indexes has " + std::to_string(indexes.size()) +
                      " entries but the pool holds " + std::to_string(gram) + " n-grams");
  }
  if (node.attribute("weights") != nullptr) {
    p.weights = node.attribute("weights")->floats();
    if (static_cast<int64_t>(p.weights.size()) < p.out_size) {
      return view.error("weights has " + std::to_string(p.weights.size()) +
                        " entries, fewer than the " + std::to_string(p.out_size) +
                        " output coordinates");
    }
  }
  return make_kernel<TfIdfKernel>(std::move(p));
}

}  // namespace

void register_string_ops_kernels(exec::KernelRegistry& r) {
  constexpr int kMax = 1 << 20;
  r.add("", "StringNormalizer", 10, kMax, make_string_normalizer);
  r.add("", "TfIdfVectorizer", 9, kMax, make_tfidf);
}

}  // namespace compressor::kernels
