/*
 * res_regwatch: SIP trunk registration health for Asterisk's PJSIP.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Glue between Asterisk and libregwatch (linked statically), nothing else:
 * it hands the engine what Asterisk gives (sorcery object sets, stasis
 * Registry messages, every REGISTER and OPTIONS on the wire, regwatch.conf
 * as key/value pairs) and shows or runs what the engine renders (CLI text,
 * AMI events, log lines, the re-register command, keep-alive probes).
 * Classification, thresholds, keep-alive timing, settings and their
 * defaults, the re-register policy, validation and the words of every
 * diagnosis are libregwatch's (see libregwatch's hosts/ and ffi/).
 *
 * Threads. Every engine call runs on one PJSIP serializer ("regwatch");
 * pjsip and stasis callbacks only copy what they get and push it there.
 * The engine's next deadline is armed on a private ast_sched context whose
 * callback only pushes a "timeout" task. OPTIONS keep-alives on the
 * registration's own transport go through PJSIP; probes the engine marks
 * `via_driver`, and `regwatch check`, run as libregwatch jobs on a
 * dedicated taskprocessor (they block).
 *
 * Metrics. When res_prometheus runs as res_regwatch loads (it loads
 * first: load_pri), the text libregwatch renders for `regwatch watch
 * --metrics` is added to Asterisk's own /metrics. res_prometheus's two
 * functions are looked up in the loaded module, never linked: without it
 * nothing is undefined and nothing calls into it.
 */

/*** MODULEINFO
	<depend>pjproject</depend>
	<depend>res_pjsip</depend>
	<use type="module">res_pjsip_outbound_registration</use>
	<use type="module">res_prometheus</use>
	<support_level>extended</support_level>
 ***/

/*** DOCUMENTATION
	<manager name="RegwatchShowTrunks" language="en_US">
		<synopsis>
			List the trunks regwatch watches, with their state and cause.
		</synopsis>
		<syntax>
			<xi:include xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
		</syntax>
		<description>
			<para>Sends one <literal>RegwatchTrunk</literal> event per
			outbound registration (Trunk, State, Cause, Code, Alerting,
			ExpiresIn, Findings, Summary), then
			<literal>RegwatchTrunkListComplete</literal>.</para>
		</description>
	</manager>
	<managerEvent language="en_US" name="RegwatchState">
		<managerEventInstance class="EVENT_FLAG_SYSTEM">
			<synopsis>A trunk's registration state or cause changed.</synopsis>
			<syntax>
				<parameter name="Trunk"><para>The registration (section name).</para></parameter>
				<parameter name="State"><para>unknown, registering, registered, refresh_late, expired, rejected, unreachable, deregistered or stopped.</para></parameter>
				<parameter name="PreviousState"><para>The state before.</para></parameter>
				<parameter name="Cause"><para>The cause id (healthy, credentials_rejected, domain_not_found, ...).</para></parameter>
				<parameter name="Code"><para>The SIP status code behind it, or 0.</para></parameter>
				<parameter name="Summary"><para>The diagnosis in one line (always filled).</para></parameter>
			</syntax>
		</managerEventInstance>
	</managerEvent>
	<managerEvent language="en_US" name="RegwatchAlert">
		<managerEventInstance class="EVENT_FLAG_SYSTEM">
			<synopsis>An alert on a trunk was raised or cleared.</synopsis>
			<syntax>
				<parameter name="Trunk"><para>The registration (section name).</para></parameter>
				<parameter name="Alert"><para>raised or cleared.</para></parameter>
				<parameter name="State"><para>The registration state.</para></parameter>
				<parameter name="Cause"><para>The cause id.</para></parameter>
				<parameter name="Severity"><para>info, warning or error when raised; empty when cleared.</para></parameter>
				<parameter name="Code"><para>The SIP status code behind it, or 0.</para></parameter>
				<parameter name="Summary"><para>What is wrong (raised) or that it is over (cleared), in plain words.</para></parameter>
			</syntax>
		</managerEventInstance>
	</managerEvent>
 ***/

#include "asterisk.h"

#include <pjsip.h>
#include <pjlib.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asterisk/astobj2.h"
#include "asterisk/cli.h"
#include "asterisk/config.h"
#include "asterisk/astdb.h"
#include "asterisk/json.h"
#include "asterisk/logger.h"
#include "asterisk/manager.h"
#include "asterisk/module.h"
#include "asterisk/paths.h"
#include "asterisk/res_pjsip.h"
#include "asterisk/res_prometheus.h"
#include "asterisk/sched.h"
#include "asterisk/sorcery.h"
#include "asterisk/stasis.h"
#include "asterisk/stasis_system.h"
#include "asterisk/taskprocessor.h"
#include "asterisk/utils.h"

#include "regwatch.h"

static struct regwatch_engine *engine;        /* serializer only */
static struct ast_taskprocessor *serializer;  /* every engine call */
static struct ast_taskprocessor *prober;      /* blocking libregwatch jobs */
static struct ast_sched_context *sched;
static int timer_id = -1;                     /* serializer only */
static uint64_t armed_at;                     /* serializer only; 0: none */
static struct stasis_subscription *registry_sub;
/* An endpoint object of defaults, never stored: res_pjsip's request
 * helpers need one, and an outbound registration has none. */
static struct ast_sip_endpoint *probe_endpoint;
static int devnull = -1;
static int unloading;                         /* atomic */
static int cli_registered, service_registered, observers_added;
static int inflight;                          /* atomic: OPTIONS awaiting PJSIP */
static char metrics_host[256];                /* the metrics' host label */
static int prometheus_registered;             /* load and unload only */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int is_unloading(void)
{
	return __atomic_load_n(&unloading, __ATOMIC_ACQUIRE);
}

/* --- engine output ------------------------------------------------------ */

static void on_engine_log(void *userdata, regwatch_log_level level, const char *message)
{
	(void) userdata;
	switch (level) {
	case REGWATCH_LOG_ERROR:
		ast_log(LOG_ERROR, "regwatch: %s\n", message);
		break;
	case REGWATCH_LOG_WARN:
		ast_log(LOG_WARNING, "regwatch: %s\n", message);
		break;
	case REGWATCH_LOG_INFO:
		ast_log(LOG_NOTICE, "regwatch: %s\n", message);
		break;
	default:
		ast_debug(1, "regwatch: %s\n", message);
		break;
	}
}

/* Text the library renders into a buffer it sizes; *out is the caller's
 * to free (NULL unless OK). Returns the library's status. */
typedef regwatch_status (*render_fn)(void *arg, char *buf, size_t len, size_t *out_len);

static regwatch_status render(render_fn fn, void *arg, char **out)
{
	size_t need = 0;
	regwatch_status st = fn(arg, NULL, 0, &need);

	*out = NULL;
	if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_BUFFER_TOO_SMALL) {
		return st;
	}
	if (!(*out = ast_malloc(need ? need : 1))) {
		return REGWATCH_STATUS_IO;
	}
	if ((st = fn(arg, *out, need, &need)) != REGWATCH_STATUS_OK) {
		ast_free(*out);
		*out = NULL;
	}
	return st;
}

static void send_probe(const struct regwatch_event *ev);

static void handle_event(const struct regwatch_event *ev)
{
	if (ev->log_level) {
		on_engine_log(NULL, ev->log_level, ev->log_line);
	}
	if (ev->ami_event[0]) {
		manager_event(EVENT_FLAG_SYSTEM, ev->ami_event, "%s", ev->ami_fields);
	}
	if (ev->kind == REGWATCH_EVENT_ACTION_REREGISTER && ev->command[0]
			&& ast_cli_command(devnull, ev->command) != RESULT_SUCCESS) {
		ast_log(LOG_WARNING, "regwatch: '%s' failed (is res_pjsip_outbound_registration loaded?)\n",
			ev->command);
	}
	if (ev->kind == REGWATCH_EVENT_TRANSMIT) {
		send_probe(ev);
	}
}

static int sched_fired(const void *data);

/* Drains the engine's outputs and re-arms the one timer. Serializer only. */
static void drain(void)
{
	struct regwatch_event ev = { .struct_size = sizeof(ev) };
	uint64_t deadline;
	uint32_t wait;

	while (regwatch_engine_poll_event(engine, &ev) == REGWATCH_STATUS_OK) {
		handle_event(&ev);
	}
	if (is_unloading() || !sched) {
		return;
	}
	if (regwatch_engine_poll_timeout(engine, &deadline) != REGWATCH_STATUS_OK) {
		deadline = 0;
	}
	if (deadline == armed_at && timer_id >= 0) {
		return;
	}
	if (timer_id >= 0) {
		/* A stale id (already fired) is harmless: the tick is idempotent. */
		if (ast_sched_del(sched, timer_id)) {
			ast_debug(3, "regwatch: timer %d already fired\n", timer_id);
		}
		timer_id = -1;
	}
	armed_at = deadline;
	if (regwatch_engine_next_wait_ms(engine, now_ms(), &wait) == REGWATCH_STATUS_OK) {
		timer_id = ast_sched_add(sched, (int) wait, sched_fired, NULL);
	}
}

static int timeout_task(void *data)
{
	(void) data;
	timer_id = -1;
	armed_at = 0;
	if (regwatch_engine_handle_timeout(engine, now_ms()) != REGWATCH_STATUS_OK) {
		ast_log(LOG_ERROR, "regwatch: the engine refused a timeout\n");
	}
	drain();
	return 0;
}

/* On the sched thread: hand over to the serializer, never touch the engine. */
static int sched_fired(const void *data)
{
	(void) data;
	if (!is_unloading() && ast_sip_push_task(serializer, timeout_task, NULL)) {
		ast_log(LOG_WARNING, "regwatch: could not queue the engine's timer\n");
	}
	return 0;
}

/* --- keep-alive probes -------------------------------------------------- */

/* An OPTIONS sent through PJSIP, until its answer is back on the serializer. */
struct probe {
	uint64_t id;
	uint64_t sent_us;
	regwatch_probe_outcome outcome;
	uint16_t code;
	regwatch_transport_error terror;
	uint64_t rtt_us;
	char trunk[];
};

static int probe_done_task(void *data)
{
	struct probe *p = data;
	regwatch_status st = regwatch_engine_probe_result(engine, now_ms(), p->trunk, p->id, p->outcome,
		p->code, p->terror, (int64_t) p->rtt_us);

	if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_DONE && st != REGWATCH_STATUS_NOT_FOUND) {
		ast_log(LOG_WARNING, "regwatch: probe result for '%s' refused: %s\n",
			p->trunk, regwatch_status_str(st));
	}
	ast_free(p);
	drain();
	return 0;
}

/* PJSIP's answer to one of our OPTIONS (a pjsip thread). */
static void probe_cb(void *token, pjsip_event *e)
{
	struct probe *p = token;

	p->rtt_us = now_us() - p->sent_us;
	switch (e->body.tsx_state.type) {
	case PJSIP_EVENT_TIMER:
		p->outcome = REGWATCH_PROBE_TIMEOUT;
		break;
	case PJSIP_EVENT_TRANSPORT_ERROR:
		p->outcome = REGWATCH_PROBE_TRANSPORT_ERROR;
		p->terror = REGWATCH_TRANSPORT_ERROR_UNREACHABLE;
		break;
	case PJSIP_EVENT_RX_MSG:
		p->outcome = REGWATCH_PROBE_RESPONSE;
		p->code = e->body.tsx_state.src.rdata->msg_info.msg->line.status.code;
		break;
	default:
		/* res_pjsip's own timeout passes an event without a transaction. */
		if (e->type == PJSIP_EVENT_TSX_STATE && e->body.tsx_state.tsx) {
			p->outcome = REGWATCH_PROBE_LOCAL_RESPONSE;
			p->code = e->body.tsx_state.tsx->status_code;
		} else {
			p->outcome = REGWATCH_PROBE_TIMEOUT;
		}
		break;
	}
	if (ast_sip_push_task(serializer, probe_done_task, p)) {
		ast_free(p);
	}
	__atomic_fetch_sub(&inflight, 1, __ATOMIC_ACQ_REL);
}

static int job_done_task(void *data)
{
	struct regwatch_job *job = data;
	regwatch_status st = regwatch_engine_job_done(engine, now_ms(), job);

	if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_DONE && st != REGWATCH_STATUS_NOT_FOUND) {
		ast_debug(1, "regwatch: probe result refused: %s\n", regwatch_status_str(st));
	}
	regwatch_job_free(job);
	drain();
	return 0;
}

/* A libregwatch job (the prober thread): run it, hand the result back. */
static int job_task(void *data)
{
	struct regwatch_job *job = data;

	if (is_unloading() || regwatch_job_run(job) != REGWATCH_STATUS_OK
			|| ast_sip_push_task(serializer, job_done_task, job)) {
		regwatch_job_free(job);
	}
	return 0;
}

/* Reads one field of a sorcery object set; the caller frees the result. */
static char *field_of(struct ast_variable *vars, const char *name)
{
	for (; vars; vars = vars->next) {
		if (!strcmp(vars->name, name)) {
			return ast_strdup(vars->value);
		}
	}
	return NULL;
}

static void report_now(struct probe *p, regwatch_transport_error terror)
{
	if (regwatch_engine_probe_result(engine, now_ms(), p->trunk, p->id, REGWATCH_PROBE_TRANSPORT_ERROR, 0,
			terror, -1) != REGWATCH_STATUS_OK) {
		ast_debug(1, "regwatch: probe of '%s' no longer awaited\n", p->trunk);
	}
	ast_free(p);
}

/* Serializer: an OPTIONS as the engine asked, through PJSIP on the
 * registration's own transport and outbound proxy, or as a libregwatch
 * job when the engine says PJSIP cannot send it. */
static void send_probe(const struct regwatch_event *ev)
{
	struct probe *p;
	struct ast_sorcery *sorcery;
	void *reg;
	struct ast_variable *vars = NULL;
	char *server_uri = NULL, *client_uri = NULL, *proxy = NULL, *transport = NULL;
	pj_str_t target, from;
	pjsip_tx_data *tdata;
	size_t n = strlen(ev->trunk) + 1;

	if (is_unloading()) {
		return;
	}
	if (ev->transmit.via_driver) {
		struct regwatch_job *job = NULL;

		if (regwatch_engine_probe_job(engine, ev->transmit.probe_id, &job) == REGWATCH_STATUS_OK
				&& ast_taskprocessor_push(prober, job_task, job)) {
			regwatch_job_free(job);
		}
		return;
	}
	if (!(p = ast_calloc(1, sizeof(*p) + n))) {
		return;
	}
	p->id = ev->transmit.probe_id;
	p->sent_us = now_us();
	memcpy(p->trunk, ev->trunk, n);

	sorcery = ast_sip_get_sorcery();
	reg = sorcery ? ast_sorcery_retrieve_by_id(sorcery, "registration", ev->trunk) : NULL;
	if (reg) {
		vars = ast_sorcery_objectset_create(sorcery, reg);
		server_uri = field_of(vars, "server_uri");
		client_uri = field_of(vars, "client_uri");
		proxy = field_of(vars, "outbound_proxy");
		transport = field_of(vars, "transport");
		ast_variables_destroy(vars);
		ao2_ref(reg, -1);
	}
	if (ast_strlen_zero(server_uri) || ast_strlen_zero(client_uri)) {
		/* The registration is gone (a reload in progress): let it time out. */
		ast_free(p);
		goto out;
	}
	/* Built with pjsip itself: ast_sip_create_request() would apply the
	 * endpoint's transport and proxy, and the registration's are wanted. */
	target = pj_str(server_uri);
	from = pj_str(client_uri);
	if (pjsip_endpt_create_request(ast_sip_get_pjsip_endpoint(), &pjsip_options_method, &target,
			&from, &target, NULL, NULL, -1, NULL, &tdata) != PJ_SUCCESS) {
		ast_log(LOG_WARNING, "regwatch: cannot build an OPTIONS to '%s' for '%s'\n", server_uri, ev->trunk);
		report_now(p, REGWATCH_TRANSPORT_ERROR_UNREACHABLE);
		goto out;
	}
	if (!ast_strlen_zero(proxy) && ast_sip_set_outbound_proxy(tdata, proxy)) {
		ast_log(LOG_WARNING, "regwatch: outbound_proxy '%s' of '%s' is not a valid URI\n", proxy, ev->trunk);
	}
	if (!ast_strlen_zero(transport)) {
		pjsip_tpselector selector = { .type = PJSIP_TPSELECTOR_NONE, };

		if (!ast_sip_set_tpselector_from_transport_name(transport, &selector)) {
			pjsip_tx_data_set_transport(tdata, &selector);
			ast_sip_tpselector_unref(&selector);
		}
	}
	__atomic_fetch_add(&inflight, 1, __ATOMIC_ACQ_REL);
	if (ast_sip_send_out_of_dialog_request(tdata, probe_endpoint, (int) ev->transmit.timeout_ms, p, probe_cb)) {
		/* The callback will not run; tdata was released by res_pjsip. */
		__atomic_fetch_sub(&inflight, 1, __ATOMIC_ACQ_REL);
		report_now(p, REGWATCH_TRANSPORT_ERROR_UNREACHABLE);
	}
out:
	ast_free(server_uri);
	ast_free(client_uri);
	ast_free(proxy);
	ast_free(transport);
}

/* --- observation: raw SIP, stasis Registry ------------------------------- */

struct sip_copy {
	regwatch_direction direction;
	regwatch_transport transport;
	uint64_t at_ms;
	size_t len;
	char peer[PJ_INET6_ADDRSTRLEN + 8];
	uint8_t bytes[];
};

static int observe_task(void *data)
{
	struct sip_copy *c = data;
	regwatch_status st = regwatch_engine_observe_sip(engine, c->at_ms, c->direction, c->transport,
		c->peer, c->bytes, c->len);

	if (st == REGWATCH_STATUS_SIP_PARSE) {
		ast_debug(1, "regwatch: a %zu-byte message from/to %s is not SIP it can read\n", c->len, c->peer);
	}
	ast_free(c);
	drain();
	return 0;
}

static regwatch_transport transport_code(const pjsip_transport *tp)
{
	if (!tp) {
		return REGWATCH_TRANSPORT_UNKNOWN;
	}
	switch (tp->key.type & ~PJSIP_TRANSPORT_IPV6) {
	case PJSIP_TRANSPORT_UDP:
		return REGWATCH_TRANSPORT_UDP;
	case PJSIP_TRANSPORT_TCP:
		return REGWATCH_TRANSPORT_TCP;
	case PJSIP_TRANSPORT_TLS:
		return REGWATCH_TRANSPORT_TLS;
	default:
		return REGWATCH_TRANSPORT_UNKNOWN;
	}
}

/* A pjsip thread: copies the message for the serializer when libregwatch
 * reads messages of its CSeq method at that size. */
static void queue_copy(regwatch_direction dir, const pjsip_method *method, const pjsip_transport *tp,
	const char *host, int port, const char *bytes, size_t len)
{
	struct sip_copy *c;

	if (is_unloading() || !method || !bytes
			|| !regwatch_sip_wanted(method->name.ptr, (size_t) method->name.slen, len)
			|| !(c = ast_malloc(sizeof(*c) + len))) {
		return;
	}
	c->direction = dir;
	c->transport = transport_code(tp);
	c->at_ms = now_ms();
	c->len = len;
	snprintf(c->peer, sizeof(c->peer), strchr(S_OR(host, ""), ':') ? "[%s]:%d" : "%s:%d", S_OR(host, "?"), port);
	memcpy(c->bytes, bytes, len);
	if (ast_sip_push_task(serializer, observe_task, c)) {
		ast_free(c);
	}
}

static pj_bool_t on_rx(pjsip_rx_data *rdata)
{
	queue_copy(REGWATCH_DIRECTION_RECEIVED, rdata->msg_info.cseq ? &rdata->msg_info.cseq->method : NULL,
		rdata->tp_info.transport, rdata->pkt_info.src_name, rdata->pkt_info.src_port,
		rdata->msg_info.msg_buf, rdata->msg_info.len);
	return PJ_FALSE; /* never consumed */
}

static pj_status_t on_tx(pjsip_tx_data *tdata)
{
	const pjsip_method *method = NULL;

	if (tdata->msg->type == PJSIP_REQUEST_MSG) {
		method = &tdata->msg->line.req.method;
	} else {
		pjsip_cseq_hdr *cseq = pjsip_msg_find_hdr(tdata->msg, PJSIP_H_CSEQ, NULL);

		method = cseq ? &cseq->method : NULL;
	}
	queue_copy(REGWATCH_DIRECTION_SENT, method, tdata->tp_info.transport, tdata->tp_info.dst_name,
		tdata->tp_info.dst_port, tdata->buf.start, (size_t) (tdata->buf.cur - tdata->buf.start));
	return PJ_SUCCESS;
}

static pjsip_module observer_module = {
	.name = { "regwatch observer", 17 },
	.id = -1,
	/* Below the transaction layer (16), so nothing is consumed before us. */
	.priority = 0,
	.on_rx_request = on_rx,
	.on_rx_response = on_rx,
	.on_tx_request = on_tx,
	.on_tx_response = on_tx,
};

static int registry_task(void *data)
{
	char *json = data;
	regwatch_status st = regwatch_engine_asterisk_registry_json(engine, now_ms(), json);

	if (st == REGWATCH_STATUS_NOT_FOUND) {
		ast_debug(1, "regwatch: Registry message for a registration not (yet) known\n");
	}
	ast_free(json);
	drain();
	return 0;
}

static void registry_cb(void *data, struct stasis_subscription *sub, struct stasis_message *msg)
{
	(void) data;
	struct ast_json_payload *payload;
	char *dump, *copy;

	if (stasis_subscription_final_message(sub, msg) || stasis_message_type(msg) != ast_system_registry_type()) {
		return;
	}
	payload = stasis_message_data(msg);
	if (is_unloading() || !payload || !(dump = ast_json_dump_string(payload->json))) {
		return;
	}
	copy = ast_strdup(dump);
	ast_json_free(dump);
	if (copy && ast_sip_push_task(serializer, registry_task, copy)) {
		ast_free(copy);
	}
}

/* --- configuration: sorcery and regwatch.conf ---------------------------- */

static void feed_objects(struct ast_sorcery *sorcery, const char *type)
{
	struct ao2_container *objects = ast_sorcery_retrieve_by_fields(sorcery, type,
		AST_RETRIEVE_FLAG_MULTIPLE | AST_RETRIEVE_FLAG_ALL, NULL);
	struct ao2_iterator it;
	void *obj;

	if (!objects) {
		return;
	}
	it = ao2_iterator_init(objects, 0);
	while ((obj = ao2_iterator_next(&it))) {
		struct ast_variable *vars = ast_sorcery_objectset_create(sorcery, obj);
		struct ast_variable *v;
		size_t n = 0, i = 0;
		const char **names, **values;

		for (v = vars; v; v = v->next) {
			n++;
		}
		names = ast_calloc(n ? n : 1, sizeof(*names));
		values = ast_calloc(n ? n : 1, sizeof(*values));
		if (names && values) {
			for (v = vars; v; v = v->next, i++) {
				names[i] = v->name;
				values[i] = v->value;
			}
			if (regwatch_engine_asterisk_object(engine, type, ast_sorcery_object_get_id(obj),
					names, values, n) != REGWATCH_STATUS_OK) {
				ast_log(LOG_WARNING, "regwatch: could not read %s '%s'\n", type,
					ast_sorcery_object_get_id(obj));
			}
		}
		ast_free(names);
		ast_free(values);
		ast_variables_destroy(vars);
		ao2_ref(obj, -1);
	}
	ao2_iterator_destroy(&it);
	ao2_ref(objects, -1);
}

/* Serializer: what `pjsip show registrations` prints, so that a module
 * loaded while registrations run starts from Asterisk's own view. */
static void seed_states(void)
{
	FILE *f = tmpfile();
	char *text;
	long len;

	if (!f) {
		return;
	}
	if (ast_cli_command(fileno(f), "pjsip show registrations") == RESULT_SUCCESS
			&& (len = ftell(f)) > 0 && len < 16 * 1024 * 1024 && (text = ast_malloc(len + 1))) {
		rewind(f);
		if (fread(text, 1, len, f) == (size_t) len) {
			text[len] = '\0';
			if (regwatch_engine_asterisk_registrations_text(engine, now_ms(), text) == REGWATCH_STATUS_OK) {
				ast_debug(1, "regwatch: states taken from 'pjsip show registrations'\n");
			}
		}
		ast_free(text);
	}
	fclose(f);
}

/* Whether the carry of the engine before an unload is still to be given
 * to this one (at the first sync, once the trunks exist). */
static int carry_pending;

/* Serializer: the causes the engine before the last unload carried, from
 * the astdb (family "regwatch", key "carry"), read once. */
static void carry_in(void)
{
	char *text = NULL;
	size_t taken = 0;

	carry_pending = 0;
	if (ast_db_get_allocated("regwatch", "carry", &text) || !text) {
		return;
	}
	ast_db_del("regwatch", "carry");
	if (regwatch_engine_carry_apply(engine, now_ms(), text, &taken) == REGWATCH_STATUS_OK) {
		ast_debug(1, "regwatch: %zu registrations kept their state across the reload\n", taken);
	}
	ast_free(text);
}

static regwatch_status carry_text(void *arg, char *b, size_t l, size_t *o)
{
	(void) arg;
	return regwatch_engine_carry_text(engine, b, l, o);
}

/* Unloading, nothing else running: the engine's causes to the astdb. */
static void carry_out(void)
{
	char *text = NULL;

	if (render(carry_text, NULL, &text) == REGWATCH_STATUS_OK && text && *text) {
		ast_db_put("regwatch", "carry", text);
	}
	ast_free(text);
}

/* Serializer: the whole PJSIP configuration, handed over as object sets. */
static int sync_task(void *data)
{
	(void) data;
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	regwatch_status st;

	if (!sorcery) {
		return 0;
	}
	feed_objects(sorcery, "transport");
	feed_objects(sorcery, "auth");
	feed_objects(sorcery, "registration");
	st = regwatch_engine_asterisk_commit(engine, now_ms());
	if (st != REGWATCH_STATUS_OK) {
		ast_log(LOG_ERROR, "regwatch: could not apply the PJSIP configuration: %s\n", regwatch_status_str(st));
	}
	/* What the engine before an unload knew first, then Asterisk's own
	 * view, which wins where they disagree: one event per trunk. */
	if (carry_pending) {
		carry_in();
	}
	seed_states();
	drain();
	return 0;
}

static void queue_sync(void)
{
	if (!is_unloading() && ast_sip_push_task(serializer, sync_task, NULL)) {
		ast_log(LOG_WARNING, "regwatch: could not queue a configuration sync\n");
	}
}

static void on_sorcery_change(const void *object)
{
	(void) object;
	queue_sync();
}

static void on_sorcery_loaded(const char *type)
{
	(void) type;
	queue_sync();
}

static const struct ast_sorcery_observer sorcery_observer = {
	.created = on_sorcery_change,
	.updated = on_sorcery_change,
	.deleted = on_sorcery_change,
	.loaded = on_sorcery_loaded,
};

static const char *observed_types[] = { "registration", "auth", "transport" };

/* Serializer (or load, before anything runs): every key of regwatch.conf,
 * with its section, to libregwatch (which knows them and their defaults);
 * `cfg` may be NULL (no file: the defaults). Takes `cfg`. */
static int apply_config_task(void *data)
{
	struct ast_config *cfg = data;
	const char *cat = NULL;
	struct ast_variable *v;
	regwatch_status st;

	if ((st = regwatch_engine_settings_reset(engine)) != REGWATCH_STATUS_OK) {
		ast_log(LOG_ERROR, "regwatch: settings: %s\n", regwatch_status_str(st));
	}
	while (cfg && (cat = ast_category_browse(cfg, cat))) {
		for (v = ast_variable_browse(cfg, cat); v; v = v->next) {
			if ((st = regwatch_engine_setting(engine, cat, v->name, v->value)) != REGWATCH_STATUS_OK) {
				ast_log(LOG_WARNING, "regwatch.conf: [%s] %s = %s: %s\n", cat, v->name, v->value,
					regwatch_status_str(st));
			}
		}
	}
	if ((st = regwatch_engine_settings_apply(engine)) != REGWATCH_STATUS_OK) {
		ast_log(LOG_ERROR, "regwatch: settings: %s\n", regwatch_status_str(st));
	}
	if (cfg) {
		ast_config_destroy(cfg);
	}
	drain();
	return 0;
}

/* Loads regwatch.conf. Returns 1 when unchanged (reload), -1 when invalid,
 * else 0 with *out the file (NULL when there is none). */
static int read_config(int reload, struct ast_config **out)
{
	struct ast_flags flags = { reload ? CONFIG_FLAG_FILEUNCHANGED : 0 };
	struct ast_config *cfg = ast_config_load2("regwatch.conf", "res_regwatch", flags);

	*out = NULL;
	if (cfg == CONFIG_STATUS_FILEUNCHANGED) {
		return 1;
	}
	if (cfg == CONFIG_STATUS_FILEINVALID) {
		ast_log(LOG_ERROR, "regwatch.conf is not valid; keeping the current settings\n");
		return -1;
	}
	if (!cfg || cfg == CONFIG_STATUS_FILEMISSING) {
		ast_log(LOG_NOTICE, "regwatch.conf not found: defaults apply\n");
		return 0;
	}
	*out = cfg;
	return 0;
}

/* --- CLI and AMI ---------------------------------------------------------- */

/* A rendering asked of the engine's serializer by a CLI or AMI handler. */
struct text_request {
	render_fn fn;
	void *arg;
	char *text;
	regwatch_status status;
};

static int text_task(void *data)
{
	struct text_request *r = data;

	r->status = render(r->fn, r->arg, &r->text);
	return 0;
}

/* Renders on the serializer; REGWATCH_STATUS_IO when regwatch is unloading. */
static regwatch_status ask_engine(render_fn fn, void *arg, char **text)
{
	struct text_request r = { .fn = fn, .arg = arg, .status = REGWATCH_STATUS_IO };

	*text = NULL;
	if (is_unloading() || ast_sip_push_task_wait_serializer(serializer, text_task, &r)) {
		return REGWATCH_STATUS_IO;
	}
	*text = r.text;
	return r.status;
}

static regwatch_status trunks_text(void *arg, char *b, size_t l, size_t *o)
{
	(void) arg;
	return regwatch_engine_trunks_text(engine, b, l, o);
}

static regwatch_status trunk_text(void *arg, char *b, size_t l, size_t *o)
{
	return regwatch_engine_trunk_text(engine, arg, b, l, o);
}

static regwatch_status findings_text(void *arg, char *b, size_t l, size_t *o)
{
	(void) arg;
	return regwatch_engine_findings_text(engine, b, l, o);
}

static regwatch_status metrics_text(void *arg, char *b, size_t l, size_t *o)
{
	(void) arg;
	return regwatch_engine_metrics_text(engine, metrics_host, b, l, o);
}

static regwatch_status job_text(void *arg, char *b, size_t l, size_t *o)
{
	return regwatch_job_text(arg, b, l, o);
}

struct ami_request {
	const char *action_id;
	size_t count;
};

static regwatch_status ami_trunks(void *arg, char *b, size_t l, size_t *o)
{
	struct ami_request *r = arg;

	return regwatch_engine_ami_trunks(engine, r->action_id, b, l, o, &r->count);
}

struct job_request {
	const char *trunk;
	struct regwatch_job *job;
	regwatch_status status;
};

static int check_job_task(void *data)
{
	struct job_request *r = data;

	r->status = regwatch_engine_check_job(engine, r->trunk, &r->job);
	return 0;
}

static char *complete_trunk(const char *word)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	struct ao2_container *regs;
	struct ao2_iterator it;
	void *obj;
	size_t wlen = strlen(word);

	if (!sorcery) {
		return NULL;
	}
	regs = ast_sorcery_retrieve_by_fields(sorcery, "registration",
		AST_RETRIEVE_FLAG_MULTIPLE | AST_RETRIEVE_FLAG_ALL, NULL);
	if (!regs) {
		return NULL;
	}
	it = ao2_iterator_init(regs, 0);
	while ((obj = ao2_iterator_next(&it))) {
		const char *id = ast_sorcery_object_get_id(obj);

		if (!strncasecmp(word, id, wlen)) {
			ast_cli_completion_add(ast_strdup(id));
		}
		ao2_ref(obj, -1);
	}
	ao2_iterator_destroy(&it);
	ao2_ref(regs, -1);
	return NULL;
}

/* Prints what the engine renders, or why not. */
static char *print(int fd, regwatch_status st, char *text, const char *trunk)
{
	if (st == REGWATCH_STATUS_OK) {
		ast_cli(fd, "%s", text);
		ast_free(text);
		return CLI_SUCCESS;
	}
	if (st == REGWATCH_STATUS_NOT_FOUND) {
		ast_cli(fd, "No registration named '%s' (see 'regwatch show trunks')\n", trunk);
	} else if (st == REGWATCH_STATUS_IO) {
		ast_cli(fd, "regwatch is not available\n");
	} else {
		ast_cli(fd, "regwatch: %s\n", regwatch_status_str(st));
	}
	return CLI_FAILURE;
}

/* The `regwatch show ...` commands: what each renders, in cli_entries order. */
static const struct {
	const char *command, *usage;
	render_fn fn;
	int trunk_arg; /* argv index of the registration name, or 0 */
} shows[] = {
	{ "regwatch show trunks", "Usage: regwatch show trunks\n"
		"       One line per outbound registration: state, cause, last SIP code,\n"
		"       seconds until the binding lapses, keep-alive round trip, alert.\n", trunks_text, 0 },
	{ "regwatch show trunk", "Usage: regwatch show trunk <registration>\n"
		"       The diagnosis of one outbound registration: state, cause, what\n"
		"       was seen, what to do, configuration findings and history.\n", trunk_text, 3 },
	{ "regwatch show findings", "Usage: regwatch show findings\n"
		"       Configuration problems of every outbound registration, with the fix.\n", findings_text, 0 },
	{ "regwatch show metrics", "Usage: regwatch show metrics\n"
		"       The Prometheus text regwatch adds to Asterisk's /metrics when res_prometheus\n"
		"       is loaded before it (prometheus.conf, http.conf): the names and labels of\n"
		"       `regwatch watch --metrics`, host = Asterisk's systemname or the host name.\n",
		metrics_text, 0 },
};

static struct ast_cli_entry cli_entries[];

static char *cli_show(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	size_t i = (size_t) (e - cli_entries);
	const char *trunk;
	regwatch_status st;
	char *text;

	switch (cmd) {
	case CLI_INIT:
		e->command = (char *) shows[i].command;
		e->usage = shows[i].usage;
		return NULL;
	case CLI_GENERATE:
		return shows[i].trunk_arg && a->pos == shows[i].trunk_arg ? complete_trunk(a->word) : NULL;
	}
	if (a->argc != (shows[i].trunk_arg ? 4 : 3)) {
		return CLI_SHOWUSAGE;
	}
	trunk = shows[i].trunk_arg ? a->argv[shows[i].trunk_arg] : NULL;
	st = ask_engine(shows[i].fn, (void *) trunk, &text);
	return print(a->fd, st, text, trunk);
}

static char *cli_check(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	struct job_request r = { .status = REGWATCH_STATUS_IO };
	regwatch_status st;
	char *text;

	switch (cmd) {
	case CLI_INIT:
		e->command = "regwatch check";
		e->usage = "Usage: regwatch check <registration>\n"
			"       A live check now, outside PJSIP: OPTIONS to the registrar and a test\n"
			"       REGISTER with the registration's credentials (removed again with\n"
			"       Expires: 0), then the diagnosis. Takes up to a few seconds.\n";
		return NULL;
	case CLI_GENERATE:
		return a->pos == 2 ? complete_trunk(a->word) : NULL;
	}
	if (a->argc != 3) {
		return CLI_SHOWUSAGE;
	}
	r.trunk = a->argv[2];
	if (is_unloading() || ast_sip_push_task_wait_serializer(serializer, check_job_task, &r)) {
		r.status = REGWATCH_STATUS_IO;
	}
	if (r.status != REGWATCH_STATUS_OK) {
		return print(a->fd, r.status, NULL, r.trunk);
	}
	ast_cli(a->fd, "Checking '%s'...\n", r.trunk);
	/* Blocks this CLI thread for the exchanges, never the engine. */
	st = regwatch_job_run(r.job);
	if (st != REGWATCH_STATUS_OK) {
		ast_cli(a->fd, "regwatch: the check could not run: %s\n", regwatch_status_str(st));
		regwatch_job_free(r.job);
		return CLI_FAILURE;
	}
	st = render(job_text, r.job, &text);
	regwatch_job_free(r.job);
	return print(a->fd, st, text, r.trunk);
}

static struct ast_cli_entry cli_entries[] = {
	AST_CLI_DEFINE(cli_show, "List watched registrations with state and cause"),
	AST_CLI_DEFINE(cli_show, "Explain one registration: cause, fix, evidence, history"),
	AST_CLI_DEFINE(cli_show, "Show configuration findings of every registration"),
	AST_CLI_DEFINE(cli_show, "Show the Prometheus metrics of every registration"),
	AST_CLI_DEFINE(cli_check, "Run a live OPTIONS and test REGISTER for a registration"),
};

static int ami_show_trunks(struct mansession *s, const struct message *m)
{
	struct ami_request r = { .action_id = astman_get_header(m, "ActionID") };
	char *text;

	if (ask_engine(ami_trunks, &r, &text) != REGWATCH_STATUS_OK) {
		astman_send_error(s, m, "regwatch is not available");
		return 0;
	}
	astman_send_listack(s, m, "Trunk list will follow", "start");
	astman_append(s, "%s", text);
	ast_free(text);
	astman_send_list_complete_start(s, m, "RegwatchTrunkListComplete", (int) r.count);
	astman_send_list_complete_end(s);
	return 0;
}

/* --- metrics on Asterisk's /metrics (res_prometheus) ---------------------- */

/* A scrape (HTTP or CLI thread, res_prometheus's scrape lock held): the
 * text is rendered on the serializer, as for the CLI; none while unloading. */
static void prometheus_metrics(struct ast_str **output)
{
	char *text;

	if (ask_engine(metrics_text, NULL, &text) == REGWATCH_STATUS_OK) {
		ast_str_append(output, 0, "%s", text);
		ast_free(text);
	}
}

static struct prometheus_callback prometheus_cb = {
	.name = "res_regwatch",
	.callback_fn = prometheus_metrics,
};

/* ast_update_module_list_condition's callback: 1 for res_prometheus running. */
static int prometheus_runs(const char *module, const char *description, int usecnt, const char *status,
	const char *like, enum ast_module_support_level level, void *data, const char *condition)
{
	(void) description, (void) usecnt, (void) like, (void) level, (void) data, (void) condition;
	return !strcmp(module, "res_prometheus.so") && !strcmp(status, "Running");
}

/* res_prometheus's function `name`, looked up in the loaded module, or
 * NULL; *lib keeps it mapped until dlclose. Load and unload only: the
 * module list is locked, res_prometheus neither loads nor unloads. */
static void *prometheus_fn(const char *name, void **lib)
{
	char path[PATH_MAX];
	void *fn = NULL;

	snprintf(path, sizeof(path), "%s/res_prometheus.so", ast_config_AST_MODULE_DIR);
	if ((*lib = dlopen(path, RTLD_LAZY | RTLD_NOLOAD)) && !(fn = dlsym(*lib, name))) {
		dlclose(*lib);
	}
	return fn;
}

static void prometheus_start(void)
{
	int (*reg)(struct prometheus_callback *) = NULL;
	void *lib;

	if (ast_update_module_list_condition(prometheus_runs, NULL, NULL, NULL)) {
		reg = (int (*)(struct prometheus_callback *)) prometheus_fn("prometheus_callback_register", &lib);
	}
	if (!reg) {
		ast_verb(3, "regwatch: res_prometheus is not running: no metrics on Asterisk's /metrics\n");
		return;
	}
	prometheus_registered = !reg(&prometheus_cb);
	dlclose(lib);
	if (prometheus_registered) {
		ast_log(LOG_NOTICE, "regwatch: metrics added to res_prometheus (Asterisk's /metrics)\n");
	} else {
		ast_log(LOG_WARNING, "regwatch: res_prometheus refused its metrics\n");
	}
}

/* A res_prometheus unloaded since dropped the callback with its list. */
static void prometheus_stop(void)
{
	void (*unreg)(struct prometheus_callback *) = NULL;
	void *lib;

	if (prometheus_registered) {
		unreg = (void (*)(struct prometheus_callback *)) prometheus_fn("prometheus_callback_unregister", &lib);
	}
	if (unreg) {
		/* Waits for a scrape in progress, which the serializer answers. */
		unreg(&prometheus_cb);
		dlclose(lib);
	}
	prometheus_registered = 0;
}

/* --- module life ----------------------------------------------------------- */

static int noop_task(void *data)
{
	(void) data;
	return 0;
}

static int unload_module(void)
{
	size_t i;
	int waited;

	__atomic_store_n(&unloading, 1, __ATOMIC_RELEASE);

	/* 1. No new input: CLI, AMI, stasis, sorcery, the pjsip service. */
	if (cli_registered) {
		ast_cli_unregister_multiple(cli_entries, ARRAY_LEN(cli_entries));
		ast_manager_unregister("RegwatchShowTrunks");
		cli_registered = 0;
	}
	prometheus_stop();
	if (registry_sub) {
		registry_sub = stasis_unsubscribe_and_join(registry_sub);
	}
	if (observers_added) {
		for (i = 0; i < ARRAY_LEN(observed_types); i++) {
			ast_sorcery_observer_remove(ast_sip_get_sorcery(), observed_types[i], &sorcery_observer);
		}
		observers_added = 0;
	}
	if (service_registered) {
		ast_sip_unregister_service(&observer_module);
		service_registered = 0;
	}

	/* 2. Our OPTIONS in flight: each ends within its timeout. */
	for (waited = 0; __atomic_load_n(&inflight, __ATOMIC_ACQUIRE) > 0 && waited < 600; waited++) {
		usleep(50000);
	}
	if (__atomic_load_n(&inflight, __ATOMIC_ACQUIRE) > 0) {
		ast_log(LOG_ERROR, "regwatch: %d OPTIONS still unanswered after 30 s\n",
			__atomic_load_n(&inflight, __ATOMIC_ACQUIRE));
		return -1;
	}

	/* 3. Timers, then the prober (it feeds the serializer), then the serializer. */
	if (sched) {
		ast_sched_context_destroy(sched);
		sched = NULL;
	}
	if (prober) {
		ast_sip_push_task_wait_serializer(prober, noop_task, NULL);
		prober = ast_taskprocessor_unreference(prober);
	}
	if (serializer) {
		ast_sip_push_task_wait_serializer(serializer, noop_task, NULL);
		ast_taskprocessor_unreference(serializer);
		serializer = NULL;
	}
	timer_id = -1;
	armed_at = 0;

	/* 4. Nothing can reach the engine any more. */
	ao2_cleanup(probe_endpoint);
	probe_endpoint = NULL;
	carry_out();
	regwatch_engine_free(engine);
	engine = NULL;
	if (devnull >= 0) {
		close(devnull);
		devnull = -1;
	}
	return 0;
}

static int load_module(void)
{
	struct ast_config *cfg;
	regwatch_status st;
	size_t i;

	if (regwatch_abi_version() != REGWATCH_ABI_VERSION) {
		ast_log(LOG_ERROR, "regwatch: libregwatch ABI %u, this module needs %u\n",
			regwatch_abi_version(), (unsigned) REGWATCH_ABI_VERSION);
		return AST_MODULE_LOAD_DECLINE;
	}
	__atomic_store_n(&unloading, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&inflight, 0, __ATOMIC_RELEASE);
	carry_pending = 1;
	st = regwatch_engine_new(now_ms(), (uint64_t) ast_random() << 32 | (uint64_t) ast_random(), &engine);
	if (st != REGWATCH_STATUS_OK) {
		ast_log(LOG_ERROR, "regwatch: no engine: %s\n", regwatch_status_str(st));
		return AST_MODULE_LOAD_DECLINE;
	}
	/* Nothing is logged until regwatch.conf's log_level is applied. */
	if (regwatch_engine_set_log_callback(engine, on_engine_log, NULL, 0) != REGWATCH_STATUS_OK
			|| read_config(0, &cfg) < 0) {
		regwatch_engine_free(engine);
		engine = NULL;
		return AST_MODULE_LOAD_DECLINE;
	}
	apply_config_task(cfg); /* nothing else runs yet */

	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	serializer = ast_sip_create_serializer("regwatch/engine");
	prober = ast_taskprocessor_get("regwatch/probe", TPS_REF_DEFAULT);
	sched = ast_sched_context_create();
	probe_endpoint = ast_sorcery_alloc(ast_sip_get_sorcery(), "endpoint", "regwatch-probe");
	if (devnull < 0 || !serializer || !prober || !sched || !probe_endpoint || ast_sched_start_thread(sched)) {
		ast_log(LOG_ERROR, "regwatch: could not start its threads\n");
		unload_module();
		return AST_MODULE_LOAD_DECLINE;
	}
	if (ast_sip_register_service(&observer_module)) {
		ast_log(LOG_ERROR, "regwatch: could not register the PJSIP observer\n");
		unload_module();
		return AST_MODULE_LOAD_DECLINE;
	}
	service_registered = 1;
	registry_sub = stasis_subscribe(ast_system_topic(), registry_cb, NULL);
	if (registry_sub) {
		stasis_subscription_accept_message_type(registry_sub, ast_system_registry_type());
		stasis_subscription_accept_message_type(registry_sub, stasis_subscription_change_type());
		stasis_subscription_set_filter(registry_sub, STASIS_SUBSCRIPTION_FILTER_SELECTIVE);
	} else {
		ast_log(LOG_WARNING, "regwatch: no Registry messages (stasis subscription failed)\n");
	}
	for (i = 0; i < ARRAY_LEN(observed_types); i++) {
		if (ast_sorcery_observer_add(ast_sip_get_sorcery(), observed_types[i], &sorcery_observer)) {
			ast_log(LOG_WARNING, "regwatch: will not see changes of PJSIP %s objects\n", observed_types[i]);
		}
	}
	observers_added = 1;
	/* The metrics' host label: asterisk.conf's systemname, else the host
	 * name (`regwatch watch --metrics`'s default). */
	if (!ast_strlen_zero(ast_config_AST_SYSTEM_NAME)) {
		ast_copy_string(metrics_host, ast_config_AST_SYSTEM_NAME, sizeof(metrics_host));
	} else if (gethostname(metrics_host, sizeof(metrics_host) - 1)) {
		metrics_host[0] = '\0';
	}
	ast_cli_register_multiple(cli_entries, ARRAY_LEN(cli_entries));
	/* Synopsis and description given here: an externally built module's
	 * XML documentation is not in Asterisk's documentation database. */
	ast_manager_register2("RegwatchShowTrunks", EVENT_FLAG_SYSTEM | EVENT_FLAG_REPORTING, ami_show_trunks,
		AST_MODULE_SELF, "List the trunks regwatch watches, with their state and cause.",
		"Sends one RegwatchTrunk event per outbound registration (Trunk, State, Cause, Code,\n"
		"Alerting, ExpiresIn, Findings, Summary), then RegwatchTrunkListComplete.\n");
	cli_registered = 1;
	prometheus_start();
	queue_sync();
	ast_log(LOG_NOTICE, "regwatch %s watching PJSIP outbound registrations\n", regwatch_version());
	return AST_MODULE_LOAD_SUCCESS;
}

static int reload_module(void)
{
	struct ast_config *cfg;
	int r = read_config(1, &cfg);

	if (r == 0 && ast_sip_push_task_wait_serializer(serializer, apply_config_task, cfg) && cfg) {
		ast_config_destroy(cfg);
	}
	queue_sync();
	return r < 0 ? -1 : 0;
}

AST_MODULE_INFO(ASTERISK_GPL_KEY, AST_MODFLAG_LOAD_ORDER, "regwatch: SIP trunk registration health",
	.support_level = AST_MODULE_SUPPORT_EXTENDED,
	.load = load_module,
	.unload = unload_module,
	.reload = reload_module,
	/* After res_prometheus (AST_MODPRI_DEFAULT). Not an optional module:
	 * the loader would decline this one with a res_prometheus that fails
	 * to load (no prometheus.conf), and refuse to unload res_prometheus
	 * until Asterisk stops (this module never unloads completely). */
	.load_pri = AST_MODPRI_DEFAULT + 1,
	.requires = "res_pjsip",
	.optional_modules = "res_pjsip_outbound_registration",
);
