#include "master/api/page_cursor.h"

#include <charconv>

namespace gpulse::master {
namespace {

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Result<size_t> ParsePageLimit(const HttpRequest& req) {
  if (!req.HasQuery("limit")) return kDefaultPageLimit;
  std::optional<uint64_t> limit = ParseDecimal(req.Query("limit"));
  if (!limit || *limit < 1 || *limit > kMaxPageLimit) {
    return InvalidArgument("limit must be a whole number from 1 to " + std::to_string(kMaxPageLimit));
  }
  return static_cast<size_t>(*limit);
}

std::string TaskCursor(uint64_t before_order) { return "t" + std::to_string(before_order); }

std::optional<uint64_t> ParseTaskCursor(const std::string& cursor) {
  if (cursor.size() < 2 || cursor[0] != 't') return std::nullopt;
  std::optional<uint64_t> order = ParseDecimal(std::string_view(cursor).substr(1));
  if (!order || *order == 0) return std::nullopt;
  return order;
}

std::string WorkerCursor(const std::string& last_id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "w";
  for (unsigned char c : last_id) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> ParseWorkerCursor(const std::string& cursor) {
  if (cursor.size() < 3 || cursor[0] != 'w' || cursor.size() % 2 != 1) return std::nullopt;
  std::string id;
  for (size_t i = 1; i < cursor.size(); i += 2) {
    int hi = HexDigit(cursor[i]), lo = HexDigit(cursor[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id += static_cast<char>(hi * 16 + lo);
  }
  return id;
}

}  // namespace gpulse::master
