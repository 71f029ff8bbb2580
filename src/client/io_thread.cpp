#include "client/io_thread.hpp"

namespace llmcache::detail {

IoThread::IoThread()
    : context_(std::make_shared<asio::io_context>()),
      work_(asio::make_work_guard(*context_)),
      thread_([context = context_] { context->run(); }) {}

IoThread::~IoThread() {
  if (thread_.joinable()) {
    work_.reset();
    context_->stop();
    thread_.join();
  }
}

void IoThread::finish() {
  if (!thread_.joinable()) return;
  if (is_current()) {
    context_->stop();
    thread_.detach();
    return;
  }
  // Rather than stop(): every completion already queued must run, so that every callback
  // fires once.
  work_.reset();
  thread_.join();
}

}  // namespace llmcache::detail
