// Table: the CLI's aligned text tables (kubectl/squeue style): a header
// row, then one row per item, columns two spaces apart, numbers right-
// aligned, no trailing spaces.
//
// Fitting a width: when the natural width is larger than `max_width`, the
// columns marked shrinkable give up space, the widest first (so the cut is
// shared), each down to its minimum, and their cells are cut with "…". Widths count
// UTF-8 code points. Colour (ANSI, only when asked) wraps a cell after it
// was padded, so it never changes the alignment.
//
// A plain value: build, render, throw away. Not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gpulse::cli {

// How a cell is coloured on a terminal.
enum class Tone { kPlain, kGood, kWarn, kBad, kDim };

struct Column {
  std::string header;
  bool right_aligned = false;
  // 0: never cut; otherwise the narrowest this column gets when fitting.
  size_t shrink_to = 0;
};

struct Cell {
  Cell(std::string text, Tone tone = Tone::kPlain) : text(std::move(text)), tone(tone) {}  // NOLINT: implicit
  Cell(const char* text, Tone tone = Tone::kPlain) : text(text), tone(tone) {}             // NOLINT: implicit
  std::string text;
  Tone tone = Tone::kPlain;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // Rows with fewer cells than columns are padded with empty cells.
  void AddRow(std::vector<Cell> cells) { rows_.push_back(std::move(cells)); }
  size_t rows() const { return rows_.size(); }
  // The header and the rows, each line ending in '\n'. max_width 0: no limit.
  std::string Render(size_t max_width, bool color) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<Cell>> rows_;
};

// Code points in `text` (its width on a terminal, for the text we print).
size_t DisplayWidth(const std::string& text);
// `text` cut to `width` code points, the last one "…" when cut.
std::string Truncate(const std::string& text, size_t width);

}  // namespace gpulse::cli
