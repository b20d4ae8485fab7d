#pragma once

// The trust of a TLS client built on boost::asio::ssl (cpprestsdk's
// http_client): for the .cc files that already drive one, since it brings
// Boost.Asio's headers with it.

#include <string_view>

#include <openssl/ssl.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>

namespace groupscaler {

// Makes `context` trust exactly the certificates of `ca_pem`, as client-go
// trusts only a kubeconfig's CA. cpprestsdk has loaded the system's roots
// into the context before it calls back, so the store is replaced rather
// than added to. Host name verification is untouched: cpprestsdk sets its
// own RFC 2818 check on every handshake. An error when `ca_pem` holds no
// certificate.
inline boost::system::error_code TrustOnly(boost::asio::ssl::context& context,
                                           std::string_view ca_pem) {
  SSL_CTX_set_cert_store(context.native_handle(), X509_STORE_new());
  boost::system::error_code ec;
  context.add_certificate_authority(boost::asio::buffer(ca_pem.data(), ca_pem.size()), ec);
  return ec;
}

}  // namespace groupscaler
