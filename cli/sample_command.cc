#include "cli/sample_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "cli/command_exit.h"
#include "cli/sample_text.h"
#include "common/clock.h"
#include "sample/sample_json.h"
#include "telemetry/sampler.h"

namespace gpulse::cli {
namespace {

struct SampleOptions {
  int count = 1;
  double interval_s = 1.0;
  bool json = false;
};

// How long the first sample may wait for the slow poller's first power and
// PCIe readings (about 40 ms per GPU on real hardware).
constexpr std::chrono::milliseconds kSlowMetricsWait{2000};

CLI::Validator WholeNumberAtLeastOne() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        size_t used = 0;
        long long value = 0;
        try {
          value = std::stoll(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || value < 1) return "must be a whole number of at least 1, got '" + text + "'";
        return "";
      },
      "N>=1");
}

CLI::Validator NonNegativeSeconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        size_t used = 0;
        double value = -1;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || !std::isfinite(value) || value < 0) {
          return "must be a number of seconds, 0 or more, got '" + text + "'";
        }
        return "";
      },
      "SECONDS>=0");
}

void RunSample(const SampleOptions& options) {
  telemetry::SamplerConfig config;
  // Repeated samples: the health figures follow the sampling interval, so
  // the GPM metrics (rates between two health passes) cover it and appear
  // from about the second sample on. NVML wants GPM samples > 100 ms apart.
  if (options.count > 1 && options.interval_s > 0) {
    config.slow_metrics.health_interval = std::chrono::duration_cast<Clock::Duration>(
        std::chrono::duration<double>(std::max(options.interval_s, 0.2)));
  }
  telemetry::Sampler sampler(config, SystemClock::Instance());
  sampler.WaitForSlowMetrics(kSlowMetricsWait);
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options.interval_s));
  auto next = std::chrono::steady_clock::now();
  for (int i = 1; i <= options.count; ++i) {
    const Sample sample = sampler.Take();
    const std::string text =
        options.json ? SampleToJson(sample).dump() + "\n" : FormatSampleText(sample, i);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (i < options.count) {
      next += interval;
      std::this_thread::sleep_until(next);
    }
  }
}

}  // namespace

void AddSampleCommand(CLI::App& app) {
  auto options = std::make_shared<SampleOptions>();
  CLI::App* sample = app.add_subcommand(
      "sample",
      "Sample this host's CPU, memory and NVIDIA GPUs (via NVML) and print the results. "
      "Without NVML (no driver, no library) it says why and still reports CPU and memory.");
  sample->add_option("-n,--count", options->count, "Number of samples to take (default 1)")
      ->check(WholeNumberAtLeastOne());
  sample->add_option("-i,--interval", options->interval_s,
                     "Seconds between samples (default 1)")
      ->check(NonNegativeSeconds());
  sample->add_flag("--json", options->json, "Print one JSON object per sample, one per line");
  sample->callback([options] { RunSample(*options); });
}

}  // namespace gpulse::cli
