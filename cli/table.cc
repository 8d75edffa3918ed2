#include "cli/table.h"

#include <algorithm>
#include <numeric>

namespace gpulse::cli {
namespace {

const char* ColorCode(Tone tone) {
  switch (tone) {
    case Tone::kGood: return "\033[32m";
    case Tone::kWarn: return "\033[33m";
    case Tone::kBad: return "\033[31m";
    case Tone::kDim: return "\033[2m";
    case Tone::kPlain: break;
  }
  return "";
}

bool IsContinuationByte(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t DisplayWidth(const std::string& text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !IsContinuationByte(static_cast<unsigned char>(c)); }));
}

std::string Truncate(const std::string& text, size_t width) {
  if (DisplayWidth(text) <= width) return text;
  if (width == 0) return "";
  std::string out;
  size_t points = 0;
  for (char c : text) {
    if (!IsContinuationByte(static_cast<unsigned char>(c))) {
      if (points == width - 1) break;
      ++points;
    }
    out += c;
  }
  return out + "…";
}

std::string Table::Render(size_t max_width, bool color) const {
  const size_t n = columns_.size();
  std::vector<size_t> widths(n);
  for (size_t c = 0; c < n; ++c) {
    widths[c] = DisplayWidth(columns_[c].header);
    for (const auto& row : rows_) {
      if (c < row.size()) widths[c] = std::max(widths[c], DisplayWidth(row[c].text));
    }
  }
  if (max_width > 0 && n > 0) {
    size_t total = std::accumulate(widths.begin(), widths.end(), size_t{0}) + 2 * (n - 1);
    // One column at a time, the widest that may still give, so the cut is
    // shared out instead of falling on one column (ties: the later one).
    while (total > max_width) {
      size_t widest = n;
      for (size_t c = 0; c < n; ++c) {
        const size_t floor = std::max(columns_[c].shrink_to, DisplayWidth(columns_[c].header));
        if (columns_[c].shrink_to == 0 || widths[c] <= floor) continue;
        if (widest == n || widths[c] >= widths[widest]) widest = c;
      }
      if (widest == n) break;  // nothing can give more: wider than asked
      --widths[widest];
      --total;
    }
  }
  std::string out;
  auto emit = [&](size_t c, const std::string& raw, Tone tone, bool last) {
    std::string text = Truncate(raw, widths[c]);
    const std::string pad(widths[c] - DisplayWidth(text), ' ');
    const bool colored = color && tone != Tone::kPlain;
    if (colored) out += ColorCode(tone);
    if (columns_[c].right_aligned) out += pad;
    out += text;
    if (colored) out += "\033[0m";
    if (!columns_[c].right_aligned && !last) out += pad;
    if (!last) out += "  ";
  };
  for (size_t c = 0; c < n; ++c) emit(c, columns_[c].header, Tone::kPlain, c + 1 == n);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += '\n';
  for (const auto& row : rows_) {
    for (size_t c = 0; c < n; ++c) {
      const Cell empty("");
      const Cell& cell = c < row.size() ? row[c] : empty;
      emit(c, cell.text, cell.tone, c + 1 == n);
    }
    // A right-aligned last column pads before; a left-aligned one never
    // leaves trailing spaces.
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  return out;
}

}  // namespace gpulse::cli
