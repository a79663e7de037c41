#include "agent/output_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/process.h"
#include "fmt/format.h"

namespace prewarm::agent {
namespace {

namespace fs = std::filesystem;

class OutputLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/prewarm-output-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Bytes on disk of the log's files, now. A pump may rotate (rename over) a file between the
  // listing and its size: one gone by then counts nothing at that sample.
  uint64_t DiskBytes() const {
    uint64_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) {
      std::error_code ec;
      const uintmax_t size = fs::file_size(e.path(), ec);
      if (!ec) n += size;
    }
    return n;
  }

  std::string dir_;
};

// Numbered lines, so that what is kept shows whether it is the newest and in order.
std::string Lines(int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += fmt::format("line {:07}\n", i);
  return s;
}

TEST_F(OutputLogTest, KeepsEverythingUnderTheCapInOrder) {
  OutputLog log(dir_ + "/out.log", 4096);
  ASSERT_TRUE(log.Append("hello\n").ok());
  ASSERT_TRUE(log.Append("world\n").ok());
  auto t = log.Read();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->data, "hello\nworld\n");
  EXPECT_EQ(t->dropped, 0u);
}

TEST_F(OutputLogTest, KeepsTheNewestHalfToWholeCapAndCountsWhatItDropped) {
  const uint64_t cap = 4096;
  OutputLog log(dir_ + "/out.log", cap);
  std::string all = Lines(0, 2000);  // 26 000 bytes in small writes
  for (size_t i = 0; i < all.size(); i += 13) ASSERT_TRUE(log.Append(all.substr(i, 13)).ok());
  auto t = log.Read();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_GE(t->data.size(), cap / 2);
  EXPECT_LE(t->data.size(), cap);
  EXPECT_EQ(t->data, all.substr(all.size() - t->data.size()));  // the newest, contiguous
  EXPECT_EQ(t->dropped + t->data.size(), all.size());
  EXPECT_LE(DiskBytes(), cap);
}

TEST_F(OutputLogTest, AWriteLargerThanTheCapKeepsItsEnd) {
  OutputLog log(dir_ + "/out.log", 4096);
  ASSERT_TRUE(log.Append("old\n").ok());
  std::string big = Lines(0, 1000);
  ASSERT_TRUE(log.Append(big).ok());
  auto t = log.Read();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data, big.substr(big.size() - 4096));
  EXPECT_EQ(t->dropped, big.size() + 4 - 4096);
  EXPECT_LE(DiskBytes(), 4096u);
}

// Hostile: a workload writes 10 MB as fast as it can. The pipe is read through, the files
// never pass the cap, and the agent's memory does not grow with what was written.
TEST_F(OutputLogTest, AWorkloadWritingTenMegabytesStaysWithinTheCap) {
  const uint64_t cap = 64 << 10;
  auto log = std::make_shared<OutputLog>(dir_ + "/out.log", cap);
  auto pipe = PipeInto(log);
  ASSERT_TRUE(pipe.ok()) << pipe.status();
  RealProcessRunner runner;
  SpawnOptions opts;
  // 10 MiB of numbered lines, then a marker on stderr.
  opts.argv = {"/bin/sh", "-c",
               "i=0; while [ $i -lt 10 ]; do head -c 1048576 /dev/zero | tr '\\0' x; "
               "i=$((i+1)); done; echo; echo done >&2"};
  opts.out_fd = pipe->write_end.get();
  auto pid = runner.Spawn(opts);
  ASSERT_TRUE(pid.ok()) << pid.status();
  pipe->write_end.reset();
  uint64_t peak_disk = 0;
  std::optional<int> code;
  for (int i = 0; i < 3000 && !code; ++i) {  // at most 30 s
    peak_disk = std::max(peak_disk, DiskBytes());
    auto c = runner.TryWait(*pid);
    ASSERT_TRUE(c.ok());
    code = *c;
    if (!code) ::usleep(10'000);
  }
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  pipe->pump->Stop();
  peak_disk = std::max(peak_disk, DiskBytes());
  EXPECT_LE(peak_disk, cap);
  auto t = log->Read();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_LE(t->data.size(), cap);
  EXPECT_GE(t->data.size(), cap / 2);
  EXPECT_EQ(t->data.substr(t->data.size() - 6), "\ndone\n");
  EXPECT_EQ(t->dropped + t->data.size(), 10u * 1048576 + 6);
}

TEST_F(OutputLogTest, StopEndsThePumpEvenWhileAWriterHoldsThePipe) {
  auto log = std::make_shared<OutputLog>(dir_ + "/out.log", 4096);
  auto pipe = PipeInto(log);
  ASSERT_TRUE(pipe.ok());
  ASSERT_EQ(::write(pipe->write_end.get(), "x\n", 2), 2);
  for (int i = 0; i < 200 && log->Read()->data.empty(); ++i) ::usleep(10'000);
  pipe->pump->Stop();  // the write end is still open: no EOF
  EXPECT_EQ(log->Read()->data, "x\n");
}

TEST_F(OutputLogTest, AFileAnotherProcessWritesIsTrimmedToItsLastBytes) {
  const std::string path = dir_ + "/console.log";
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid());
  std::string all = Lines(0, 100000);  // 1.3 MB
  ASSERT_EQ(::write(fd.get(), all.data(), all.size()), static_cast<ssize_t>(all.size()));
  const uint64_t cap = 64 << 10;
  absl::Status st = TrimFile(path, cap);
  if (absl::IsUnimplemented(st) || st.message().find("not supported") != std::string::npos) {
    GTEST_SKIP() << "no hole punching here: " << st;
  }
  ASSERT_TRUE(st.ok()) << st;
  struct stat sb {};
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  EXPECT_LE(static_cast<uint64_t>(sb.st_blocks) * 512, cap + 2 * 4096 + 4096);
  EXPECT_EQ(static_cast<uint64_t>(sb.st_size), all.size());  // the writer's offset stays valid
  // The writer goes on at its offset; the tail is the newest output.
  ASSERT_EQ(::write(fd.get(), "after\n", 6), 6);
  auto t = ReadFileTail(path, cap);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->data.size(), cap);
  EXPECT_EQ(t->data, (all + "after\n").substr(all.size() + 6 - cap));
  EXPECT_EQ(t->dropped, all.size() + 6 - cap);
  auto missing = ReadFileTail(dir_ + "/none", cap);
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->data.empty());
}

TEST(OutputTextTest, LastLines) {
  EXPECT_EQ(LastLines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(LastLines("a\nb\nc", 2), "b\nc");
  EXPECT_EQ(LastLines("a\nb\nc\n", 0), "a\nb\nc\n");
  EXPECT_EQ(LastLines("a\nb\n", 5), "a\nb\n");
  EXPECT_EQ(LastLines("", 3), "");
  EXPECT_EQ(LastLines("\n\n\n", 1), "\n");
}

TEST(OutputTextTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(ValidUtf8("plain"), "plain");
  EXPECT_EQ(ValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x99\x82"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x99\x82");
  EXPECT_EQ(ValidUtf8("a\xFF"
                      "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ValidUtf8("\xC3"), "\xEF\xBF\xBD");                                  // truncated
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

}  // namespace
}  // namespace prewarm::agent
