/*
 * mod_regwatch: SIP gateway registration health for FreeSWITCH (mod_sofia).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * A thin translator between FreeSWITCH and libregwatch (linked statically):
 * sofia's gateway events and configuration go to the engine as FreeSWITCH
 * gives them (header lists, the sofia.conf XML); what comes back (console
 * text, events, log lines, "re-register now") is shown or carried out. It
 * decides nothing: the meaning of each gateway state and status code, the
 * keep-alive timing, validation and the words of every diagnosis are
 * libregwatch's.
 *
 * Threads. Event callbacks run on FreeSWITCH's dispatch threads under the
 * event system's read lock: they copy the headers, queue them and return.
 * One worker thread owns the engine's inputs: it feeds the queue, fires
 * the engine's timers at their millisecond deadlines, fires our events and
 * runs `sofia profile <p> register <gw>` (never from a callback). A second
 * thread runs regwatch's own blocking OPTIONS probes. API commands read the
 * engine under the same mutex. Shutdown unbinds, stops and joins both
 * threads, then frees the engine.
 */
#include <switch.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regwatch.h"

SWITCH_MODULE_LOAD_FUNCTION(mod_regwatch_load);
SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_regwatch_shutdown);
SWITCH_MODULE_DEFINITION(mod_regwatch, mod_regwatch_load, mod_regwatch_shutdown, NULL);

#define EV_STATE "regwatch::state"
#define EV_ALERT "regwatch::alert"
#define SYNTAX "status | show <gateway> | check <gateway> | findings"

static const char *subclasses[] = {
	"sofia::gateway_state", "sofia::gateway_add", "sofia::gateway_delete", "sofia::gateway_invalid_digest_req",
};
#define NODES 5 /* the four above and RELOADXML */

/* One queued input for the worker: an event's headers, or a probe result. */
struct item {
	struct item *next;
	int is_probe;
	/* event */
	size_t n;
	char **names;
	char **values;
	int is_add;
	int is_reload;
	/* probe */
	uint64_t probe_id;
	struct regwatch_check *check;
	char trunk[256];
};

/* One probe for the prober thread. */
struct probe {
	struct probe *next;
	uint64_t id;
	char trunk[256];
	char host[256];
	char domain[256];
	char user[128];
	uint16_t port;
	regwatch_transport transport;
	uint32_t timeout_ms;
};

static struct {
	switch_memory_pool_t *pool;
	switch_mutex_t *engine_lock;  /* the engine */
	switch_mutex_t *queue_lock;   /* queue, probes, running */
	switch_thread_cond_t *queue_cond;
	switch_thread_cond_t *probe_cond;
	struct regwatch_engine *engine;
	struct item *head, *tail;
	struct probe *probes, *probes_tail;
	int running;
	switch_thread_t *worker, *prober;
	switch_event_node_t *nodes[NODES];
	/* settings (regwatch.conf.xml) */
	int reregister;
	unsigned check_timeout_ms;
	char ca_file[512];
	char no_reregister[1024]; /* ",gw,gw," of reregister-exclude */
	regwatch_log_level log_level;
} g;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* --- engine output ----------------------------------------------------------- */

static void on_engine_log(void *userdata, regwatch_log_level level, const char *message)
{
	switch_log_level_t l = SWITCH_LOG_DEBUG;

	(void) userdata;
	switch (level) {
	case REGWATCH_LOG_ERROR:
		l = SWITCH_LOG_ERROR;
		break;
	case REGWATCH_LOG_WARN:
		l = SWITCH_LOG_WARNING;
		break;
	case REGWATCH_LOG_INFO:
		l = SWITCH_LOG_NOTICE;
		break;
	default:
		break;
	}
	switch_log_printf(SWITCH_CHANNEL_LOG, l, "[regwatch] %s\n", message);
}

typedef regwatch_status (*render_fn)(void *arg, char *buf, size_t len, size_t *out_len);

/* Text the library renders into a buffer it sizes; free() it. */
static char *render(render_fn fn, void *arg)
{
	size_t need = 0;
	char *buf;
	regwatch_status st = fn(arg, NULL, 0, &need);

	if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_BUFFER_TOO_SMALL) {
		return NULL;
	}
	if (!(buf = malloc(need ? need : 1))) {
		return NULL;
	}
	if (fn(arg, buf, need, &need) != REGWATCH_STATUS_OK) {
		free(buf);
		return NULL;
	}
	return buf;
}

static regwatch_status profile_of(void *gw, char *b, size_t l, size_t *o)
{
	return regwatch_engine_freeswitch_profile(g.engine, gw, b, l, o);
}

static void fire(const char *subclass, const struct regwatch_event *ev, const char *alert)
{
	switch_event_t *e = NULL;

	if (switch_event_create_subclass(&e, SWITCH_EVENT_CUSTOM, subclass) != SWITCH_STATUS_SUCCESS) {
		return;
	}
	switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, "Gateway", ev->trunk);
	if (alert) {
		switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, "Alert", alert);
	}
	switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, "State", ev->state);
	if (ev->previous_state[0]) {
		switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, "Previous-State", ev->previous_state);
	}
	switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, "Cause", ev->cause);
	if (ev->severity[0]) {
		switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, "Severity", ev->severity);
	}
	switch_event_add_header(e, SWITCH_STACK_BOTTOM, "Code", "%u", (unsigned) ev->code);
	switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, "Summary", ev->summary);
	switch_event_fire(&e);
}

static void queue_probe(const struct regwatch_event *ev)
{
	struct probe *p = calloc(1, sizeof(*p));
	cJSON *json = cJSON_Parse(ev->json);
	const char *domain = json ? cJSON_GetObjectCstr(json, "domain") : NULL;
	const char *user = json ? cJSON_GetObjectCstr(json, "username") : NULL;
	uint64_t now = now_ms();

	if (!p) {
		cJSON_Delete(json);
		return;
	}
	p->id = ev->probe_id;
	switch_copy_string(p->trunk, ev->trunk, sizeof(p->trunk));
	switch_copy_string(p->host, ev->probe_host, sizeof(p->host));
	switch_copy_string(p->domain, zstr(domain) ? ev->probe_host : domain, sizeof(p->domain));
	switch_copy_string(p->user, zstr(user) ? "regwatch" : user, sizeof(p->user));
	p->port = ev->probe_port;
	p->transport = ev->probe_transport;
	p->timeout_ms = ev->probe_deadline_ms > now ? (uint32_t) (ev->probe_deadline_ms - now) : 1000;
	cJSON_Delete(json);
	switch_mutex_lock(g.queue_lock);
	if (g.probes_tail) {
		g.probes_tail->next = p;
	} else {
		g.probes = p;
	}
	g.probes_tail = p;
	switch_thread_cond_signal(g.probe_cond);
	switch_mutex_unlock(g.queue_lock);
}

/* A re-registration to run once the engine lock is released. */
struct command {
	struct command *next;
	char text[600];
};

/* Engine lock held: every pending output. Commands are returned to run
 * after the lock is released (they call into mod_sofia). */
static struct command *drain(void)
{
	struct regwatch_event ev;
	struct command *cmds = NULL;

	while (regwatch_engine_poll_event(g.engine, &ev) == REGWATCH_STATUS_OK) {
		switch (ev.kind) {
		case REGWATCH_EVENT_STATE_CHANGED:
			fire(EV_STATE, &ev, NULL);
			break;
		case REGWATCH_EVENT_ALERT_RAISED:
			fire(EV_ALERT, &ev, "raised");
			break;
		case REGWATCH_EVENT_ALERT_CLEARED:
			fire(EV_ALERT, &ev, "cleared");
			break;
		case REGWATCH_EVENT_FINDING:
			switch_log_printf(SWITCH_CHANNEL_LOG, !strcmp(ev.severity, "info") ? SWITCH_LOG_NOTICE : SWITCH_LOG_WARNING,
				"[regwatch] gateway %s: [%s] %s: %s\n", ev.trunk, ev.severity, ev.cause, ev.summary);
			break;
		case REGWATCH_EVENT_TRANSMIT:
			queue_probe(&ev);
			break;
		case REGWATCH_EVENT_ACTION_REREGISTER: {
			char *profile;
			struct command *c;

			char needle[300];

			snprintf(needle, sizeof(needle), ",%s,", ev.trunk);
			if (!g.reregister || strstr(g.no_reregister, needle)) {
				switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE,
					"[regwatch] registrar of %s answers again; re-registration on recovery is off\n", ev.trunk);
				break;
			}
			if (!(profile = render(profile_of, (void *) ev.trunk))) {
				switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING,
					"[regwatch] registrar of %s answers again, but its sofia profile is unknown\n", ev.trunk);
				break;
			}
			if ((c = calloc(1, sizeof(*c)))) {
				snprintf(c->text, sizeof(c->text), "profile %s register %s", profile, ev.trunk);
				c->next = cmds;
				cmds = c;
			}
			free(profile);
			break;
		}
		default:
			break;
		}
	}
	return cmds;
}

static void run_commands(struct command *c)
{
	while (c) {
		struct command *next = c->next;
		switch_stream_handle_t s = { 0 };

		SWITCH_STANDARD_STREAM(s);
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE,
			"[regwatch] registrar answers again: sofia %s\n", c->text);
		switch_api_execute("sofia", c->text, NULL, &s);
		switch_safe_free(s.data);
		free(c);
		c = next;
	}
}

/* --- configuration -------------------------------------------------------------- */

/* Engine lock held: the gateways of sofia.conf, as XML. */
static void read_gateways(void)
{
	switch_xml_t cfg = NULL, xml;
	char *text;
	regwatch_status st;

	if (!(xml = switch_xml_open_cfg("sofia.conf", &cfg, NULL))) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "[regwatch] cannot open sofia.conf\n");
		return;
	}
	if ((text = switch_xml_toxml(cfg, SWITCH_FALSE))) {
		st = regwatch_engine_freeswitch_gateways_xml(g.engine, now_ms(), text);
		if (st != REGWATCH_STATUS_OK) {
			switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "[regwatch] sofia.conf: %s\n",
				regwatch_status_str(st));
		}
		free(text);
	}
	switch_xml_free(xml);
}

static regwatch_log_level level_of(const char *v)
{
	if (!strcasecmp(v, "error")) {
		return REGWATCH_LOG_ERROR;
	} else if (!strcasecmp(v, "warning")) {
		return REGWATCH_LOG_WARN;
	} else if (!strcasecmp(v, "debug")) {
		return REGWATCH_LOG_DEBUG;
	}
	return REGWATCH_LOG_INFO;
}

/* Engine lock held (or before any thread runs): regwatch.conf.xml. */
static void read_settings(void)
{
	switch_xml_t cfg = NULL, xml, settings, param;
	regwatch_status st;

	g.reregister = 1;
	g.check_timeout_ms = 8000;
	g.ca_file[0] = '\0';
	g.no_reregister[0] = '\0';
	g.log_level = REGWATCH_LOG_INFO;
	/* The module runs the engine's probes, so keep-alive is on unless the
	 * configuration turns it off. */
	st = regwatch_engine_set_option(g.engine, "keepalive", "on");
	if (st != REGWATCH_STATUS_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] keepalive: %s\n", regwatch_status_str(st));
	}
	if (!(xml = switch_xml_open_cfg("regwatch.conf", &cfg, NULL))) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE, "[regwatch] no regwatch.conf: defaults apply\n");
	} else {
		if ((settings = switch_xml_child(cfg, "settings"))) {
			for (param = switch_xml_child(settings, "param"); param; param = param->next) {
				const char *name = switch_xml_attr_soft(param, "name");
				const char *value = switch_xml_attr_soft(param, "value");

				if (!strcasecmp(name, "reregister-on-recovery")) {
					g.reregister = switch_true(value);
				} else if (!strcasecmp(name, "check-timeout")) {
					g.check_timeout_ms = (unsigned) atoi(value) * 1000;
				} else if (!strcasecmp(name, "reregister-exclude")) {
					snprintf(g.no_reregister, sizeof(g.no_reregister), ",%s,", value);
				} else if (!strcasecmp(name, "ca-file")) {
					switch_copy_string(g.ca_file, value, sizeof(g.ca_file));
				} else if (!strcasecmp(name, "log-level")) {
					g.log_level = level_of(value);
				} else if ((st = regwatch_engine_set_option(g.engine, name, value)) != REGWATCH_STATUS_OK) {
					/* Everything else is an engine option, checked by the engine. */
					switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING,
						"[regwatch] regwatch.conf: %s = %s: %s\n", name, value, regwatch_status_str(st));
				}
			}
		}
		switch_xml_free(xml);
	}
	st = regwatch_engine_set_log_callback(g.engine, on_engine_log, NULL, g.log_level);
	if (st != REGWATCH_STATUS_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] log: %s\n", regwatch_status_str(st));
	}
}

/* --- event callbacks (dispatch threads, event read lock held) --------------------- */

/* Queues an item for the worker; -1 (the caller keeps it) after shutdown began. */
static int push_item(struct item *it)
{
	switch_mutex_lock(g.queue_lock);
	if (!g.running) {
		switch_mutex_unlock(g.queue_lock);
		return -1;
	}
	if (g.tail) {
		g.tail->next = it;
	} else {
		g.head = it;
	}
	g.tail = it;
	switch_thread_cond_signal(g.queue_cond);
	switch_mutex_unlock(g.queue_lock);
	return 0;
}

static void free_item(struct item *it)
{
	size_t i;

	for (i = 0; i < it->n; i++) {
		free(it->names[i]);
		free(it->values[i]);
	}
	free(it->names);
	free(it->values);
	if (it->check) {
		regwatch_check_free(it->check);
	}
	free(it);
}

static void on_sofia_event(switch_event_t *event)
{
	switch_event_header_t *hp;
	struct item *it = calloc(1, sizeof(*it));
	size_t n = 0, i = 0;
	const char *subclass = switch_event_get_header(event, "Event-Subclass");

	if (!it) {
		return;
	}
	for (hp = event->headers; hp; hp = hp->next) {
		n++;
	}
	it->names = calloc(n ? n : 1, sizeof(char *));
	it->values = calloc(n ? n : 1, sizeof(char *));
	if (!it->names || !it->values) {
		free_item(it);
		return;
	}
	for (hp = event->headers; hp; hp = hp->next, i++) {
		it->names[i] = strdup(hp->name);
		it->values[i] = strdup(hp->value ? hp->value : "");
		it->n = i + 1;
		if (!it->names[i] || !it->values[i]) {
			free_item(it);
			return;
		}
	}
	it->is_add = subclass && !strcmp(subclass, "sofia::gateway_add");
	it->is_reload = event->event_id == SWITCH_EVENT_RELOADXML;
	if (push_item(it)) {
		free_item(it);
	}
}

/* --- threads ------------------------------------------------------------------------ */

static void *SWITCH_THREAD_FUNC prober_thread(switch_thread_t *thread, void *obj)
{
	(void) thread;
	(void) obj;
	switch_mutex_lock(g.queue_lock);
	while (g.running) {
		struct probe *p = g.probes;
		struct item *it;

		if (!p) {
			switch_thread_cond_wait(g.probe_cond, g.queue_lock);
			continue;
		}
		g.probes = p->next;
		if (!g.probes) {
			g.probes_tail = NULL;
		}
		switch_mutex_unlock(g.queue_lock);
		if ((it = calloc(1, sizeof(*it)))) {
			it->is_probe = 1;
			it->probe_id = p->id;
			switch_copy_string(it->trunk, p->trunk, sizeof(it->trunk));
			if (regwatch_check_options(p->host, p->port, p->transport, p->domain, p->user, p->timeout_ms,
					g.ca_file[0] ? g.ca_file : NULL, &it->check) != REGWATCH_STATUS_OK || push_item(it)) {
				free_item(it);
			}
		}
		free(p);
		switch_mutex_lock(g.queue_lock);
	}
	while (g.probes) {
		struct probe *p = g.probes;

		g.probes = p->next;
		free(p);
	}
	g.probes_tail = NULL;
	switch_mutex_unlock(g.queue_lock);
	return NULL;
}

static void *SWITCH_THREAD_FUNC worker_thread(switch_thread_t *thread, void *obj)
{
	uint64_t deadline = 0;

	(void) thread;
	(void) obj;
	for (;;) {
		struct item *items, *it;
		struct command *cmds;
		uint64_t now;

		switch_mutex_lock(g.queue_lock);
		while (g.running && !g.head) {
			now = now_ms();
			if (deadline && deadline <= now) {
				break;
			}
			/* At most a second, so a clock step or a lost signal costs little. */
			switch_thread_cond_timedwait(g.queue_cond, g.queue_lock,
				(switch_interval_time_t) (deadline && deadline - now < 1000 ? deadline - now : 1000) * 1000);
			if (!deadline) {
				break;
			}
		}
		if (!g.running) {
			switch_mutex_unlock(g.queue_lock);
			break;
		}
		items = g.head;
		g.head = g.tail = NULL;
		switch_mutex_unlock(g.queue_lock);

		switch_mutex_lock(g.engine_lock);
		for (it = items; it; it = it->next) {
			regwatch_status st;

			if (it->is_probe) {
				st = regwatch_engine_probe_check(g.engine, now_ms(), it->trunk, it->probe_id, it->check);
			} else if (it->is_reload) {
				/* reloadxml: new settings and gateway parameters. */
				read_settings();
				read_gateways();
				st = REGWATCH_STATUS_OK;
			} else {
				if (it->is_add) {
					/* A rescan: the new gateway's parameters first. */
					read_gateways();
				}
				st = regwatch_engine_freeswitch_event(g.engine, now_ms(), (const char *const *) it->names,
					(const char *const *) it->values, it->n);
			}
			if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_DONE && st != REGWATCH_STATUS_NOT_FOUND) {
				switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG, "[regwatch] input refused: %s\n",
					regwatch_status_str(st));
			}
		}
		if (regwatch_engine_handle_timeout(g.engine, now_ms()) != REGWATCH_STATUS_OK) {
			switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] the engine refused a timeout\n");
		}
		cmds = drain();
		if (regwatch_engine_poll_timeout(g.engine, &deadline) != REGWATCH_STATUS_OK) {
			deadline = 0;
		}
		switch_mutex_unlock(g.engine_lock);
		run_commands(cmds);
		while (items) {
			it = items->next;
			free_item(items);
			items = it;
		}
	}
	return NULL;
}

/* --- API ------------------------------------------------------------------------------ */

static regwatch_status trunks_text(void *a, char *b, size_t l, size_t *o)
{
	(void) a;
	return regwatch_engine_trunks_text(g.engine, b, l, o);
}

static regwatch_status trunk_text(void *a, char *b, size_t l, size_t *o)
{
	return regwatch_engine_trunk_text(g.engine, a, b, l, o);
}

static regwatch_status findings_text(void *a, char *b, size_t l, size_t *o)
{
	(void) a;
	return regwatch_engine_findings_text(g.engine, b, l, o);
}

static regwatch_status check_text(void *a, char *b, size_t l, size_t *o)
{
	return regwatch_check_text(a, b, l, o);
}

SWITCH_STANDARD_API(regwatch_api)
{
	char *buf = NULL, *argv[3] = { 0 };
	int argc = 0;
	char *text = NULL;
	const char *state, *cause;

	(void) session;
	if (!zstr(cmd) && (buf = strdup(cmd))) {
		argc = (int) switch_separate_string(buf, ' ', argv, (sizeof(argv) / sizeof(argv[0])));
	}
	if (argc == 0 || !strcasecmp(argv[0], "status")) {
		switch_mutex_lock(g.engine_lock);
		text = render(trunks_text, NULL);
		switch_mutex_unlock(g.engine_lock);
		stream->write_function(stream, "%s", text ? text : "-ERR regwatch is not available\n");
	} else if (!strcasecmp(argv[0], "findings") && argc == 1) {
		switch_mutex_lock(g.engine_lock);
		text = render(findings_text, NULL);
		switch_mutex_unlock(g.engine_lock);
		stream->write_function(stream, "%s", text ? text : "-ERR regwatch is not available\n");
	} else if (!strcasecmp(argv[0], "show") && argc == 2) {
		switch_mutex_lock(g.engine_lock);
		if (regwatch_engine_trunk_state(g.engine, argv[1], &state, &cause) == REGWATCH_STATUS_OK) {
			text = render(trunk_text, argv[1]);
		}
		switch_mutex_unlock(g.engine_lock);
		if (text) {
			stream->write_function(stream, "%s", text);
		} else {
			stream->write_function(stream, "-ERR no registering gateway named %s (see 'regwatch status')\n", argv[1]);
		}
	} else if (!strcasecmp(argv[0], "check") && argc == 2) {
		struct regwatch_trunk_config *cfg = NULL;
		struct regwatch_check *check = NULL;
		regwatch_status st;

		switch_mutex_lock(g.engine_lock);
		st = regwatch_engine_trunk_config(g.engine, argv[1], &cfg);
		switch_mutex_unlock(g.engine_lock);
		if (st != REGWATCH_STATUS_OK) {
			stream->write_function(stream, "-ERR no registering gateway named %s (see 'regwatch status')\n", argv[1]);
		} else {
			/* Blocks this API thread for the exchanges, never the engine. */
			st = regwatch_check_trunk(cfg, g.check_timeout_ms, g.ca_file[0] ? g.ca_file : NULL, &check);
			regwatch_trunk_config_free(cfg);
			if (st != REGWATCH_STATUS_OK) {
				stream->write_function(stream, "-ERR the check could not run: %s\n", regwatch_status_str(st));
			} else {
				text = render(check_text, check);
				stream->write_function(stream, "%s", text ? text : "-ERR no output\n");
				regwatch_check_free(check);
			}
		}
	} else {
		stream->write_function(stream, "-USAGE: regwatch %s\n", SYNTAX);
	}
	free(text);
	free(buf);
	return SWITCH_STATUS_SUCCESS;
}

/* --- module life ---------------------------------------------------------------------- */

SWITCH_MODULE_LOAD_FUNCTION(mod_regwatch_load)
{
	switch_api_interface_t *api;
	switch_threadattr_t *attr = NULL;
	regwatch_status st;
	size_t i;

	if (regwatch_abi_version() != REGWATCH_ABI_VERSION) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] libregwatch ABI %u, this module needs %u\n",
			regwatch_abi_version(), (unsigned) REGWATCH_ABI_VERSION);
		return SWITCH_STATUS_TERM;
	}
	memset(&g, 0, sizeof(g));
	g.pool = pool;
	switch_mutex_init(&g.engine_lock, SWITCH_MUTEX_NESTED, pool);
	switch_mutex_init(&g.queue_lock, SWITCH_MUTEX_NESTED, pool);
	switch_thread_cond_create(&g.queue_cond, pool);
	switch_thread_cond_create(&g.probe_cond, pool);
	st = regwatch_engine_new(now_ms(), (uint64_t) switch_micro_time_now(), &g.engine);
	if (st != REGWATCH_STATUS_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] no engine: %s\n", regwatch_status_str(st));
		return SWITCH_STATUS_TERM;
	}
	read_settings();
	read_gateways();
	if (switch_event_reserve_subclass(EV_STATE) != SWITCH_STATUS_SUCCESS
			|| switch_event_reserve_subclass(EV_ALERT) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] cannot reserve its event subclasses\n");
		regwatch_engine_free(g.engine);
		return SWITCH_STATUS_TERM;
	}
	g.running = 1;
	switch_threadattr_create(&attr, pool);
	switch_threadattr_stacksize_set(attr, SWITCH_THREAD_STACKSIZE);
	if (switch_thread_create(&g.worker, attr, worker_thread, NULL, pool) != SWITCH_STATUS_SUCCESS
			|| switch_thread_create(&g.prober, attr, prober_thread, NULL, pool) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] cannot start its threads\n");
		mod_regwatch_shutdown();
		return SWITCH_STATUS_TERM;
	}
	for (i = 0; i < sizeof(subclasses) / sizeof(subclasses[0]); i++) {
		if (switch_event_bind_removable(modname, SWITCH_EVENT_CUSTOM, subclasses[i], on_sofia_event, NULL,
				&g.nodes[i]) != SWITCH_STATUS_SUCCESS) {
			switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] cannot bind %s\n", subclasses[i]);
			mod_regwatch_shutdown();
			return SWITCH_STATUS_TERM;
		}
	}
	if (switch_event_bind_removable(modname, SWITCH_EVENT_RELOADXML, NULL, on_sofia_event, NULL, &g.nodes[4])
			!= SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "[regwatch] will not follow reloadxml\n");
	}
	*module_interface = switch_loadable_module_create_module_interface(pool, modname);
	SWITCH_ADD_API(api, "regwatch", "SIP gateway registration health", regwatch_api, SYNTAX);
	switch_console_set_complete("add regwatch status");
	switch_console_set_complete("add regwatch findings");
	switch_console_set_complete("add regwatch show");
	switch_console_set_complete("add regwatch check");
	/* Wake the worker for the findings and first timers of read_gateways(). */
	switch_mutex_lock(g.queue_lock);
	switch_thread_cond_signal(g.queue_cond);
	switch_mutex_unlock(g.queue_lock);
	switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE, "[regwatch] %s watching sofia gateways\n",
		regwatch_version());
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_regwatch_shutdown)
{
	switch_status_t st;
	size_t i;
	struct item *it;

	/* No new input, then stop and join both threads. */
	for (i = 0; i < sizeof(g.nodes) / sizeof(g.nodes[0]); i++) {
		if (g.nodes[i]) {
			switch_event_unbind(&g.nodes[i]);
		}
	}
	switch_console_set_complete("del regwatch");
	switch_mutex_lock(g.queue_lock);
	g.running = 0;
	switch_thread_cond_broadcast(g.queue_cond);
	switch_thread_cond_broadcast(g.probe_cond);
	switch_mutex_unlock(g.queue_lock);
	if (g.worker) {
		switch_thread_join(&st, g.worker);
		g.worker = NULL;
	}
	if (g.prober) {
		/* A probe in progress ends within its timeout. */
		switch_thread_join(&st, g.prober);
		g.prober = NULL;
	}
	while ((it = g.head)) {
		g.head = it->next;
		free_item(it);
	}
	g.tail = NULL;
	switch_event_free_subclass(EV_STATE);
	switch_event_free_subclass(EV_ALERT);
	regwatch_engine_free(g.engine);
	g.engine = NULL;
	return SWITCH_STATUS_SUCCESS;
}
