// merge-duplicate-initializers: initializers with the same dtype, shape and bytes are stored
// once; readers of the duplicates read the first one.
#include <functional>
#include <string_view>
#include <unordered_map>

#include "../pass_util.h"
#include "compressor/pass/pass_context.h"

namespace compressor::passes {
namespace {

size_t content_hash(const ir::Tensor& t) {
  size_t h = std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(t.data()), t.nbytes()));
  for (int64_t d : t.dims()) h = h * 31 + static_cast<size_t>(d);
  return h * 31 + static_cast<size_t>(t.dtype());
}

class MergeDuplicateInitializers : public pass::Pass {
 public:
  const pass::PassInfo& info() const override;

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext&) override {
    ir::Graph& graph = model.graph;
    pass::PassResult result;
    std::unordered_map<size_t, std::vector<std::string>> kept_by_hash;
    std::vector<std::pair<std::string, std::string>> merges;  // duplicate -> kept
    for (const ir::Initializer& init : graph.initializers()) {
      if (init.tensor.dtype() == ir::DType::kString || init.tensor.nbytes() == 0) continue;
      auto& bucket = kept_by_hash[content_hash(init.tensor)];
      const std::string* same = nullptr;
      for (const auto& name : bucket) {
        if (graph.find_initializer(name)->tensor.bitwise_equal(init.tensor)) {
          same = &name;
          break;
        }
      }
      if (same == nullptr) {
        bucket.push_back(init.name);
        continue;
      }
      if (graph.is_graph_input(init.name) || graph.is_graph_output(init.name)) {
        result.skipped.push_back({init.name,
                                  "duplicate initializer is also a graph input or "
                                  "output; kept under its own name"});
        continue;
      }
      merges.emplace_back(init.name, *same);
    }
    for (const auto& [duplicate, kept] : merges) graph.replace_all_uses(duplicate, kept);
    std::set<std::string> removed;
    for (const auto& m : merges) removed.insert(m.first);
    graph.remove_initializers_if(
        [&](const ir::Initializer& i) { return removed.count(i.name) > 0; });
    result.nodes_changed = merges.size();
    if (!merges.empty()) {
      result.notes.push_back(std::to_string(merges.size()) + " duplicate initializer(s) merged");
    }
    prune_value_info(graph);
    return result;
  }
};

}  // namespace

const pass::PassInfo& merge_duplicate_initializers_info() {
  static const pass::PassInfo info{
      "merge-duplicate-initializers", "Stores identical initializers once.", {}};
  return info;
}

const pass::PassInfo& MergeDuplicateInitializers::info() const {
  return merge_duplicate_initializers_info();
}

StatusOr<std::unique_ptr<pass::Pass>> create_merge_duplicate_initializers(
    const pass::PassOptions&) {
  return std::unique_ptr<pass::Pass>(new MergeDuplicateInitializers());
}

}  // namespace compressor::passes
