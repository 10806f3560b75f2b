/*
 * Exercises the whole C API of libregwatch, including misuse: NULL
 * arguments, tiny buffers, invalid UTF-8, unknown enum values, stale
 * names. Built with -Wall -Wextra -Werror, and again under
 * AddressSanitizer + UndefinedBehaviorSanitizer, by scripts/c-tests.sh.
 * Prints "N passed, 0 failed" and exits non-zero on any failure.
 */
#include "regwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_STATUS(expr, expected)                                           \
    do {                                                                       \
        regwatch_status st_ = (expr);                                          \
        if (st_ == (expected)) {                                               \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %u (%s), expected %s\n",       \
                    __FILE__, __LINE__, #expr, (unsigned)st_,                  \
                    regwatch_status_str(st_), #expected);                      \
        }                                                                      \
    } while (0)

#define SECRET "Sup3rSecretPassw0rd"

/* ---- log capture ---------------------------------------------------- */

struct log_sink {
    int lines;
    int warnings;
    int leaked_secret;
};

static void on_log(void *userdata, regwatch_log_level level, const char *msg) {
    struct log_sink *sink = userdata;
    sink->lines++;
    if (level <= REGWATCH_LOG_WARN)
        sink->warnings++;
    if (strstr(msg, SECRET) != NULL)
        sink->leaked_secret = 1;
}

/* ---- helpers --------------------------------------------------------- */

static regwatch_trunk_config *make_config(const char *name, const char *domain,
                                          const char *password) {
    regwatch_trunk_config *cfg = NULL;
    CHECK_STATUS(regwatch_trunk_config_new(&cfg), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "name", name), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "domain", domain), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "username", "office"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "password", password), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "transport", "tls"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "port", "5061"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "expires", "600"), REGWATCH_STATUS_OK);
    return cfg;
}

/* Drains every pending event; counts kinds; checks strings are sane. */
struct drained {
    int state_changes, alerts, cleared, findings;
    char last_cause[64];
    char last_alert_cause[64];
    int secret_in_json;
};

static void drain(regwatch_engine *e, struct drained *d) {
    regwatch_event ev = { .struct_size = sizeof ev };
    regwatch_status st;
    memset(d, 0, sizeof *d);
    while ((st = regwatch_engine_poll_event(e, &ev)) == REGWATCH_STATUS_OK) {
        CHECK(ev.trunk != NULL && ev.finding_code != NULL && ev.summary != NULL &&
              ev.json != NULL && ev.log_line != NULL && ev.command != NULL &&
              ev.ami_event != NULL && ev.ami_fields != NULL && ev.fs_subclass != NULL &&
              ev.transmit.host != NULL && ev.transmit.domain != NULL && ev.transmit.user != NULL);
        CHECK(ev.json[0] == '{');
        /* Every event says what it is in one line. */
        CHECK(ev.summary[0] != '\0');
        /* State changes and alerts come rendered for both hosts. */
        if (ev.kind == REGWATCH_EVENT_STATE_CHANGED || ev.kind == REGWATCH_EVENT_ALERT_RAISED ||
            ev.kind == REGWATCH_EVENT_ALERT_CLEARED) {
            CHECK(ev.state != REGWATCH_STATE_NONE && ev.cause != REGWATCH_CAUSE_NONE);
            CHECK(strstr(ev.ami_fields, "Trunk: ") == ev.ami_fields);
            CHECK(strstr(ev.ami_fields, regwatch_cause_str(ev.cause)) != NULL);
            CHECK(ev.fs_header_count >= 5 && strcmp(ev.fs_headers[0].name, "Gateway") == 0 &&
                  strcmp(ev.fs_headers[0].value, ev.trunk) == 0);
        }
        if (strstr(ev.ami_fields, SECRET) || strstr(ev.log_line, SECRET))
            d->secret_in_json = 1;
        if (strstr(ev.json, SECRET) || strstr(ev.summary, SECRET))
            d->secret_in_json = 1;
        switch (ev.kind) {
        case REGWATCH_EVENT_STATE_CHANGED:
            d->state_changes++;
            CHECK(strcmp(ev.ami_event, "RegwatchState") == 0);
            snprintf(d->last_cause, sizeof d->last_cause, "%s", regwatch_cause_str(ev.cause));
            break;
        case REGWATCH_EVENT_ALERT_RAISED:
            d->alerts++;
            CHECK(strlen(ev.summary) > 0);
            CHECK(ev.severity != REGWATCH_SEVERITY_NONE);
            CHECK(strcmp(ev.ami_event, "RegwatchAlert") == 0 && strstr(ev.ami_fields, "Alert: raised\r\n"));
            snprintf(d->last_alert_cause, sizeof d->last_alert_cause, "%s", regwatch_cause_str(ev.cause));
            break;
        case REGWATCH_EVENT_ALERT_CLEARED:
            d->cleared++;
            break;
        case REGWATCH_EVENT_FINDING:
            d->findings++;
            CHECK(ev.finding_code[0] != '\0' && ev.severity != REGWATCH_SEVERITY_NONE);
            CHECK(ev.log_level != 0 && strstr(ev.log_line, ev.finding_code) != NULL);
            break;
        default:
            break;
        }
    }
    CHECK_STATUS(st, REGWATCH_STATUS_DONE);
}

/* ---- tests ----------------------------------------------------------- */

static void test_version(void) {
    CHECK(regwatch_abi_version() == REGWATCH_ABI_VERSION);
    CHECK(REGWATCH_ABI_VERSION == 2);
    /* The header's idiom for dropping a status on purpose compiles under
     * -Werror (a plain (void) cast does not with GCC). */
    (void)!regwatch_engine_handle_timeout(NULL, 0);
    CHECK(strcmp(regwatch_version(), REGWATCH_VERSION_STR) == 0);
    CHECK(REGWATCH_VERSION_NUMBER == ((REGWATCH_VERSION_MAJOR << 16) |
                                      (REGWATCH_VERSION_MINOR << 8) |
                                      REGWATCH_VERSION_PATCH));
    CHECK(strcmp(regwatch_status_str(REGWATCH_STATUS_OK), "ok") == 0);
    CHECK(regwatch_status_str(REGWATCH_STATUS_PANIC) != NULL);
    CHECK(strcmp(regwatch_status_str(123456u), "unknown status") == 0);
}

static void test_validate(void) {
    char buf[4096];
    char tiny[4];
    size_t n = 0;

    CHECK_STATUS(regwatch_validate_domain("acme.sip.twilio.com", "twilio", buf, sizeof buf, &n),
                 REGWATCH_STATUS_OK);
    CHECK(strcmp(buf, "[]") == 0);
    CHECK(n == 3);

    CHECK_STATUS(regwatch_validate_domain("https://acme.sip.twillio.com", NULL, buf, sizeof buf, &n),
                 REGWATCH_STATUS_OK);
    CHECK(strstr(buf, "domain.scheme_prefix") != NULL);
    CHECK(strstr(buf, "domain.typo") != NULL);
    CHECK(strstr(buf, "acme.sip.twilio.com") != NULL);
    CHECK(n == strlen(buf) + 1);

    /* Tiny buffer: needed size reported, buffer untouched beyond len. */
    size_t needed = 0;
    memset(tiny, 'x', sizeof tiny);
    CHECK_STATUS(regwatch_validate_domain("https://acme.sip.twillio.com", NULL, tiny, sizeof tiny, &needed),
                 REGWATCH_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == n);
    CHECK(tiny[0] == 'x');
    /* Size query with a NULL buffer. */
    needed = 0;
    CHECK_STATUS(regwatch_validate_domain("https://acme.sip.twillio.com", NULL, NULL, 0, &needed),
                 REGWATCH_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == n);
    /* Exactly the needed size works. */
    char *exact = malloc(needed);
    CHECK_STATUS(regwatch_validate_domain("https://acme.sip.twillio.com", NULL, exact, needed, NULL),
                 REGWATCH_STATUS_OK);
    CHECK(strlen(exact) + 1 == needed);
    free(exact);

    CHECK_STATUS(regwatch_validate_domain(NULL, NULL, buf, sizeof buf, &n), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_validate_domain("acme.\xff.com", NULL, buf, sizeof buf, &n),
                 REGWATCH_STATUS_INVALID_UTF8);
    CHECK_STATUS(regwatch_validate_domain("acme.sip.twilio.com", "\xc3", buf, sizeof buf, &n),
                 REGWATCH_STATUS_INVALID_UTF8);
    CHECK_STATUS(regwatch_validate_domain("acme.sip.twilio.com", "nonsense", buf, sizeof buf, &n),
                 REGWATCH_STATUS_INVALID_ARGUMENT);

    /* Credentials: findings, never the password. */
    CHECK_STATUS(regwatch_validate_credentials("office", "other", " " SECRET, "twilio", buf, sizeof buf, &n),
                 REGWATCH_STATUS_OK);
    CHECK(strstr(buf, "credentials.auth_user_mismatch") != NULL);
    CHECK(strstr(buf, "credentials.password_whitespace") != NULL);
    CHECK(strstr(buf, SECRET) == NULL);
    CHECK_STATUS(regwatch_validate_credentials("office", NULL, NULL, "generic", buf, sizeof buf, &n),
                 REGWATCH_STATUS_OK);
    CHECK(strstr(buf, "credentials.password_empty") != NULL);
    CHECK_STATUS(regwatch_validate_credentials(NULL, NULL, NULL, NULL, buf, sizeof buf, &n),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_validate_credentials("office", NULL, "pass\xfe", NULL, buf, sizeof buf, &n),
                 REGWATCH_STATUS_INVALID_UTF8);

    CHECK_STATUS(regwatch_validate_request_uri("sip:office@acme.sip.twilio.com", "acme.sip.twilio.com",
                                               "twilio", buf, sizeof buf, &n),
                 REGWATCH_STATUS_OK);
    CHECK(strstr(buf, "domain.user_part") != NULL);
    CHECK_STATUS(regwatch_validate_request_uri("sip:acme.sip.twilio.com", NULL, NULL, buf, sizeof buf, &n),
                 REGWATCH_STATUS_NULL_ARGUMENT);
}

static void test_config(void) {
    char buf[8192];
    size_t n = 0;
    regwatch_trunk_config *cfg = NULL;

    CHECK_STATUS(regwatch_trunk_config_new(NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_new(&cfg), REGWATCH_STATUS_OK);
    CHECK(cfg != NULL);
    CHECK_STATUS(regwatch_trunk_config_set(NULL, "domain", "x"), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, NULL, "x"), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "colour", "blue"), REGWATCH_STATUS_UNKNOWN_KEY);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "port", "abc"), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "port", "70000"), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "transport", "carrier-pigeon"), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "profile", "asterisk"), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "domain", "\xff\xfe"), REGWATCH_STATUS_INVALID_UTF8);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "name", ""), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "domain", "acme.sip.twilio.com"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "username", "office"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "password", "changeme"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "realm", "acme.sip.twilio.com"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "expires", "7200"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "transport", "tls"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "port", "5060"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "proxy", NULL), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_findings(cfg, buf, sizeof buf, &n), REGWATCH_STATUS_OK);
    CHECK(strstr(buf, "credentials.password_placeholder") != NULL);
    CHECK(strstr(buf, "realm.mismatch") != NULL);
    CHECK(strstr(buf, "expiry.too_long") != NULL);
    CHECK(strstr(buf, "transport.port_mismatch") != NULL);
    CHECK(strstr(buf, "changeme") == NULL);
    CHECK_STATUS(regwatch_trunk_config_findings(NULL, buf, sizeof buf, &n), REGWATCH_STATUS_NULL_ARGUMENT);
    regwatch_trunk_config_free(cfg);
    regwatch_trunk_config_free(NULL);
}

static void test_engine_misuse(void) {
    regwatch_engine *e = NULL;
    uint64_t deadline = 0;
    regwatch_event ev = { .struct_size = sizeof ev };
    char buf[64];
    size_t n = 0;
    regwatch_register_response resp;

    CHECK_STATUS(regwatch_engine_new(0, 1, NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_add_trunk(NULL, 0, NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_register_sent(NULL, 0, "x", 600, false, REGWATCH_TRANSPORT_UDP),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_handle_timeout(NULL, 0), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_poll_timeout(NULL, &deadline), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_poll_event(NULL, &ev), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_trunk_json(NULL, "x", buf, sizeof buf, &n), REGWATCH_STATUS_NULL_ARGUMENT);
    regwatch_engine_free(NULL);

    CHECK_STATUS(regwatch_engine_new(0, 1, &e), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_add_trunk(e, 0, NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_poll_timeout(e, NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_poll_timeout(e, &deadline), REGWATCH_STATUS_DONE);
    CHECK_STATUS(regwatch_engine_poll_event(e, NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_poll_event(e, &ev), REGWATCH_STATUS_DONE);
    {
        regwatch_event old = { .struct_size = 16 };
        CHECK_STATUS(regwatch_engine_poll_event(e, &old), REGWATCH_STATUS_INVALID_ARGUMENT);
    }
    CHECK_STATUS(regwatch_engine_set_option(e, "refresh_ratio", "1.5"), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_set_option(e, "no_such_option", "1"), REGWATCH_STATUS_UNKNOWN_KEY);
    CHECK_STATUS(regwatch_engine_set_option(e, "history_len", "8"), REGWATCH_STATUS_OK);

    /* A configuration without a name cannot be added. */
    regwatch_trunk_config *nameless = NULL;
    CHECK_STATUS(regwatch_trunk_config_new(&nameless), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_add_trunk(e, 0, nameless), REGWATCH_STATUS_INVALID_ARGUMENT);
    regwatch_trunk_config_free(nameless);

    /* Unknown trunk names, invalid UTF-8 names, bad enum values. */
    CHECK_STATUS(regwatch_engine_register_sent(e, 0, "nobody", 600, false, REGWATCH_TRANSPORT_UDP),
                 REGWATCH_STATUS_NOT_FOUND);
    CHECK_STATUS(regwatch_engine_register_sent(e, 0, "bad\xff", 600, false, REGWATCH_TRANSPORT_UDP),
                 REGWATCH_STATUS_INVALID_UTF8);
    CHECK_STATUS(regwatch_engine_remove_trunk(e, 0, "nobody"), REGWATCH_STATUS_NOT_FOUND);
    CHECK_STATUS(regwatch_engine_trunk_text(e, "nobody", buf, sizeof buf, &n), REGWATCH_STATUS_NOT_FOUND);

    regwatch_trunk_config *cfg = make_config("t1", "acme.sip.twilio.com", SECRET);
    CHECK_STATUS(regwatch_engine_add_trunk(e, 0, cfg), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_add_trunk(e, 0, cfg), REGWATCH_STATUS_ALREADY_EXISTS);
    regwatch_trunk_config_free(cfg);
    CHECK_STATUS(regwatch_engine_register_sent(e, 0, "t1", 600, false, 99), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_register_sent(e, 0, "t1", 1LL << 40, false, REGWATCH_TRANSPORT_UDP),
                 REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_register_timeout(e, 0, "t1", 7), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_transport_error(e, 0, "t1", REGWATCH_TRANSPORT_TLS, 42, NULL),
                 REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_host_state(e, 0, "t1", 0, NULL), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_register_response(e, 0, "t1", NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    regwatch_register_response_init(NULL);
    regwatch_register_response_init(&resp);
    CHECK(resp.struct_size == sizeof resp);
    resp.code = 99;
    CHECK_STATUS(regwatch_engine_register_response(e, 0, "t1", &resp), REGWATCH_STATUS_INVALID_ARGUMENT);
    resp.code = 200;
    resp.struct_size = 8;
    CHECK_STATUS(regwatch_engine_register_response(e, 0, "t1", &resp), REGWATCH_STATUS_INVALID_ARGUMENT);
    regwatch_register_response_init(&resp);
    resp.code = 200;
    resp.reason = "O\xffK";
    CHECK_STATUS(regwatch_engine_register_response(e, 0, "t1", &resp), REGWATCH_STATUS_INVALID_UTF8);

    /* Tiny output buffers. */
    CHECK_STATUS(regwatch_engine_trunk_json(e, "t1", buf, 2, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    CHECK(n > 2);
    CHECK_STATUS(regwatch_engine_trunks_json(e, NULL, 0, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    CHECK(n > 2);
    const char *state = NULL, *cause = NULL;
    CHECK_STATUS(regwatch_engine_trunk_state(e, "t1", NULL, &cause), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "t1", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(state, "unknown") == 0);

    CHECK_STATUS(regwatch_engine_set_log_callback(e, NULL, NULL, REGWATCH_LOG_TRACE), REGWATCH_STATUS_OK);
    regwatch_engine_free(e);
}

/* A whole run: Twilio's 407 challenge, a wrong password (403), then a
 * good registration, a silent lapse, and the host loop's timers. */
static void test_engine_run(void) {
    regwatch_engine *e = NULL;
    struct log_sink sink = {0, 0, 0};
    struct drained d;
    regwatch_register_response resp;
    uint64_t now = 1000000, deadline = 0;
    char *big;
    size_t n = 0;

    CHECK_STATUS(regwatch_engine_new(now, 42, &e), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_set_log_callback(e, on_log, &sink, REGWATCH_LOG_TRACE), REGWATCH_STATUS_OK);
    regwatch_trunk_config *cfg = make_config("office", "acme.sip.twilio.com", SECRET);
    CHECK_STATUS(regwatch_engine_add_trunk(e, now, cfg), REGWATCH_STATUS_OK);
    regwatch_trunk_config_free(cfg);
    drain(e, &d);
    CHECK(d.alerts == 0);

    /* REGISTER, 407 challenge: not a failure. */
    CHECK_STATUS(regwatch_engine_register_sent(e, now, "office", 600, false, REGWATCH_TRANSPORT_TLS),
                 REGWATCH_STATUS_OK);
    regwatch_register_response_init(&resp);
    resp.code = 407;
    resp.reason = "Proxy Authentication Required";
    resp.challenge_realm = "sip.twilio.com";
    resp.challenge_qop = "auth";
    resp.transport = REGWATCH_TRANSPORT_TLS;
    now += 50;
    CHECK_STATUS(regwatch_engine_register_response(e, now, "office", &resp), REGWATCH_STATUS_OK);
    drain(e, &d);
    CHECK(d.alerts == 0);

    /* REGISTER with credentials, 403: Twilio's answer to a wrong password. */
    now += 10;
    CHECK_STATUS(regwatch_engine_register_sent(e, now, "office", 600, true, REGWATCH_TRANSPORT_TLS),
                 REGWATCH_STATUS_OK);
    regwatch_register_response_init(&resp);
    resp.code = 403;
    resp.reason = "Forbidden";
    resp.server = "Twilio";
    now += 50;
    CHECK_STATUS(regwatch_engine_register_response(e, now, "office", &resp), REGWATCH_STATUS_OK);
    drain(e, &d);
    CHECK(d.alerts == 1);
    CHECK(strcmp(d.last_alert_cause, "credentials_rejected") == 0);
    CHECK(!d.secret_in_json);

    const char *state = NULL, *cause = NULL;
    CHECK_STATUS(regwatch_engine_trunk_state(e, "office", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(state, "rejected") == 0);
    CHECK(strcmp(cause, "credentials_rejected") == 0);

    /* Size query then full JSON and text. */
    CHECK_STATUS(regwatch_engine_trunk_json(e, "office", NULL, 0, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    big = malloc(n);
    CHECK_STATUS(regwatch_engine_trunk_json(e, "office", big, n, NULL), REGWATCH_STATUS_OK);
    CHECK(strstr(big, "\"cause\":\"credentials_rejected\"") != NULL);
    CHECK(strstr(big, "\"history\"") != NULL);
    CHECK(strstr(big, SECRET) == NULL);
    free(big);
    CHECK_STATUS(regwatch_engine_trunk_text(e, "office", NULL, 0, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    big = malloc(n);
    CHECK_STATUS(regwatch_engine_trunk_text(e, "office", big, n, NULL), REGWATCH_STATUS_OK);
    CHECK(strstr(big, "credentials_rejected") != NULL);
    CHECK(strstr(big, SECRET) == NULL);
    free(big);

    /* Fixed password: 200 OK, 600 s granted; alert cleared. */
    now += 5000;
    CHECK_STATUS(regwatch_engine_register_sent(e, now, "office", 600, true, REGWATCH_TRANSPORT_TLS),
                 REGWATCH_STATUS_OK);
    regwatch_register_response_init(&resp);
    resp.code = 200;
    resp.reason = "OK";
    resp.granted_expires = 600;
    resp.contact_bound = 1;
    now += 50;
    CHECK_STATUS(regwatch_engine_register_response(e, now, "office", &resp), REGWATCH_STATUS_OK);
    drain(e, &d);
    CHECK(d.cleared == 1);

    /* The Prometheus text: two attempts (the challenge's answer belongs to
     * the first), one refused, one registered 50 ms after its REGISTER. */
    CHECK_STATUS(regwatch_engine_metrics_text(NULL, "pbx-c", NULL, 0, &n), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_metrics_text(e, "pbx-c", NULL, 0, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    big = malloc(n);
    CHECK_STATUS(regwatch_engine_metrics_text(e, "pbx-c", big, n, NULL), REGWATCH_STATUS_OK);
#define LABELS "trunk=\"office\",host=\"pbx-c\",domain=\"acme.sip.twilio.com\",transport=\"tls\""
    CHECK(strstr(big, "\nregwatch_trunk_up{" LABELS ",cause=\"healthy\"} 1\n") != NULL);
    CHECK(strstr(big, "\nregwatch_register_attempts_total{" LABELS "} 2\n") != NULL);
    CHECK(strstr(big, "\nregwatch_register_failures_total{" LABELS ",cause=\"credentials_rejected\"} 1\n") != NULL);
    CHECK(strstr(big, "\nregwatch_registration_request_delay_seconds_bucket{" LABELS ",le=\"0.1\"} 1\n") != NULL);
    CHECK(strstr(big, "\nregwatch_registration_request_delay_seconds_sum{" LABELS "} 0.05\n") != NULL);
    CHECK(strstr(big, "\nregwatch_alerts_active{host=\"pbx-c\"} 0\n") != NULL);
#undef LABELS
    CHECK(strstr(big, SECRET) == NULL);
    free(big);

    /* The host loop: sleep until the deadline, fire, drain. Nothing else
     * happens, so the refresh is missed and then the binding lapses. */
    uint64_t registered_at = now;
    int fired = 0;
    while (regwatch_engine_poll_timeout(e, &deadline) == REGWATCH_STATUS_OK) {
        CHECK(deadline > now);
        now = deadline;
        CHECK_STATUS(regwatch_engine_handle_timeout(e, now), REGWATCH_STATUS_OK);
        drain(e, &d);
        fired++;
        CHECK(fired < 10);
        if (fired >= 10)
            break;
    }
    CHECK(fired == 2);
    CHECK(now == registered_at + 600 * 1000);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "office", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(state, "expired") == 0);
    CHECK(strcmp(cause, "registration_expired") == 0);

    /* Host-reported state without SIP detail. */
    CHECK_STATUS(regwatch_engine_host_state(e, now, "office", REGWATCH_HOST_GAVE_UP, "max_retries"),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "office", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(state, "stopped") == 0);

    /* Transport errors, timeouts and deregistration all accepted. */
    CHECK_STATUS(regwatch_engine_transport_error(e, now, "office", REGWATCH_TRANSPORT_TLS,
                                                 REGWATCH_TRANSPORT_ERROR_DNS, "acme.sip.twilio.com"),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_transport_error(e, now, "office", REGWATCH_TRANSPORT_TCP,
                                                 REGWATCH_TRANSPORT_ERROR_PROTOCOL,
                                                 "the peer sent 65540 bytes without a complete SIP message"),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "office", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(cause, "protocol_error") == 0);
    CHECK_STATUS(regwatch_engine_register_timeout(e, now, "office", REGWATCH_TRANSPORT_UDP), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_deregistered(e, now, "office"), REGWATCH_STATUS_OK);
    drain(e, &d);
    CHECK(strcmp(d.last_cause, "deregistered") == 0);

    /* Update (rename) and remove. */
    regwatch_trunk_config *renamed = make_config("office-2", "acme.sip.twilio.com", SECRET);
    CHECK_STATUS(regwatch_engine_update_trunk(e, now, "office", renamed), REGWATCH_STATUS_OK);
    regwatch_trunk_config_free(renamed);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "office", &state, &cause), REGWATCH_STATUS_NOT_FOUND);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "office-2", &state, &cause), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_remove_trunk(e, now, "office-2"), REGWATCH_STATUS_OK);
    drain(e, &d);

    CHECK(sink.lines > 0);
    CHECK(sink.warnings > 0);
    CHECK(!sink.leaked_secret);
    regwatch_engine_free(e);
}

/* Many trunks through one engine; every string from poll_event stays
 * valid until the next call (checked by copying before the next poll). */
static void test_many_trunks(void) {
    regwatch_engine *e = NULL;
    char name[32];
    struct drained d;
    CHECK_STATUS(regwatch_engine_new(0, 7, &e), REGWATCH_STATUS_OK);
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "trunk-%d", i);
        regwatch_trunk_config *cfg = make_config(name, "acme.sip.twilio.com", SECRET);
        CHECK_STATUS(regwatch_engine_add_trunk(e, 0, cfg), REGWATCH_STATUS_OK);
        regwatch_trunk_config_free(cfg);
        CHECK_STATUS(regwatch_engine_register_sent(e, 1, name, 600, true, REGWATCH_TRANSPORT_TLS),
                     REGWATCH_STATUS_OK);
        CHECK_STATUS(regwatch_engine_register_timeout(e, 2, name, REGWATCH_TRANSPORT_TLS), REGWATCH_STATUS_OK);
    }
    drain(e, &d);
    CHECK(d.alerts == 200);
    regwatch_engine_free(e);
}

/* The host adapters: Asterisk objects, Registry JSON, log lines, and
 * FreeSWITCH gateway XML and event headers, including misuse. */
static void test_hosts(void) {
    regwatch_engine *e = NULL;
    struct drained d;
    const char *state = NULL, *cause = NULL;
    CHECK_STATUS(regwatch_engine_new(0, 3, &e), REGWATCH_STATUS_OK);

    const char *rn[] = {"server_uri", "client_uri", "outbound_auth", "expiration"};
    const char *rv[] = {"sip:127.0.0.1:15061", "sip:acme@127.0.0.1:15061", "auth1", "60"};
    const char *an[] = {"auth_type", "username", "password"};
    const char *av[] = {"userpass", "acme", SECRET};
    CHECK_STATUS(regwatch_engine_asterisk_object(e, "registration", "reg-403", rn, rv, 4), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_asterisk_object(e, "auth", "auth1", an, av, 3), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_asterisk_object(e, "auth", "auth1", NULL, NULL, 3), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_asterisk_object(e, NULL, "x", rn, rv, 4), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_asterisk_commit(e, 0), REGWATCH_STATUS_OK);
    drain(e, &d);
    CHECK(!d.secret_in_json);

    CHECK_STATUS(regwatch_engine_asterisk_registry_json(
                     e, 10,
                     "{\"type\":\"Registry\",\"channeltype\":\"PJSIP\",\"username\":\"sip:acme@127.0.0.1:15061\","
                     "\"domain\":\"sip:127.0.0.1:15061\",\"status\":\"Rejected\",\"cause\":\"\"}"),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "reg-403", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(state, "rejected") == 0 && strcmp(cause, "unknown") == 0);
    CHECK_STATUS(regwatch_engine_asterisk_log_line(
                     e, 11,
                     "[Nov 24 06:01:09] WARNING[31507]: res_pjsip_outbound_registration.c:1585 "
                     "handle_registration_response: Fatal response '404' received from 'sip:127.0.0.1:15061' "
                     "on registration attempt to 'sip:acme@127.0.0.1:15061', stopping outbound registration"),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "reg-403", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(cause, "domain_not_found") == 0);
    CHECK_STATUS(regwatch_engine_asterisk_log_line(e, 12, "just chatter"), REGWATCH_STATUS_DONE);
    CHECK_STATUS(regwatch_engine_asterisk_log_line(e, 12, "bad \xff utf8"), REGWATCH_STATUS_INVALID_UTF8);
    CHECK_STATUS(regwatch_engine_asterisk_registry_json(e, 12, "{oops"), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_asterisk_pjsip_conf(e, 13, "; empty\n"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "reg-403", &state, &cause), REGWATCH_STATUS_NOT_FOUND);

    CHECK_STATUS(regwatch_engine_freeswitch_gateways_xml(
                     e, 20,
                     "<gateways><gateway name=\"gw1\"><param name=\"proxy\" value=\"acme.sip.twilio.com\"/>"
                     "<param name=\"username\" value=\"gw1\"/><param name=\"password\" value=\"" SECRET "\"/>"
                     "</gateway></gateways>"),
                 REGWATCH_STATUS_OK);
    const char *hn[] = {"Event-Name", "Event-Subclass", "Gateway", "State", "Ping-Status", "Status", "Phrase",
                        "Register-Network-IP", "Register-Network-Port"};
    const char *hv[] = {"CUSTOM", "sofia::gateway_state", "gw1", "FAILED", "DOWN", "403", "Forbidden",
                        "54.172.60.1", "5060"};
    CHECK_STATUS(regwatch_engine_freeswitch_event(e, 21, hn, hv, 9), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "gw1", &state, &cause), REGWATCH_STATUS_OK);
    /* FAILED 403 does not say whether credentials were sent: both causes
     * stay open (account_forbidden, naming the password too) until the
     * account query answers. */
    CHECK(strcmp(cause, "account_forbidden") == 0);
    const char *on[] = {"Event-Name", "Event-Subclass"};
    const char *ov[] = {"CUSTOM", "conference::maintenance"};
    CHECK_STATUS(regwatch_engine_freeswitch_event(e, 22, on, ov, 2), REGWATCH_STATUS_DONE);
    CHECK_STATUS(regwatch_engine_freeswitch_event(e, 22, NULL, NULL, 0), REGWATCH_STATUS_DONE);
    drain(e, &d);
    CHECK(!d.secret_in_json);
    regwatch_engine_free(e);
}

/* Raw SIP: a REGISTER and its 407 and 403, as bytes. */
static void test_observe_sip(void) {
    regwatch_engine *e = NULL;
    struct drained d;
    const char *state = NULL, *cause = NULL;
    CHECK_STATUS(regwatch_engine_new(0, 5, &e), REGWATCH_STATUS_OK);
    regwatch_trunk_config *cfg = make_config("office", "acme.sip.twilio.com", SECRET);
    CHECK_STATUS(regwatch_engine_add_trunk(e, 0, cfg), REGWATCH_STATUS_OK);
    regwatch_trunk_config_free(cfg);
    const char *reg1 = "REGISTER sip:acme.sip.twilio.com SIP/2.0\r\n"
                       "Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK1\r\n"
                       "From: <sip:office@acme.sip.twilio.com>;tag=1\r\nTo: <sip:office@acme.sip.twilio.com>\r\n"
                       "Call-ID: c1\r\nCSeq: 1 REGISTER\r\nContact: <sip:office@192.0.2.10:5061>\r\n"
                       "Expires: 600\r\nContent-Length: 0\r\n\r\n";
    const char *r407 = "SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK1\r\n"
                       "From: <sip:office@acme.sip.twilio.com>;tag=1\r\nTo: <sip:office@acme.sip.twilio.com>;tag=2\r\n"
                       "Call-ID: c1\r\nCSeq: 1 REGISTER\r\n"
                       "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", nonce=\"n\", qop=\"auth\"\r\n"
                       "Content-Length: 0\r\n\r\n";
    const char *reg2 = "REGISTER sip:acme.sip.twilio.com SIP/2.0\r\n"
                       "Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK2\r\n"
                       "From: <sip:office@acme.sip.twilio.com>;tag=1\r\nTo: <sip:office@acme.sip.twilio.com>\r\n"
                       "Call-ID: c1\r\nCSeq: 2 REGISTER\r\nContact: <sip:office@192.0.2.10:5061>\r\n"
                       "Proxy-Authorization: Digest username=\"office\", realm=\"sip.twilio.com\", nonce=\"n\", "
                       "uri=\"sip:acme.sip.twilio.com\", response=\"0\"\r\n"
                       "Expires: 600\r\nContent-Length: 0\r\n\r\n";
    const char *r403 = "SIP/2.0 403 Forbidden\r\nVia: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK2\r\n"
                       "From: <sip:office@acme.sip.twilio.com>;tag=1\r\nTo: <sip:office@acme.sip.twilio.com>;tag=2\r\n"
                       "Call-ID: c1\r\nCSeq: 2 REGISTER\r\nServer: Twilio\r\nContent-Length: 0\r\n\r\n";
    const uint8_t *b = (const uint8_t *)reg1;
    CHECK_STATUS(regwatch_engine_observe_sip(e, 1, REGWATCH_DIRECTION_SENT, REGWATCH_TRANSPORT_TLS, "54.172.60.0:5061", b,
                                             strlen(reg1)),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_observe_sip(e, 2, REGWATCH_DIRECTION_SENT, REGWATCH_TRANSPORT_TLS, NULL, b, strlen(reg1)),
                 REGWATCH_STATUS_DONE); /* retransmission */
    CHECK_STATUS(regwatch_engine_observe_sip(e, 3, REGWATCH_DIRECTION_RECEIVED, REGWATCH_TRANSPORT_TLS, NULL,
                                             (const uint8_t *)r407, strlen(r407)),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_observe_sip(e, 4, REGWATCH_DIRECTION_SENT, REGWATCH_TRANSPORT_TLS, NULL,
                                             (const uint8_t *)reg2, strlen(reg2)),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_observe_sip(e, 5, REGWATCH_DIRECTION_RECEIVED, REGWATCH_TRANSPORT_TLS, NULL,
                                             (const uint8_t *)r403, strlen(r403)),
                 REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_trunk_state(e, "office", &state, &cause), REGWATCH_STATUS_OK);
    CHECK(strcmp(state, "rejected") == 0 && strcmp(cause, "credentials_rejected") == 0);
    /* Misuse: garbage, truncation, huge input, NULL bytes, bad direction. */
    CHECK_STATUS(regwatch_engine_observe_sip(e, 6, REGWATCH_DIRECTION_RECEIVED, 0, NULL, (const uint8_t *)"garbage", 7),
                 REGWATCH_STATUS_SIP_PARSE);
    CHECK_STATUS(regwatch_engine_observe_sip(e, 6, REGWATCH_DIRECTION_RECEIVED, 0, NULL, (const uint8_t *)r403, 40),
                 REGWATCH_STATUS_SIP_PARSE);
    size_t huge_len = 70 * 1024;
    uint8_t *huge = malloc(huge_len);
    memset(huge, 'A', huge_len);
    CHECK_STATUS(regwatch_engine_observe_sip(e, 6, REGWATCH_DIRECTION_SENT, 0, NULL, huge, huge_len),
                 REGWATCH_STATUS_SIP_PARSE);
    free(huge);
    CHECK_STATUS(regwatch_engine_observe_sip(e, 6, REGWATCH_DIRECTION_SENT, 0, NULL, NULL, 10),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_observe_sip(e, 6, 9, 0, NULL, b, strlen(reg1)), REGWATCH_STATUS_INVALID_ARGUMENT);
    drain(e, &d);
    CHECK(d.alerts == 1);
    regwatch_engine_free(e);

    /* The credential check: reg2 carries response="0", which no password makes. */
    regwatch_credential_check r = 0;
    CHECK_STATUS(regwatch_check_credentials((const uint8_t *)reg2, strlen(reg2), SECRET, &r), REGWATCH_STATUS_OK);
    CHECK(r == REGWATCH_CREDENTIALS_MISMATCH);
    CHECK_STATUS(regwatch_check_credentials((const uint8_t *)reg1, strlen(reg1), SECRET, &r), REGWATCH_STATUS_OK);
    CHECK(r == REGWATCH_CREDENTIALS_NO_AUTHORIZATION);
    CHECK_STATUS(regwatch_check_credentials((const uint8_t *)"x", 1, SECRET, &r), REGWATCH_STATUS_SIP_PARSE);
    CHECK_STATUS(regwatch_check_credentials(NULL, 0, SECRET, &r), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_check_credentials((const uint8_t *)reg2, strlen(reg2), NULL, &r),
                 REGWATCH_STATUS_NULL_ARGUMENT);
}

/* Keep-alive through the C ABI: transmits come out as events with the
 * probe's target; results go back by probe id; two timeouts raise the
 * alert, one answer clears it and asks for a re-register. */
static void test_keepalive(void) {
    regwatch_engine *e = NULL;
    CHECK_STATUS(regwatch_engine_new(0, 9, &e), REGWATCH_STATUS_OK);
    regwatch_trunk_config *cfg = make_config("ka", "acme.sip.twilio.com", SECRET);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "transport", "udp"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "port", ""), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_add_trunk(e, 0, cfg), REGWATCH_STATUS_OK);
    regwatch_trunk_config_free(cfg);
    struct drained d;
    drain(e, &d);
    uint64_t deadline = 0;
    CHECK_STATUS(regwatch_engine_poll_timeout(e, &deadline), REGWATCH_STATUS_DONE);
    CHECK_STATUS(regwatch_engine_set_option(e, "keepalive", "maybe"), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_set_option(e, "keepalive", "on"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_poll_timeout(e, &deadline), REGWATCH_STATUS_OK);
    CHECK(deadline < 60000);

    int alerts = 0, cleared = 0, reregister = 0, timeouts = 0;
    uint64_t now = deadline;
    for (int round = 0; round < 12; round++) {
        CHECK_STATUS(regwatch_engine_handle_timeout(e, now), REGWATCH_STATUS_OK);
        regwatch_event ev = { .struct_size = sizeof ev };
        uint64_t probes[4];
        int n = 0;
        while (regwatch_engine_poll_event(e, &ev) == REGWATCH_STATUS_OK) {
            switch (ev.kind) {
            case REGWATCH_EVENT_TRANSMIT:
                CHECK(strcmp(ev.trunk, "ka") == 0);
                CHECK(ev.transmit.probe_id != 0 && ev.transmit.deadline_ms == ev.at_ms + 5000);
                CHECK(strcmp(ev.transmit.host, "acme.sip.twilio.com") == 0);
                CHECK(strcmp(ev.transmit.domain, "acme.sip.twilio.com") == 0);
                CHECK(ev.transmit.user[0] != '\0');
                CHECK(ev.transmit.timeout_ms > 0 && ev.transmit.timeout_ms <= 5000);
                CHECK(ev.transmit.port == 5060 || ev.transmit.port == 5061);
                CHECK(ev.transmit.transport >= REGWATCH_TRANSPORT_UDP &&
                      ev.transmit.transport <= REGWATCH_TRANSPORT_TLS);
                CHECK(ev.transmit.purpose >= REGWATCH_PURPOSE_KEEPALIVE &&
                      ev.transmit.purpose <= REGWATCH_PURPOSE_ALTERNATE);
                CHECK(ev.transmit.via_driver == (ev.transmit.purpose == REGWATCH_PURPOSE_ALTERNATE));
                CHECK(strstr(ev.json, "\"purpose\"") != NULL);
                if (n < 4) probes[n++] = ev.transmit.probe_id;
                break;
            case REGWATCH_EVENT_ALERT_RAISED:
                alerts++;
                CHECK(ev.cause == REGWATCH_CAUSE_REGISTRAR_UNREACHABLE);
                CHECK(strcmp(regwatch_cause_str(ev.cause), "registrar_unreachable") == 0);
                break;
            case REGWATCH_EVENT_ALERT_CLEARED:
                cleared++;
                break;
            case REGWATCH_EVENT_ACTION_REREGISTER:
                reregister++;
                /* Added through the API: the host re-registers by its own means. */
                CHECK(ev.command[0] == '\0' && ev.log_level != 0);
                break;
            default:
                CHECK(ev.transmit.probe_id == 0 && ev.transmit.host != NULL && ev.transmit.host[0] == '\0');
                break;
            }
        }
        /* The first six timer firings (probes sent, then timed out by the
         * engine's deadlines) go unanswered; after that the registrar
         * answers. */
        if (round >= 6) {
            for (int i = 0; i < n; i++) {
                regwatch_status st = regwatch_engine_probe_result(
                    e, now + 3, "ka", probes[i], REGWATCH_PROBE_RESPONSE, 200, 0, 2500);
                CHECK(st == REGWATCH_STATUS_OK || st == REGWATCH_STATUS_DONE);
            }
        } else if (n > 0) {
            timeouts++;
        }
        CHECK_STATUS(regwatch_engine_poll_timeout(e, &now), REGWATCH_STATUS_OK);
    }
    CHECK(timeouts > 0);
    CHECK(alerts == 1);
    CHECK(cleared == 1);
    CHECK(reregister == 1);
    /* Bad arguments. */
    CHECK_STATUS(regwatch_engine_probe_result(e, now, "ka", 1, 99, 200, 0, -1),
                 REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_probe_result(e, now, "ka", 1, REGWATCH_PROBE_RESPONSE, 42, 0, -1),
                 REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_probe_result(e, now, "ka", 1, REGWATCH_PROBE_TRANSPORT_ERROR, 0, 77, -1),
                 REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_probe_result(e, now, "nope", 1, REGWATCH_PROBE_TIMEOUT, 0, 0, -1),
                 REGWATCH_STATUS_NOT_FOUND);
    CHECK_STATUS(regwatch_engine_probe_result(e, now, NULL, 1, REGWATCH_PROBE_TIMEOUT, 0, 0, -1),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_probe_result(NULL, now, "ka", 1, REGWATCH_PROBE_TIMEOUT, 0, 0, -1),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_engine_probe_result(e, now, "ka", 123456789, REGWATCH_PROBE_TIMEOUT, 0, 0, -1),
                 REGWATCH_STATUS_DONE);
    regwatch_engine_free(e);
}

/* A CA file that cannot be used is the caller's error (no network here:
 * the file is read before anything is sent or started). */
static void test_unusable_ca_file(void) {
    regwatch_check *c = NULL;
    CHECK_STATUS(regwatch_check_options("127.0.0.1", 9, REGWATCH_TRANSPORT_TLS, "acme.sip.twilio.com", "alice", 100,
                                        "/nonexistent/ca.pem", &c),
                 REGWATCH_STATUS_IO);
    CHECK(c == NULL);
    regwatch_runner *r = NULL;
    CHECK_STATUS(regwatch_runner_start(NULL, NULL, 0, "/nonexistent/ca.pem", NULL, NULL, 0, NULL, &r),
                 REGWATCH_STATUS_IO);
    CHECK(r == NULL);
    CHECK_STATUS(regwatch_runner_start(NULL, NULL, 0, "/", NULL, NULL, 0, NULL, &r), REGWATCH_STATUS_IO);
    CHECK(r == NULL);
}

int main(void) {
    test_version();
    test_validate();
    test_config();
    test_engine_misuse();
    test_engine_run();
    test_many_trunks();
    test_hosts();
    test_observe_sip();
    test_keepalive();
    test_unusable_ca_file();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
