#include "pki/join_string.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "pki/alt_name.h"
#include "pki/certificate_info.h"

namespace gpulse::pki {
namespace {

// No message below quotes the input: the token may be anywhere in a
// malformed string (a missing '?', a stray '&'), so none of it is safe.
constexpr std::string_view kForm = " (expected gpulse-join://HOST:PORT?ca=sha256:<hex>&token=<token>)";

Status Malformed(std::string_view what) { return InvalidArgument("malformed join string: " + std::string(what) + std::string(kForm)); }

bool IsUnreserved(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

Status CheckMaster(std::string_view address) {
  if (address.empty()) return Malformed("no master address");
  std::string_view host, port;
  if (address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return Malformed("an IPv6 master address must be [ADDRESS]:PORT");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    unsigned char bytes[16];
    if (inet_pton(AF_INET6, std::string(host).c_str(), bytes) != 1) {
      return Malformed("the master address in brackets is not an IPv6 address");
    }
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return Malformed("the master address has no port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return Malformed("put an IPv6 master address in brackets");
    if (!ParseAltName(host).ok()) return Malformed("the master's host is not a DNS name or an IP address");
  }
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); });
  if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
    return Malformed("the master's port is not a number from 1 to 65535");
  }
  return Status::Ok();
}

Status CheckToken(std::string_view token) {
  if (token.empty()) return Malformed("the token is empty");
  bool printable = std::all_of(token.begin(), token.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
  if (!printable) return Malformed("the token has a space, a control character or a non-ASCII byte in it");
  return Status::Ok();
}

std::string PercentEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

bool StartsWithScheme(std::string_view text) {
  if (text.size() < kJoinScheme.size()) return false;
  return std::equal(kJoinScheme.begin(), kJoinScheme.end(), text.begin(),
                    [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
}

}  // namespace

Result<std::string> FormatJoinString(const JoinString& join) {
  RETURN_IF_ERROR(CheckMaster(join.master));
  ASSIGN_OR_RETURN(std::string pin, NormalizeCaPin(join.ca_pin));
  RETURN_IF_ERROR(CheckToken(join.token));
  return std::string(kJoinScheme) + join.master + "?ca=" + pin + "&token=" + PercentEncode(join.token);
}

Result<JoinString> ParseJoinString(std::string_view text) {
  if (text.size() > kMaxJoinStringBytes) {
    return Malformed("longer than " + std::to_string(kMaxJoinStringBytes) + " characters");
  }
  text = Trim(text);
  if (!StartsWithScheme(text)) return Malformed("it does not start with gpulse-join://");
  text.remove_prefix(kJoinScheme.size());
  size_t question = text.find('?');
  if (question == std::string_view::npos) return Malformed("no ?ca=...&token=... after the master address");
  std::string_view authority = text.substr(0, question), query = text.substr(question + 1);
  if (authority.find_first_of("/@#") != std::string_view::npos) {
    return Malformed("the master address has a path, a user part or a fragment");
  }
  RETURN_IF_ERROR(CheckMaster(authority));
  if (query.find('#') != std::string_view::npos) return Malformed("a fragment ('#') is not allowed");
  JoinString join;
  join.master = std::string(authority);
  bool have_ca = false, have_token = false;
  while (true) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    std::string_view value = equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    if (equals == std::string_view::npos) return Malformed("a parameter without '=' (only ca= and token= are allowed)");
    if (key == "ca") {
      if (have_ca) return Malformed("ca= is given twice");
      auto pin = NormalizeCaPin(value);
      if (!pin.ok()) return Malformed("ca= is not sha256: followed by 64 hex digits");
      join.ca_pin = std::move(*pin);
      have_ca = true;
    } else if (key == "token") {
      if (have_token) return Malformed("token= is given twice");
      auto token = PercentDecode(value);
      if (!token) return Malformed("the token is not correctly percent-encoded");
      RETURN_IF_ERROR(CheckToken(*token));
      join.token = std::move(*token);
      have_token = true;
    } else {
      return Malformed("an unknown parameter (only ca= and token= are allowed)");
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  if (!have_ca) return Malformed("no ca= (the pin of the cluster CA)");
  if (!have_token) return Malformed("no token=");
  return join;
}

}  // namespace gpulse::pki
