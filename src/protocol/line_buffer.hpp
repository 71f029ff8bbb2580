#pragma once
// The received bytes of one reply stream, cut into header lines and data blocks: the buffer
// both reply parsers (protocol/meta_parser.hpp, protocol/classic_parser.hpp) read through,
// so that the line limit, the line-end rules and the memory discipline are one code.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace llmcache::protocol::detail {

/// One line of a reply stream, without its line end.
struct Line {
  std::string_view text;
  bool ended_with_cr = false;  // \r\n; only metadump lines may end with a bare \n
};

/// The bytes of one reply stream that the parser has not consumed yet, handed out as
/// header lines and data blocks. The views it returns point into the buffer and stay valid
/// until the next feed(). Each byte is searched for a line end once, however it was cut
/// into fragments, and copied in only once (feed) unless an unfinished reply has to move
/// to the front.
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  /// Drops the consumed bytes, then appends `bytes`.
  void feed(std::string_view bytes);
  /// Throws ProtocolError when the unfinished line at the read position is already longer
  /// than max_line_bytes: called after feed() while a line (not a data block) is expected,
  /// so a peer sending an endless line is cut off even by a caller that feeds several
  /// times before reading.
  void check_line() { find_line_end(); }
  /// The next whole line, consumed; nullopt when its end has not arrived yet. Throws
  /// ProtocolError for a line longer than max_line_bytes or ending with a bare \n (except
  /// a metadump line).
  std::optional<Line> take_line();
  /// The next `bytes` bytes and their \r\n terminator, consumed; nullopt until all have
  /// arrived. Throws ProtocolError as soon as the terminator's first byte is wrong.
  std::optional<std::string_view> take_block(std::size_t bytes);
  /// Bytes received but not consumed yet.
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  // Position of the '\n' ending the line at consumed_, or npos (throws past the limit).
  std::size_t find_line_end();

  std::size_t max_line_bytes_;
  std::string buffer_;
  std::size_t consumed_ = 0;
  // Bytes after consumed_ already searched for '\n', so fragments are scanned once.
  std::size_t scanned_ = 0;
};

}  // namespace llmcache::protocol::detail
