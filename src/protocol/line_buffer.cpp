#include "protocol/line_buffer.hpp"

#include "protocol/reply_lines.hpp"

#include <cstring>

namespace llmcache::protocol::detail {
namespace {

constexpr std::size_t npos = std::string_view::npos;

// A buffer that once held a huge value should not pin that memory for the life of the
// connection; below this it is kept to avoid reallocating for every ordinary value.
constexpr std::size_t kRetainedCapacity = 1u << 20;

}  // namespace

void LineBuffer::feed(std::string_view bytes) {
  if (consumed_ == 0) {
    // Nothing to drop.
  } else if (consumed_ == buffer_.size()) {
    if (buffer_.capacity() > kRetainedCapacity) {
      std::string().swap(buffer_);
    } else {
      buffer_.clear();
    }
  } else {
    // Only the unfinished reply is moved, and each byte at most once or twice: cheaper
    // than letting consumed replies pile up in front of it.
    buffer_.erase(0, consumed_);
    if (buffer_.capacity() > kRetainedCapacity && buffer_.capacity() > 4 * buffer_.size()) {
      buffer_.shrink_to_fit();
    }
  }
  consumed_ = 0;
  buffer_.append(bytes);
}

std::size_t LineBuffer::find_line_end() {
  const std::size_t start = consumed_;
  const std::size_t from = start + scanned_;
  const char* base = buffer_.data();
  const void* hit =
      from < buffer_.size() ? std::memchr(base + from, '\n', buffer_.size() - from) : nullptr;
  if (hit == nullptr) {
    scanned_ = buffer_.size() - start;
    // A trailing '\r' may still become the line end, so it does not count yet.
    const std::size_t line_bytes = scanned_ - (scanned_ > 0 && buffer_.back() == '\r' ? 1 : 0);
    if (line_bytes > max_line_bytes_) {
      line_too_long(max_line_bytes_, std::string_view(base + start, line_bytes));
    }
    return npos;
  }
  const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
  const std::string_view line(base + start, end - start);
  // memcached 1.6 ends metadump lines with a bare \n; nothing else may.
  const bool crlf = end > start && base[end - 1] == '\r';
  if (!crlf && !line.starts_with(kMetadumpPrefix)) malformed("line ends with a bare \\n", line);
  if (end - (crlf ? 1 : 0) - start > max_line_bytes_) {
    malformed("line longer than " + std::to_string(max_line_bytes_) + " bytes", line);
  }
  return end;
}

std::optional<Line> LineBuffer::take_line() {
  const std::size_t end = find_line_end();
  if (end == npos) return std::nullopt;
  const bool crlf = buffer_[end - 1] == '\r';
  const Line line{std::string_view(buffer_.data() + consumed_, end - (crlf ? 1 : 0) - consumed_),
                  crlf};
  consumed_ = end + 1;
  scanned_ = 0;
  return line;
}

std::optional<std::string_view> LineBuffer::take_block(std::size_t bytes) {
  const std::size_t available = buffer_.size() - consumed_;
  const char* data = buffer_.data() + consumed_;
  // The terminator is checked as soon as its first byte arrives, not when it is complete.
  if (available > bytes && data[bytes] != '\r') {
    malformed("data block not followed by \\r\\n", std::string_view(data + bytes, 1));
  }
  if (available < bytes + 2) return std::nullopt;
  if (data[bytes + 1] != '\n') {
    malformed("data block not followed by \\r\\n", std::string_view(data + bytes, 2));
  }
  consumed_ += bytes + 2;
  return std::string_view(data, bytes);
}

}  // namespace llmcache::protocol::detail
