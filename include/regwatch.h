/*
 * regwatch: keeps SIP trunk registrations alive and explains why they fail.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Conventions:
 *  - Functions that can fail return regwatch_status and write their outputs
 *    only on REGWATCH_STATUS_OK (exception: on REGWATCH_STATUS_BUFFER_TOO_SMALL,
 *    *out_len receives the size needed, including the NUL).
 *  - Strings in are NUL-terminated UTF-8, borrowed for the call only.
 *  - Text out goes into caller-owned buffers and is always NUL-terminated.
 *  - No function panics across this boundary: an internal error returns
 *    REGWATCH_STATUS_PANIC and poisons the handle (REGWATCH_STATUS_POISONED
 *    from then on; only _free is allowed).
 *  - Thread safety is stated on each type.
 *  - Status-returning functions are REGWATCH_MUST_USE (warn_unused_result).
 *    GCC ignores a (void) cast of such a call; to drop a status on purpose
 *    under -Werror write `(void)!regwatch_x(...);` or test it:
 *    `if (regwatch_x(...) != REGWATCH_STATUS_OK) { ... }`.
 */

#ifndef REGWATCH_H
#define REGWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Generated from Cargo.toml by build.rs: do not edit. */
#define REGWATCH_VERSION_MAJOR 0
#define REGWATCH_VERSION_MINOR 1
#define REGWATCH_VERSION_PATCH 0
/* (major << 16) | (minor << 8) | patch, as c-ares does. */
#define REGWATCH_VERSION_NUMBER 0x000100
#define REGWATCH_VERSION_STR "0.1.0"
#define REGWATCH_SONAME "libregwatch.so.0.1"

#if defined(__GNUC__) || defined(__clang__)
#define REGWATCH_MUST_USE __attribute__((warn_unused_result))
#else
#define REGWATCH_MUST_USE
#endif


// The longest wait `regwatch_engine_next_wait_ms` gives.
#define REGWATCH_MAX_WAIT_MS 60000

// The ABI version. Bumped on every incompatible change of the C ABI;
// hosts compare the header's `REGWATCH_ABI_VERSION` with
// `regwatch_abi_version()` at load time and refuse to run on a mismatch.
#define REGWATCH_ABI_VERSION 2

// The result of every fallible call. Values are explicit and never
// renumbered; retired values stay reserved.
enum regwatch_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Success; outputs were written.
  REGWATCH_STATUS_OK = 0,
  // Nothing (more) to report: no event pending, no deadline armed.
  REGWATCH_STATUS_DONE = 1,
  // A required pointer argument was NULL.
  REGWATCH_STATUS_NULL_ARGUMENT = 100,
  // An argument's value is out of range or malformed.
  REGWATCH_STATUS_INVALID_ARGUMENT = 101,
  // A string argument is not valid UTF-8.
  REGWATCH_STATUS_INVALID_UTF8 = 102,
  // The output buffer is too small; `*out_len` holds the size needed.
  REGWATCH_STATUS_BUFFER_TOO_SMALL = 103,
  // No trunk with that name.
  REGWATCH_STATUS_NOT_FOUND = 104,
  // A trunk with that name exists already.
  REGWATCH_STATUS_ALREADY_EXISTS = 105,
  // A configuration key that does not exist.
  REGWATCH_STATUS_UNKNOWN_KEY = 106,
  // A SIP message could not be parsed (malformed, truncated, > 64 KiB).
  REGWATCH_STATUS_SIP_PARSE = 202,
  // The operating system refused a resource (a thread, a socket, a poller).
  REGWATCH_STATUS_IO = 300,
  // A previous call on this handle panicked; only `_free` is allowed.
  REGWATCH_STATUS_POISONED = 900,
  // This call panicked (a bug in regwatch); the handle is now poisoned.
  REGWATCH_STATUS_PANIC = 901,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum regwatch_status regwatch_status;
#else
typedef uint32_t regwatch_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// The result of a one-shot check: read it with `regwatch_check_json` and
// `regwatch_check_cause`, free it with `regwatch_check_free`. Immutable;
// may be read from any thread.
typedef struct regwatch_check regwatch_check;

// The sans-IO engine (a Box).
//
// **Not thread-safe.** It may be moved between threads, but the caller
// must serialise every call on one engine (Asterisk: one serializer or one
// lock; FreeSWITCH: one mutex or the runtime thread). Different engines are
// independent. Callbacks run synchronously on the calling thread, during
// `regwatch_engine_*` calls only, and must not call back into the same
// engine.
//
// The run loop: after any input (an observation, `handle_timeout`,
// add/update/remove trunk), drain `regwatch_engine_poll_event` until it
// returns `REGWATCH_STATUS_DONE`, then re-arm one timer at the deadline
// from `regwatch_engine_poll_timeout`.
typedef struct regwatch_engine regwatch_engine;

// A blocking check a PBX module runs off the engine's thread (a Box),
// made by the engine with all it needs (the trunk's configuration or the
// probe's target, the module's `check_timeout` and `ca_file`):
// 1. on the engine's thread: `regwatch_engine_probe_job` (right after a
//    `REGWATCH_EVENT_TRANSMIT`) or `regwatch_engine_check_job`;
// 2. on any thread: `regwatch_job_run` (blocks for the exchanges);
// 3. a probe back on the engine's thread: `regwatch_engine_job_done`; a
//    check: `regwatch_job_text` for the console;
// 4. `regwatch_job_free`.
//
// Not thread-safe: one thread at a time, handed over whole.
typedef struct regwatch_job regwatch_job;

// A running keep-alive monitor (see `regwatch_runner_start`).
typedef struct regwatch_runner regwatch_runner;

// A trunk configuration (a Box). Not thread-safe: one thread at a time.
// Create with `regwatch_trunk_config_new`, fill with
// `regwatch_trunk_config_set`, pass to `regwatch_engine_add_trunk` (which
// copies it), free with `regwatch_trunk_config_free`.
typedef struct regwatch_trunk_config regwatch_trunk_config;

// A transport, as passed to observation functions.
typedef uint32_t regwatch_transport;

// Log levels, most severe first.
typedef uint32_t regwatch_log_level;

// Receives one log line. `message` is NUL-terminated UTF-8, borrowed for
// the duration of the callback only. Called synchronously, on the thread
// that made the `regwatch_engine_*` call, during that call; it must not
// call back into the same engine. Passwords never appear in messages.
typedef void (*regwatch_log_callback)(void *userdata, regwatch_log_level level, const char *message);

// What a `regwatch_event` is.
typedef uint32_t regwatch_event_kind;

// A registration state (`REGWATCH_STATE_*`; 0: none).
typedef uint32_t regwatch_state;

// A cause (`REGWATCH_CAUSE_*`; 0: none).
typedef uint32_t regwatch_cause;

// How serious (`REGWATCH_SEVERITY_*`; 0: none).
typedef uint32_t regwatch_severity;

// Why a keep-alive probe is sent (`REGWATCH_PURPOSE_*`; 0: not a probe).
typedef uint32_t regwatch_probe_purpose;

// A keep-alive probe to send (`REGWATCH_EVENT_TRANSMIT`; zeroed, with
// "" strings, for other kinds).
typedef struct regwatch_transmit {
  // The probe's id: pass it to `regwatch_engine_probe_result`.
  uint64_t probe_id;
  // Why (`REGWATCH_PURPOSE_*`).
  regwatch_probe_purpose purpose;
  // The host name or address to send to.
  const char *host;
  // The port.
  uint16_t port;
  // `REGWATCH_TRANSPORT_*`.
  regwatch_transport transport;
  // The Request-URI domain (`sip:<domain>`) and TLS name.
  const char *domain;
  // The From user.
  const char *user;
  // When the engine counts the probe as timed out (engine clock).
  uint64_t deadline_ms;
  // The time left until then, in ms, for the sender's own timeout.
  uint32_t timeout_ms;
  // Over another transport than the trunk's own: a PBX cannot send it
  // with its SIP stack; run it with `regwatch_engine_probe_job`.
  bool via_driver;
} regwatch_transmit;

// One header of a FreeSWITCH event (`fs_headers`).
typedef struct regwatch_header {
  // The header name.
  const char *name;
  // Its value.
  const char *value;
} regwatch_header;

// One output of the engine. Set `struct_size` to
// `sizeof(regwatch_event)` before `regwatch_engine_poll_event` (fields
// are only ever appended). Every pointer in it is owned by the engine and
// valid until the next `regwatch_engine_poll_event` or input on that
// engine (the runner: for the callback's duration); copy what you keep.
// Strings are never NULL ("" when absent).
typedef struct regwatch_event {
  // `sizeof(regwatch_event)` as the caller knows it.
  uint32_t struct_size;
  // `REGWATCH_EVENT_*`.
  regwatch_event_kind kind;
  // The trunk's name.
  const char *trunk;
  // When, on the engine's clock (milliseconds).
  uint64_t at_ms;
  // The state now (state changes and alerts), else `REGWATCH_STATE_NONE`.
  regwatch_state state;
  // The state before (state changes), else `REGWATCH_STATE_NONE`.
  regwatch_state previous_state;
  // The cause (state changes and alerts), else `REGWATCH_CAUSE_NONE`.
  regwatch_cause cause;
  // State changes: the cause's severity; alerts raised and findings:
  // theirs; else `REGWATCH_SEVERITY_NONE`.
  regwatch_severity severity;
  // The SIP status code behind it, or 0.
  uint16_t code;
  // Findings: the finding code (`domain.typo`, ...); else "".
  const char *finding_code;
  // One line in plain words, always filled: the diagnosis, the alert,
  // the finding with its fix, the action, the probe.
  const char *summary;
  // The whole output as a JSON object.
  const char *json;
  // `REGWATCH_EVENT_TRANSMIT`: the probe.
  struct regwatch_transmit transmit;
  // What a PBX module logs for it: a `REGWATCH_LOG_*` level, 0 for
  // nothing, and the line (without the module's prefix).
  regwatch_log_level log_level;
  // The log line, or "".
  const char *log_line;
  // `REGWATCH_EVENT_ACTION_REREGISTER`: the host console command that
  // re-registers the trunk (`pjsip send register <name>`,
  // `sofia profile <p> register <gw>`), or "".
  const char *command;
  // Asterisk: the AMI event name (`RegwatchState`, `RegwatchAlert`) for
  // state changes and alerts, else "".
  const char *ami_event;
  // Its fields, each `Key: value\r\n` (Trunk, State, PreviousState or
  // Alert, Cause, Severity, Code, Summary).
  const char *ami_fields;
  // FreeSWITCH: the event subclass (`regwatch::state`,
  // `regwatch::alert`), else "".
  const char *fs_subclass;
  // Its headers (Gateway, Alert, State, Previous-State, Cause,
  // Severity, Code, Summary), `fs_header_count` of them.
  const struct regwatch_header *fs_headers;
  // How many headers `fs_headers` has.
  size_t fs_header_count;
} regwatch_event;

// A response to a REGISTER, as the host saw it. Initialise with
// `regwatch_register_response_init` (which sets `struct_size` and marks
// every optional field absent), then fill what is known. Strings are
// borrowed for the call only; NULL means absent.
typedef struct regwatch_register_response {
  // `sizeof(regwatch_register_response)`, so fields can be added later.
  uint32_t struct_size;
  // The status code (100..699). Provisional codes are ignored.
  uint16_t code;
  // The reason phrase, or NULL.
  const char *reason;
  // Granted expiry in seconds (our Contact's `expires`, else the Expires
  // header); negative when absent.
  int64_t granted_expires;
  // Whether our Contact is listed in a 2xx: 1 yes, 0 no, -1 unknown.
  int32_t contact_bound;
  // The challenge realm of a 401/407, or NULL when there was none.
  const char *challenge_realm;
  // The challenge algorithm, or NULL (MD5).
  const char *challenge_algorithm;
  // The challenge qop options, or NULL.
  const char *challenge_qop;
  // Whether the challenge said `stale=true`.
  bool challenge_stale;
  // `Min-Expires` of a 423; negative when absent.
  int64_t min_expires;
  // `Retry-After` in seconds; negative when absent.
  int64_t retry_after;
  // The `X-Twilio-Error` code; 0 when absent.
  uint32_t twilio_error_code;
  // The `X-Twilio-Error` text, or NULL.
  const char *twilio_error_text;
  // The `Server` header, or NULL.
  const char *server;
  // The transport it arrived on (`REGWATCH_TRANSPORT_*`).
  regwatch_transport transport;
} regwatch_register_response;

// What kind of delivery failure `regwatch_engine_transport_error` reports.
typedef uint32_t regwatch_transport_error;

// What became of a keep-alive probe.
typedef uint32_t regwatch_probe_outcome;

// A state reported by the host itself, without SIP detail.
typedef uint32_t regwatch_host_state;

// Whether the host sent or received a message.
typedef uint32_t regwatch_direction;

// Called on the runner thread with each output (state changes, alerts,
// findings, "re-register now"). The event and its strings are valid for
// the call only. Must not call `regwatch_runner_*` on the same runner.
typedef void (*regwatch_runner_event_callback)(void *userdata, const struct regwatch_event *event);

// What `regwatch_check_credentials` found.
typedef uint32_t regwatch_credential_check;







// Not known.
#define REGWATCH_TRANSPORT_UNKNOWN 0

// UDP.
#define REGWATCH_TRANSPORT_UDP 1

// TCP.
#define REGWATCH_TRANSPORT_TCP 2

// TLS.
#define REGWATCH_TRANSPORT_TLS 3

// ICMP port unreachable or TCP RST: nothing listens.
#define REGWATCH_TRANSPORT_ERROR_REFUSED 1

// No route to host, network unreachable.
#define REGWATCH_TRANSPORT_ERROR_UNREACHABLE 2

// The name did not resolve.
#define REGWATCH_TRANSPORT_ERROR_DNS 3

// TLS handshake or certificate failure.
#define REGWATCH_TRANSPORT_ERROR_TLS 4

// The peer's bytes are not SIP (more than 64 KiB without a complete
// message, or a message that does not parse); the connection was dropped.
#define REGWATCH_TRANSPORT_ERROR_PROTOCOL 5

// The host says the trunk is registered.
#define REGWATCH_HOST_REGISTERED 1

// The host says it is not registered (and will retry).
#define REGWATCH_HOST_UNREGISTERED 2

// The host says the registrar rejected it (no code).
#define REGWATCH_HOST_REJECTED 3

// The host stopped retrying.
#define REGWATCH_HOST_GAVE_UP 4

// A final response from the peer (`code`).
#define REGWATCH_PROBE_RESPONSE 1

// A final response made up by the host's own SIP stack (a local 408/503).
#define REGWATCH_PROBE_LOCAL_RESPONSE 2

// No answer in time.
#define REGWATCH_PROBE_TIMEOUT 3

// The transport failed (`transport_error` = `REGWATCH_TRANSPORT_ERROR_*`).
#define REGWATCH_PROBE_TRANSPORT_ERROR 4

// The host sent it (a REGISTER going out).
#define REGWATCH_DIRECTION_SENT 1

// The host received it (a response coming in).
#define REGWATCH_DIRECTION_RECEIVED 2

// The trunk's state or cause changed.
#define REGWATCH_EVENT_STATE_CHANGED 1

// An alert was raised (or re-raised with a new cause).
#define REGWATCH_EVENT_ALERT_RAISED 2

// The alert is over.
#define REGWATCH_EVENT_ALERT_CLEARED 3

// A configuration finding (on add/update): `finding_code`, `severity`,
// `summary` (the message and its fix).
#define REGWATCH_EVENT_FINDING 4

// Re-send REGISTER for the trunk now: run `command` when it is not ""
// (the host's console command), else re-register by the host's own
// means. Emitted only when re-registration on recovery is on for the
// trunk (`reregister_on_recovery`); otherwise the engine's wish comes
// out as a `REGWATCH_EVENT_NOTICE`.
#define REGWATCH_EVENT_ACTION_REREGISTER 5

// Keep-alive on: send the OPTIONS probe described by `transmit`, then
// report it with `regwatch_engine_probe_result` and `transmit.probe_id`.
#define REGWATCH_EVENT_TRANSMIT 6

// Nothing to do but log `log_line` (e.g. a re-registration that is off
// for the trunk).
#define REGWATCH_EVENT_NOTICE 7

// No state (findings, actions, transmits).
#define REGWATCH_STATE_NONE 0

// `unknown`.
#define REGWATCH_STATE_UNKNOWN 1

// `registering`.
#define REGWATCH_STATE_REGISTERING 2

// `registered`.
#define REGWATCH_STATE_REGISTERED 3

// `refresh_late`.
#define REGWATCH_STATE_REFRESH_LATE 4

// `expired`.
#define REGWATCH_STATE_EXPIRED 5

// `rejected`.
#define REGWATCH_STATE_REJECTED 6

// `unreachable`.
#define REGWATCH_STATE_UNREACHABLE 7

// `deregistered`.
#define REGWATCH_STATE_DEREGISTERED 8

// `stopped`.
#define REGWATCH_STATE_STOPPED 9

// No cause (findings, actions, transmits).
#define REGWATCH_CAUSE_NONE 0

// `healthy`.
#define REGWATCH_CAUSE_HEALTHY 1

// `credentials_rejected`.
#define REGWATCH_CAUSE_CREDENTIALS_REJECTED 2

// `account_forbidden`.
#define REGWATCH_CAUSE_ACCOUNT_FORBIDDEN 3

// `auth_username_mismatch`.
#define REGWATCH_CAUSE_AUTH_USERNAME_MISMATCH 4

// `domain_not_found`.
#define REGWATCH_CAUSE_DOMAIN_NOT_FOUND 5

// `interval_too_brief`.
#define REGWATCH_CAUSE_INTERVAL_TOO_BRIEF 6

// `registrar_unreachable`.
#define REGWATCH_CAUSE_REGISTRAR_UNREACHABLE 7

// `transport_blocked`.
#define REGWATCH_CAUSE_TRANSPORT_BLOCKED 8

// `connection_refused`.
#define REGWATCH_CAUSE_CONNECTION_REFUSED 9

// `dns_failure`.
#define REGWATCH_CAUSE_DNS_FAILURE 10

// `tls_failure`.
#define REGWATCH_CAUSE_TLS_FAILURE 11

// `server_error`.
#define REGWATCH_CAUSE_SERVER_ERROR 12

// `rate_limited`.
#define REGWATCH_CAUSE_RATE_LIMITED 13

// `registration_expired`.
#define REGWATCH_CAUSE_REGISTRATION_EXPIRED 14

// `refresh_late`.
#define REGWATCH_CAUSE_REFRESH_LATE 15

// `expiry_drift`.
#define REGWATCH_CAUSE_EXPIRY_DRIFT 16

// `deregistered`.
#define REGWATCH_CAUSE_DEREGISTERED 17

// `config_invalid`.
#define REGWATCH_CAUSE_CONFIG_INVALID 18

// `unknown`.
#define REGWATCH_CAUSE_UNKNOWN 19

// `contact_not_bound`.
#define REGWATCH_CAUSE_CONTACT_NOT_BOUND 20

// `protocol_error`.
#define REGWATCH_CAUSE_PROTOCOL_ERROR 21

// `binding_missing`.
#define REGWATCH_CAUSE_BINDING_MISSING 22

// No severity.
#define REGWATCH_SEVERITY_NONE 0

// `info`.
#define REGWATCH_SEVERITY_INFO 1

// `warning`.
#define REGWATCH_SEVERITY_WARNING 2

// `error`.
#define REGWATCH_SEVERITY_ERROR 3

// Not a probe.
#define REGWATCH_PURPOSE_NONE 0

// The regular keep-alive (`keep_alive`).
#define REGWATCH_PURPOSE_KEEPALIVE 1

// The fast re-probe after a first failure (`confirm`).
#define REGWATCH_PURPOSE_CONFIRM 2

// The same registrar over another transport (`alternate`).
#define REGWATCH_PURPOSE_ALTERNATE 3

// A REGISTER without Contact and without credentials (changes no
// binding), after a 403 the host's report leaves unexplained.
#define REGWATCH_PURPOSE_ACCOUNT_QUERY 4

// A REGISTER without Contact (changes no binding) at the trunk's
// `register_interval`, answering a challenge with the trunk's
// credentials (`credential_query`): sent with the driver
// (`via_driver`, `regwatch_engine_probe_job`), the whole answer goes
// back to the engine.
#define REGWATCH_PURPOSE_CREDENTIAL_QUERY 5

// Errors: something regwatch could not do.
#define REGWATCH_LOG_ERROR 1

// Alerts raised and other conditions that need attention.
#define REGWATCH_LOG_WARN 2

// Alerts cleared, notable changes.
#define REGWATCH_LOG_INFO 3

// State changes and trunk management.
#define REGWATCH_LOG_DEBUG 4

// Every observation.
#define REGWATCH_LOG_TRACE 5

// The REGISTER's digest response was computed with this password.
#define REGWATCH_CREDENTIALS_MATCH 1

// It was not: the PBX sends a different password (or hashed another
// username/realm than it shows).
#define REGWATCH_CREDENTIALS_MISMATCH 2

// The message carries no Authorization / Proxy-Authorization.
#define REGWATCH_CREDENTIALS_NO_AUTHORIZATION 3

// It cannot be checked (auth-int, unknown algorithm, missing fields).
#define REGWATCH_CREDENTIALS_UNSUPPORTED 4

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Asterisk: collects one sorcery object (`kind` = `registration`, `auth`
// or `transport`; `id` = its section name) as `n` name/value pairs, as
// `ast_sorcery_objectset_create` gives them. Nothing changes in the engine
// until `regwatch_engine_asterisk_commit`. Passwords are copied, never
// logged.
REGWATCH_MUST_USE regwatch_status regwatch_engine_asterisk_object(struct regwatch_engine *engine, const char *kind, const char *id, const char *const *names, const char *const *values, size_t n);

// Asterisk: applies the objects collected with
// `regwatch_engine_asterisk_object` as the complete configuration: every
// registration becomes (or updates) a trunk named after its section,
// trunks of registrations no longer present are removed, and validation
// findings plus Asterisk-specific notes come out as
// `REGWATCH_EVENT_FINDING` events. Call it on load and after every
// pjsip.conf reload.
REGWATCH_MUST_USE regwatch_status regwatch_engine_asterisk_commit(struct regwatch_engine *engine, uint64_t now_ms);

// Asterisk: the same as collecting objects and committing, from the text
// of a `pjsip.conf` (sections, templates, comments; `#include` lines are
// not followed).
REGWATCH_MUST_USE regwatch_status regwatch_engine_asterisk_pjsip_conf(struct regwatch_engine *engine, uint64_t now_ms, const char *text);

// Asterisk: a stasis `Registry` message as JSON (`{"channeltype",
// "username" (client_uri), "domain" (server_uri), "status", "cause"}`).
// Returns `REGWATCH_STATUS_DONE` for a message that is not a PJSIP
// registration, `REGWATCH_STATUS_NOT_FOUND` for a registration the
// committed configuration does not know, `REGWATCH_STATUS_INVALID_ARGUMENT`
// for JSON that is not a Registry message.
REGWATCH_MUST_USE regwatch_status regwatch_engine_asterisk_registry_json(struct regwatch_engine *engine, uint64_t now_ms, const char *json);

// Asterisk: one log line (colour codes allowed). Lines of
// `res_pjsip_outbound_registration` that carry a status code or a timeout
// ("Fatal response '403' received from ...", "No response received from
// ...") become observations; any other line returns
// `REGWATCH_STATUS_DONE`, so a module may pass every WARNING it sees.
REGWATCH_MUST_USE regwatch_status regwatch_engine_asterisk_log_line(struct regwatch_engine *engine, uint64_t now_ms, const char *line);

// Asterisk: the console output of `pjsip show registrations`. Each
// registration regwatch knows but has seen nothing of yet (state
// `unknown`, e.g. right after the module loaded) takes the state Asterisk
// shows (`Registered`, `Unregistered`, `Rejected`); trunks with their own
// observations keep them. Returns `REGWATCH_STATUS_DONE` when no line
// applied.
REGWATCH_MUST_USE regwatch_status regwatch_engine_asterisk_registrations_text(struct regwatch_engine *engine, uint64_t now_ms, const char *text);

// Writes every trunk's known state, cause and binding times as text (one
// line per trunk; no secret) into `buf`, NUL-terminated; `*out_len` gets
// the size needed (also on `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
REGWATCH_MUST_USE regwatch_status regwatch_engine_carry_text(struct regwatch_engine *engine, char *buf, size_t len, size_t *out_len);

// Gives the engine what `regwatch_engine_carry_text` wrote before a
// module reload: trunks in the carried state (as the PBX's view, fed
// first, shows them, or still unknown) take the carried cause and
// binding times; the rest is skipped. `*taken` (may be NULL) gets how
// many trunks took theirs. At most 16 MiB is read.
REGWATCH_MUST_USE regwatch_status regwatch_engine_carry_apply(struct regwatch_engine *engine, uint64_t now_ms, const char *text, size_t *taken);

// One OPTIONS to `host`:`port` over `transport`, for `domain` (Request-URI
// and, over TLS, the name the certificate must carry) as `user`. Blocks
// until the answer or `timeout_ms` (0: 8 s; connect, TLS handshake,
// request and answer all within it). `ca_file` (may be NULL): PEM CAs to
// trust for TLS instead of the system's store; one that cannot be used
// (missing, unreadable, no certificate in it) returns
// `REGWATCH_STATUS_IO` and checks nothing. On OK, `*out` is a
// new check whose JSON is `{"endpoint","result":{"result":"response","code":200},
// "reason","server","rtt_ms","error"}` and whose cause is `healthy` for an
// answer, else the network cause. Thread-safe.
REGWATCH_MUST_USE regwatch_status regwatch_check_options(const char *host, uint16_t port, regwatch_transport transport, const char *domain, const char *user, uint32_t timeout_ms, const char *ca_file, struct regwatch_check **out);

// Keep-alive: reports the OPTIONS check `check` (from
// `regwatch_check_options`, run by the host for a
// `REGWATCH_EVENT_TRANSMIT`, typically an alternative transport the PBX
// itself does not speak) as the result of probe `probe_id` of `trunk`,
// as `regwatch_engine_probe_result` would. `INVALID_ARGUMENT` for a check
// that is not an OPTIONS check; `DONE` for a probe no longer awaited.
REGWATCH_MUST_USE regwatch_status regwatch_engine_probe_check(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, uint64_t probe_id, const struct regwatch_check *check);

// The test REGISTER for `config` against `host`:`port` over `transport`
// (the registrar, or the outbound proxy): REGISTER, the digest answer to a
// 401/407, one retry with Min-Expires after a 423, then Expires: 0 unless
// `stay_registered`. Blocks for the exchange (each request, with its
// connect and TLS handshake, waits at most `timeout_ms`, 0: 8 s). An
// unusable `ca_file`: `REGWATCH_STATUS_IO`, as for
// `regwatch_check_options`. On OK, `*out` is a new check whose JSON is
// `{"endpoint","steps":[{"request","code","reason","rtt_ms","note"}],
// "mode":"register","contact","state","cause","granted_expires",
// "raised_expires","contact_bound","bindings":[{"uri","expires","ours"}],
// "bindings_after":[...],"deregistered","diagnosis":{...}}`; never a
// password. Every request goes out from one socket (or connection) with
// one Contact and one Call-ID, so `Expires: 0` removes exactly the test
// binding; `deregistered` is true only when the registrar's 200 to it no
// longer lists that Contact. Thread-safe (`config` is only read).
REGWATCH_MUST_USE regwatch_status regwatch_check_register(const struct regwatch_trunk_config *config, const char *host, uint16_t port, regwatch_transport transport, uint32_t timeout_ms, const char *ca_file, bool stay_registered, struct regwatch_check **out);

// The query REGISTER for `config` against `host`:`port` over
// `transport`: a REGISTER without Contact (RFC 3261 §10.2.3) whose
// challenge is answered with the trunk's credentials. It proves them and
// lists the bindings the registrar holds for the AOR, adding, changing
// and removing none. Blocks as `regwatch_check_register` does. On OK,
// `*out` is a new check whose JSON is that of `regwatch_check_register`
// with `"mode":"query"`, no `contact`, and `bindings` the registrar's
// list; its cause is `healthy` when the credentials were accepted, else
// the engine's (`credentials_rejected`, `domain_not_found`, ...); a
// registrar that refuses queries says so in the last step's note. Never
// a password. Thread-safe.
REGWATCH_MUST_USE regwatch_status regwatch_check_query(const struct regwatch_trunk_config *config, const char *host, uint16_t port, regwatch_transport transport, uint32_t timeout_ms, const char *ca_file, struct regwatch_check **out);

// The live check of a configured trunk, as a console's `check` command
// runs it: where its requests go (RFC 3263, or its proxy), one OPTIONS
// there, and the test REGISTER with its credentials (ended with
// Expires: 0), summed up in one diagnosis. Blocks for DNS and the
// exchanges (each request, with its connect and TLS handshake, waits at
// most `timeout_ms`, 0: 8 s). An unusable `ca_file`:
// `REGWATCH_STATUS_IO`, as for `regwatch_check_options`. On OK,
// `*out` is a new check: JSON `{"trunk","endpoint","dns_error","options",
// "register","diagnosis"}`, console text from `regwatch_check_text`, never
// a password. Thread-safe (`config` is only read).
REGWATCH_MUST_USE regwatch_status regwatch_check_trunk(const struct regwatch_trunk_config *config, uint32_t timeout_ms, const char *ca_file, struct regwatch_check **out);

// Writes the check as console text (several lines, each ending in `\n`)
// into `buf`; `*out_len` gets the size needed (also on
// `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
REGWATCH_MUST_USE regwatch_status regwatch_check_text(const struct regwatch_check *check, char *buf, size_t len, size_t *out_len);

// Writes the check's JSON into `buf` (NUL-terminated); `*out_len` gets
// the size needed (also on `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
REGWATCH_MUST_USE regwatch_status regwatch_check_json(const struct regwatch_check *check, char *buf, size_t len, size_t *out_len);

// The check's cause id (`healthy`, `credentials_rejected`, ...), valid
// until the check is freed; "" for NULL.
const char *regwatch_check_cause(const struct regwatch_check *check);

// Frees a check. NULL is a no-op.
void regwatch_check_free(struct regwatch_check *check);

// Creates an empty trunk configuration. On OK, `*out` owns it.
REGWATCH_MUST_USE regwatch_status regwatch_trunk_config_new(struct regwatch_trunk_config **out);

// Sets one field. Keys: `name` (required before adding to an engine),
// `domain`, `username`, `auth_username`, `password`, `realm`, `transport`
// (`udp`/`tcp`/`tls`), `port`, `proxy` (`host[:port]`), `expires`
// (seconds), `profile` (`twilio`/`generic`/`auto`). `value` NULL or `""`
// clears an optional field. Returns `REGWATCH_STATUS_UNKNOWN_KEY` for an
// unknown key and `REGWATCH_STATUS_INVALID_ARGUMENT` for a value that
// cannot be stored (a port that is not a number). Content problems (a
// mistyped domain, a weak password) are not errors here: see
// `regwatch_trunk_config_findings`. The password is copied and never logged.
REGWATCH_MUST_USE regwatch_status regwatch_trunk_config_set(struct regwatch_trunk_config *cfg, const char *key, const char *value);

// Validates the whole configuration (domain, credentials, expiry,
// transport/port, realm) and writes the findings as a JSON array, as
// `regwatch_validate_domain` does. No secret appears in the output.
REGWATCH_MUST_USE regwatch_status regwatch_trunk_config_findings(const struct regwatch_trunk_config *cfg, char *buf, size_t len, size_t *out_len);

// Frees a configuration. NULL is ignored.
void regwatch_trunk_config_free(struct regwatch_trunk_config *cfg);

// Creates an engine. `now_ms` is the current time on a monotonic clock of
// the host's choice (every later `now_ms` must use the same clock);
// `seed` feeds the engine's jitter. On OK, `*out` owns the engine; free it
// with `regwatch_engine_free`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_new(uint64_t now_ms, uint64_t seed, struct regwatch_engine **out);

// Frees an engine (poisoned or not). NULL is ignored. Pointers from
// `regwatch_engine_poll_event` become invalid.
void regwatch_engine_free(struct regwatch_engine *engine);

// Sets an engine-wide policy option: `history_len` (1..4096, default 32),
// `refresh_ratio` (0..1, default 0.5), `refresh_grace_ms` (default 30000),
// `drift_ratio` (default 0.9), `challenges_before_rejection` (default 2).
// Applies to bindings made from then on.
//
// Keep-alive (OPTIONS probes, emitted as `REGWATCH_EVENT_TRANSMIT`):
// `keepalive` (`on`/`off`, default off: turn it on only if the host sends
// the transmits), `keepalive_interval_ms` (default 60000),
// `keepalive_timeout_ms` (5000), `keepalive_failures_to_alert` (2),
// `keepalive_successes_to_clear` (1), `keepalive_confirm_ms` (5000),
// `keepalive_jitter` (0..0.5, default 0.1), `keepalive_alternates`
// (`on`/`off`, default on). Applies at once to every trunk.
//
// `profile` (`twilio`/`generic`/`auto`, default auto): the profile of
// trunks read from a PBX configuration (`regwatch_engine_asterisk_*`,
// `regwatch_engine_freeswitch_*`), applied at their next sync.
REGWATCH_MUST_USE regwatch_status regwatch_engine_set_option(struct regwatch_engine *engine, const char *key, const char *value);

// Installs (or, with `callback` NULL, removes) the engine's log callback.
// Only messages at `max_level` or more severe are delivered
// (`REGWATCH_LOG_ERROR` .. `REGWATCH_LOG_TRACE`). `userdata` is passed back
// untouched and must outlive the engine (or the next call to this
// function). The callback runs on the calling thread during
// `regwatch_engine_*` calls and must not call into the same engine.
REGWATCH_MUST_USE regwatch_status regwatch_engine_set_log_callback(struct regwatch_engine *engine, regwatch_log_callback callback, void *userdata, regwatch_log_level max_level);

// Adds a trunk; `cfg` (which must have a `name`) is copied and stays the
// caller's. Validation findings come out as `REGWATCH_EVENT_FINDING`
// events. Returns `REGWATCH_STATUS_ALREADY_EXISTS` for a taken name and
// `REGWATCH_STATUS_INVALID_ARGUMENT` for a missing name.
REGWATCH_MUST_USE regwatch_status regwatch_engine_add_trunk(struct regwatch_engine *engine, uint64_t now_ms, const struct regwatch_trunk_config *cfg);

// Replaces the configuration of trunk `trunk` (a different `name` in
// `cfg` renames it). History and state are kept; findings are emitted again.
REGWATCH_MUST_USE regwatch_status regwatch_engine_update_trunk(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, const struct regwatch_trunk_config *cfg);

// Removes a trunk (an alert still raised is cleared with an event).
REGWATCH_MUST_USE regwatch_status regwatch_engine_remove_trunk(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk);

// Fires every timer due at or before `now_ms` (refresh checks, expiry).
// Calling it early or late is harmless.
REGWATCH_MUST_USE regwatch_status regwatch_engine_handle_timeout(struct regwatch_engine *engine, uint64_t now_ms);

// Writes the next deadline (absolute, on the host's clock) to
// `*out_deadline_ms` and returns OK, or returns `REGWATCH_STATUS_DONE`
// when no timer is armed (nothing is written).
REGWATCH_MUST_USE regwatch_status regwatch_engine_poll_timeout(struct regwatch_engine *engine, uint64_t *out_deadline_ms);

// How long a host may sleep from `now_ms` before calling
// `regwatch_engine_handle_timeout`: the time to the next deadline, 0 when
// it is due, and at most `REGWATCH_MAX_WAIT_MS` (also when no timer is
// armed), so that a host's timer never needs its own cap.
REGWATCH_MUST_USE regwatch_status regwatch_engine_next_wait_ms(struct regwatch_engine *engine, uint64_t now_ms, uint32_t *out_wait_ms);

// Takes the next output and fills `*out` (returns OK), or returns
// `REGWATCH_STATUS_DONE` when there is none. Set `out->struct_size` to
// `sizeof(regwatch_event)` first (`REGWATCH_STATUS_INVALID_ARGUMENT`
// when it is smaller than this library's event). The strings in `*out`
// belong to the engine and stay valid until the next poll or input on
// this engine.
REGWATCH_MUST_USE regwatch_status regwatch_engine_poll_event(struct regwatch_engine *engine, struct regwatch_event *out);

// Fills `ev` with an empty event whose `struct_size` is set, ready for
// `regwatch_engine_poll_event` (`struct regwatch_event ev = { .struct_size
// = sizeof ev };` does the same). NULL is ignored.
void regwatch_event_init(struct regwatch_event *ev);

// FreeSWITCH: the sofia configuration XML (a whole `sofia.conf` as
// `switch_xml_open_cfg` gives it, a profile, or lone `<gateway>`
// elements). Every registering gateway becomes (or updates) a trunk named
// after the gateway; findings and FreeSWITCH-specific notes come out as
// events.
REGWATCH_MUST_USE regwatch_status regwatch_engine_freeswitch_gateways_xml(struct regwatch_engine *engine, uint64_t now_ms, const char *xml);

// FreeSWITCH: the output of `sofia xmlstatus` (every profile and gateway
// with sofia's state). Each gateway seen nothing of yet takes the state
// sofia shows (`REGED` registered, `FAILED`/`FAIL_WAIT` rejected), so a
// module loaded while FreeSWITCH runs starts from FreeSWITCH's own view.
REGWATCH_MUST_USE regwatch_status regwatch_engine_freeswitch_status_xml(struct regwatch_engine *engine, uint64_t now_ms, const char *text);

// FreeSWITCH: one event's headers as `n` name/value pairs (as
// `switch_event_header_t` lists them; `Event-Subclass` among them).
// `sofia::gateway_state` and `sofia::gateway_invalid_digest_req` become
// observations; `sofia::gateway_add` / `gateway_delete` add or remove the
// trunk (a gateway must be known from `regwatch_engine_freeswitch_gateways_xml`
// to be added). Other events return `REGWATCH_STATUS_DONE`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_freeswitch_event(struct regwatch_engine *engine, uint64_t now_ms, const char *const *names, const char *const *values, size_t n);

// FreeSWITCH: the sofia profile of `gateway` (from the gateway XML or its
// `sofia::gateway_add` event), for commands such as `sofia profile <p>
// register <gw>`. `NOT_FOUND` when no profile is known. Output as for
// `regwatch_engine_trunk_json`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_freeswitch_profile(struct regwatch_engine *engine, const char *gateway, char *buf, size_t len, size_t *out_len);

// The state id (`registered`, ...) of a `REGWATCH_STATE_*` value: a
// static NUL-terminated string, "" for NONE or an unknown value.
// Thread-safe.
const char *regwatch_state_str(regwatch_state state);

// The cause id (`credentials_rejected`, ...) of a `REGWATCH_CAUSE_*`
// value: a static NUL-terminated string, "" for NONE or an unknown value.
// Thread-safe.
const char *regwatch_cause_str(regwatch_cause cause);

// `info`, `warning` or `error` for a `REGWATCH_SEVERITY_*` value (a
// static string; "" for NONE or an unknown value). Thread-safe.
const char *regwatch_severity_str(regwatch_severity severity);

// Makes the job for the probe of the last `REGWATCH_EVENT_TRANSMIT`
// polled from this engine, `probe_id` (its `transmit.probe_id`):
// `REGWATCH_STATUS_NOT_FOUND` when the last polled event was not that
// probe. On OK, `*out` owns the job. The job may wait in the host's
// queue: it gets the probe's whole timeout from when `regwatch_job_run`
// sends, and the engine awaits its `regwatch_engine_job_done` for that
// timeout plus 30 s from now before it counts the probe as lost.
REGWATCH_MUST_USE regwatch_status regwatch_engine_probe_job(struct regwatch_engine *engine, uint64_t probe_id, struct regwatch_job **out);

// Makes the job for the live check of trunk `trunk` (as a console's
// `check` runs it: OPTIONS and a test REGISTER with its credentials,
// ended with Expires: 0), with the module's `check_timeout` and
// `ca_file`. `REGWATCH_STATUS_NOT_FOUND` for an unknown trunk. On OK,
// `*out` owns the job (credentials included: free it).
REGWATCH_MUST_USE regwatch_status regwatch_engine_check_job(struct regwatch_engine *engine, const char *trunk, struct regwatch_job **out);

// Runs the job (blocks for DNS and the exchanges, each within the job's
// timeout). `REGWATCH_STATUS_IO` when the `ca_file` cannot be used
// (nothing is checked). Any thread, one at a time.
REGWATCH_MUST_USE regwatch_status regwatch_job_run(struct regwatch_job *job);

// Writes the console text of a job that ran (several lines, each ending
// in `\n`); `REGWATCH_STATUS_INVALID_ARGUMENT` before it ran. Output as
// for `regwatch_engine_trunk_json`.
REGWATCH_MUST_USE regwatch_status regwatch_job_text(struct regwatch_job *job, char *buf, size_t len, size_t *out_len);

// A probe job that ran, back on the engine's thread: its result goes to
// the engine as `regwatch_engine_probe_result` would give it. OK when
// the probe was awaited, `REGWATCH_STATUS_DONE` when no longer,
// `REGWATCH_STATUS_NOT_FOUND` when the trunk is gone,
// `REGWATCH_STATUS_INVALID_ARGUMENT` for a check job or one that did not
// run. The job stays the caller's to free.
REGWATCH_MUST_USE regwatch_status regwatch_engine_job_done(struct regwatch_engine *engine, uint64_t now_ms, struct regwatch_job *job);

// Frees a job. NULL is ignored.
void regwatch_job_free(struct regwatch_job *job);

// Fills `resp` with defaults: `struct_size` set, code 0, every optional
// field absent. NULL is ignored.
void regwatch_register_response_init(struct regwatch_register_response *resp);

// Observation: the host sent a REGISTER for `trunk`. `expires` is the
// requested expiry in seconds (0 = deregistration; negative = unknown);
// `with_credentials` whether it carried Authorization/Proxy-Authorization.
REGWATCH_MUST_USE regwatch_status regwatch_engine_register_sent(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, int64_t expires, bool with_credentials, regwatch_transport transport);

// Observation: a response to the last REGISTER of `trunk` (see
// `regwatch_register_response`). `resp->struct_size` must be at least
// the size of the fields this library knows; initialise with
// `regwatch_register_response_init`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_register_response(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, const struct regwatch_register_response *resp);

// Observation: the last REGISTER of `trunk` got no answer.
REGWATCH_MUST_USE regwatch_status regwatch_engine_register_timeout(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, regwatch_transport transport);

// Observation: the last REGISTER of `trunk` could not be delivered
// (`REGWATCH_TRANSPORT_ERROR_*`). `detail` (may be NULL) is free text such
// as the name that failed to resolve.
REGWATCH_MUST_USE regwatch_status regwatch_engine_transport_error(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, regwatch_transport transport, regwatch_transport_error kind, const char *detail);

// Keep-alive: what became of the probe `probe_id` of `trunk` (from a
// `REGWATCH_EVENT_TRANSMIT`). `code` is the status for
// `REGWATCH_PROBE_RESPONSE` / `_LOCAL_RESPONSE`; `transport_error` is a
// `REGWATCH_TRANSPORT_ERROR_*` for `REGWATCH_PROBE_TRANSPORT_ERROR`
// (else ignored); `rtt_us` is the measured round trip, or negative to let
// the engine compute it from `now_ms`. Returns `REGWATCH_STATUS_DONE` for
// a probe no longer awaited (already timed out or answered).
REGWATCH_MUST_USE regwatch_status regwatch_engine_probe_result(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, uint64_t probe_id, regwatch_probe_outcome outcome, uint16_t code, regwatch_transport_error transport_error, int64_t rtt_us);

// Observation: the binding of `trunk` was removed on purpose (Expires: 0
// answered 2xx, or the host unregistered).
REGWATCH_MUST_USE regwatch_status regwatch_engine_deregistered(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk);

// Observation: the host reports a state for `trunk` without SIP detail
// (`REGWATCH_HOST_*`). `detail` may be NULL.
REGWATCH_MUST_USE regwatch_status regwatch_engine_host_state(struct regwatch_engine *engine, uint64_t now_ms, const char *trunk, regwatch_host_state state, const char *detail);

// Observation: one SIP message the host sent or received, as bytes (a UDP
// datagram, or one message framed from a TCP/TLS stream). A sent REGISTER
// and a received response to it update the trunk they belong to (matched
// by Call-ID and CSeq, else by To/From user and domain and the
// Request-URI); retransmissions count once; other methods are ignored.
// `peer` (may be NULL) is the remote `host:port`, kept for logs.
//
// Returns OK when the message was recorded for a trunk,
// `REGWATCH_STATUS_DONE` when it is not about registration or is a
// retransmission / provisional / stale response, `REGWATCH_STATUS_NOT_FOUND`
// when no trunk matches, and `REGWATCH_STATUS_SIP_PARSE` for malformed or
// oversized (> 64 KiB) input. `bytes` is borrowed for the call.
REGWATCH_MUST_USE regwatch_status regwatch_engine_observe_sip(struct regwatch_engine *engine, uint64_t now_ms, regwatch_direction direction, regwatch_transport transport, const char *peer, const uint8_t *bytes, size_t len);

// Whether a host should hand a SIP message to
// `regwatch_engine_observe_sip` at all: its CSeq method (`method`,
// `method_len` bytes, not NUL-terminated, as a SIP stack keeps it) is one
// the engine reads (REGISTER, OPTIONS) and the message (`message_len`
// bytes) is not over the 64 KiB it accepts. Lets a host skip copying
// every other message off its SIP threads. Thread-safe; false for NULL.
bool regwatch_sip_wanted(const char *method, size_t method_len, size_t message_len);

// Writes the trunk as JSON (state, cause, summary, evidence, remediation,
// references, confidence, findings, history, timings) into `buf`,
// NUL-terminated; `*out_len` gets the size needed (also on
// `REGWATCH_STATUS_BUFFER_TOO_SMALL`). No secret appears in it.
REGWATCH_MUST_USE regwatch_status regwatch_engine_trunk_json(struct regwatch_engine *engine, const char *trunk, char *buf, size_t len, size_t *out_len);

// Writes the same as `regwatch_engine_trunk_json`, as plain text for a
// PBX console (several lines, each ending in `\n`).
REGWATCH_MUST_USE regwatch_status regwatch_engine_trunk_text(struct regwatch_engine *engine, const char *trunk, char *buf, size_t len, size_t *out_len);

// Writes a JSON array with one summary object per trunk (name, state,
// cause, alerting, last_code, expires_in_ms, findings count, summary), for
// `show trunks`-style listings. Output as for `regwatch_engine_trunk_json`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_trunks_json(struct regwatch_engine *engine, char *buf, size_t len, size_t *out_len);

// Writes every trunk, one line each (name, state, cause, last code,
// seconds until the binding lapses, keep-alive round trip, alert), with a
// header line and a count, as console text. Output as for
// `regwatch_engine_trunk_json`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_trunks_text(struct regwatch_engine *engine, char *buf, size_t len, size_t *out_len);

// Writes every trunk's configuration findings (severity, code, field,
// message, fix), grouped by trunk, as console text. Output as for
// `regwatch_engine_trunk_json`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_findings_text(struct regwatch_engine *engine, char *buf, size_t len, size_t *out_len);

// Copies the configuration of trunk `trunk` (credentials included) into
// a new `regwatch_trunk_config` (free it with
// `regwatch_trunk_config_free`), e.g. to run `regwatch_check_trunk` off
// the engine's thread.
REGWATCH_MUST_USE regwatch_status regwatch_engine_trunk_config(struct regwatch_engine *engine, const char *trunk, struct regwatch_trunk_config **out);

// Writes the trunk's state and cause ids (static strings, never freed) to
// `*out_state` and `*out_cause`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_trunk_state(struct regwatch_engine *engine, const char *trunk, const char **out_state, const char **out_cause);

// Asterisk: the `RegwatchTrunk` events of the `RegwatchShowTrunks` AMI
// action, one per trunk (Trunk, State, Cause, Code, Alerting, ExpiresIn
// in whole seconds rounded up or -1, Findings, Summary), each
// `Key: value\r\n` lines ending in an empty line, with `ActionID`
// repeated when `action_id` (may be NULL) is not empty. `*out_count`
// (may be NULL) gets the number of trunks. Output as for
// `regwatch_engine_trunk_json`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_ami_trunks(struct regwatch_engine *engine, const char *action_id, char *buf, size_t len, size_t *out_len, size_t *out_count);

// Writes the Prometheus text exposition (format 0.0.4) of every trunk:
// the same names and labels as `regwatch watch --metrics` (see the
// README's "Prometheus and Alertmanager"), for a module to serve on its
// host's metrics endpoint. `host` (may be NULL or empty: no `host` label)
// names the PBX in the `host` label. Output as for
// `regwatch_engine_trunk_json`; no secret appears in it.
REGWATCH_MUST_USE regwatch_status regwatch_engine_metrics_text(struct regwatch_engine *engine, const char *host, char *buf, size_t len, size_t *out_len);

// Starts a keep-alive runner: a thread that owns an engine with
// keep-alives on and its sockets (UDP, TCP, TLS), probes every trunk added
// with `regwatch_runner_add_trunk`, and calls `on_event` (on that thread)
// with every output. `option_keys` / `option_values` (`n` pairs, may be
// NULL when `n` is 0) are engine options as for
// `regwatch_engine_set_option` (`keepalive_interval_ms`...). `ca_file`
// (may be NULL): PEM CAs for TLS, read before this returns (one that
// cannot be used: `REGWATCH_STATUS_IO`, no runner). `on_log` (may be NULL) gets the runner
// thread's logs at `max_level` or above, on that thread. `userdata` is
// passed to both callbacks and must outlive the runner. Free with
// `regwatch_runner_free`, which stops the thread and closes its sockets.
REGWATCH_MUST_USE regwatch_status regwatch_runner_start(const char *const *option_keys, const char *const *option_values, size_t n, const char *ca_file, regwatch_runner_event_callback on_event, regwatch_log_callback on_log, regwatch_log_level max_level, void *userdata, struct regwatch_runner **out);

// Adds a trunk (copied from `config`) to the runner; its probes start
// within one interval.
REGWATCH_MUST_USE regwatch_status regwatch_runner_add_trunk(struct regwatch_runner *runner, const struct regwatch_trunk_config *config);

// Stops probing the trunk named `name`.
REGWATCH_MUST_USE regwatch_status regwatch_runner_remove_trunk(struct regwatch_runner *runner, const char *name);

// Writes the trunk's snapshot and diagnosis as JSON
// (`{"snapshot":{...,"keepalive":{...}},"diagnosis":{...}}`) into `buf`;
// `*out_len` gets the size needed. No secret appears in it.
REGWATCH_MUST_USE regwatch_status regwatch_runner_trunk_json(struct regwatch_runner *runner, const char *name, char *buf, size_t len, size_t *out_len);

// Writes into `*out` how many TCP/TLS connections to registrars the
// runner has dropped since it started: 64 KiB without a complete SIP
// message, bytes that are not SIP, or 64 KiB of requests left unread
// (each also logged, and the trunk reads `protocol_error`).
REGWATCH_MUST_USE regwatch_status regwatch_runner_connections_dropped(struct regwatch_runner *runner, uint64_t *out);

// Stops the runner's thread (waiting for it), closes its sockets and
// frees it. NULL is a no-op. No callback runs after it returns.
void regwatch_runner_free(struct regwatch_runner *runner);

// Starts reading a module's configuration file: every setting goes back
// to the modules' default (keep-alive on, re-registration on recovery on,
// `check_timeout` 8 s, no `ca_file`, `log_level` info, no per-trunk
// keys). Nothing changes in the engine until
// `regwatch_engine_settings_apply`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_settings_reset(struct regwatch_engine *engine);

// One `key = value` of a module's configuration file, with the section
// it is in: NULL, `""`, `general` (Asterisk) or `settings` (FreeSWITCH)
// for the module-wide ones, else the name of a trunk. Keys ignore case
// and `-` equals `_`.
//
// Module-wide: `check_timeout` (seconds), `ca_file`, `log_level`
// (`error`, `warning`, `info`, `debug`, `trace`), `reregister_exclude`
// (comma-separated trunks never re-registered on recovery), and every
// engine option of `regwatch_engine_set_option` (`keepalive`,
// `reregister_on_recovery`, `keepalive_interval_ms`...). Per trunk: the
// trunk keys of `regwatch_trunk_config_set` (`reregister_on_recovery`,
// `keepalive`, `keepalive_interval`), applied over the PBX's own
// configuration at the next sync.
//
// In FreeSWITCH's section (`settings`) names are hyphenated and times
// in seconds (`keepalive-interval`, `keepalive-timeout`,
// `keepalive-confirm`, `check-timeout`); a name spelt with `_` or an
// engine millisecond name (`keepalive_interval_ms`) is still taken, with
// a deprecation note. See `regwatch_engine_setting_note`.
//
// `REGWATCH_STATUS_UNKNOWN_KEY` or `REGWATCH_STATUS_INVALID_ARGUMENT`
// for what cannot be used (the setting keeps its value).
REGWATCH_MUST_USE regwatch_status regwatch_engine_setting(struct regwatch_engine *engine, const char *section, const char *key, const char *value);

// Writes the note on the last `regwatch_engine_setting` into `buf`,
// NUL-terminated, for the host to log as it is: why the value was
// refused, naming the allowed range ("keepalive-interval = 0: must be
// seconds between 1 and 600; not applied"), or, for a name FreeSWITCH's
// style spells otherwise, the one to write instead
// ("keepalive_interval_ms (milliseconds) is deprecated: write
// keepalive-interval = 60 (seconds)"). Empty (`""`) when there is nothing
// to say. `*out_len` gets the size needed (also on
// `REGWATCH_STATUS_BUFFER_TOO_SMALL`). No secret appears in it.
REGWATCH_MUST_USE regwatch_status regwatch_engine_setting_note(struct regwatch_engine *engine, char *buf, size_t len, size_t *out_len);

// Applies the settings read since `regwatch_engine_settings_reset`: the
// engine options, and the log level of the callback installed with
// `regwatch_engine_set_log_callback`. Per-trunk keys take effect at the
// next `regwatch_engine_asterisk_commit` / `..._freeswitch_gateways_xml`.
REGWATCH_MUST_USE regwatch_status regwatch_engine_settings_apply(struct regwatch_engine *engine);

// A static, NUL-terminated description of a status value (never NULL;
// unknown values give "unknown status"). Thread-safe.
const char *regwatch_status_str(uint32_t status);

// Validates a registrar domain. Writes the findings as a JSON array
// (`[{"code","severity","field","message","fix"}]`, `[]` when clean) into
// `buf`, NUL-terminated.
//
// `profile`: `"twilio"`, `"generic"`, or NULL / `"auto"` to detect from
// the domain. `*out_len` (if not NULL) receives the bytes needed,
// including the NUL, on OK and on `REGWATCH_STATUS_BUFFER_TOO_SMALL`.
// Thread-safe; calls no callback.
REGWATCH_MUST_USE regwatch_status regwatch_validate_domain(const char *domain, const char *profile, char *buf, size_t len, size_t *out_len);

// Validates credentials. `auth_username` and `password` may be NULL (not
// configured). The password is never copied into the output: findings
// describe it without quoting it. Output as for
// `regwatch_validate_domain`. `profile`: `"twilio"` or `"generic"`
// (NULL or `"auto"` means generic: there is no domain to detect from).
// Thread-safe; calls no callback.
REGWATCH_MUST_USE regwatch_status regwatch_validate_credentials(const char *username, const char *auth_username, const char *password, const char *profile, char *buf, size_t len, size_t *out_len);

// Checks a REGISTER Request-URI (`sip:acme.sip.twilio.com`) against the
// configured domain. Output as for `regwatch_validate_domain`.
// Thread-safe; calls no callback.
REGWATCH_MUST_USE regwatch_status regwatch_validate_request_uri(const char *request_uri, const char *domain, const char *profile, char *buf, size_t len, size_t *out_len);

// Checks a captured REGISTER (with Authorization or Proxy-Authorization)
// against the configured password: tells "the PBX sends a different
// password" from "the password is right, the registrar does not know this
// user". Writes `*out_result` (`REGWATCH_CREDENTIALS_*`) on OK; returns
// `REGWATCH_STATUS_SIP_PARSE` for a malformed message. The password is
// used for the computation only, never copied or logged. Thread-safe.
REGWATCH_MUST_USE regwatch_status regwatch_check_credentials(const uint8_t *register_, size_t len, const char *password, regwatch_credential_check *out_result);

// The library version as a static NUL-terminated string ("0.1.0").
// Thread-safe.
const char *regwatch_version(void);

// The ABI version of the loaded library (compare with
// `REGWATCH_ABI_VERSION` from the header). Thread-safe.
uint32_t regwatch_abi_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* REGWATCH_H */


