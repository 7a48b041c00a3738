#include "openapi.hpp"

#include <gtest/gtest.h>

#include <set>

#include "prometheus.hpp"

namespace mlbridge::server {
namespace {

using json = protocol::json;

HostSnapshot echo_snapshot() {
  BridgeSnapshot echo;
  echo.name = "echo";
  echo.plugin = "generic";
  echo.framework = "echo";
  echo.commands.push_back({"ping", "common", "Liveness check.", nullptr, nullptr});
  echo.commands.push_back(
      {"sleep", "echo", "Sleep for args.seconds.",
       json{{"type", "object"}, {"properties", {{"seconds", {{"type", "number"}}}}}},
       json{{"type", "object"}, {"required", json::array({"slept"})}}});
  HostSnapshot snapshot;
  snapshot.bridges.push_back(std::move(echo));
  return snapshot;
}

const std::set<std::string> kMethods{"get", "put", "post", "delete", "patch"};

TEST(OpenApiTest, IsAnOpenApi31DocumentWithEveryRoute) {
  const json doc = build_openapi(echo_snapshot(), {"mlbridge", "1.2.3", "", false});
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["info"]["title"], "mlbridge");
  EXPECT_EQ(doc["info"]["version"], "1.2.3");
  ASSERT_TRUE(doc["paths"].is_object());
  for (const auto& route : http_routes()) {
    const std::string path(route.path);
    std::string method(route.method);
    for (char& c : method) c = static_cast<char>(std::tolower(c));
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    ASSERT_TRUE(doc["paths"][path].contains(method)) << route.method << " " << path;
  }
  for (const auto& path : {"/openapi.json", "/v1/calls/{id}"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
  EXPECT_TRUE(doc["paths"]["/v1/calls/{id}"].contains("delete"));
}

TEST(OpenApiTest, EveryOperationIsWellFormed) {
  const json doc = build_openapi(echo_snapshot(), {"mlbridge", "1", "http://127.0.0.1:1", true});
  std::set<std::string> ids;
  for (const auto& [path, item] : doc["paths"].items()) {
    ASSERT_EQ(path.front(), '/') << path;
    for (const auto& [method, op] : item.items()) {
      ASSERT_TRUE(kMethods.contains(method)) << method;
      ASSERT_TRUE(op["operationId"].is_string()) << path;
      EXPECT_TRUE(ids.insert(op["operationId"].get<std::string>()).second)
          << "duplicate operationId " << op["operationId"];
      ASSERT_TRUE(op["responses"].is_object() && !op["responses"].empty()) << path;
      // Every {param} of the path is declared as a required path parameter.
      std::size_t templated = 0;
      for (std::size_t i = path.find('{'); i != std::string::npos; i = path.find('{', i + 1))
        ++templated;
      const auto params = op.value("parameters", json::array());
      EXPECT_EQ(params.size(), templated) << method << " " << path;
      for (const auto& p : params) {
        EXPECT_EQ(p["in"], "path");
        EXPECT_EQ(p["required"], true);
        EXPECT_NE(path.find("{" + p["name"].get<std::string>() + "}"), std::string::npos);
      }
    }
  }
  EXPECT_EQ(doc["servers"][0]["url"], "http://127.0.0.1:1");
  EXPECT_EQ(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
  EXPECT_EQ(doc["paths"]["/healthz"]["get"]["security"], json::array());
  EXPECT_FALSE(doc["paths"]["/v1/bridges"]["get"].contains("security"));
}

TEST(OpenApiTest, EachDeclaredCommandHasItsPathWithSchemas) {
  const json doc = build_openapi(echo_snapshot(), {});
  const json& sleep = doc["paths"]["/v1/bridges/echo/commands/sleep"]["post"];
  ASSERT_TRUE(sleep.is_object()) << doc["paths"].dump();
  EXPECT_EQ(sleep["summary"], "Sleep for args.seconds.");
  const json& body = sleep["requestBody"]["content"]["application/json"]["schema"];
  EXPECT_EQ(body["properties"]["args"]["properties"]["seconds"]["type"], "number");
  EXPECT_EQ(body["additionalProperties"], false);
  EXPECT_TRUE(body["properties"].contains("session"));
  EXPECT_EQ(sleep["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
                 ["result"]["required"][0],
            "slept");
  // A command without schemas gets the generic args.
  const json& ping = doc["paths"]["/v1/bridges/echo/commands/ping"]["post"];
  EXPECT_EQ(
      ping["requestBody"]["content"]["application/json"]["schema"]["properties"]["args"]["type"],
      json::array({"object", "null"}));
}

TEST(OpenApiTest, ABridgeWithoutKnownCommandsAddsNoPaths) {
  HostSnapshot snapshot = echo_snapshot();
  snapshot.bridges[0].commands.clear();
  const json doc = build_openapi(snapshot, {});
  EXPECT_EQ(doc["paths"].size(), build_openapi(HostSnapshot{}, {})["paths"].size());
}

TEST(PrometheusSnapshotTest, RendersABridgeFromItsSnapshot) {
  HostSnapshot snapshot = echo_snapshot();
  auto& bridge = snapshot.bridges[0];
  bridge.pool.queue_length = 7;
  bridge.pool.idle = 2;
  bridge.casts.sent = 3;
  bridge.calls["sleep"].ok = 4;
  bridge.calls["sleep"].failed[ErrorCategory::kTimeout] = 1;
  pool::WorkerStats worker;
  worker.id = "echo-1";
  worker.capacity = 1;
  bridge.pool.workers.push_back(worker);
  const std::string text = render_metrics(snapshot, std::chrono::seconds(5));
  const auto has = [&](const std::string& line) {
    return text.find(line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has("mlbridge_uptime_seconds 5")) << text;
  EXPECT_TRUE(has(
      R"(mlbridge_bridge_info{bridge="echo",plugin="generic",framework="echo",state="running"} 1)"));
  EXPECT_TRUE(has(R"(mlbridge_queue_length{bridge="echo"} 7)"));
  EXPECT_TRUE(has(R"(mlbridge_workers{bridge="echo",state="idle"} 2)"));
  EXPECT_TRUE(has(R"(mlbridge_casts_total{bridge="echo",outcome="sent"} 3)"));
  EXPECT_TRUE(
      has(R"(mlbridge_calls_total{bridge="echo",command="sleep",outcome="ok",category=""} 4)"));
  EXPECT_TRUE(has(
      R"(mlbridge_calls_total{bridge="echo",command="sleep",outcome="error",category="timeout"} 1)"));
  EXPECT_TRUE(has(R"(mlbridge_worker_capacity{bridge="echo",worker="echo-1"} 1)"));
}

}  // namespace
}  // namespace mlbridge::server
