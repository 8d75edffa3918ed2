#include "pki/openssl_error.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <string>

namespace gpulse::pki {

Status OpensslError(std::string_view context, StatusCode code) {
  std::string message(context);
  const char* data = nullptr;
  int flags = 0;
  int reasons = 0;
  for (unsigned long error; (error = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0;) {
    if (++reasons > 4) continue;  // keep draining; the first few say enough
    const char* reason = ERR_reason_error_string(error);
    message += reasons == 1 ? ": " : "; ";
    message += reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(error));
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') message += std::string(" (") + data + ")";
  }
  return Status(code == StatusCode::kOk ? StatusCode::kInternal : code, std::move(message));
}

Status CertificateVerifyError(std::string_view context, long verify_error) {
  ERR_clear_error();
  return PermissionDenied(std::string(context) + ": " + X509_verify_cert_error_string(verify_error));
}

}  // namespace gpulse::pki
