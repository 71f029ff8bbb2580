#pragma once
// A progress bar on stderr for long work (dump, restore, import-sqlite, bench): shown only
// when stderr is a terminal, so logs and pipes stay clean.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace llmcache::cli {

class Progress {
 public:
  /// `total` is in `unit`s; without one the bar shows a count and a rate, no ETA.
  Progress(std::string label, std::optional<std::uint64_t> total, std::string unit);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_total(std::uint64_t total) { total_ = total; }
  /// Records progress; redraws at most ten times a second.
  void update(std::uint64_t done);
  /// Draws the final state and ends the line (also done by the destructor).
  void finish();
  bool enabled() const { return enabled_; }

 private:
  void draw(bool final);

  std::string label_;
  std::optional<std::uint64_t> total_;
  std::string unit_;
  bool enabled_;
  bool finished_ = false;
  std::uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace llmcache::cli
