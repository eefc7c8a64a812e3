// Kernel family 'detection': NonMaxSuppression (opset 10-11) and RoiAlign (opset 10 and 16).
//
// NonMaxSuppression works per (batch, class): boxes whose score passes the threshold are taken
// in order of decreasing score (ties: lower box index first) and kept unless their IoU with an
// already kept box of the same class exceeds iou_threshold. The selected triples are listed
// batch by batch, class by class, in selection order.
//
// RoiAlign averages (or takes the maximum of) bilinear samples on a regular grid inside every
// output bin. The sample positions and their four corner weights depend only on the RoI, so they
// are computed once per RoI and reused for every channel.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

/// Plan-time check that input `i`, when its dtype is known, is float or double.
Status check_float_input(const NodeView& view, size_t i, const char* name) {
  const DType t = view.input_dtype(i);
  if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble) {
    return view.error(std::string(name) + " must be float or double, got " +
                      std::string(ir::dtype_name(t)));
  }
  return ok_status();
}

/// The first element of a float or double tensor as double.
double first_float(const Tensor& t) {
  return t.dtype() == DType::kDouble ? t.span<double>()[0] : double(t.span<float>()[0]);
}

// ---------------------------------------------------------------------------------------------
// NonMaxSuppression

/// A box as its extent on both axes (min <= max), whatever corner order the input used.
struct Extent {
  double y0, x0, y1, x1;
  double area() const { return (y1 - y0) * (x1 - x0); }
};

/// True when the IoU of a and b exceeds `threshold`. Boxes without area never suppress.
bool overlaps(const Extent& a, const Extent& b, double threshold) {
  const double ix = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
  const double iy = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  if (ix <= 0 || iy <= 0) return false;
  const double inter = ix * iy;
  const double area_a = a.area(), area_b = b.area();
  const double uni = area_a + area_b - inter;
  if (area_a <= 0 || area_b <= 0 || uni <= 0) return false;
  return inter / uni > threshold;
}

template <typename T>
std::vector<Extent> extents_of(const T* boxes, int64_t count, bool center_point_box) {
  std::vector<Extent> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const T* b = boxes + 4 * i;
    if (center_point_box) {  // [x_center, y_center, width, height]
      const double hw = double(b[2]) / 2, hh = double(b[3]) / 2;
      out[i] = {double(b[1]) - hh, double(b[0]) - hw, double(b[1]) + hh, double(b[0]) + hw};
    } else {  // [y1, x1, y2, x2], any diagonal pair of corners
      out[i] = {std::min<double>(b[0], b[2]), std::min<double>(b[1], b[3]),
                std::max<double>(b[0], b[2]), std::max<double>(b[1], b[3])};
    }
  }
  return out;
}

class NonMaxSuppressionKernel final : public Kernel {
 public:
  explicit NonMaxSuppressionKernel(bool center_point_box) : center_(center_point_box) {}

  Status compute(KernelContext& ctx) const override {
    const Tensor& boxes = ctx.input(0);
    const Tensor& scores = ctx.input(1);
    if (boxes.rank() != 3 || boxes.dims()[2] != 4) {
      return ctx.error("boxes must have shape [batches, boxes, 4], got " +
                       ir::dims_to_string(boxes.dims()));
    }
    if (scores.rank() != 3 || scores.dims()[0] != boxes.dims()[0] ||
        scores.dims()[2] != boxes.dims()[1]) {
      return ctx.error("scores must have shape [batches, classes, boxes] matching boxes " +
                       ir::dims_to_string(boxes.dims()) + ", got " +
                       ir::dims_to_string(scores.dims()));
    }
    if (boxes.dtype() != scores.dtype()) {
      return ctx.error("boxes and scores must have the same data type");
    }
    if (boxes.dtype() != DType::kFloat && boxes.dtype() != DType::kDouble) {
      return ctx.error("boxes must be float or double, got " +
                       std::string(ir::dtype_name(boxes.dtype())));
    }
    int64_t max_per_class = 0;
    if (ctx.has_input(2) && ctx.input(2).numel() > 0) {
      const Tensor& m = ctx.input(2);
      if (m.dtype() != DType::kInt64 && m.dtype() != DType::kInt32) {
        return ctx.error("max_output_boxes_per_class must be int64");
      }
      max_per_class = std::max<int64_t>(0, to_int64_vector(m)[0]);
    }
    double iou_threshold = 0;
    if (ctx.has_input(3) && ctx.input(3).numel() > 0) {
      if (ctx.input(3).dtype() != DType::kFloat && ctx.input(3).dtype() != DType::kDouble) {
        return ctx.error("iou_threshold must be float");
      }
      iou_threshold = first_float(ctx.input(3));
      if (!(iou_threshold >= 0 && iou_threshold <= 1)) {
        return ctx.error("iou_threshold must be in [0, 1], got " + std::to_string(iou_threshold));
      }
    }
    bool have_score_threshold = false;
    double score_threshold = 0;
    if (ctx.has_input(4) && ctx.input(4).numel() > 0) {
      if (ctx.input(4).dtype() != DType::kFloat && ctx.input(4).dtype() != DType::kDouble) {
        return ctx.error("score_threshold must be float");
      }
      have_score_threshold = true;
      score_threshold = first_float(ctx.input(4));
    }
    if (boxes.dtype() == DType::kDouble) {
      return run<double>(ctx, max_per_class, iou_threshold, have_score_threshold, score_threshold);
    }
    return run<float>(ctx, max_per_class, iou_threshold, have_score_threshold, score_threshold);
  }

 private:
  template <typename T>
  Status run(KernelContext& ctx, int64_t max_per_class, double iou_threshold,
             bool have_score_threshold, double score_threshold) const {
    const Tensor& boxes = ctx.input(0);
    const Tensor& scores = ctx.input(1);
    const int64_t batches = boxes.dims()[0], num_boxes = boxes.dims()[1];
    const int64_t classes = scores.dims()[1];
    const T* box_data = boxes.span<T>().data();
    const T* score_data = scores.span<T>().data();
    std::vector<std::vector<Extent>> extents(static_cast<size_t>(batches));
    // One list of selected box indices per (batch, class), filled in parallel, joined in order.
    std::vector<std::vector<int64_t>> selected(static_cast<size_t>(batches * classes));
    if (max_per_class > 0 && num_boxes > 0) {
      for (int64_t b = 0; b < batches; ++b) {
        extents[b] = extents_of(box_data + b * num_boxes * 4, num_boxes, center_);
      }
      exec::parallel_for(ctx.pool, batches * classes, 1, [&](int64_t begin, int64_t end) {
        std::vector<int64_t> order;
        for (int64_t bc = begin; bc < end; ++bc) {
          const std::vector<Extent>& ext = extents[bc / classes];
          const T* s = score_data + bc * num_boxes;
          order.clear();
          for (int64_t i = 0; i < num_boxes; ++i) {
            // NaN scores have no place in the order; they are never selected.
            if (std::isnan(double(s[i]))) continue;
            if (have_score_threshold && !(double(s[i]) > score_threshold)) continue;
            order.push_back(i);
          }
          // Decreasing score; equal scores keep increasing box index (stable sort).
          std::stable_sort(order.begin(), order.end(),
                           [s](int64_t a, int64_t b) { return s[a] > s[b]; });
          std::vector<int64_t>& kept = selected[bc];
          for (int64_t i : order) {
            if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
            bool suppressed = false;
            for (int64_t k : kept) {
              if (overlaps(ext[i], ext[k], iou_threshold)) {
                suppressed = true;
                break;
              }
            }
            if (!suppressed) kept.push_back(i);
          }
        }
      });
    }
    int64_t total = 0;
    for (const auto& v : selected) total += static_cast<int64_t>(v.size());
    Tensor out = Tensor::zeros(DType::kInt64, {total, 3});
    int64_t* o = reinterpret_cast<int64_t*>(out.mutable_data());
    for (int64_t bc = 0; bc < batches * classes; ++bc) {
      for (int64_t box : selected[bc]) {
        *o++ = bc / classes;
        *o++ = bc % classes;
        *o++ = box;
      }
    }
    ctx.outputs[0] = std::move(out);
    return ok_status();
  }

  bool center_;
};

StatusOr<std::unique_ptr<Kernel>> make_non_max_suppression(const NodeView& view) {
  const int64_t center = view.node().attr_int("center_point_box", 0);
  if (center != 0 && center != 1) {
    return view.error("center_point_box must be 0 or 1, got " + std::to_string(center));
  }
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0, "boxes"));
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 1, "scores"));
  return make_kernel<NonMaxSuppressionKernel>(center == 1);
}

// ---------------------------------------------------------------------------------------------
// RoiAlign

struct RoiAlignParams {
  bool max_mode = false;
  bool half_pixel = true;
  int64_t out_h = 1, out_w = 1;
  int64_t sampling_ratio = 0;
  double spatial_scale = 1.0;
};

/// One bilinear sample: four plane offsets and their weights (all zero outside the map).
struct Sample {
  int64_t pos[4];
  double w[4];
};

/// The samples of every bin of one RoI, bin after bin; `per_bin` samples each.
struct RoiSamples {
  std::vector<Sample> samples;
  int64_t per_bin = 0;
  bool too_large = false;  ///< more than kMaxSamples samples: refused
};

/// The most bilinear samples one RoI may take.
constexpr double kMaxSamples = double(int64_t{1} << 26);

RoiSamples roi_samples(const RoiAlignParams& p, const double* roi, int64_t height, int64_t width) {
  const double offset = p.half_pixel ? 0.5 : 0.0;
  const double start_w = roi[0] * p.spatial_scale - offset;
  const double start_h = roi[1] * p.spatial_scale - offset;
  const double end_w = roi[2] * p.spatial_scale - offset;
  const double end_h = roi[3] * p.spatial_scale - offset;
  double roi_w = end_w - start_w, roi_h = end_h - start_h;
  if (!p.half_pixel) {  // the older convention forces malformed RoIs to 1x1
    roi_w = std::max(roi_w, 1.0);
    roi_h = std::max(roi_h, 1.0);
  }
  const double bin_h = roi_h / double(p.out_h), bin_w = roi_w / double(p.out_w);
  auto grid = [&](double extent, int64_t bins) -> int64_t {
    if (p.sampling_ratio > 0) return p.sampling_ratio;
    const double g = std::ceil(extent / double(bins));
    // Cap before converting; RoIs this large are refused through the sample count below.
    return g > 0 && std::isfinite(g) ? static_cast<int64_t>(std::min(g, 0x1p20)) : 0;
  };
  const int64_t grid_h = grid(roi_h, p.out_h), grid_w = grid(roi_w, p.out_w);
  RoiSamples rs;
  rs.per_bin = grid_h * grid_w;
  if (double(rs.per_bin) * double(p.out_h * p.out_w) > kMaxSamples) {
    rs.too_large = true;
    return rs;
  }
  rs.samples.reserve(static_cast<size_t>(p.out_h * p.out_w * rs.per_bin));
  for (int64_t ph = 0; ph < p.out_h; ++ph) {
    for (int64_t pw = 0; pw < p.out_w; ++pw) {
      for (int64_t iy = 0; iy < grid_h; ++iy) {
        const double yy =
            start_h + double(ph) * bin_h + (double(iy) + 0.5) * bin_h / double(grid_h);
        for (int64_t ix = 0; ix < grid_w; ++ix) {
          const double xx =
              start_w + double(pw) * bin_w + (double(ix) + 0.5) * bin_w / double(grid_w);
          Sample s{{0, 0, 0, 0}, {0, 0, 0, 0}};
          // Outside the map (or NaN): no contribution.
          if (!(yy >= -1.0 && yy <= double(height) && xx >= -1.0 && xx <= double(width)) ||
              height == 0 || width == 0) {
            rs.samples.push_back(s);
            continue;
          }
          double y = std::max(yy, 0.0), x = std::max(xx, 0.0);
          int64_t y_lo = static_cast<int64_t>(y), x_lo = static_cast<int64_t>(x);
          int64_t y_hi = y_lo + 1, x_hi = x_lo + 1;
          if (y_lo >= height - 1) {
            y_lo = y_hi = height - 1;
            y = double(y_lo);
          }
          if (x_lo >= width - 1) {
            x_lo = x_hi = width - 1;
            x = double(x_lo);
          }
          const double ly = y - double(y_lo), lx = x - double(x_lo);
          const double hy = 1 - ly, hx = 1 - lx;
          s.pos[0] = y_lo * width + x_lo;
          s.pos[1] = y_lo * width + x_hi;
          s.pos[2] = y_hi * width + x_lo;
          s.pos[3] = y_hi * width + x_hi;
          s.w[0] = hy * hx;
          s.w[1] = hy * lx;
          s.w[2] = ly * hx;
          s.w[3] = ly * lx;
          rs.samples.push_back(s);
        }
      }
    }
  }
  return rs;
}

template <typename T>
Status roi_align_typed(KernelContext& ctx, const RoiAlignParams& p) {
  const Tensor& x = ctx.input(0);
  const Tensor& rois = ctx.input(1);
  const Tensor& batch_indices = ctx.input(2);
  if (x.rank() != 4) {
    return ctx.error("X must be 4-D (N, C, H, W), got " + ir::dims_to_string(x.dims()));
  }
  if (rois.rank() != 2 || rois.dims()[1] != 4) {
    return ctx.error("rois must have shape [num_rois, 4], got " + ir::dims_to_string(rois.dims()));
  }
  if (rois.dtype() != x.dtype()) return ctx.error("rois must have the data type of X");
  const int64_t num_rois = rois.dims()[0];
  if (batch_indices.rank() != 1 || batch_indices.dims()[0] != num_rois) {
    return ctx.error("batch_indices must have shape [" + std::to_string(num_rois) + "], got " +
                     ir::dims_to_string(batch_indices.dims()));
  }
  if (batch_indices.dtype() != DType::kInt64 && batch_indices.dtype() != DType::kInt32) {
    return ctx.error("batch_indices must be int64");
  }
  const int64_t n = x.dims()[0], channels = x.dims()[1], height = x.dims()[2], width = x.dims()[3];
  const std::vector<int64_t> batch = to_int64_vector(batch_indices);
  for (int64_t b : batch) {
    if (b < 0 || b >= n) {
      return ctx.error("batch index " + std::to_string(b) + " is out of range for a batch of " +
                       std::to_string(n));
    }
  }
  const T* roi_data = rois.span<T>().data();
  std::vector<RoiSamples> samples(static_cast<size_t>(num_rois));
  for (int64_t r = 0; r < num_rois; ++r) {
    const double roi[4] = {double(roi_data[4 * r]), double(roi_data[4 * r + 1]),
                           double(roi_data[4 * r + 2]), double(roi_data[4 * r + 3])};
    samples[r] = roi_samples(p, roi, height, width);
    if (samples[r].too_large) {
      return ctx.error("RoI " + std::to_string(r) + " needs more than 2^26 samples");
    }
  }
  Tensor y = Tensor::zeros(x.dtype(), {num_rois, channels, p.out_h, p.out_w});
  const T* xd = x.span<T>().data();
  T* yd = reinterpret_cast<T*>(y.mutable_data());
  const int64_t bins = p.out_h * p.out_w, plane = height * width;
  exec::parallel_for(ctx.pool, num_rois * channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t rc = begin; rc < end; ++rc) {
      const int64_t r = rc / channels, c = rc % channels;
      const RoiSamples& rs = samples[r];
      const T* src = xd + (batch[r] * channels + c) * plane;
      T* dst = yd + rc * bins;
      const double count = double(std::max<int64_t>(rs.per_bin, 1));
      for (int64_t bin = 0; bin < bins; ++bin) {
        const Sample* s = rs.samples.data() + bin * rs.per_bin;
        double acc = 0;
        for (int64_t k = 0; k < rs.per_bin; ++k) {
          const Sample& q = s[k];
          if (p.max_mode) {
            // The spec's max mode: the largest weighted corner over all samples of the bin.
            double v = q.w[0] * double(src[q.pos[0]]);
            for (int j = 1; j < 4; ++j) v = std::max(v, q.w[j] * double(src[q.pos[j]]));
            acc = k == 0 ? v : std::max(acc, v);
          } else {
            for (int j = 0; j < 4; ++j) acc += q.w[j] * double(src[q.pos[j]]);
          }
        }
        dst[bin] = static_cast<T>(p.max_mode ? acc : acc / count);
      }
    }
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_roi_align(const NodeView& view) {
  const ir::Node& node = view.node();
  RoiAlignParams p;
  const ir::Attribute* mode = node.attribute("mode");
  const std::string m = mode ? mode->s() : "avg";
  if (m != "avg" && m != "max") return view.error("mode '" + m + "' is not supported");
  p.max_mode = m == "max";
  if (view.opset() >= 16) {
    const ir::Attribute* ct = node.attribute("coordinate_transformation_mode");
    const std::string c = ct ? ct->s() : "half_pixel";
    if (c != "half_pixel" && c != "output_half_pixel") {
      return view.error("coordinate_transformation_mode '" + c + "' is not supported");
    }
    p.half_pixel = c == "half_pixel";
  } else {
    p.half_pixel = false;  // opset 10 has no pixel shift
  }
  p.out_h = node.attr_int("output_height", 1);
  p.out_w = node.attr_int("output_width", 1);
  if (p.out_h < 1 || p.out_w < 1) {
    return view.error("output_height and output_width must be >= 1");
  }
  p.sampling_ratio = node.attr_int("sampling_ratio", 0);
  if (p.sampling_ratio < 0) return view.error("sampling_ratio must be >= 0");
  p.spatial_scale = node.attr_float("spatial_scale", 1.0f);
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0, "X"));
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 1, "rois"));
  return make_kernel<exec::LambdaKernel>([p](KernelContext& ctx) -> Status {
    const DType t = ctx.input(0).dtype();
    if (t == DType::kFloat) return roi_align_typed<float>(ctx, p);
    if (t == DType::kDouble) return roi_align_typed<double>(ctx, p);
    return ctx.error("X must be float or double, got " + std::string(ir::dtype_name(t)));
  });
}

}  // namespace

void register_detection_kernels(exec::KernelRegistry& r) {
  r.add("", "NonMaxSuppression", 10, 1 << 20, make_non_max_suppression);
  r.add("", "RoiAlign", 10, 1 << 20, make_roi_align);
}

}  // namespace compressor::kernels
