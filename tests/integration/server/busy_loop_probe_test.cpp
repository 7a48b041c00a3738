// The probes never wait on the host's event loop: with the loop blocked (a telemetry subscriber
// that waits, as a loop busy with a huge frame or thousands of calls would), /healthz, /readyz
// and /metrics still answer, /readyz and /metrics from the latest figures (HostFiguresCache).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <future>
#include <mutex>
#include <string>

#include "host_fixture.hpp"
#include "mlbridge/registry/registry.hpp"
#include "mlbridge/server/http_server.hpp"

namespace mlbridge::testing {
namespace {

// The status of one GET on loopback, or 0 when no answer came within 30 s (a hang guard, not a
// timing assertion: a probe that waits on the blocked loop never answers).
int http_get_status(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  timeval guard{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET " + path +
                                " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                "\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char head[32] = {};
      const ssize_t got = ::recv(fd, head, sizeof(head) - 1, MSG_WAITALL);
      if (got >= 12 && std::string(head, 9) == "HTTP/1.1 ")
        status = std::stoi(std::string(head + 9, 3));
    }
  }
  ::close(fd);
  return status;
}

// Releases the blocked loop when the test ends, also when it fails half-way.
struct Release {
  std::promise<void>& release;
  ~Release() {
    try {
      release.set_value();
    } catch (const std::future_error&) {
    }
  }
};

class BusyLoopProbe : public HostTest {};

TEST_F(BusyLoopProbe, ProbesAnswerWhileTheHostsLoopIsBlocked) {
  Host& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("echo"));
  server::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = 2;
  server::HttpServer http(host, options);
  ASSERT_TRUE(http.start().ok());
  ASSERT_EQ(http_get_status(http.port(), "/readyz"), 200);

  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::once_flag once;
  auto bridge = host.registry().get("echo");
  ASSERT_TRUE(bridge.ok());
  // Subscribers run on the host's loop: the first event of the call below holds it.
  const auto token = (*bridge)->pool().events().subscribe([&](const telemetry::Event&) {
    std::call_once(once, [&] {
      entered.set_value();
      released.wait();
    });
  });
  {
    Release guard{release};
    auto call = host.execute_async("echo", "echo", {{"x", 1}});
    entered.get_future().wait();
    EXPECT_EQ(http_get_status(http.port(), "/healthz"), 200);
    EXPECT_EQ(http_get_status(http.port(), "/readyz"), 200);
    EXPECT_EQ(http_get_status(http.port(), "/metrics"), 200);
    release.set_value();
    EXPECT_TRUE(call.get().ok());
  }
  (*bridge)->pool().events().unsubscribe(token);
  http.stop();
}

}  // namespace
}  // namespace mlbridge::testing
