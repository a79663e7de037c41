#include "forecast/ingest/timestamp.h"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace prewarm::forecast::ingest {
namespace {

constexpr int64_t kMsPerMinute = 60'000;

// A left-to-right reader over a fixed-layout timestamp.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return pos_ == s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  bool Eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  // Exactly `n` decimal digits.
  std::optional<int> Fixed(size_t n) {
    if (s_.size() - pos_ < n) return std::nullopt;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      char c = s_[pos_ + i];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    pos_ += n;
    return v;
  }
  // One or more digits; returns the first three as milliseconds (".5" -> 500).
  std::optional<int> Fraction() {
    int ms = 0;
    size_t n = 0;
    for (; !done() && peek() >= '0' && peek() <= '9'; ++pos_, ++n) {
      if (n < 3) ms = ms * 10 + (peek() - '0');
    }
    if (n == 0) return std::nullopt;
    for (; n < 3; ++n) ms *= 10;
    return ms;
  }
  std::string_view rest() const { return s_.substr(pos_); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

absl::Status Bad(std::string_view what, std::string_view text) {
  return absl::InvalidArgumentError(fmt::format("bad {} '{}'", what, text));
}

// "Z", "+HH:MM", "+HHMM", "-HH" or nothing, to the end of input; minutes east of UTC.
std::optional<int> ZoneOffsetMinutes(Cursor& c) {
  if (c.done()) return 0;
  if (c.Eat('Z')) return c.done() ? std::optional<int>(0) : std::nullopt;
  int sign = c.Eat('+') ? 1 : (c.Eat('-') ? -1 : 0);
  auto hh = c.Fixed(2);
  if (sign == 0 || !hh || *hh > 14) return std::nullopt;
  int mm = 0;
  if (!c.done()) {
    c.Eat(':');
    auto m = c.Fixed(2);
    if (!m || *m > 59) return std::nullopt;
    mm = *m;
  }
  if (!c.done()) return std::nullopt;
  return sign * (*hh * 60 + mm);
}

struct Clock {
  int hour = 0, minute = 0, second = 0, ms = 0;
};

// "HH:MM[:SS[.fff]]" after the date separator.
std::optional<Clock> TimeOfDay(Cursor& c) {
  Clock t;
  auto hh = c.Fixed(2);
  if (!hh || !c.Eat(':')) return std::nullopt;
  auto mm = c.Fixed(2);
  if (!mm) return std::nullopt;
  t.hour = *hh;
  t.minute = *mm;
  if (c.Eat(':')) {
    auto ss = c.Fixed(2);
    if (!ss) return std::nullopt;
    t.second = *ss;
    if (c.Eat('.')) {
      auto frac = c.Fraction();
      if (!frac) return std::nullopt;
      t.ms = *frac;
    }
  }
  return t;
}

absl::StatusOr<int64_t> ParseIso(std::string_view text) {
  Cursor c(text);
  auto y = c.Fixed(4);
  bool dash1 = c.Eat('-');
  auto mo = c.Fixed(2);
  bool dash2 = c.Eat('-');
  auto d = c.Fixed(2);
  if (!y || !dash1 || !mo || !dash2 || !d) return Bad("date", text);
  Clock t;
  if (!c.done()) {
    if (!c.Eat(' ') && !c.Eat('T')) return Bad("date/time separator in", text);
    auto tod = TimeOfDay(c);
    if (!tod) return Bad("time of day", text);
    t = *tod;
  }
  auto offset = ZoneOffsetMinutes(c);
  if (!offset) return Bad("time zone", text);
  auto ms = CivilToUnixMs(*y, *mo, *d, t.hour, t.minute, t.second);
  if (!ms) return Bad("calendar date or time", text);
  return *ms + t.ms - *offset * kMsPerMinute;
}

// [-]digits[.digits] -> (integer part, fraction in ms, negative).
struct UnixNumber {
  int64_t whole = 0;
  int frac_ms = 0;
  bool negative = false;
};

std::optional<UnixNumber> SplitUnixNumber(std::string_view text) {
  UnixNumber n;
  n.negative = !text.empty() && text[0] == '-';
  const char* begin = text.data() + (n.negative ? 1 : 0);
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(begin, end, n.whole);
  if (ec != std::errc() || p == begin) return std::nullopt;
  if (p != end) {
    Cursor c(std::string_view(p, static_cast<size_t>(end - p)));
    if (!c.Eat('.')) return std::nullopt;
    auto frac = c.Fraction();
    if (!frac || !c.done()) return std::nullopt;
    n.frac_ms = *frac;
  }
  return n;
}

absl::StatusOr<int64_t> UnixToMs(std::string_view text, bool millis) {
  auto n = SplitUnixNumber(text);
  if (!n || (millis && n->frac_ms != 0)) return Bad("Unix time", text);
  if (!millis && n->whole > 9'000'000'000'000) return Bad("Unix time (out of range)", text);
  int64_t ms = millis ? n->whole : n->whole * 1000 + n->frac_ms;
  return n->negative ? -ms : ms;
}

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<int> MonthNumber(std::string_view abbrev) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == abbrev) return static_cast<int>(i) + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> CivilToUnixMs(int year, int month, int day, int hour, int minute,
                                     int second) {
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                     std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 59) {
    return std::nullopt;
  }
  int64_t days = sys_days(ymd).time_since_epoch().count();
  return ((days * 24 + hour) * 60 + minute) * kMsPerMinute + second * 1000LL;
}

absl::StatusOr<int64_t> ParseUnixNumberMs(std::string_view text) {
  auto n = SplitUnixNumber(text);
  if (!n) return Bad("Unix time", text);
  return UnixToMs(text, n->whole >= 100'000'000'000);
}

absl::StatusOr<int64_t> ParseTimestampMs(std::string_view text, TimeFormat format) {
  switch (format) {
    case TimeFormat::kIso:
      return ParseIso(text);
    case TimeFormat::kUnixSeconds:
      return UnixToMs(text, /*millis=*/false);
    case TimeFormat::kUnixMillis:
      return UnixToMs(text, /*millis=*/true);
    case TimeFormat::kAuto:
      break;
  }
  if (text.size() >= 5 && text[4] == '-') return ParseIso(text);
  return ParseUnixNumberMs(text);
}

absl::StatusOr<int64_t> ParseClfTimestampMs(std::string_view text) {
  // dd/Mon/yyyy:HH:MM:SS +hhmm
  if (text.size() != 26 || text[2] != '/' || text[6] != '/' || text[11] != ':' || text[20] != ' ') {
    return Bad("CLF time", text);
  }
  Cursor day(text.substr(0, 2)), year(text.substr(7, 4));
  Cursor clock(text.substr(12, 8)), zone(text.substr(21));
  auto d = day.Fixed(2);
  auto mon = MonthNumber(text.substr(3, 3));
  auto y = year.Fixed(4);
  auto hh = clock.Fixed(2);
  bool c1 = clock.Eat(':');
  auto mi = clock.Fixed(2);
  bool c2 = clock.Eat(':');
  auto ss = clock.Fixed(2);
  if (!d || !mon || !y || !hh || !c1 || !mi || !c2 || !ss) return Bad("CLF time", text);
  auto offset = ZoneOffsetMinutes(zone);
  if (!offset) return Bad("CLF zone", text);
  auto ms = CivilToUnixMs(*y, *mon, *d, *hh, *mi, *ss);
  if (!ms) return Bad("CLF calendar date or time", text);
  return *ms - *offset * kMsPerMinute;
}

std::string FormatIsoUtc(int64_t unix_ms) {
  using namespace std::chrono;
  int64_t days = unix_ms >= 0 ? unix_ms / 86'400'000 : -((-unix_ms + 86'399'999) / 86'400'000);
  int64_t in_day = unix_ms - days * 86'400'000;
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", int{ymd.year()},
                                unsigned{ymd.month()}, unsigned{ymd.day()}, in_day / 3'600'000,
                                in_day / 60'000 % 60, in_day / 1000 % 60);
  if (in_day % 1000 != 0) out += fmt::format(".{:03}", in_day % 1000);
  return out + "Z";
}

}  // namespace prewarm::forecast::ingest
