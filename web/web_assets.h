// The dashboard's files (web/static/), compiled into the binary at build
// time so the master serves them with no files on disk and no network.
//
// Immutable data; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace gpulse::web {

struct Asset {
  std::string_view path;          // as served: "/index.html", "/app.js"
  std::string_view content_type;  // "text/html; charset=utf-8", …
  std::string_view body;
};

// Every embedded file.
const std::vector<Asset>& Assets();

// The file served at `path`, or nullptr.
const Asset* FindAsset(std::string_view path);

}  // namespace gpulse::web
