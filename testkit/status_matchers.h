// ASSERT_OK / EXPECT_OK: check a Status or Result and print its message
// when it is an error. For tests only.
#pragma once

#include <gtest/gtest.h>

#include "common/status.h"

namespace gpulse::testkit {

inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}

}  // namespace gpulse::testkit

// Each evaluates `expr` once.
#define EXPECT_OK(expr)                                                      \
  do {                                                                       \
    const auto& gpulse_testkit_value = (expr);                               \
    const ::gpulse::Status& gpulse_testkit_status =                          \
        ::gpulse::testkit::StatusOf(gpulse_testkit_value);                   \
    EXPECT_TRUE(gpulse_testkit_status.ok()) << gpulse_testkit_status.ToString(); \
  } while (false)
#define ASSERT_OK(expr)                                                      \
  do {                                                                       \
    const auto& gpulse_testkit_value = (expr);                               \
    const ::gpulse::Status& gpulse_testkit_status =                          \
        ::gpulse::testkit::StatusOf(gpulse_testkit_value);                   \
    ASSERT_TRUE(gpulse_testkit_status.ok()) << gpulse_testkit_status.ToString(); \
  } while (false)
