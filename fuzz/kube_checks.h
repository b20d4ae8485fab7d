#pragma once

// What kube_answers and watch_stream check of KubeClient's output.

// spdlog first: cpprestsdk defines a macro U that breaks fmt's headers.
#include <spdlog/spdlog.h>

#include <cpprest/json.h>

#include <exception>
#include <string>

#include "fuzz_check.h"

namespace groupscaler::fuzz {

// KubeClient keeps each object as web::json's serialization of what the
// server sent; that text must parse as JSON again. One known exception, not
// ours: cpprestsdk reads a number beyond a double (1e400) as infinity and
// writes it as `inf`, which is not JSON. The API server never sends one (its
// decoder rejects them), and ParseAutoscaler rejects the field, so such text
// is let through here.
inline void CheckClientJson(const std::string& json) {
  try {
    (void)web::json::value::parse(json);
  } catch (const std::exception& e) {
    if (json.find("inf") != std::string::npos || json.find("nan") != std::string::npos) return;
    Fail(__FILE__, __LINE__, "the client's JSON of an object parses",
         std::string(e.what()) + ": " + json.substr(0, 400));
  }
}

}  // namespace groupscaler::fuzz
