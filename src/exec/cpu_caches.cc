#include "cpu_caches.h"

#include <Eigen/Core>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>

namespace compressor::exec {
namespace {

// "32K" / "1024K" / "32M" -> bytes; 0 when unreadable.
std::ptrdiff_t parse_size(const std::string& s) {
  if (s.empty()) return 0;
  std::ptrdiff_t v = 0;
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
  if (i < s.size() && (s[i] == 'K' || s[i] == 'k')) v <<= 10;
  if (i < s.size() && (s[i] == 'M' || s[i] == 'm')) v <<= 20;
  return v;
}

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

void configure_eigen_caches() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::ptrdiff_t sizes[4] = {0, 0, 0, 0};  // by cache level
    for (int index = 0; index < 8; ++index) {
      const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
      const std::string type = read_line(dir + "/type");
      if (type.empty()) break;
      if (type == "Instruction") continue;
      const std::string level = read_line(dir + "/level");
      const int l = level.empty() ? 0 : level[0] - '0';
      if (l >= 1 && l <= 3) sizes[l] = parse_size(read_line(dir + "/size"));
    }
    if (sizes[1] > 0 && sizes[2] > 0) {
      Eigen::setCpuCacheSizes(sizes[1], sizes[2], sizes[3] > 0 ? sizes[3] : sizes[2]);
    }
  });
}

}  // namespace compressor::exec
