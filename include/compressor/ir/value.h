// Value: what flows along a graph edge: a tensor, a sequence of tensors, or an optional (empty,
// or holding a tensor or a sequence).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressor/ir/tensor.h"

namespace compressor::ir {

/// A tensor, a sequence of tensors or an optional. Copies share tensor bytes (as Tensor copies
/// do). A default-constructed Value holds nothing: a value not produced yet or already released.
class Value {
 public:
  /// What the value holds (an optional's content, for optionals).
  enum class Kind : uint8_t { kNone, kTensor, kSequence };

  Value() = default;
  /// A tensor is a value.
  Value(Tensor tensor) : kind_(Kind::kTensor), tensor_(std::move(tensor)) {}  // NOLINT

  /// A sequence of tensors of element type `elem_type` (kUndefined when not known, e.g. an
  /// empty sequence read from a file without a declared type).
  static Value sequence(DType elem_type, std::vector<Tensor> elements) {
    Value v;
    v.kind_ = Kind::kSequence;
    v.elem_type_ = elem_type;
    v.elements_ = std::move(elements);
    return v;
  }
  /// An optional holding nothing.
  static Value empty_optional() {
    Value v;
    v.optional_ = true;
    return v;
  }
  /// An optional holding `content` (a tensor or a sequence, not an optional).
  static Value optional_of(Value content) {
    content.optional_ = true;
    return content;
  }

  Kind kind() const { return kind_; }
  /// True for a plain tensor (not an optional holding one).
  bool is_tensor() const { return kind_ == Kind::kTensor && !optional_; }
  /// True for a plain sequence (not an optional holding one).
  bool is_sequence() const { return kind_ == Kind::kSequence && !optional_; }
  bool is_optional() const { return optional_; }
  /// False only for an empty optional and for a value that holds nothing.
  bool has_element() const { return kind_ != Kind::kNone; }
  /// True when the value holds nothing and is not an optional (not produced, or released).
  bool is_unset() const { return kind_ == Kind::kNone && !optional_; }

  /// The tensor; an empty Tensor unless kind() is kTensor.
  const Tensor& tensor() const { return tensor_; }
  Tensor& tensor() { return tensor_; }
  /// The elements of a sequence (empty for other kinds).
  const std::vector<Tensor>& elements() const { return elements_; }
  std::vector<Tensor>& elements() { return elements_; }
  /// Element type of a sequence: the declared one, else that of its first element.
  DType elem_type() const {
    if (elem_type_ == DType::kUndefined && !elements_.empty()) return elements_[0].dtype();
    return elem_type_;
  }
  /// The content of an optional (or the value itself) as a plain tensor or sequence.
  Value content() const {
    Value v = *this;
    v.optional_ = false;
    return v;
  }

  /// "tensor", "sequence", "optional(empty)", "optional(tensor)", ... for messages.
  std::string kind_string() const {
    const char* k = kind_ == Kind::kTensor     ? "tensor"
                    : kind_ == Kind::kSequence ? "sequence"
                    : optional_                ? "empty"
                                               : "no value";
    return optional_ ? std::string("optional(") + k + ")" : std::string(k);
  }

 private:
  Kind kind_ = Kind::kNone;
  bool optional_ = false;
  DType elem_type_ = DType::kUndefined;
  Tensor tensor_;
  std::vector<Tensor> elements_;
};

}  // namespace compressor::ir
