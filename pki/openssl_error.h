// The one place where OpenSSL's errors become gpulse Statuses.
//
// OpenSSL reports failures on a per-thread error queue (and, for chain
// verification, as an X509_V_ERR_* code on the verify context). Every
// function in pki/ that calls OpenSSL turns a failure into a Status here,
// so the queue is always drained and messages read the same way.
//
// Thread-safe: OpenSSL's error queue is per thread.
#pragma once

#include <string_view>

#include "common/status.h"

namespace gpulse::pki {

// Drains this thread's OpenSSL error queue into a Status with `code`, whose
// message reads "<context>: <reason>[; <reason>...]" (the reasons OpenSSL
// gave, oldest first, e.g. "parse the CA certificate: no start line"), or
// "<context>" alone when the queue was empty. Never returns OK.
Status OpensslError(std::string_view context, StatusCode code = StatusCode::kInternal);

// A chain-verification failure (X509_STORE_CTX_get_error's value) as a
// PermissionDenied Status: "<context>: <OpenSSL's text for the code>".
// Also drains the error queue, so nothing stale is left for the next call.
Status CertificateVerifyError(std::string_view context, long verify_error);

}  // namespace gpulse::pki
