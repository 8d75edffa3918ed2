// MasterClient: the CLI's connection to the master's HTTP API.
//
// Every call returns the parsed JSON or a Status whose message is fit to
// print as is ("cannot reach the master at http://127.0.0.1:8080: connection
// refused", "wrong cluster token", the API's own {"error": ...}); an HTTP
// error status becomes a Status as master_errors.h says.
// One client per thread.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"

namespace gpulse::cli {

struct MasterEndpoint {
  std::string url = "https://127.0.0.1:8080";  // --master, GPULSE_MASTER
  // --token-file, GPULSE_TOKEN_FILE: the admin token (needed to submit and
  // cancel) or the read token (enough for everything else).
  std::string token_file;
  // The CA an https:// master is verified by (--ca-file, GPULSE_CA_FILE);
  // empty: the system's roots (for a master with an operator's certificate).
  std::string ca_file;
  // --insecure: an http:// URL (plaintext) is allowed.
  bool insecure = false;
};

// Fills unset fields from GPULSE_MASTER / GPULSE_TOKEN_FILE /
// GPULSE_CA_FILE; the token file from ./gpulse-data/token, else
// ./gpulse-data/read-token, and the CA from ./gpulse-data/pki/ca.crt, when
// readable (the master's default data dir).
MasterEndpoint ResolveEndpoint(MasterEndpoint given, bool url_given, bool token_given, bool ca_given = false);

// "HOST:PORT" -> "https://HOST:PORT" ("http://" with `insecure`); an
// address with a scheme is returned as is.
std::string WithScheme(const std::string& address, bool insecure);

class MasterClient {
 public:
  // InvalidArgument for an address that is not HOST:PORT or
  // https://HOST:PORT (or http://HOST:PORT with endpoint.insecure). The master's certificate and
  // name are checked against endpoint.ca_file on every request.
  static Result<std::unique_ptr<MasterClient>> Connect(const MasterEndpoint& endpoint);

  // Every call sends the token (the master needs one for reads too);
  // NotFound/Unauthenticated/PermissionDenied/… from the API's reply.
  Result<nlohmann::json> Get(const std::string& path);
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> Delete(const std::string& path);

  struct LogSlice {
    std::string data;
    uint64_t next_offset = 0;  // where the next read of this attempt's stream starts
    uint32_t attempt = 0;      // the attempt served; 0 while the task has not run
  };
  // New output of `stream` ("stdout" or "stderr") of the task's `attempt`
  // (0: its latest) from `offset`. NotFound for an unknown task or attempt.
  Result<LogSlice> GetLogs(const std::string& task_id, const std::string& stream, uint64_t offset,
                           uint32_t attempt);

 private:
  MasterClient(std::string url, std::string token_file, const std::string& ca_file);
  Status ErrorFrom(const httplib::Result& result) const;
  // The Authorization header with the token file's token (none without a
  // token file); the file's error when it cannot be read.
  Result<httplib::Headers> AuthHeaders() const;

  std::string url_;
  std::string token_file_;
  std::string ca_file_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace gpulse::cli
