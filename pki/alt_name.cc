#include "pki/alt_name.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace gpulse::pki {
namespace {

bool ParseIp(std::string_view text, std::string& canonical) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  std::string copy(text);
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN] = {};
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, copy.c_str(), bytes) == 1 && inet_ntop(family, bytes, out, sizeof out) != nullptr) {
      canonical = out;
      return true;
    }
  }
  return false;
}

bool ValidLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace

std::string AltName::ToString() const { return (kind == Kind::kIp ? "IP:" : "DNS:") + value; }

Result<AltName> ParseAltName(std::string_view text) {
  AltName name;
  if (ParseIp(text, name.value)) {
    name.kind = AltName::Kind::kIp;
    return name;
  }
  std::string quoted = "'" + std::string(text.substr(0, 80)) + (text.size() > 80 ? "...'" : "'");
  if (text.empty() || text.size() > 253) return InvalidArgument("server name " + quoted + " is not a DNS name or an IP address");
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = lower;
  while (true) {
    size_t dot = rest.find('.');
    if (!ValidLabel(rest.substr(0, dot))) {
      return InvalidArgument("server name " + quoted +
                             " is not a DNS name or an IP address (DNS labels are 1-63 letters, digits, '-' or '_')");
    }
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  name.kind = AltName::Kind::kDns;
  name.value = std::move(lower);
  return name;
}

Result<std::vector<AltName>> ServerAltNames(std::string_view hostname, const std::vector<std::string>& extra) {
  std::vector<std::string> wanted = {"localhost", "127.0.0.1", "::1"};
  if (!hostname.empty() && ParseAltName(hostname).ok()) wanted.emplace_back(hostname);
  wanted.insert(wanted.end(), extra.begin(), extra.end());
  std::vector<AltName> names;
  for (const std::string& text : wanted) {
    auto name = ParseAltName(text);
    if (!name.ok()) return name.status();
    if (std::find(names.begin(), names.end(), *name) == names.end()) names.push_back(std::move(*name));
  }
  return names;
}

}  // namespace gpulse::pki
