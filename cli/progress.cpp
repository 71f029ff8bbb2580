#include "progress.hpp"

#include "common.hpp"

#include <cstdio>

namespace llmcache::cli {
namespace {

std::string rate_text(double per_second) {
  char buf[32];
  if (per_second >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fM", per_second / 1e6);
  } else if (per_second >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", per_second / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", per_second);
  }
  return buf;
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

Progress::Progress(std::string label, std::optional<std::uint64_t> total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  finish();
}

void Progress::update(std::uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  draw(true);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void Progress::draw(bool final) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string line = label_ + " ";
  if (total_ && *total_ > 0) {
    constexpr int kWidth = 30;
    const double fraction = std::min(1.0, static_cast<double>(done_) / *total_);
    const int filled = static_cast<int>(fraction * kWidth);
    line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%% ", fraction * 100);
    line += pct;
    line += std::to_string(done_) + "/" + std::to_string(*total_) + " " + unit_;
    line += "  " + rate_text(rate) + " " + unit_ + "/s";
    if (final) {
      line += "  in " + clock_text(elapsed);
    } else if (rate > 0) {
      line += "  ETA " + clock_text(static_cast<double>(*total_ - std::min(done_, *total_)) / rate);
    } else {
      line += "  ETA --:--";
    }
  } else {
    line += std::to_string(done_) + " " + unit_ + "  " + rate_text(rate) + " " + unit_ + "/s  " +
            clock_text(elapsed);
  }
  // \r and erase-to-end-of-line redraw in place without scrolling the terminal.
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  std::fflush(stderr);
}

}  // namespace llmcache::cli
