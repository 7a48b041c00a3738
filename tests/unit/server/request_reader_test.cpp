// RequestReader: the one parser path of sockets and serve_in_memory. Requests split anywhere,
// pipelined requests, chunked bodies, and the refusals of smuggling shapes and oversized input.

#include "request_reader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mlbridge::server {
namespace {

ReaderLimits small_limits() {
  ReaderLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = 100;
  return limits;
}

TEST(RequestReader, ARequestSplitAnywhereIsReadWhole) {
  const std::string raw =
      "POST /v1/x?limit=5&after=a%20b HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  for (std::size_t split = 0; split <= raw.size(); ++split) {
    RequestReader reader(small_limits());
    std::string input = raw.substr(0, split);
    auto state = reader.feed(input);
    if (split < raw.size()) {
      ASSERT_EQ(state, RequestReader::State::kNeedMore) << split;
      input += raw.substr(split);
      state = reader.feed(input);
    }
    ASSERT_EQ(state, RequestReader::State::kComplete) << split;
    const HttpRequest request = reader.take();
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.path, "/v1/x");
    EXPECT_EQ(request.get_param_value("after"), "a b");
    EXPECT_EQ(request.body, "{\"a\":1}");
    EXPECT_EQ(request.header("host"), "h");
    EXPECT_TRUE(input.empty());
  }
}

TEST(RequestReader, PipelinedRequestsComeOutInOrderAndChunkedBodiesAreJoined) {
  RequestReader reader(small_limits());
  std::string input =
      "GET /a HTTP/1.1\r\n\r\n"
      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
      "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(reader.feed(input), RequestReader::State::kComplete);
  EXPECT_EQ(reader.take().path, "/a");
  ASSERT_EQ(reader.feed(input), RequestReader::State::kComplete);
  const HttpRequest b = reader.take();
  EXPECT_EQ(b.body, "abc");
  ASSERT_EQ(reader.feed(input), RequestReader::State::kComplete);
  const HttpRequest c = reader.take();
  EXPECT_EQ(c.path, "/c");
  EXPECT_FALSE(c.keep_alive);
}

TEST(RequestReader, ALargeBodyIsReadIntoItsSpaceAndTheNextRequestStaysInTheInput) {
  ReaderLimits limits;
  limits.max_body_bytes = 1024 * 1024;
  RequestReader reader(limits);
  std::string body(200 * 1024, 'b');
  body.front() = '<';
  body.back() = '>';
  // The head and the body's first bytes arrive together; the rest goes into body_space() (as a
  // socket read does), and the final part arrives with a pipelined request behind it.
  std::string input = "POST /big HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body.substr(0, 1000);
  ASSERT_EQ(reader.feed(input), RequestReader::State::kNeedMore);
  EXPECT_TRUE(reader.header_done());
  EXPECT_TRUE(input.empty());
  auto space = reader.body_space();
  ASSERT_EQ(space.size(), body.size() - 1000);
  body.copy(static_cast<char*>(space.data()), 100 * 1024, 1000);
  reader.body_read(100 * 1024);
  input = "";
  ASSERT_EQ(reader.feed(input), RequestReader::State::kNeedMore);
  input = body.substr(1000 + 100 * 1024) + "GET /next HTTP/1.1\r\n\r\n";
  ASSERT_EQ(reader.feed(input), RequestReader::State::kComplete);
  const HttpRequest big = reader.take();
  EXPECT_EQ(big.path, "/big");
  EXPECT_EQ(big.body, body);
  EXPECT_EQ(reader.body_space().size(), 0U);
  ASSERT_EQ(reader.feed(input), RequestReader::State::kComplete);
  EXPECT_EQ(reader.take().path, "/next");
}

TEST(RequestReader, EncodedSlashesStayInThePath) {
  RequestReader reader(small_limits());
  std::string input = "GET /v1/bridges/a%2Fb HTTP/1.1\r\n\r\n";
  ASSERT_EQ(reader.feed(input), RequestReader::State::kComplete);
  EXPECT_EQ(reader.take().path, "/v1/bridges/a%2Fb");
}

struct Refused {
  const char* name;
  std::string raw;
  int status;
};

class RequestReaderRefuses : public testing::TestWithParam<Refused> {};

TEST_P(RequestReaderRefuses, WithTheRightStatus) {
  RequestReader reader(small_limits());
  std::string input = GetParam().raw;
  ASSERT_EQ(reader.feed(input), RequestReader::State::kRefused) << GetParam().name;
  EXPECT_EQ(reader.refusal().status, GetParam().status) << reader.refusal().message;
  EXPECT_FALSE(reader.refusal().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RequestReaderRefuses,
    testing::Values(
        Refused{"cl_and_te",
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        Refused{"two_cl", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
        Refused{"same_cl_twice",
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400},
        Refused{"plus_cl", "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n", 400},
        Refused{"minus_cl", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        Refused{"no_colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
        Refused{"folded", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400},
        Refused{"nul_byte", std::string("GET / HTTP/1.1\r\nA: b") + '\0' + "c\r\n\r\n", 400},
        Refused{"bare_lf", "GET / HTTP/1.1\nA: b\n\n", 400},
        Refused{"gzip_te", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        Refused{"bad_method", "G(T / HTTP/1.1\r\n\r\n", 400},
        Refused{"bad_version", "GET / HTTP/1.1 x\r\n\r\n", 400},
        Refused{"huge_header", "GET / HTTP/1.1\r\nA: " + std::string(2000, 'a') + "\r\n\r\n", 431},
        Refused{"huge_unfinished_header", "GET / HTTP/1.1\r\nA: " + std::string(2000, 'a'), 431},
        Refused{"cl_over_limit", "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413},
        Refused{"chunked_over_limit",
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" +
                    std::string(64, 'a') + "\r\n40\r\n" + std::string(64, 'a') + "\r\n",
                413}),
    [](const testing::TestParamInfo<Refused>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mlbridge::server
