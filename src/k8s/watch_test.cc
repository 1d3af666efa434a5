#include "src/k8s/watch.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::k8s {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> FeedAll(LineSplitter* splitter, const std::vector<std::string>& chunks,
                                 bool* ok) {
  std::vector<std::string> lines;
  *ok = true;
  for (const std::string& chunk : chunks) {
    if (!splitter->Feed(chunk, [&](std::string_view line) {
          lines.emplace_back(line);
          return true;
        })) {
      *ok = false;
      break;
    }
  }
  return lines;
}

TEST(LineSplitterTest, SplitsAcrossChunkBoundaries) {
  LineSplitter splitter(1024);
  bool ok = false;
  const auto lines = FeedAll(&splitter, {"{\"a\":1}\n{\"b\"", ":2}\r\n\n", "{\"c\":3}", "\n"}, &ok);
  EXPECT_TRUE(ok);
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}", "{\"b\":2}", "{\"c\":3}"));
  EXPECT_EQ(splitter.pending(), 0u);
}

TEST(LineSplitterTest, OneByteAtATime) {
  const std::string stream = "line one\nline two\n";
  LineSplitter splitter(64);
  std::vector<std::string> chunks;
  for (char c : stream) chunks.emplace_back(1, c);
  bool ok = false;
  EXPECT_THAT(FeedAll(&splitter, chunks, &ok), ElementsAre("line one", "line two"));
  EXPECT_TRUE(ok);
}

TEST(LineSplitterTest, HoldsAnIncompleteLine) {
  LineSplitter splitter(64);
  bool ok = false;
  EXPECT_TRUE(FeedAll(&splitter, {"abc"}, &ok).empty());
  EXPECT_EQ(splitter.pending(), 3u);
}

TEST(LineSplitterTest, RejectsOverlongLinesInOneChunkOrSeveral) {
  {
    LineSplitter splitter(8);
    bool ok = true;
    EXPECT_THAT(FeedAll(&splitter, {"short\n123456789\nafter\n"}, &ok), ElementsAre("short"));
    EXPECT_FALSE(ok);
    EXPECT_TRUE(splitter.overflowed());
  }
  {
    LineSplitter splitter(8);
    bool ok = true;
    EXPECT_TRUE(FeedAll(&splitter, {"12345", "6789", "\n"}, &ok).empty());
    EXPECT_FALSE(ok);
    EXPECT_TRUE(splitter.overflowed());
    EXPECT_EQ(splitter.pending(), 0u);  // the partial line was released
    // Once overflowed, the stream is dead until Reset.
    EXPECT_FALSE(splitter.Feed("ok\n", [](std::string_view) { return true; }));
    splitter.Reset();
    EXPECT_TRUE(splitter.Feed("ok\n", [](std::string_view) { return true; }));
  }
  {
    LineSplitter splitter(8);
    bool ok = true;
    // Exactly at the limit is fine (also when assembled from pieces).
    EXPECT_THAT(FeedAll(&splitter, {"1234", "5678\n"}, &ok), ElementsAre("12345678"));
    EXPECT_TRUE(ok);
  }
}

TEST(LineSplitterTest, StopsWhenTheConsumerSaysSo) {
  LineSplitter splitter(64);
  int seen = 0;
  EXPECT_FALSE(splitter.Feed("a\nb\nc\n", [&](std::string_view) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);
}

TEST(WatchEventTest, ParsesEventTypes) {
  auto added = ParseWatchEvent(
      R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p","resourceVersion":"7"}}})");
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->type, WatchEventType::kAdded);
  EXPECT_EQ(added->resource_version, "7");
  EXPECT_EQ(added->object["metadata"]["name"], "p");

  auto bookmark = ParseWatchEvent(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"99"}}})");
  ASSERT_TRUE(bookmark.ok());
  EXPECT_EQ(bookmark->type, WatchEventType::kBookmark);
  EXPECT_EQ(bookmark->resource_version, "99");

  auto gone = ParseWatchEvent(
      R"json({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",
          "message":"too old resource version: 5 (100)"}})json");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->type, WatchEventType::kError);
  EXPECT_EQ(gone->error_code, 410);
  EXPECT_EQ(gone->error_message, "too old resource version: 5 (100)");

  EXPECT_EQ(ParseWatchEvent(R"({"type":"MODIFIED","object":{}})")->type, WatchEventType::kModified);
  EXPECT_EQ(ParseWatchEvent(R"({"type":"DELETED","object":{}})")->type, WatchEventType::kDeleted);
}

TEST(WatchEventTest, RejectsMalformedEvents) {
  for (const char* bad : {"", "{", "[]", R"({"object":{}})", R"({"type":"ADDED"})",
                          R"({"type":"ADDED","object":[]})", R"({"type":"SYNC","object":{}})",
                          R"({"type":7,"object":{}})", "{\"type\":\"ADDED\",\"object\":{}} x"}) {
    EXPECT_EQ(ParseWatchEvent(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(WatchEventTest, DropsBulkyFieldsButKeepsLabelsOfTheSameName) {
  auto event = ParseWatchEvent(R"({"type":"ADDED","object":{
      "metadata":{"name":"p","managedFields":[{"manager":"kubectl"}],
                  "labels":{"containers":"x","template":"y"}},
      "spec":{"nodeName":"n1","containers":[{"name":"c"}],"volumes":[{}]},
      "status":{"containerStatuses":[{"name":"c"}]}}})");
  ASSERT_TRUE(event.ok());
  const Json& object = event->object;
  EXPECT_FALSE(object["metadata"].contains("managedFields"));
  EXPECT_FALSE(object["spec"].contains("containers"));
  EXPECT_FALSE(object["spec"].contains("volumes"));
  EXPECT_EQ(object["spec"]["nodeName"], "n1");
  EXPECT_EQ(object["metadata"]["labels"]["containers"], "x");
  EXPECT_EQ(object["metadata"]["labels"]["template"], "y");
  EXPECT_EQ(object["status"]["containerStatuses"][0]["name"], "c");
}

TEST(ListBodyTest, ParsesItemsVersionAndContinue) {
  auto list = ParseListBody(R"({"kind":"PodList","metadata":{"resourceVersion":"12",
      "continue":"abc"},"items":[{"metadata":{"name":"a","managedFields":[{}],
      "labels":{"managedFields":"kept"}},"spec":{"containers":[]}}]})");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->resource_version, "12");
  EXPECT_EQ(list->continue_token, "abc");
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_FALSE(list->items[0]["metadata"].contains("managedFields"));
  EXPECT_EQ(list->items[0]["metadata"]["labels"]["managedFields"], "kept");
  EXPECT_FALSE(list->items[0]["spec"].contains("containers"));

  auto empty = ParseListBody(R"({"metadata":{"resourceVersion":"3"},"items":null})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->items.empty());
  EXPECT_TRUE(empty->continue_token.empty());
}

TEST(ListBodyTest, RejectsMalformedLists) {
  for (const char* bad : {"", "[]", R"({"items":[]})", R"({"metadata":{"resourceVersion":"1"},
      "items":{}})",
                          R"({"metadata":{"resourceVersion":"1"},"items":[)"}) {
    EXPECT_EQ(ParseListBody(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(StatusMessageTest, ExtractsTheMessage) {
  EXPECT_EQ(StatusMessage(R"({"kind":"Status","code":403,"message":"pods is forbidden"})"),
            "pods is forbidden");
  EXPECT_EQ(StatusMessage("Service Unavailable\n"), "Service Unavailable ");
  EXPECT_EQ(StatusMessage(std::string(500, 'x')).size(), 200u);
}

}  // namespace
}  // namespace loupe::k8s
