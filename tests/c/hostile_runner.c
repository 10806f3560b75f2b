/* regwatch_runner from C against hostile peers (scripts/hostile-peers.sh
 * starts them): one runner, one trunk per peer. While it runs, the main
 * thread asks the runner for a trunk's JSON every 100 ms and times the
 * call: a runner thread stuck on one connection answers late or never.
 *
 *   hostile_runner CA_FILE MIN_MS MAX_MS NAME:TRANSPORT:PORT...
 *
 * The trunks are alice@hostile.test with the password in HOSTILE_PASSWORD.
 * Runs at least MIN_MS, then until every trunk has raised an alert (or
 * MAX_MS), and prints, for the script to read:
 *
 *   trunk NAME ALERT_MS CAUSE SUMMARY     (ALERT_MS -1, CAUSE "-": none)
 *   calls N max_call_ms M
 */
#define _POSIX_C_SOURCE 200809L
#include "regwatch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TRUNKS 32

struct trunk {
    char name[64];
    long alert_ms;
    char cause[64];
};

static struct {
    pthread_mutex_t lock;
    struct trunk trunks[MAX_TRUNKS];
    int n;
    struct timespec start;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long since_start_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - seen.start.tv_sec) * 1000L + (now.tv_nsec - seen.start.tv_nsec) / 1000000L;
}

static void on_event(void *userdata, const regwatch_event *ev) {
    (void)userdata;
    if (ev->kind != REGWATCH_EVENT_ALERT_RAISED)
        return;
    pthread_mutex_lock(&seen.lock);
    for (int i = 0; i < seen.n; i++) {
        struct trunk *t = &seen.trunks[i];
        if (strcmp(t->name, ev->trunk) == 0 && t->alert_ms < 0) {
            t->alert_ms = since_start_ms();
            snprintf(t->cause, sizeof t->cause, "%s", regwatch_cause_str(ev->cause));
        }
    }
    pthread_mutex_unlock(&seen.lock);
}

static int all_alerted(void) {
    int all = 1;
    pthread_mutex_lock(&seen.lock);
    for (int i = 0; i < seen.n; i++)
        all = all && seen.trunks[i].alert_ms >= 0;
    pthread_mutex_unlock(&seen.lock);
    return all;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The diagnosis summary from the trunk's JSON, JSON escapes left as they are. */
static void summary_of(const char *json, char *out, size_t len) {
    const char *d = strstr(json, "\"diagnosis\"");
    const char *s = d ? strstr(d, "\"summary\":\"") : NULL;
    size_t n = 0;
    if (s != NULL) {
        s += strlen("\"summary\":\"");
        while (s[0] != '\0' && s[0] != '"' && n + 2 < len) {
            if (s[0] == '\\' && s[1] != '\0')
                out[n++] = *s++;
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
}

int main(int argc, char **argv) {
    if (argc < 5 || argc - 4 > MAX_TRUNKS) {
        fprintf(stderr, "usage: %s CA_FILE MIN_MS MAX_MS NAME:TRANSPORT:PORT...\n", argv[0]);
        return 2;
    }
    const char *ca = argv[1];
    const char *password = getenv("HOSTILE_PASSWORD") ? getenv("HOSTILE_PASSWORD") : "Hostile-Peers-Test-9";
    long min_ms = atol(argv[2]), max_ms = atol(argv[3]);
    clock_gettime(CLOCK_MONOTONIC, &seen.start);

    const char *keys[] = {"keepalive_interval_ms", "keepalive_timeout_ms", "keepalive_confirm_ms",
                          "keepalive_alternates"};
    const char *values[] = {"1000", "2000", "500", "off"};
    regwatch_runner *r = NULL;
    regwatch_status st = regwatch_runner_start(keys, values, 4, ca, on_event, NULL, 0, NULL, &r);
    if (st != REGWATCH_STATUS_OK) {
        fprintf(stderr, "regwatch_runner_start: %s\n", regwatch_status_str(st));
        return 1;
    }
    for (int i = 4; i < argc; i++) {
        char name[64], transport[8], proxy[32];
        unsigned port = 0;
        if (sscanf(argv[i], "%63[^:]:%7[^:]:%u", name, transport, &port) != 3) {
            fprintf(stderr, "bad trunk %s\n", argv[i]);
            return 2;
        }
        snprintf(proxy, sizeof proxy, "127.0.0.1:%u", port);
        regwatch_trunk_config *cfg = NULL;
        int ok = regwatch_trunk_config_new(&cfg) == REGWATCH_STATUS_OK &&
                 regwatch_trunk_config_set(cfg, "name", name) == REGWATCH_STATUS_OK &&
                 regwatch_trunk_config_set(cfg, "domain", "hostile.test") == REGWATCH_STATUS_OK &&
                 regwatch_trunk_config_set(cfg, "username", "alice") == REGWATCH_STATUS_OK &&
                 regwatch_trunk_config_set(cfg, "password", password) == REGWATCH_STATUS_OK &&
                 regwatch_trunk_config_set(cfg, "transport", transport) == REGWATCH_STATUS_OK &&
                 regwatch_trunk_config_set(cfg, "proxy", proxy) == REGWATCH_STATUS_OK;
        pthread_mutex_lock(&seen.lock);
        struct trunk *t = &seen.trunks[seen.n++];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->alert_ms = -1;
        snprintf(t->cause, sizeof t->cause, "-");
        pthread_mutex_unlock(&seen.lock);
        if (!ok || regwatch_runner_add_trunk(r, cfg) != REGWATCH_STATUS_OK) {
            fprintf(stderr, "cannot add trunk %s\n", argv[i]);
            return 1;
        }
        regwatch_trunk_config_free(cfg);
    }

    /* Ask for each trunk in turn, timing every call. */
    long calls = 0, max_call = 0;
    static char buf[1 << 16];
    for (int i = 0;; i++) {
        long t0 = since_start_ms();
        if (t0 >= max_ms || (t0 >= min_ms && all_alerted()))
            break;
        size_t n = 0;
        regwatch_status got = regwatch_runner_trunk_json(r, seen.trunks[i % seen.n].name, buf, sizeof buf, &n);
        if (got != REGWATCH_STATUS_OK)
            fprintf(stderr, "regwatch_runner_trunk_json: %s\n", regwatch_status_str(got));
        long took = since_start_ms() - t0;
        calls++;
        if (took > max_call)
            max_call = took;
        sleep_ms(100);
    }
    for (int i = 0; i < seen.n; i++) {
        struct trunk *t = &seen.trunks[i];
        char summary[1024] = "";
        size_t n = 0;
        if (regwatch_runner_trunk_json(r, t->name, buf, sizeof buf, &n) == REGWATCH_STATUS_OK)
            summary_of(buf, summary, sizeof summary);
        pthread_mutex_lock(&seen.lock);
        printf("trunk %s %ld %s %s\n", t->name, t->alert_ms, t->cause, summary);
        pthread_mutex_unlock(&seen.lock);
    }
    printf("calls %ld max_call_ms %ld\n", calls, max_call);
    uint64_t dropped = 0;
    regwatch_status ds = regwatch_runner_connections_dropped(r, &dropped);
    printf("dropped %s %llu\n", regwatch_status_str(ds), (unsigned long long)dropped);
    regwatch_runner_free(r);
    return 0;
}
