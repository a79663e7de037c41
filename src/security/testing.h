// Test helpers for src/security: a scratch directory and a capture of spdlog's output.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "spdlog/sinks/base_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace prewarm::security::testing {

// A fresh directory under the test's temporary directory, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "prewarm-sec-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) {
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// A sink that keeps every line; safe to read while gRPC's threads log.
class StringSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

// The first call makes a logger that keeps every line (and shows warnings on stderr) the
// default for the rest of the process: swapping loggers while gRPC's threads log would race.
inline std::shared_ptr<StringSink> CapturedLogs() {
  static std::shared_ptr<StringSink>* sink = [] {
    auto keep = std::make_shared<StringSink>();
    auto show = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    show->set_level(spdlog::level::warn);
    auto logger = std::make_shared<spdlog::logger>("test", spdlog::sinks_init_list{keep, show});
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
    return new std::shared_ptr<StringSink>(keep);
  }();
  return *sink;
}

// What was logged since this object was made.
class LogCapture {
 public:
  LogCapture() : sink_(CapturedLogs()), start_(sink_->text().size()) {}

  std::string text() { return sink_->text().substr(start_); }
  // True once `needle` is in the log; gives other threads a bounded time to write it.
  bool Saw(const std::string& needle) {
    for (int i = 0; i < 500; ++i) {
      if (text().find(needle) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  std::shared_ptr<StringSink> sink_;
  size_t start_;
};

}  // namespace prewarm::security::testing
