#include "master/core/task_validation.h"

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

TaskSpec Valid() {
  TaskSpec s;
  s.name = "train";
  s.argv = {"python3", "train.py"};
  s.env = {{"CUDA_LAUNCH_BLOCKING", "1"}, {"_x9", ""}};
  s.cpus = 8;
  s.memory_bytes = uint64_t{32} << 30;
  s.gpus = 2;
  return s;
}

// The message of the InvalidArgument for `spec`, or "" if it is accepted.
std::string Problem(const TaskSpec& spec) {
  Status s = ValidateTaskSpec(spec);
  if (s.ok()) return "";
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  return s.message();
}

TEST(TaskValidationTest, AcceptsAReasonableSpec) { EXPECT_EQ(Problem(Valid()), ""); }

TEST(TaskValidationTest, AcceptsTheLimitsThemselves) {
  TaskSpec s = Valid();
  s.cpus = 4096;
  s.gpus = 256;
  s.memory_bytes = uint64_t{64} << 40;
  s.max_attempts = 100;
  s.name = std::string(256, 'n');
  EXPECT_EQ(Problem(s), "");
  s.max_attempts = 1;
  s.cpus = 0;
  EXPECT_EQ(Problem(s), "");
}

TEST(TaskValidationTest, RejectsMissingProgram) {
  TaskSpec s = Valid();
  s.argv.clear();
  EXPECT_NE(Problem(s).find("argv is empty"), std::string::npos);
  s.argv = {"", "x"};
  EXPECT_NE(Problem(s).find("argv[0] is empty"), std::string::npos);
}

TEST(TaskValidationTest, RejectsAbsurdResources) {
  TaskSpec s = Valid();
  s.cpus = 4097;
  EXPECT_NE(Problem(s).find("cpus"), std::string::npos);
  s = Valid();
  s.gpus = 257;
  EXPECT_NE(Problem(s).find("gpus"), std::string::npos);
  s = Valid();
  s.memory_bytes = (uint64_t{64} << 40) + 1;
  EXPECT_NE(Problem(s).find("64 TiB"), std::string::npos);
}

TEST(TaskValidationTest, RejectsMaxAttemptsOutsideOneToHundred) {
  TaskSpec s = Valid();
  s.max_attempts = 0;
  EXPECT_NE(Problem(s).find("max_attempts"), std::string::npos);
  s.max_attempts = 101;
  EXPECT_NE(Problem(s).find("1..100"), std::string::npos);
}

TEST(TaskValidationTest, RejectsLongName) {
  TaskSpec s = Valid();
  s.name = std::string(257, 'n');
  EXPECT_NE(Problem(s).find("name"), std::string::npos);
}

TEST(TaskValidationTest, RejectsBadEnvironmentNames) {
  for (const char* bad : {"", "1ABC", "A-B", "A=B", "A B"}) {
    TaskSpec s = Valid();
    s.env[bad] = "v";
    EXPECT_NE(Problem(s).find("environment variable name"), std::string::npos) << bad;
  }
}

TEST(TaskValidationTest, RejectsNulBytesAndBrokenUtf8) {
  TaskSpec s = Valid();
  s.argv.push_back(std::string("a\0b", 3));
  EXPECT_NE(Problem(s).find("argv[2] contains a NUL byte"), std::string::npos);
  s = Valid();
  s.env["X"] = std::string("a\0b", 3);
  EXPECT_NE(Problem(s).find("environment variable X"), std::string::npos);
  s = Valid();
  s.name = "\xff\xfe";
  EXPECT_NE(Problem(s).find("not valid UTF-8"), std::string::npos);
  s = Valid();
  s.argv[1] = "\xc0\xaf";  // overlong '/'
  EXPECT_NE(Problem(s).find("not valid UTF-8"), std::string::npos);
  s = Valid();
  s.argv[1] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x9a\x80";  // é € 🚀
  EXPECT_EQ(Problem(s), "");
}

}  // namespace
}  // namespace gpulse::master
