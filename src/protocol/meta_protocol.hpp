#pragma once
// The memcached meta protocol as bytes: request builders (protocol/meta_requests.hpp) and
// the reply parser (protocol/meta_parser.hpp). Include the one you use; this header
// includes both, for code written before they were apart.
#include "protocol/meta_parser.hpp"
#include "protocol/meta_requests.hpp"
