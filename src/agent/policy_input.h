// The input document an agent policy sees for each request: the request message as JSON, with
// the .proto field names (proto3's JSON mapping with preserve_proto_field_name: bytes as
// base64, int64 as a decimal string, maps as objects; fields at their default are included).
#pragma once

#include <nlohmann/json.hpp>

#include "api/agent.pb.h"

namespace coco::agent {

nlohmann::json PolicyInput(const v1::CreateSandboxRequest& r);
nlohmann::json PolicyInput(const v1::CreateContainerRequest& r);
nlohmann::json PolicyInput(const v1::StartContainerRequest& r);
nlohmann::json PolicyInput(const v1::ExecProcessRequest& r);
nlohmann::json PolicyInput(const v1::ReadStreamRequest& r);
nlohmann::json PolicyInput(const v1::WaitProcessRequest& r);
nlohmann::json PolicyInput(const v1::SignalProcessRequest& r);
nlohmann::json PolicyInput(const v1::RemoveContainerRequest& r);
nlohmann::json PolicyInput(const v1::DestroySandboxRequest& r);

}  // namespace coco::agent
