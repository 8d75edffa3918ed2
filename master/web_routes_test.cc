#include "master/web_routes.h"

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

TEST(WebRoutesTest, Placeholder) { SUCCEED(); }

}  // namespace
}  // namespace gpulse::master
