#ifndef NOTIFY_CRABBITMQ_SHIM_H
#define NOTIFY_CRABBITMQ_SHIM_H
/* amqp.h only forward-declares struct timeval: include its definition first. */
#include <sys/time.h>
#include <poll.h>
#include <sys/eventfd.h>

/* rabbitmq-c 0.11 (Debian bookworm) installs flat headers; 0.12+ moved them under rabbitmq-c/. */
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif

/* amqp_login_with_properties is C-variadic, which Swift cannot call: a fixed-arity PLAIN login. */
static inline amqp_rpc_reply_t notify_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                       int channel_max, int frame_max, int heartbeat,
                                                       const amqp_table_t *properties,
                                                       const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

/* The (1 << n) property-flag macros import as Int32; typed copies for amqp_flags_t. */
static const amqp_flags_t NOTIFY_FLAG_CONTENT_TYPE = AMQP_BASIC_CONTENT_TYPE_FLAG;
static const amqp_flags_t NOTIFY_FLAG_CONTENT_ENCODING = AMQP_BASIC_CONTENT_ENCODING_FLAG;
static const amqp_flags_t NOTIFY_FLAG_HEADERS = AMQP_BASIC_HEADERS_FLAG;
static const amqp_flags_t NOTIFY_FLAG_DELIVERY_MODE = AMQP_BASIC_DELIVERY_MODE_FLAG;
static const amqp_flags_t NOTIFY_FLAG_PRIORITY = AMQP_BASIC_PRIORITY_FLAG;
static const amqp_flags_t NOTIFY_FLAG_CORRELATION_ID = AMQP_BASIC_CORRELATION_ID_FLAG;
static const amqp_flags_t NOTIFY_FLAG_REPLY_TO = AMQP_BASIC_REPLY_TO_FLAG;
static const amqp_flags_t NOTIFY_FLAG_EXPIRATION = AMQP_BASIC_EXPIRATION_FLAG;
static const amqp_flags_t NOTIFY_FLAG_MESSAGE_ID = AMQP_BASIC_MESSAGE_ID_FLAG;
static const amqp_flags_t NOTIFY_FLAG_TIMESTAMP = AMQP_BASIC_TIMESTAMP_FLAG;
static const amqp_flags_t NOTIFY_FLAG_TYPE = AMQP_BASIC_TYPE_FLAG;
static const amqp_flags_t NOTIFY_FLAG_APP_ID = AMQP_BASIC_APP_ID_FLAG;
#endif
