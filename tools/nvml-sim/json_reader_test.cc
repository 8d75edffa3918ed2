#include "tools/nvml-sim/json_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::nvml_sim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(ObjectReaderTest, AbsentKeysLeaveDefaults) {
  json obj = json::object();
  ObjectReader r(obj, "gpus[0]");
  ValueModel v = ValueModel::Constant(7);
  uint64_t n = 3;
  std::string s = "keep";
  bool b = true;
  nvmlReturn_t e = NVML_ERROR_TIMEOUT;
  r.ReadValue("utilization_gpu", 0, 100, &v);
  r.ReadUnsigned("pid", 100, &n);
  r.ReadString("name", &s);
  r.ReadBool("lost", &b);
  r.ReadError("init_error", &e);
  EXPECT_TRUE(r.Finish().ok());
  EXPECT_DOUBLE_EQ(v.At(0), 7);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(s, "keep");
  EXPECT_TRUE(b);
  EXPECT_EQ(e, NVML_ERROR_TIMEOUT);
}

TEST(ObjectReaderTest, ValueIsANumberOrAWave) {
  json obj = json::parse(R"({"a": 12.5, "b": {"min": 10, "max": 90, "period_s": 4, "shape": "triangle"}})");
  ObjectReader r(obj, "");
  ValueModel a, b;
  r.ReadValue("a", 0, 100, &a);
  r.ReadValue("b", 0, 100, &b);
  ASSERT_TRUE(r.Finish().ok()) << r.Finish().ToString();
  EXPECT_DOUBLE_EQ(a.At(0), 12.5);
  EXPECT_NEAR(b.At(0), 10, 1e-9);
  EXPECT_NEAR(b.At(2), 90, 1e-9);
}

TEST(ObjectReaderTest, ValueOutOfRangeNamesTheField) {
  json obj = json::parse(R"({"utilization_gpu": 101})");
  ObjectReader r(obj, "gpus[2]");
  ValueModel v;
  r.ReadValue("utilization_gpu", 0, 100, &v);
  Status s = r.Finish();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("gpus[2].utilization_gpu"));
  EXPECT_THAT(s.message(), HasSubstr("outside [0, 100]"));
}

TEST(ObjectReaderTest, WaveNeedsMinMaxAndPositivePeriod) {
  for (const char* text : {R"({"v": {"min": 1, "max": 2}})", R"({"v": {"min": 1, "max": 2, "period_s": 0}})",
                           R"({"v": {"min": 1, "max": 200, "period_s": 1}})",
                           R"({"v": {"min": 1, "max": 2, "period_s": 1, "shape": "wobble"}})",
                           R"({"v": {"min": 1, "max": 2, "period_s": 1, "speed": 3}})", R"({"v": "high"})"}) {
    json obj = json::parse(text);
    ObjectReader r(obj, "");
    ValueModel v;
    r.ReadValue("v", 0, 100, &v);
    Status s = r.Finish();
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_THAT(s.message(), HasSubstr("v")) << text;
  }
}

TEST(ObjectReaderTest, UnsignedAcceptsWholeNumbersAndHexStrings) {
  json obj = json::parse(R"({"a": 7, "b": "0x233010DE", "c": 8.0})");
  ObjectReader r(obj, "");
  uint64_t a = 0, b = 0, c = 0;
  r.ReadUnsigned("a", 100, &a);
  r.ReadUnsigned("b", 0xFFFFFFFF, &b);
  r.ReadUnsigned("c", 100, &c);
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(a, 7u);
  EXPECT_EQ(b, 0x233010DEu);
  EXPECT_EQ(c, 8u);
}

TEST(ObjectReaderTest, UnsignedRejectsNegativeFractionalAndTooLarge) {
  for (const char* text : {R"({"n": -1})", R"({"n": 1.5})", R"({"n": 101})", R"({"n": "0xZZ"})", R"({"n": "12"})"}) {
    json obj = json::parse(text);
    ObjectReader r(obj, "");
    uint64_t n = 0;
    r.ReadUnsigned("n", 100, &n);
    EXPECT_FALSE(r.Finish().ok()) << text;
  }
}

TEST(ObjectReaderTest, ErrorNamesWithOrWithoutPrefix) {
  json obj = json::parse(R"({"a": "NOT_SUPPORTED", "b": "NVML_ERROR_GPU_IS_LOST", "c": null, "d": "no_permission"})");
  ObjectReader r(obj, "");
  nvmlReturn_t a, b, c = NVML_ERROR_UNKNOWN, d;
  r.ReadError("a", &a);
  r.ReadError("b", &b);
  r.ReadError("c", &c);
  r.ReadError("d", &d);
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(a, NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(b, NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(c, NVML_SUCCESS);
  EXPECT_EQ(d, NVML_ERROR_NO_PERMISSION);
}

TEST(ObjectReaderTest, UnknownErrorNameFails) {
  json obj = json::parse(R"({"e": "BROKEN"})");
  ObjectReader r(obj, "gpus[0].errors");
  nvmlReturn_t e = NVML_SUCCESS;
  r.ReadError("e", &e);
  EXPECT_THAT(r.Finish().message(), HasSubstr("gpus[0].errors.e"));
}

TEST(ObjectReaderTest, UnknownKeyIsReported) {
  json obj = json::parse(R"({"name": "x", "utilisation_gpu": 5})");
  ObjectReader r(obj, "gpus[1]");
  std::string name;
  r.ReadString("name", &name);
  Status s = r.Finish();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("gpus[1].utilisation_gpu: unknown field"));
}

TEST(ObjectReaderTest, FirstErrorWins) {
  json obj = json::parse(R"({"a": "x", "b": "y"})");
  ObjectReader r(obj, "");
  bool a = false, b = false;
  r.ReadBool("a", &a);
  r.ReadBool("b", &b);
  EXPECT_THAT(r.Finish().message(), HasSubstr("a: expected true or false"));
}

TEST(ObjectReaderTest, NonObjectIsAnError) {
  json arr = json::array();
  ObjectReader r(arr, "gpus[0]");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.Finish().message(), HasSubstr("gpus[0]: expected a JSON object"));
}

TEST(JoinPathTest, JoinsWithDots) {
  EXPECT_EQ(JoinPath("", "gpus"), "gpus");
  EXPECT_EQ(JoinPath("gpus[3]", "name"), "gpus[3].name");
}

}  // namespace
}  // namespace gpulse::nvml_sim
