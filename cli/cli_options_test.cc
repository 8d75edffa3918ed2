// The gpulse command line parsed in-process, as main() parses it: global
// options before or after the command, addresses without a scheme,
// --version, help and completion.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "cli/gpulse_app.h"
#include "cli/master_client.h"
#include "common/version.h"

namespace gpulse::cli {
namespace {

// Parses `args` (without the program name) into a fresh app; returns the
// exit code a command ended with (0 when it returned), stdout in `out`.
struct Parsed {
  int exit_code = 0;
  std::string out;
  std::string url;  // the --master the command saw
};

Parsed Parse(std::vector<std::string> args) {
  CLI::App app{"gpulse", "gpulse"};
  GlobalOptions global;
  BuildGpulseApp(app, global);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  Parsed parsed;
  std::ostringstream captured;
  std::streambuf* old = std::cout.rdbuf(captured.rdbuf());
  try {
    app.parse(args);
  } catch (const CLI::RuntimeError& e) {
    parsed.exit_code = e.get_exit_code();
  } catch (const CLI::CallForVersion& e) {
    parsed.out = e.what();
    parsed.exit_code = -1;
  } catch (const CLI::ParseError& e) {
    parsed.exit_code = 2;
  }
  std::cout.rdbuf(old);
  if (parsed.out.empty()) parsed.out = captured.str();
  parsed.url = global.endpoint.endpoint.url;
  return parsed;
}

// Port 1 on loopback refuses at once: the command got as far as calling.
constexpr const char* kNobody = "127.0.0.1:1";

TEST(CliOptionsTest, GlobalOptionsWorkBeforeTheCommand) {
  Parsed p = Parse({"--master", kNobody, "--insecure", "workers"});
  EXPECT_EQ(p.url, kNobody);
  EXPECT_EQ(p.exit_code, 69);  // tried to reach it
}

TEST(CliOptionsTest, GlobalOptionsWorkAfterTheCommandAndItsOwnOptions) {
  Parsed p = Parse({"tasks", "--state", "queued", "--master", kNobody, "--insecure"});
  EXPECT_EQ(p.url, kNobody);
  EXPECT_EQ(p.exit_code, 69);
  EXPECT_EQ(Parse({"gpus", "clear", "w1:0", "--master", kNobody}).url, kNobody);
}

TEST(CliOptionsTest, AnUnknownOptionIsStillAUsageError) {
  EXPECT_EQ(Parse({"workers", "--no-such-option"}).exit_code, 2);
  EXPECT_EQ(Parse({"gpus", "clear", "no-index"}).exit_code, 2);
}

TEST(CliOptionsTest, AddressesTakeTheSchemeOptionally) {
  EXPECT_EQ(WithScheme("gpu-master:8080", false), "https://gpu-master:8080");
  EXPECT_EQ(WithScheme("127.0.0.1:8080", true), "http://127.0.0.1:8080");
  EXPECT_EQ(WithScheme("https://m:1", true), "https://m:1");
  MasterEndpoint endpoint;
  endpoint.url = "m:8080";
  EXPECT_TRUE(MasterClient::Connect(endpoint).ok());
  endpoint.url = "ftp://m:8080";
  EXPECT_FALSE(MasterClient::Connect(endpoint).ok());
}

TEST(CliOptionsTest, VersionIsTheProjectVersion) {
  Parsed p = Parse({"--version"});
  EXPECT_EQ(p.out, std::string("gpulse ") + kVersion);
  EXPECT_NE(std::string(kVersion), "");
}

TEST(CliOptionsTest, EveryCommandsHelpHasAnExample) {
  CLI::App app{"gpulse", "gpulse"};
  GlobalOptions global;
  BuildGpulseApp(app, global);
  auto all = [](const CLI::App*) { return true; };
  for (const CLI::App* sub : app.get_subcommands(all)) {
    EXPECT_NE(sub->get_footer().find("Example"), std::string::npos) << sub->get_name();
    for (const CLI::App* nested : sub->get_subcommands(all)) {
      EXPECT_NE(nested->get_footer().find("Example"), std::string::npos) << nested->get_name();
    }
  }
}

TEST(CliOptionsTest, HelpCommandShowsOneCommand) {
  Parsed p = Parse({"help", "tasks"});
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_NE(p.out.find("--limit"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("gpulse tasks --state queued"), std::string::npos) << p.out;
  EXPECT_EQ(Parse({"help", "nonsense"}).exit_code, 2);
}

TEST(CliOptionsTest, CompletionNamesCommandsAndOptions) {
  Parsed bash = Parse({"completion", "bash"});
  EXPECT_NE(bash.out.find("complete -o default -F _gpulse gpulse"), std::string::npos);
  EXPECT_NE(bash.out.find("    gpus) COMPREPLY"), std::string::npos) << bash.out;
  EXPECT_NE(bash.out.find("--unhealthy"), std::string::npos);
  EXPECT_NE(bash.out.find("--master|--token-file|--ca-file"), std::string::npos) << bash.out;
  Parsed zsh = Parse({"completion", "zsh"});
  EXPECT_EQ(zsh.out.rfind("#compdef gpulse\n", 0), 0u);
}

}  // namespace
}  // namespace gpulse::cli
