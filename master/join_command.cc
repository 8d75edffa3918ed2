#include "master/join_command.h"

#include <unistd.h>

#include <fstream>
#include <iterator>

#include "common/host_port.h"
#include "common/token.h"
#include "pki/certificate_info.h"
#include "pki/join_string.h"

namespace gpulse::master {

std::string AdvertisedAddress(const std::string& listen) {
  auto address = SplitHostPort(listen);
  if (!address.ok()) return listen;
  std::string host = address->first;
  if (host == "0.0.0.0" || host == "::" || host.empty()) {
    char name[256] = {};
    host = gethostname(name, sizeof name - 1) == 0 ? name : "localhost";
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(address->second);
}

Result<std::string> JoinCommandLine(const std::string& grpc_listen, const std::string& ca_file,
                                    const std::string& token_file) {
  std::ifstream in(ca_file);
  if (!in) {
    return NotFound("no cluster CA at " + ca_file + ": start the master once with this --data-dir (or pass --tls-ca)");
  }
  std::string ca_pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSIGN_OR_RETURN(std::string pin, pki::CaPin(ca_pem));
  ASSIGN_OR_RETURN(std::string token, ReadToken(token_file));
  ASSIGN_OR_RETURN(std::string join, pki::FormatJoinString({AdvertisedAddress(grpc_listen), pin, token}));
  return "gpulse-worker --join '" + join + "'";
}

}  // namespace gpulse::master
