/* The driver through the C ABI, against the project's Kamailio registrar
 * (scripts/registrar.sh): the one-shot OPTIONS and test REGISTER, and a
 * keep-alive runner whose events and logs arrive on its own thread.
 *
 *   driver_test PORT TLS_PORT CA_FILE
 */
#define _POSIX_C_SOURCE 200809L
#include "regwatch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0, checks = 0;
#define CHECK(cond)                                                            \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)
#define CHECK_STATUS(call, want)                                               \
    do {                                                                       \
        regwatch_status st_ = (call);                                          \
        checks++;                                                              \
        if (st_ != (want)) {                                                   \
            failures++;                                                        \
            fprintf(stderr, "%s:%d: %s = %u (%s), want %u\n", __FILE__,        \
                    __LINE__, #call, (unsigned)st_, regwatch_status_str(st_),  \
                    (unsigned)(want));                                         \
        }                                                                      \
    } while (0)

#define PASSWORD "Alice-Passw0rd-1"

static regwatch_trunk_config *alice(const char *password) {
    regwatch_trunk_config *cfg = NULL;
    CHECK_STATUS(regwatch_trunk_config_new(&cfg), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "name", "office"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "domain", "acme.sip.twilio.com"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "username", "alice"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "password", password), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(cfg, "expires", "600"), REGWATCH_STATUS_OK);
    return cfg;
}

static char *check_json(const regwatch_check *c) {
    size_t n = 0;
    CHECK_STATUS(regwatch_check_json(c, NULL, 0, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    char *buf = malloc(n);
    CHECK(buf != NULL);
    CHECK_STATUS(regwatch_check_json(c, buf, n, NULL), REGWATCH_STATUS_OK);
    return buf;
}

static void one_shot(uint16_t port, uint16_t tls_port, const char *ca) {
    regwatch_check *c = NULL;
    CHECK_STATUS(regwatch_check_options("127.0.0.1", port, REGWATCH_TRANSPORT_UDP,
                                        "acme.sip.twilio.com", "alice", 3000, NULL, &c),
                 REGWATCH_STATUS_OK);
    CHECK(strcmp(regwatch_check_cause(c), "healthy") == 0);
    char *json = check_json(c);
    CHECK(strstr(json, "\"code\":200") != NULL);
    free(json);
    regwatch_check_free(c);

    regwatch_trunk_config *good = alice(PASSWORD);
    c = NULL;
    CHECK_STATUS(regwatch_check_register(good, "127.0.0.1", tls_port, REGWATCH_TRANSPORT_TLS, 3000, ca,
                                         false, &c),
                 REGWATCH_STATUS_OK);
    CHECK(strcmp(regwatch_check_cause(c), "healthy") == 0);
    json = check_json(c);
    CHECK(strstr(json, "\"deregistered\":true") != NULL);
    CHECK(strstr(json, "\"bindings_after\":[") != NULL); /* the 200 to Expires: 0 was read */
    CHECK(strstr(json, PASSWORD) == NULL);
    free(json);
    regwatch_check_free(c);

    /* Stay registered over UDP, then the query lists that binding (and
     * adds none); the test REGISTER's Contact is the one listed. */
    c = NULL;
    CHECK_STATUS(regwatch_check_register(good, "127.0.0.1", port, REGWATCH_TRANSPORT_UDP, 3000, NULL,
                                         true, &c),
                 REGWATCH_STATUS_OK);
    json = check_json(c);
    const char *contact = strstr(json, "\"contact\":\"");
    CHECK(contact != NULL);
    char uri[128] = "";
    if (contact != NULL) {
        contact += strlen("\"contact\":\"");
        size_t len = strcspn(contact, "\"");
        if (len < sizeof uri) {
            memcpy(uri, contact, len);
            uri[len] = '\0';
        }
    }
    free(json);
    regwatch_check_free(c);
    c = NULL;
    CHECK_STATUS(regwatch_check_query(good, "127.0.0.1", port, REGWATCH_TRANSPORT_TCP, 3000, NULL, &c),
                 REGWATCH_STATUS_OK);
    CHECK(strcmp(regwatch_check_cause(c), "healthy") == 0);
    json = check_json(c);
    char want[160];
    snprintf(want, sizeof want, "{\"uri\":\"%s\"", uri);
    CHECK(uri[0] != '\0' && strstr(json, want) != NULL);
    CHECK(strstr(json, "\"mode\":\"query\"") != NULL);
    CHECK(strstr(json, PASSWORD) == NULL);
    free(json);
    regwatch_check_free(c);
    CHECK_STATUS(regwatch_check_query(NULL, "127.0.0.1", port, REGWATCH_TRANSPORT_UDP, 0, NULL, &c),
                 REGWATCH_STATUS_NULL_ARGUMENT);

    regwatch_trunk_config *bad = alice("Wrong-Passw0rd-9");
    c = NULL;
    CHECK_STATUS(regwatch_check_register(bad, "127.0.0.1", port, REGWATCH_TRANSPORT_TCP, 3000, NULL,
                                         false, &c),
                 REGWATCH_STATUS_OK);
    CHECK(strcmp(regwatch_check_cause(c), "credentials_rejected") == 0);
    json = check_json(c);
    CHECK(strstr(json, "Wrong-Passw0rd-9") == NULL);
    free(json);
    regwatch_check_free(c);

    /* Bad arguments. */
    CHECK_STATUS(regwatch_check_register(NULL, "127.0.0.1", port, REGWATCH_TRANSPORT_UDP, 0, NULL, false, &c),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_check_register(good, "127.0.0.1", port, 77, 0, NULL, false, &c),
                 REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_check_options(NULL, port, REGWATCH_TRANSPORT_UDP, "d", "u", 0, NULL, &c),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_check_options("127.0.0.1", port, REGWATCH_TRANSPORT_UDP, "d", "u", 0, NULL, NULL),
                 REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(regwatch_check_cause(NULL), "") == 0);
    regwatch_check_free(NULL);
    regwatch_trunk_config_free(good);
    regwatch_trunk_config_free(bad);
}

static char *check_text(const regwatch_check *c) {
    size_t n = 0;
    CHECK_STATUS(regwatch_check_text(c, NULL, 0, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    char *buf = malloc(n);
    CHECK(buf != NULL);
    CHECK_STATUS(regwatch_check_text(c, buf, n, NULL), REGWATCH_STATUS_OK);
    return buf;
}

/* What a PBX console's `regwatch check <trunk>` runs, and an OPTIONS check
 * fed back to an engine as the result of the probe it asked for. */
static void trunk_check(uint16_t port) {
    char proxy[32];
    snprintf(proxy, sizeof(proxy), "127.0.0.1:%u", (unsigned)port);
    regwatch_trunk_config *good = alice(PASSWORD);
    CHECK_STATUS(regwatch_trunk_config_set(good, "proxy", proxy), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(good, "transport", "udp"), REGWATCH_STATUS_OK);
    regwatch_check *c = NULL;
    CHECK_STATUS(regwatch_check_trunk(good, 3000, NULL, &c), REGWATCH_STATUS_OK);
    CHECK(strcmp(regwatch_check_cause(c), "healthy") == 0);
    char *text = check_text(c);
    CHECK(strstr(text, "OPTIONS: 200 OK") != NULL);
    CHECK(strstr(text, "Diagnosis: healthy") != NULL);
    CHECK(strstr(text, PASSWORD) == NULL);
    free(text);
    regwatch_check_free(c);

    regwatch_trunk_config *bad = alice("Wrong-Passw0rd-9");
    CHECK_STATUS(regwatch_trunk_config_set(bad, "proxy", proxy), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(bad, "transport", "tcp"), REGWATCH_STATUS_OK);
    c = NULL;
    CHECK_STATUS(regwatch_check_trunk(bad, 3000, NULL, &c), REGWATCH_STATUS_OK);
    CHECK(strcmp(regwatch_check_cause(c), "credentials_rejected") == 0);
    text = check_text(c);
    CHECK(strstr(text, "What to do:") != NULL);
    CHECK(strstr(text, "Wrong-Passw0rd-9") == NULL);
    free(text);
    char *json = check_json(c);
    CHECK(strstr(json, "\"diagnosis\"") != NULL);
    free(json);
    regwatch_check_free(c);

    /* An engine with keep-alives asks for a probe; the host runs it with
     * the driver and hands the check back. */
    regwatch_engine *e = NULL;
    CHECK_STATUS(regwatch_engine_new(0, 7, &e), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_set_option(e, "keepalive", "on"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_add_trunk(e, 0, good), REGWATCH_STATUS_OK);
    uint64_t deadline = 0;
    regwatch_event ev = { .struct_size = sizeof ev };
    int transmits = 0;
    for (int round = 0; round < 3 && transmits == 0; round++) {
        while (regwatch_engine_poll_event(e, &ev) == REGWATCH_STATUS_OK) {
            if (ev.kind != REGWATCH_EVENT_TRANSMIT) {
                continue;
            }
            transmits++;
            uint64_t id = ev.transmit.probe_id;
            CHECK(strcmp(ev.transmit.domain, "acme.sip.twilio.com") == 0);
            CHECK(strcmp(ev.transmit.user, "alice") == 0);
            regwatch_check *o = NULL;
            CHECK_STATUS(regwatch_check_options(ev.transmit.host, ev.transmit.port, ev.transmit.transport,
                                                ev.transmit.domain, ev.transmit.user, 3000, NULL, &o),
                         REGWATCH_STATUS_OK);
            /* The same probe as a job the engine makes: run off the engine's
             * thread, handed back. */
            regwatch_job *job = NULL;
            CHECK_STATUS(regwatch_engine_probe_job(e, id + 1, &job), REGWATCH_STATUS_NOT_FOUND);
            CHECK_STATUS(regwatch_engine_probe_job(e, id, &job), REGWATCH_STATUS_OK);
            CHECK_STATUS(regwatch_engine_job_done(e, deadline, job), REGWATCH_STATUS_INVALID_ARGUMENT);
            CHECK_STATUS(regwatch_job_run(job), REGWATCH_STATUS_OK);
            CHECK_STATUS(regwatch_engine_job_done(e, deadline, job), REGWATCH_STATUS_OK);
            CHECK_STATUS(regwatch_engine_job_done(e, deadline, job), REGWATCH_STATUS_DONE);
            regwatch_job_free(job);
            /* Answered already: no longer awaited. */
            CHECK_STATUS(regwatch_engine_probe_check(e, deadline, "office", id, o), REGWATCH_STATUS_DONE);
            regwatch_check_free(o);
            break;
        }
        if (transmits == 0 && regwatch_engine_poll_timeout(e, &deadline) == REGWATCH_STATUS_OK) {
            CHECK_STATUS(regwatch_engine_handle_timeout(e, deadline), REGWATCH_STATUS_OK);
        }
    }
    CHECK(transmits == 1);
    size_t n = 0;
    char buf[8192];
    CHECK_STATUS(regwatch_engine_trunk_json(e, "office", buf, sizeof(buf), &n), REGWATCH_STATUS_OK);
    CHECK(strstr(buf, "OPTIONS keep-alive") != NULL);
    /* A console check as a job: the engine's copy of the trunk, run off its thread. */
    {
        regwatch_job *job = NULL;
        CHECK_STATUS(regwatch_engine_check_job(e, "nope", &job), REGWATCH_STATUS_NOT_FOUND);
        CHECK_STATUS(regwatch_engine_check_job(e, "office", NULL), REGWATCH_STATUS_NULL_ARGUMENT);
        CHECK_STATUS(regwatch_engine_check_job(e, "office", &job), REGWATCH_STATUS_OK);
        CHECK_STATUS(regwatch_job_text(job, buf, sizeof(buf), &n), REGWATCH_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(regwatch_job_run(job), REGWATCH_STATUS_OK);
        CHECK_STATUS(regwatch_job_text(job, buf, sizeof(buf), &n), REGWATCH_STATUS_OK);
        CHECK(strstr(buf, "Diagnosis: healthy") != NULL);
        CHECK(strstr(buf, PASSWORD) == NULL);
        CHECK_STATUS(regwatch_engine_job_done(e, deadline, job), REGWATCH_STATUS_INVALID_ARGUMENT);
        regwatch_job_free(job);
        regwatch_job_free(NULL);
        CHECK_STATUS(regwatch_job_run(NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    }
    /* A check that is not an OPTIONS check is refused. */
    c = NULL;
    CHECK_STATUS(regwatch_check_trunk(good, 3000, NULL, &c), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_engine_probe_check(e, deadline, "office", 1, c), REGWATCH_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(regwatch_engine_probe_check(e, deadline, "office", 1, NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    regwatch_check_free(c);
    regwatch_engine_free(e);
    CHECK_STATUS(regwatch_check_trunk(NULL, 0, NULL, &c), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_check_text(NULL, buf, sizeof(buf), &n), REGWATCH_STATUS_NULL_ARGUMENT);
    regwatch_trunk_config_free(good);
    regwatch_trunk_config_free(bad);
}

/* What the runner's callbacks saw; they run on the runner thread. */
struct seen {
    pthread_mutex_t lock;
    pthread_t caller;
    int events, alerts, on_caller_thread, logs;
    char last_cause[64];
};

static void on_event(void *userdata, const regwatch_event *ev) {
    struct seen *s = userdata;
    pthread_mutex_lock(&s->lock);
    s->events++;
    if (pthread_equal(pthread_self(), s->caller))
        s->on_caller_thread++;
    if (ev->kind == REGWATCH_EVENT_ALERT_RAISED) {
        s->alerts++;
        snprintf(s->last_cause, sizeof s->last_cause, "%s", regwatch_cause_str(ev->cause));
    }
    pthread_mutex_unlock(&s->lock);
}

static void on_log(void *userdata, regwatch_log_level level, const char *msg) {
    struct seen *s = userdata;
    (void)level;
    pthread_mutex_lock(&s->lock);
    if (msg != NULL && strstr(msg, PASSWORD) == NULL)
        s->logs++;
    pthread_mutex_unlock(&s->lock);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void runner(uint16_t port) {
    struct seen s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    s.caller = pthread_self();
    const char *keys[] = {"keepalive_interval_ms", "keepalive_timeout_ms", "keepalive_confirm_ms"};
    const char *values[] = {"1000", "500", "500"};
    regwatch_runner *r = NULL;
    CHECK_STATUS(regwatch_runner_start(keys, values, 3, NULL, on_event, on_log, REGWATCH_LOG_DEBUG, &s, &r),
                 REGWATCH_STATUS_OK);
    const char *bad_keys[] = {"no_such_option"};
    regwatch_runner *r2 = NULL;
    CHECK_STATUS(regwatch_runner_start(bad_keys, values, 1, NULL, NULL, NULL, 0, NULL, &r2),
                 REGWATCH_STATUS_UNKNOWN_KEY);

    regwatch_trunk_config *up = alice(PASSWORD);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "127.0.0.1:%u", (unsigned)port);
    CHECK_STATUS(regwatch_trunk_config_set(up, "proxy", proxy), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_runner_add_trunk(r, up), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_runner_add_trunk(r, up), REGWATCH_STATUS_INVALID_ARGUMENT);

    /* A second trunk whose registrar port has nothing behind it. */
    regwatch_trunk_config *down = alice(PASSWORD);
    CHECK_STATUS(regwatch_trunk_config_set(down, "name", "nobody-home"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_trunk_config_set(down, "proxy", "127.0.0.1:9"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_runner_add_trunk(r, down), REGWATCH_STATUS_OK);
    sleep_ms(4000);

    size_t n = 0;
    CHECK_STATUS(regwatch_runner_trunk_json(r, "office", NULL, 0, &n), REGWATCH_STATUS_BUFFER_TOO_SMALL);
    char *buf = malloc(n);
    CHECK_STATUS(regwatch_runner_trunk_json(r, "office", buf, n, NULL), REGWATCH_STATUS_OK);
    CHECK(strstr(buf, "\"last_code\":200") != NULL);
    CHECK(strstr(buf, PASSWORD) == NULL);
    free(buf);
    CHECK_STATUS(regwatch_runner_trunk_json(r, "nope", NULL, 0, &n), REGWATCH_STATUS_NOT_FOUND);
    CHECK_STATUS(regwatch_runner_remove_trunk(r, "nobody-home"), REGWATCH_STATUS_OK);
    CHECK_STATUS(regwatch_runner_remove_trunk(r, "nobody-home"), REGWATCH_STATUS_NOT_FOUND);
    /* A well-behaved registrar: no connection dropped. */
    uint64_t dropped = 99;
    CHECK_STATUS(regwatch_runner_connections_dropped(r, &dropped), REGWATCH_STATUS_OK);
    CHECK(dropped == 0);
    CHECK_STATUS(regwatch_runner_connections_dropped(r, NULL), REGWATCH_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(regwatch_runner_connections_dropped(NULL, &dropped), REGWATCH_STATUS_NULL_ARGUMENT);
    regwatch_runner_free(r);
    regwatch_runner_free(NULL);

    pthread_mutex_lock(&s.lock);
    CHECK(s.events > 0);
    CHECK(s.on_caller_thread == 0);
    CHECK(s.alerts == 1);
    CHECK(strcmp(s.last_cause, "connection_refused") == 0);
    CHECK(s.logs > 0);
    pthread_mutex_unlock(&s.lock);
    regwatch_trunk_config_free(up);
    regwatch_trunk_config_free(down);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT TLS_PORT CA_FILE\n", argv[0]);
        return 2;
    }
    uint16_t port = (uint16_t)atoi(argv[1]);
    uint16_t tls_port = (uint16_t)atoi(argv[2]);
    one_shot(port, tls_port, argv[3]);
    trunk_check(port);
    runner(port);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
