#include "cli/master_client.h"

#include <unistd.h>

#include <cstdlib>

#include "cli/master_errors.h"
#include "common/token.h"

namespace gpulse::cli {

MasterEndpoint ResolveEndpoint(MasterEndpoint given, bool url_given, bool token_given, bool ca_given) {
  if (!ca_given) {
    if (const char* env = std::getenv("GPULSE_CA_FILE"); env && *env) {
      given.ca_file = env;
    } else if (::access("gpulse-data/pki/ca.crt", R_OK) == 0) {
      given.ca_file = "gpulse-data/pki/ca.crt";
    }
  }
  if (!url_given) {
    if (const char* env = std::getenv("GPULSE_MASTER"); env && *env) given.url = env;
  }
  if (!token_given) {
    if (const char* env = std::getenv("GPULSE_TOKEN_FILE"); env && *env) {
      given.token_file = env;
    } else if (::access("gpulse-data/token", R_OK) == 0) {
      given.token_file = "gpulse-data/token";
    } else if (::access("gpulse-data/read-token", R_OK) == 0) {
      given.token_file = "gpulse-data/read-token";
    }
  }
  return given;
}

std::string WithScheme(const std::string& address, bool insecure) {
  if (address.find("://") != std::string::npos || address.empty()) return address;
  return (insecure ? "http://" : "https://") + address;
}

MasterClient::MasterClient(std::string url, std::string token_file, const std::string& ca_file)
    : url_(std::move(url)), token_file_(std::move(token_file)), ca_file_(ca_file),
      http_(std::make_unique<httplib::Client>(url_)) {
  if (url_.rfind("https://", 0) == 0) {
    // Checks the chain and the host name (DNS or IP) of the URL.
    if (!ca_file.empty()) http_->set_ca_cert_path(ca_file.c_str());
    http_->enable_server_certificate_verification(true);
  }
  http_->set_connection_timeout(std::chrono::seconds(3));
  http_->set_read_timeout(std::chrono::seconds(30));
  http_->set_keep_alive(true);
}

Result<std::unique_ptr<MasterClient>> MasterClient::Connect(const MasterEndpoint& endpoint) {
  std::string url = WithScheme(endpoint.url, endpoint.insecure);
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && url.rfind("http://", 0) != 0) {
    return InvalidArgument("--master must look like HOST:PORT or https://HOST:PORT, not '" + endpoint.url + "'");
  }
  if (!https && !endpoint.insecure) {
    return InvalidArgument("'" + url + "' is plaintext: the master serves https:// unless started with "
                           "--insecure; use https://, or pass --insecure for such a master");
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return std::unique_ptr<MasterClient>(new MasterClient(url, endpoint.token_file, https ? endpoint.ca_file : ""));
}

Status MasterClient::ErrorFrom(const httplib::Result& result) const {
  if (!result) {
    if (result.error() == httplib::Error::SSLServerVerification || result.error() == httplib::Error::SSLConnection) {
      return Unavailable("cannot verify the master at " + url_ + ": " + httplib::to_string(result.error()) +
                         (ca_file_.empty() ? std::string(" (no CA given")
                                           : " (its certificate is not from the CA in " + ca_file_) +
                         "; pass --ca-file <the master's data-dir>/pki/ca.crt or set GPULSE_CA_FILE)");
    }
    if (url_.rfind("http://", 0) == 0 && result.error() == httplib::Error::Read) {
      return Unavailable("the master at " + url_ + " did not answer plain HTTP: it serves https:// unless started "
                         "with --insecure");
    }
    return Unavailable("cannot reach the master at " + url_ + ": " + httplib::to_string(result.error()) +
                       " (is gpulse-master running? set --master or GPULSE_MASTER)");
  }
  std::string api_message;
  auto body = nlohmann::json::parse(result->body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    api_message = body["error"].get<std::string>();
  }
  if (result->status == 401 && token_file_.empty()) {
    return Unauthenticated(
        "the master needs a token: pass --token-file (or set GPULSE_TOKEN_FILE) with the admin token "
        "(<data-dir>/token on the master) or, to read only, the read token (<data-dir>/read-token)");
  }
  return StatusFromHttp(result->status, api_message);
}

Result<httplib::Headers> MasterClient::AuthHeaders() const {
  httplib::Headers headers;
  if (token_file_.empty()) return headers;
  ASSIGN_OR_RETURN(std::string token, ReadToken(token_file_));
  headers.emplace("Authorization", "Bearer " + token);
  return headers;
}

Result<nlohmann::json> MasterClient::Get(const std::string& path) {
  ASSIGN_OR_RETURN(httplib::Headers headers, AuthHeaders());
  auto result = http_->Get(path, headers);
  if (!result || result->status >= 300) return ErrorFrom(result);
  auto body = nlohmann::json::parse(result->body, nullptr, false);
  if (body.is_discarded()) return Internal("the master sent a reply that is not JSON");
  return body;
}

Result<nlohmann::json> MasterClient::Delete(const std::string& path) {
  ASSIGN_OR_RETURN(httplib::Headers headers, AuthHeaders());
  auto result = http_->Delete(path, headers);
  if (!result || result->status >= 300) return ErrorFrom(result);
  auto reply = nlohmann::json::parse(result->body, nullptr, false);
  if (reply.is_discarded()) return Internal("the master sent a reply that is not JSON");
  return reply;
}

Result<nlohmann::json> MasterClient::Post(const std::string& path, const nlohmann::json& body) {
  ASSIGN_OR_RETURN(httplib::Headers headers, AuthHeaders());
  auto result = http_->Post(path, headers, body.dump(), "application/json");
  if (!result || result->status >= 300) return ErrorFrom(result);
  auto reply = nlohmann::json::parse(result->body, nullptr, false);
  if (reply.is_discarded()) return Internal("the master sent a reply that is not JSON");
  return reply;
}

Result<MasterClient::LogSlice> MasterClient::GetLogs(const std::string& task_id, const std::string& stream,
                                                     uint64_t offset, uint32_t attempt) {
  std::string path = "/api/tasks/" + task_id + "/logs?stream=" + stream + "&offset=" + std::to_string(offset);
  if (attempt > 0) {
    path += "&attempt=";
    path += std::to_string(attempt);
  }
  ASSIGN_OR_RETURN(httplib::Headers headers, AuthHeaders());
  auto result = http_->Get(path, headers);
  if (!result || result->status >= 300) return ErrorFrom(result);
  LogSlice slice;
  slice.data = result->body;
  slice.next_offset = std::strtoull(result->get_header_value("X-Gpulse-Next-Offset").c_str(), nullptr, 10);
  slice.attempt =
      static_cast<uint32_t>(std::strtoul(result->get_header_value("X-Gpulse-Attempt").c_str(), nullptr, 10));
  return slice;
}

}  // namespace gpulse::cli
