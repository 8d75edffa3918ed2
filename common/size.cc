#include "common/size.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gpulse {

Result<uint64_t> ParseByteSize(const std::string& text) {
  auto bad = [&] { return InvalidArgument("'" + text + "' is not a size (try 512MiB, 16GiB or a byte count)"); };
  if (text.empty() || text[0] == '-' || text[0] == '+') return bad();
  const char* begin = text.c_str();
  char* end = nullptr;
  double number = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(number) || number < 0) return bad();
  std::string suffix;
  for (const char* p = end; *p; ++p) suffix += static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
  double scale = 1;
  if (suffix.empty() || suffix == "B") {
    scale = 1;
  } else {
    static const char* kUnits = "KMGTP";
    const char* unit = suffix.empty() ? nullptr : std::strchr(kUnits, suffix[0]);
    std::string rest = suffix.substr(1);
    if (unit == nullptr || !(rest.empty() || rest == "B" || rest == "IB")) return bad();
    scale = std::pow(1024.0, static_cast<double>(unit - kUnits + 1));
  }
  double bytes = number * scale;
  if (bytes >= 9.2e18) return bad();
  return static_cast<uint64_t>(std::llround(bytes));
}

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

}  // namespace gpulse
