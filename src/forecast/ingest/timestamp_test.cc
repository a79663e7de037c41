#include "forecast/ingest/timestamp.h"

#include "gtest/gtest.h"

namespace prewarm::forecast::ingest {
namespace {

constexpr int64_t kWc98StartMs = 893'971'800'000;  // 1998-04-30 21:30:00 UTC

int64_t Ms(std::string_view text, TimeFormat format = TimeFormat::kAuto) {
  auto ms = ParseTimestampMs(text, format);
  EXPECT_TRUE(ms.ok()) << text << ": " << ms.status();
  return ms.value_or(-1);
}

TEST(Timestamp, IsoVariantsAreUtc) {
  EXPECT_EQ(Ms("1998-04-30 21:30:00"), kWc98StartMs);
  EXPECT_EQ(Ms("1998-04-30T21:30:00"), kWc98StartMs);
  EXPECT_EQ(Ms("1998-04-30T21:30:00Z"), kWc98StartMs);
  EXPECT_EQ(Ms("1998-04-30 21:30"), kWc98StartMs);
  EXPECT_EQ(Ms("1998-04-30T21:30Z"), kWc98StartMs);
  EXPECT_EQ(Ms("1998-04-30T21:30:00.250Z"), kWc98StartMs + 250);
  EXPECT_EQ(Ms("1998-04-30T23:30:00+02:00"), kWc98StartMs);
  EXPECT_EQ(Ms("1998-04-30T14:30:00-0700"), kWc98StartMs);
}

TEST(Timestamp, DateAloneIsMidnightUtc) {
  EXPECT_EQ(Ms("1970-01-01"), 0);
  EXPECT_EQ(Ms("2007-12-10"), 1'197'244'800'000);
  EXPECT_EQ(Ms("2000-02-29"), 951'782'400'000);  // leap year divisible by 400
  EXPECT_EQ(Ms("1969-12-31"), -86'400'000);
}

TEST(Timestamp, ImpossibleDatesAreRejected) {
  for (std::string_view bad :
       {"2021-13-40", "2021-02-29", "1900-02-29", "2021-04-31", "2021-00-10", "2021-01-00",
        "2021-01-01 24:00", "2021-01-01 23:60", "2021-01-01 23:59:60", "2021-1-01", "2021-01-01T",
        "2021-01-01 10:00:00 junk", "2021-01-01x", "2021/01/01", "2021-01-01T10:00+25:00", "",
        "abc", "12ab", "1.2.3"}) {
    EXPECT_FALSE(ParseTimestampMs(bad).ok()) << "accepted '" << bad << "'";
  }
}

TEST(Timestamp, UnixNumbersGuessTheirUnit) {
  EXPECT_EQ(Ms("893971800"), kWc98StartMs);
  EXPECT_EQ(Ms("893971800.5"), kWc98StartMs + 500);
  EXPECT_EQ(Ms("893971800000"), kWc98StartMs);
  EXPECT_EQ(Ms("0"), 0);
  EXPECT_EQ(Ms("-60"), -60'000);
  EXPECT_EQ(Ms("5", TimeFormat::kUnixMillis), 5);
  EXPECT_EQ(Ms("893971800000", TimeFormat::kUnixSeconds), 893'971'800'000'000);
  EXPECT_FALSE(ParseTimestampMs("1998-04-30", TimeFormat::kUnixSeconds).ok());
  EXPECT_FALSE(ParseTimestampMs("893971800", TimeFormat::kIso).ok());
  EXPECT_FALSE(ParseTimestampMs("1.5", TimeFormat::kUnixMillis).ok());
}

TEST(Timestamp, ClfAppliesTheZoneOffset) {
  // The Apache documentation's example: 13:55:36 at UTC-7 is 20:55:36 UTC.
  auto ms = ParseClfTimestampMs("10/Oct/2000:13:55:36 -0700");
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_EQ(FormatIsoUtc(*ms), "2000-10-10T20:55:36Z");
  EXPECT_EQ(*ParseClfTimestampMs("11/Oct/2000:01:25:36 +0430"), *ms);  // same instant
  EXPECT_EQ(*ParseClfTimestampMs("10/Oct/2000:20:55:36 +0000"), *ms);
}

TEST(Timestamp, ClfRejectsBadDatesAndZones) {
  for (std::string_view bad :
       {"31/Feb/2000:13:55:36 -0700", "10/oct/2000:13:55:36 -0700", "10/Okt/2000:13:55:36 -0700",
        "10/Oct/2000:25:55:36 -0700", "10/Oct/2000:13:55:36", "10/Oct/2000:13:55:36 -07:00",
        "10/Oct/2000:13:55:36 0700", "1/Oct/2000:13:55:36 -0700", "10/Oct/2000 13:55:36 -0700",
        "10/Oct/2000:13:55:36 -0790"}) {
    EXPECT_FALSE(ParseClfTimestampMs(bad).ok()) << "accepted '" << bad << "'";
  }
}

TEST(Timestamp, FormatRoundTrips) {
  EXPECT_EQ(FormatIsoUtc(kWc98StartMs), "1998-04-30T21:30:00Z");
  EXPECT_EQ(FormatIsoUtc(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(Ms(FormatIsoUtc(1'234'567'890'123)), 1'234'567'890'123);
}

}  // namespace
}  // namespace prewarm::forecast::ingest
