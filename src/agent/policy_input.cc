#include "agent/policy_input.h"

#include <string>

#include "base/bytes.h"

namespace coco::agent {
namespace {

template <class Repeated>
nlohmann::json Array(const Repeated& items) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& x : items) a.push_back(x);
  return a;
}

template <class Map>
nlohmann::json Object(const Map& m) {
  nlohmann::json o = nlohmann::json::object();
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

}  // namespace

nlohmann::json PolicyInput(const v1::CreateSandboxRequest& r) {
  return {{"sandbox_id", r.sandbox_id()},
          {"init_data", Base64Encode(ToBytes(r.init_data()))},
          {"kbs_url", r.kbs_url()},
          {"tunnel_ports", Array(r.tunnel_ports())},
          {"insecure_registries", Array(r.insecure_registries())},
          {"image_policy", r.image_policy()},
          {"dev_policy", r.dev_policy()},
          {"host_time_unix_ms", std::to_string(r.host_time_unix_ms())},
          {"registries_d", Object(r.registries_d())},
          {"registry_schemes", Object(r.registry_schemes())}};
}

nlohmann::json PolicyInput(const v1::CreateContainerRequest& r) {
  return {{"container_id", r.container_id()},
          {"image", r.image()},
          {"args", Array(r.args())},
          {"env", Array(r.env())},
          {"cwd", r.cwd()},
          {"user", r.user()}};
}

nlohmann::json PolicyInput(const v1::StartContainerRequest& r) {
  return {{"container_id", r.container_id()}};
}

nlohmann::json PolicyInput(const v1::ExecProcessRequest& r) {
  return {{"container_id", r.container_id()}, {"exec_id", r.exec_id()}, {"args", Array(r.args())}};
}

nlohmann::json PolicyInput(const v1::ReadStreamRequest& r) {
  return {
      {"container_id", r.container_id()}, {"exec_id", r.exec_id()}, {"max_bytes", r.max_bytes()}};
}

nlohmann::json PolicyInput(const v1::WaitProcessRequest& r) {
  return {{"container_id", r.container_id()}, {"exec_id", r.exec_id()}};
}

nlohmann::json PolicyInput(const v1::SignalProcessRequest& r) {
  return {{"container_id", r.container_id()}, {"exec_id", r.exec_id()}, {"signal", r.signal()}};
}

nlohmann::json PolicyInput(const v1::RemoveContainerRequest& r) {
  return {{"container_id", r.container_id()}};
}

nlohmann::json PolicyInput(const v1::DestroySandboxRequest&) { return nlohmann::json::object(); }

}  // namespace coco::agent
