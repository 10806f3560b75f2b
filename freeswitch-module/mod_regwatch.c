/*
 * mod_regwatch: SIP gateway registration health for FreeSWITCH (mod_sofia).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Glue between FreeSWITCH and libregwatch (linked statically), nothing
 * else: sofia's gateway events, the sofia.conf XML and regwatch.conf's
 * parameters go to the engine as FreeSWITCH gives them; what comes back
 * (console text, event headers, log lines, the re-register command, probe
 * jobs) is shown or carried out as it is. The meaning of each gateway
 * state and status code, the keep-alive timing, the settings and their
 * defaults, the re-register policy, validation and the words of every
 * diagnosis are libregwatch's.
 *
 * Threads. Event callbacks run on FreeSWITCH's dispatch threads under the
 * event system's read lock: they copy the headers, queue them and return.
 * One worker thread owns the engine's inputs: it feeds the queue, fires
 * the engine's timers, fires our events and runs the re-register commands
 * (never from a callback). A second thread runs libregwatch's blocking
 * probe jobs. API commands read the engine under the same mutex. Shutdown
 * unbinds, stops and joins both threads, then frees the engine.
 */
#include <switch.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regwatch.h"

SWITCH_MODULE_LOAD_FUNCTION(mod_regwatch_load);
SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_regwatch_shutdown);
SWITCH_MODULE_DEFINITION(mod_regwatch, mod_regwatch_load, mod_regwatch_shutdown, NULL);

#define SYNTAX "status | show <gateway> | check <gateway> | findings | metrics"

/* Bound to each with its own marker (the bind's user data). */
enum input { INPUT_EVENT = 1, INPUT_ADD, INPUT_RELOAD, INPUT_JOB };
static const char *subclasses[] = {
	"sofia::gateway_state", "sofia::gateway_add", "sofia::gateway_delete", "sofia::gateway_invalid_digest_req",
};
static enum input inputs[] = { INPUT_EVENT, INPUT_ADD, INPUT_EVENT, INPUT_EVENT, INPUT_RELOAD };
#define NODES 5 /* the four above and RELOADXML */

/* One queued input for the worker: an event's headers, or a job that ran. */
struct item {
	struct item *next;
	enum input what;
	size_t n;
	char **names;
	char **values;
	struct regwatch_job *job;
};

static struct {
	switch_memory_pool_t *pool;
	switch_mutex_t *engine_lock;  /* the engine */
	switch_mutex_t *queue_lock;   /* queue, jobs, running */
	switch_thread_cond_t *queue_cond;
	switch_thread_cond_t *job_cond;
	struct regwatch_engine *engine;
	struct item *head, *tail;
	struct item *jobs, *jobs_tail;
	int running;
	switch_thread_t *worker, *prober;
	switch_event_node_t *nodes[NODES];
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

/* Text the library renders into a buffer it sizes; *out is free()d by the
 * caller (NULL unless OK). Returns the library's status. */
static regwatch_status render(render_fn fn, void *arg, char **out)
{
	size_t need = 0;
	regwatch_status st = fn(arg, NULL, 0, &need);

	*out = NULL;
	if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_BUFFER_TOO_SMALL) {
		return st;
	}
	if (!(*out = malloc(need ? need : 1))) {
		return REGWATCH_STATUS_IO;
	}
	if ((st = fn(arg, *out, need, &need)) != REGWATCH_STATUS_OK) {
		free(*out);
		*out = NULL;
	}
	return st;
}

static regwatch_status carry_text(void *arg, char *b, size_t l, size_t *o)
{
	(void) arg;
	return regwatch_engine_carry_text(g.engine, b, l, o);
}

/* Before any thread runs: sofia's own view of its gateways (`sofia
 * xmlstatus`), so that a module loaded while FreeSWITCH runs starts from it. */
static void seed_states(void)
{
	switch_stream_handle_t s = { 0 };
	regwatch_status st;

	SWITCH_STANDARD_STREAM(s);
	if (switch_api_execute("sofia", "xmlstatus", NULL, &s) == SWITCH_STATUS_SUCCESS && s.data) {
		st = regwatch_engine_freeswitch_status_xml(g.engine, now_ms(), (const char *) s.data);
		if (st != REGWATCH_STATUS_OK) {
			switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG, "[regwatch] sofia xmlstatus: %s\n",
				regwatch_status_str(st));
		}
	}
	switch_safe_free(s.data);
}

/* Before any thread runs: the causes the engine before the last unload
 * carried (a core variable, which outlives the module), read once. */
static void carry_in(void)
{
	char *text = switch_core_get_variable_dup("regwatch_carry");
	size_t taken = 0;

	if (!text) {
		return;
	}
	switch_core_set_variable("regwatch_carry", NULL);
	if (regwatch_engine_carry_apply(g.engine, now_ms(), text, &taken) == REGWATCH_STATUS_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG, "[regwatch] %lu gateways kept their state across the reload\n",
			(unsigned long) taken);
	}
	free(text);
}

/* After both threads stopped: the engine's causes for the next load. */
static void carry_out(void)
{
	char *text = NULL;

	if (render(carry_text, NULL, &text) == REGWATCH_STATUS_OK && text && *text) {
		switch_core_set_variable("regwatch_carry", text);
	}
	free(text);
}

/* The event libregwatch rendered, fired as it is. */
static void fire(const struct regwatch_event *ev)
{
	switch_event_t *e = NULL;
	size_t i;

	if (switch_event_create_subclass(&e, SWITCH_EVENT_CUSTOM, ev->fs_subclass) != SWITCH_STATUS_SUCCESS) {
		return;
	}
	for (i = 0; i < ev->fs_header_count; i++) {
		switch_event_add_header_string(e, SWITCH_STACK_BOTTOM, ev->fs_headers[i].name, ev->fs_headers[i].value);
	}
	switch_event_fire(&e);
}

static void push_job(struct regwatch_job *job)
{
	struct item *it = calloc(1, sizeof(*it));

	if (!it) {
		regwatch_job_free(job);
		return;
	}
	it->what = INPUT_JOB;
	it->job = job;
	switch_mutex_lock(g.queue_lock);
	if (g.jobs_tail) {
		g.jobs_tail->next = it;
	} else {
		g.jobs = it;
	}
	g.jobs_tail = it;
	switch_thread_cond_signal(g.job_cond);
	switch_mutex_unlock(g.queue_lock);
}

/* A re-register command to run once the engine lock is released. */
struct command {
	struct command *next;
	char text[];
};

/* Engine lock held: every pending output. Commands are returned to run
 * after the lock is released (they call into mod_sofia). */
static struct command *drain(void)
{
	struct regwatch_event ev = { .struct_size = sizeof(ev) };
	struct command *cmds = NULL, *c;
	struct regwatch_job *job;

	while (regwatch_engine_poll_event(g.engine, &ev) == REGWATCH_STATUS_OK) {
		if (ev.log_level) {
			on_engine_log(NULL, ev.log_level, ev.log_line);
		}
		if (ev.fs_subclass[0]) {
			fire(&ev);
		}
		/* sofia cannot send our OPTIONS: every probe is a libregwatch job. */
		if (ev.kind == REGWATCH_EVENT_TRANSMIT
				&& regwatch_engine_probe_job(g.engine, ev.transmit.probe_id, &job) == REGWATCH_STATUS_OK) {
			push_job(job);
		}
		if (ev.kind == REGWATCH_EVENT_ACTION_REREGISTER && ev.command[0]
				&& (c = calloc(1, sizeof(*c) + strlen(ev.command) + 1))) {
			strcpy(c->text, ev.command);
			c->next = cmds;
			cmds = c;
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
		switch_console_execute(c->text, 0, &s);
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

/* Engine lock held (or before any thread runs): every <param> of
 * regwatch.conf's <settings> to libregwatch, which knows them and their
 * defaults. */
static void read_settings(void)
{
	switch_xml_t cfg = NULL, xml, settings, param;
	regwatch_status st;

	if ((st = regwatch_engine_settings_reset(g.engine)) != REGWATCH_STATUS_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] settings: %s\n", regwatch_status_str(st));
	}
	if (!(xml = switch_xml_open_cfg("regwatch.conf", &cfg, NULL))) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE, "[regwatch] no regwatch.conf: defaults apply\n");
	} else {
		settings = switch_xml_child(cfg, "settings");
		for (param = settings ? switch_xml_child(settings, "param") : NULL; param; param = param->next) {
			const char *name = switch_xml_attr_soft(param, "name");
			const char *value = switch_xml_attr_soft(param, "value");

			char note[512];
			size_t need = 0;

			st = regwatch_engine_setting(g.engine, "settings", name, value);
			/* Rust says why a value was refused (with the allowed range) or
			 * which name replaces an old one; logged as it is. */
			if (regwatch_engine_setting_note(g.engine, note, sizeof(note), &need) == REGWATCH_STATUS_OK && note[0]) {
				switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "[regwatch] regwatch.conf: %s\n", note);
			} else if (st != REGWATCH_STATUS_OK) {
				switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING,
					"[regwatch] regwatch.conf: %s: %s\n", name, regwatch_status_str(st));
			}
		}
		switch_xml_free(xml);
	}
	if ((st = regwatch_engine_settings_apply(g.engine)) != REGWATCH_STATUS_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] settings: %s\n", regwatch_status_str(st));
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
	regwatch_job_free(it->job);
	free(it);
}

static void on_sofia_event(switch_event_t *event)
{
	switch_event_header_t *hp;
	struct item *it = calloc(1, sizeof(*it));
	size_t n = 0, i = 0;

	if (!it) {
		return;
	}
	it->what = *(enum input *) event->bind_user_data;
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
		struct item *it = g.jobs;

		if (!it) {
			switch_thread_cond_wait(g.job_cond, g.queue_lock);
			continue;
		}
		if (!(g.jobs = it->next)) {
			g.jobs_tail = NULL;
		}
		it->next = NULL;
		switch_mutex_unlock(g.queue_lock);
		if (regwatch_job_run(it->job) != REGWATCH_STATUS_OK || push_item(it)) {
			free_item(it);
		}
		switch_mutex_lock(g.queue_lock);
	}
	while (g.jobs) {
		struct item *it = g.jobs;

		g.jobs = it->next;
		free_item(it);
	}
	g.jobs_tail = NULL;
	switch_mutex_unlock(g.queue_lock);
	return NULL;
}

/* Engine lock held: one queued input. */
static void feed(struct item *it)
{
	regwatch_status st = REGWATCH_STATUS_OK;

	switch (it->what) {
	case INPUT_JOB:
		st = regwatch_engine_job_done(g.engine, now_ms(), it->job);
		break;
	case INPUT_RELOAD:
		/* reloadxml: new settings and gateway parameters. */
		read_settings();
		read_gateways();
		break;
	case INPUT_ADD:
		/* A rescan: the new gateway's parameters first. */
		read_gateways();
		/* fall through */
	case INPUT_EVENT:
		st = regwatch_engine_freeswitch_event(g.engine, now_ms(), (const char *const *) it->names,
			(const char *const *) it->values, it->n);
		break;
	}
	if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_DONE && st != REGWATCH_STATUS_NOT_FOUND) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG, "[regwatch] input refused: %s\n",
			regwatch_status_str(st));
	}
}

static void *SWITCH_THREAD_FUNC worker_thread(switch_thread_t *thread, void *obj)
{
	uint32_t wait = 0;

	(void) thread;
	(void) obj;
	for (;;) {
		struct item *items, *it;
		struct command *cmds;

		switch_mutex_lock(g.queue_lock);
		if (g.running && !g.head && wait) {
			switch_thread_cond_timedwait(g.queue_cond, g.queue_lock, (switch_interval_time_t) wait * 1000);
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
			feed(it);
		}
		if (regwatch_engine_handle_timeout(g.engine, now_ms()) != REGWATCH_STATUS_OK) {
			switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] the engine refused a timeout\n");
		}
		cmds = drain();
		if (regwatch_engine_next_wait_ms(g.engine, now_ms(), &wait) != REGWATCH_STATUS_OK) {
			wait = 1;
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

/* The Prometheus exposition, the switch's name in the host label. */
static regwatch_status metrics_text(void *a, char *b, size_t l, size_t *o)
{
	(void) a;
	return regwatch_engine_metrics_text(g.engine, switch_core_get_switchname(), b, l, o);
}

static regwatch_status job_text(void *a, char *b, size_t l, size_t *o)
{
	return regwatch_job_text(a, b, l, o);
}

/* Renders under the engine lock. */
static regwatch_status locked(render_fn fn, void *arg, char **text)
{
	regwatch_status st;

	switch_mutex_lock(g.engine_lock);
	st = render(fn, arg, text);
	switch_mutex_unlock(g.engine_lock);
	return st;
}

/* Prints a rendering, or why there is none. */
static void print(switch_stream_handle_t *stream, regwatch_status st, char *text, const char *gateway)
{
	if (st == REGWATCH_STATUS_OK) {
		stream->write_function(stream, "%s", text);
	} else if (st == REGWATCH_STATUS_NOT_FOUND) {
		stream->write_function(stream, "-ERR no registering gateway named %s (see 'regwatch status')\n", gateway);
	} else {
		stream->write_function(stream, "-ERR regwatch: %s\n", regwatch_status_str(st));
	}
	free(text);
}

/* The metrics, for `regwatch metrics` and `regwatch_metrics`. */
static void print_metrics(switch_stream_handle_t *stream)
{
	char *text = NULL;
	regwatch_status st = locked(metrics_text, NULL, &text);

	print(stream, st, text, NULL);
}

/* `regwatch metrics` under a name that takes no argument, for Prometheus
 * through mod_xml_rpc: GET /txtapi/regwatch_metrics. */
SWITCH_STANDARD_API(regwatch_metrics_api)
{
	(void) session;
	(void) cmd;
	print_metrics(stream);
	return SWITCH_STATUS_SUCCESS;
}

SWITCH_STANDARD_API(regwatch_api)
{
	char *buf = NULL, *argv[3] = { 0 };
	int argc = 0;
	char *text = NULL;
	struct regwatch_job *job = NULL;
	regwatch_status st;

	(void) session;
	if (!zstr(cmd) && (buf = strdup(cmd))) {
		argc = (int) switch_separate_string(buf, ' ', argv, (sizeof(argv) / sizeof(argv[0])));
	}
	if (argc == 0 || !strcasecmp(argv[0], "status")) {
		st = locked(trunks_text, NULL, &text);
		print(stream, st, text, NULL);
	} else if (!strcasecmp(argv[0], "findings") && argc == 1) {
		st = locked(findings_text, NULL, &text);
		print(stream, st, text, NULL);
	} else if (!strcasecmp(argv[0], "metrics") && argc == 1) {
		print_metrics(stream);
	} else if (!strcasecmp(argv[0], "show") && argc == 2) {
		st = locked(trunk_text, argv[1], &text);
		print(stream, st, text, argv[1]);
	} else if (!strcasecmp(argv[0], "check") && argc == 2) {
		switch_mutex_lock(g.engine_lock);
		st = regwatch_engine_check_job(g.engine, argv[1], &job);
		switch_mutex_unlock(g.engine_lock);
		/* Blocks this API thread for the exchanges, never the engine. */
		if (st == REGWATCH_STATUS_OK && (st = regwatch_job_run(job)) == REGWATCH_STATUS_OK) {
			st = render(job_text, job, &text);
		}
		print(stream, st, text, argv[1]);
		regwatch_job_free(job);
	} else {
		stream->write_function(stream, "-USAGE: regwatch %s\n", SYNTAX);
	}
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
	switch_thread_cond_create(&g.job_cond, pool);
	st = regwatch_engine_new(now_ms(), (uint64_t) switch_micro_time_now(), &g.engine);
	/* Nothing is logged until regwatch.conf's log-level is applied. */
	if (st != REGWATCH_STATUS_OK
			|| (st = regwatch_engine_set_log_callback(g.engine, on_engine_log, NULL, 0)) != REGWATCH_STATUS_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] no engine: %s\n", regwatch_status_str(st));
		regwatch_engine_free(g.engine);
		return SWITCH_STATUS_TERM;
	}
	read_settings();
	read_gateways();
	/* What the engine before an unload knew first, then sofia's own view,
	 * which wins where they disagree: one event per gateway. */
	carry_in();
	seed_states();
	if (switch_event_reserve_subclass("regwatch::state") != SWITCH_STATUS_SUCCESS
			|| switch_event_reserve_subclass("regwatch::alert") != SWITCH_STATUS_SUCCESS) {
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
		if (switch_event_bind_removable(modname, SWITCH_EVENT_CUSTOM, subclasses[i], on_sofia_event, &inputs[i],
				&g.nodes[i]) != SWITCH_STATUS_SUCCESS) {
			switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "[regwatch] cannot bind %s\n", subclasses[i]);
			mod_regwatch_shutdown();
			return SWITCH_STATUS_TERM;
		}
	}
	if (switch_event_bind_removable(modname, SWITCH_EVENT_RELOADXML, NULL, on_sofia_event, &inputs[4], &g.nodes[4])
			!= SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "[regwatch] will not follow reloadxml\n");
	}
	*module_interface = switch_loadable_module_create_module_interface(pool, modname);
	SWITCH_ADD_API(api, "regwatch", "SIP gateway registration health", regwatch_api, SYNTAX);
	SWITCH_ADD_API(api, "regwatch_metrics", "regwatch metrics (Prometheus text)", regwatch_metrics_api, "");
	switch_console_set_complete("add regwatch status");
	switch_console_set_complete("add regwatch findings");
	switch_console_set_complete("add regwatch show");
	switch_console_set_complete("add regwatch check");
	switch_console_set_complete("add regwatch metrics");
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
	switch_thread_cond_broadcast(g.job_cond);
	switch_mutex_unlock(g.queue_lock);
	if (g.worker) {
		switch_thread_join(&st, g.worker);
		g.worker = NULL;
	}
	if (g.prober) {
		/* A job in progress ends within its timeout. */
		switch_thread_join(&st, g.prober);
		g.prober = NULL;
	}
	while ((it = g.head)) {
		g.head = it->next;
		free_item(it);
	}
	g.tail = NULL;
	switch_event_free_subclass("regwatch::state");
	switch_event_free_subclass("regwatch::alert");
	carry_out();
	regwatch_engine_free(g.engine);
	g.engine = NULL;
	return SWITCH_STATUS_SUCCESS;
}
