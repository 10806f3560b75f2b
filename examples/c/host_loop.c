/*
 * A minimal host-driven regwatch loop in C, as a softphone or PBX module
 * would write it. The "host" here replays what its SIP stack saw for one
 * Twilio trunk (a 407 challenge, a 403 for a wrong password, then a good
 * registration that is never refreshed) on a simulated clock, and prints
 * what regwatch says.
 *
 * Build against an installed libregwatch:
 *   cc -std=c11 host_loop.c $(pkg-config --cflags --libs regwatch) -o host_loop
 */
#include <regwatch.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void on_log(void *userdata, regwatch_log_level level, const char *msg) {
    (void)userdata;
    if (level <= REGWATCH_LOG_WARN)
        fprintf(stderr, "regwatch log: %s\n", msg);
}

static void die(const char *what, regwatch_status st) {
    fprintf(stderr, "%s: %s\n", what, regwatch_status_str(st));
    exit(2);
}

#define TRY(expr)                                                              \
    do {                                                                       \
        regwatch_status st_ = (expr);                                          \
        if (st_ != REGWATCH_STATUS_OK)                                         \
            die(#expr, st_);                                                   \
    } while (0)

/* Rule of the run loop: after every input, drain all events... */
static void drain(regwatch_engine *e) {
    regwatch_event ev = { .struct_size = sizeof ev };
    while (regwatch_engine_poll_event(e, &ev) == REGWATCH_STATUS_OK) {
        switch (ev.kind) {
        case REGWATCH_EVENT_STATE_CHANGED:
            printf("[%6" PRIu64 " s] %s: %s -> %s (%s)\n", ev.at_ms / 1000, ev.trunk,
                   regwatch_state_str(ev.previous_state), regwatch_state_str(ev.state),
                   regwatch_cause_str(ev.cause));
            break;
        case REGWATCH_EVENT_ALERT_RAISED:
            printf("[%6" PRIu64 " s] ALERT %s: %s\n", ev.at_ms / 1000, ev.trunk, ev.summary);
            break;
        case REGWATCH_EVENT_ALERT_CLEARED:
            printf("[%6" PRIu64 " s] cleared %s (%s)\n", ev.at_ms / 1000, ev.trunk, regwatch_cause_str(ev.cause));
            break;
        case REGWATCH_EVENT_FINDING:
            printf("finding %s: [%s] %s: %s\n", ev.trunk, regwatch_severity_str(ev.severity), ev.finding_code,
                   ev.summary);
            break;
        default:
            break;
        }
    }
}

static void response(regwatch_engine *e, uint64_t now, int code, const char *reason,
                     const char *realm, int64_t granted) {
    regwatch_register_response r;
    regwatch_register_response_init(&r);
    r.code = (uint16_t)code;
    r.reason = reason;
    r.challenge_realm = realm;
    r.granted_expires = granted;
    r.contact_bound = code == 200 ? 1 : -1;
    r.transport = REGWATCH_TRANSPORT_TLS;
    TRY(regwatch_engine_register_response(e, now, "office", &r));
    drain(e);
}

int main(void) {
    if (regwatch_abi_version() != REGWATCH_ABI_VERSION) {
        fprintf(stderr, "libregwatch ABI %u, header %u\n", regwatch_abi_version(), REGWATCH_ABI_VERSION);
        return 2;
    }
    printf("libregwatch %s\n", regwatch_version());

    uint64_t now = 0;
    regwatch_engine *e = NULL;
    TRY(regwatch_engine_new(now, 12345, &e));
    TRY(regwatch_engine_set_log_callback(e, on_log, NULL, REGWATCH_LOG_WARN));

    regwatch_trunk_config *cfg = NULL;
    TRY(regwatch_trunk_config_new(&cfg));
    TRY(regwatch_trunk_config_set(cfg, "name", "office"));
    TRY(regwatch_trunk_config_set(cfg, "domain", "acme.sip.twilio.com"));
    TRY(regwatch_trunk_config_set(cfg, "username", "office"));
    TRY(regwatch_trunk_config_set(cfg, "password", getenv("OFFICE_PASSWORD") ? getenv("OFFICE_PASSWORD")
                                                                            : "Example-Passw0rd"));
    TRY(regwatch_trunk_config_set(cfg, "transport", "tls"));
    TRY(regwatch_trunk_config_set(cfg, "expires", "600"));
    TRY(regwatch_engine_add_trunk(e, now, cfg));
    regwatch_trunk_config_free(cfg);
    drain(e);

    /* What the SIP stack saw. */
    TRY(regwatch_engine_register_sent(e, now, "office", 600, false, REGWATCH_TRANSPORT_TLS));
    response(e, now += 40, 407, "Proxy Authentication Required", "sip.twilio.com", -1);
    TRY(regwatch_engine_register_sent(e, now += 5, "office", 600, true, REGWATCH_TRANSPORT_TLS));
    response(e, now += 40, 403, "Forbidden", NULL, -1);
    now += 60000; /* the admin fixes the password */
    TRY(regwatch_engine_register_sent(e, now, "office", 600, true, REGWATCH_TRANSPORT_TLS));
    response(e, now += 40, 200, "OK", NULL, 600);

    /* ...then re-arm one timer at the next deadline. A real host sleeps in
     * poll()/epoll_wait()/its event loop until then; here time just jumps. */
    uint64_t deadline;
    while (regwatch_engine_poll_timeout(e, &deadline) == REGWATCH_STATUS_OK) {
        now = deadline;
        TRY(regwatch_engine_handle_timeout(e, now));
        drain(e);
    }

    size_t need = 0;
    if (regwatch_engine_trunk_text(e, "office", NULL, 0, &need) == REGWATCH_STATUS_BUFFER_TOO_SMALL) {
        char *text = malloc(need);
        if (text && regwatch_engine_trunk_text(e, "office", text, need, NULL) == REGWATCH_STATUS_OK)
            fputs(text, stdout);
        free(text);
    }
    regwatch_engine_free(e);
    return 0;
}
