#include "config/config_file.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testkit/temp_dir.h"

namespace gpulse::config {
namespace {

// A program with the kinds of flags the daemons have.
struct Program {
  CLI::App app{"test daemon", "gpulse-test"};
  std::string listen = "127.0.0.1:50051";
  double cancel_grace = 10;
  std::string token_file;
  bool verbose = false;
  ConfigFile config{app};

  Program() {
    app.add_option("--listen", listen, "address")->capture_default_str();
    app.add_option("--cancel-grace", cancel_grace, "seconds")->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--token-file", token_file, "path");
    app.add_flag("--verbose", verbose, "more");
  }

  // Parses `args` (after the program name); returns the error, or "".
  std::string Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "gpulse-test");
    argv_storage = args;
    argv.clear();
    for (const std::string& a : argv_storage) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  }

  std::string Effective() const { return config.Effective(static_cast<int>(argv.size()), argv.data()); }

  std::vector<std::string> argv_storage;
  std::vector<const char*> argv;
};

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::string path = dir_.File("daemon.toml");
    std::ofstream(path) << text;
    return path;
  }
  testkit::TempDir dir_{"gpulse-config"};
};

TEST_F(ConfigFileTest, FileSetsValuesAndFlagsWin) {
  std::string path = Write("listen = \"0.0.0.0:7000\"\ncancel_grace = 2.5\nverbose = true\n");
  Program p;
  ASSERT_EQ(p.Parse({"--config", path, "--listen", "127.0.0.1:9"}), "");
  EXPECT_EQ(p.listen, "127.0.0.1:9");  // the flag wins
  EXPECT_EQ(p.cancel_grace, 2.5);      // from the file
  EXPECT_TRUE(p.verbose);
  EXPECT_EQ(p.token_file, "");  // neither: default
}

TEST_F(ConfigFileTest, DashedKeysWorkToo) {
  Program p;
  ASSERT_EQ(p.Parse({"--config", Write("cancel-grace = 4\n")}), "");
  EXPECT_EQ(p.cancel_grace, 4);
}

TEST_F(ConfigFileTest, WithoutAFileEverythingIsAsBefore) {
  Program p;
  ASSERT_EQ(p.Parse({"--cancel-grace", "3"}), "");
  EXPECT_EQ(p.cancel_grace, 3);
  EXPECT_EQ(p.listen, "127.0.0.1:50051");
}

TEST_F(ConfigFileTest, UnknownKeyIsAnErrorWithItsLine) {
  std::string path = Write("listen = \"x:1\"\n\nheartbeat_timout = 3\n");
  Program p;
  std::string error = p.Parse({"--config", path});
  EXPECT_NE(error.find(path + ":3"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown key 'heartbeat_timout'"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, SectionsAndBadTomlAreErrorsWithTheirLine) {
  Program a;
  std::string error = a.Parse({"--config", Write("listen = \"x:1\"\n[master]\nlisten = \"y:2\"\n")});
  EXPECT_NE(error.find(":2"), std::string::npos) << error;
  EXPECT_NE(error.find("no sections"), std::string::npos) << error;

  Program b;
  error = b.Parse({"--config", Write("listen = \"x:1\"\ncancel_grace = = 3\n")});
  EXPECT_NE(error.find(":2"), std::string::npos) << error;
  EXPECT_NE(error.find("not valid TOML"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, ValuesGoThroughTheFlagsValidators) {
  Program p;
  std::string error = p.Parse({"--config", Write("cancel_grace = -1\n")});
  EXPECT_NE(error, "");
  EXPECT_NE(error.find("cancel-grace"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, MissingFileIsAnError) {
  Program p;
  EXPECT_NE(p.Parse({"--config", dir_.File("absent.toml")}), "");
}

TEST_F(ConfigFileTest, PrintConfigShowsEachValueAndItsSource) {
  std::string path = Write("listen = \"0.0.0.0:7000\"\ncancel_grace = 2.5\n");
  Program p;
  ASSERT_EQ(p.Parse({"--config", path, "--verbose", "--print-config"}), "");
  EXPECT_TRUE(p.config.print_requested());
  const std::string out = p.Effective();
  EXPECT_NE(out.find("listen = \"0.0.0.0:7000\"  # " + path + ":1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("cancel_grace = 2.5  # " + path + ":2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("verbose = true  # flag\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# token_file = (not set)\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("print_config"), std::string::npos) << out;
}

TEST_F(ConfigFileTest, DefaultsAreLabelledSo) {
  Program p;
  ASSERT_EQ(p.Parse({}), "");
  EXPECT_FALSE(p.config.print_requested());
  EXPECT_NE(p.Effective().find("listen = \"127.0.0.1:50051\"  # default\n"), std::string::npos) << p.Effective();
}

// What the daemons' main() does with it: go on, or stop with 0 after
// --print-config (printed) or 2 after a usage error.
TEST_F(ConfigFileTest, ParseCommandLineSaysWhetherToGoOnAndWithWhichExitCode) {
  auto parse = [](Program& p, std::vector<const char*> argv) {
    argv.insert(argv.begin(), "gpulse-test");
    return p.config.ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  };
  Program go_on;
  EXPECT_EQ(parse(go_on, {"--listen", "127.0.0.1:1"}), std::nullopt);
  EXPECT_EQ(go_on.listen, "127.0.0.1:1");
  Program wrong;
  EXPECT_EQ(parse(wrong, {"--no-such-flag"}), 2);
  Program bad_value;
  EXPECT_EQ(parse(bad_value, {"--cancel-grace", "-1"}), 2);
  Program print;
  testing::internal::CaptureStdout();
  EXPECT_EQ(parse(print, {"--print-config"}), 0);
  EXPECT_NE(testing::internal::GetCapturedStdout().find("listen = \"127.0.0.1:50051\"  # default"), std::string::npos);
}

}  // namespace
}  // namespace gpulse::config
