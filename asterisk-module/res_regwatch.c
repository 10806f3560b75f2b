/*
 * res_regwatch: SIP trunk registration health for Asterisk's PJSIP.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * A thin translator between Asterisk and libregwatch (linked statically):
 * it hands the engine what Asterisk gives (sorcery object sets, stasis
 * Registry messages, every REGISTER and OPTIONS on the wire) and shows what
 * the engine renders (CLI text, AMI events, log lines). It decides nothing:
 * classification, thresholds, keep-alive timing, validation and the words
 * of every diagnosis are libregwatch's.
 *
 * Threads. Every engine call runs on one PJSIP serializer ("regwatch");
 * pjsip and stasis callbacks only copy what they get and push it there.
 * The engine's next deadline is armed on a private ast_sched context whose
 * callback only pushes a "timeout" task. OPTIONS keep-alives on the
 * registration's own transport go through PJSIP; probes of alternative
 * transports, and `regwatch check`, use libregwatch's own driver on a
 * dedicated taskprocessor (they block).
 */

/*** MODULEINFO
	<depend>pjproject</depend>
	<depend>res_pjsip</depend>
	<use type="module">res_pjsip_outbound_registration</use>
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
				<parameter name="Summary"><para>The diagnosis in one line.</para></parameter>
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
				<parameter name="Severity"><para>info, warning or error.</para></parameter>
				<parameter name="Code"><para>The SIP status code behind it, or 0.</para></parameter>
				<parameter name="Summary"><para>What is wrong, in plain words.</para></parameter>
			</syntax>
		</managerEventInstance>
	</managerEvent>
 ***/

#include "asterisk.h"

#include <pjsip.h>
#include <pjlib.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asterisk/astobj2.h"
#include "asterisk/cli.h"
#include "asterisk/config.h"
#include "asterisk/json.h"
#include "asterisk/logger.h"
#include "asterisk/manager.h"
#include "asterisk/module.h"
#include "asterisk/res_pjsip.h"
#include "asterisk/sched.h"
#include "asterisk/sorcery.h"
#include "asterisk/stasis.h"
#include "asterisk/stasis_system.h"
#include "asterisk/taskprocessor.h"
#include "asterisk/utils.h"

#include "regwatch.h"

/* Module settings from regwatch.conf that are not engine options. */
struct settings {
	int reregister;            /* reregister_on_recovery */
	unsigned int check_timeout_ms;
	regwatch_log_level log_level;
	char ca_file[PATH_MAX];
	struct ast_str *no_reregister; /* ",name,name," of sections saying no */
};

/* Engine options read from [general], applied on the serializer. */
struct options {
	size_t n;
	char *keys[64];
	char *values[64];
};

static struct regwatch_engine *engine;        /* serializer only */
static struct ast_taskprocessor *serializer;  /* every engine call */
static struct ast_taskprocessor *prober;      /* blocking driver probes */
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
static struct settings settings;              /* serializer only after load */
AST_MUTEX_DEFINE_STATIC(settings_lock);       /* for CLI readers */

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

/* Text the engine renders into a buffer it sizes; the caller frees it. */
typedef regwatch_status (*render_fn)(void *arg, char *buf, size_t len, size_t *out_len);

static char *render(render_fn fn, void *arg)
{
	size_t need = 0;
	char *buf;
	regwatch_status st = fn(arg, NULL, 0, &need);

	if (st != REGWATCH_STATUS_OK && st != REGWATCH_STATUS_BUFFER_TOO_SMALL) {
		return NULL;
	}
	buf = ast_malloc(need ? need : 1);
	if (!buf) {
		return NULL;
	}
	if (fn(arg, buf, need, &need) != REGWATCH_STATUS_OK) {
		ast_free(buf);
		return NULL;
	}
	return buf;
}

static int is_excluded(const char *trunk)
{
	char needle[256];

	if (!settings.no_reregister) {
		return 0;
	}
	snprintf(needle, sizeof(needle), ",%s,", trunk);
	return strstr(ast_str_buffer(settings.no_reregister), needle) != NULL;
}

static void send_probe(const struct regwatch_event *ev);

static void handle_event(const struct regwatch_event *ev)
{
	char cmd[300];

	switch (ev->kind) {
	case REGWATCH_EVENT_STATE_CHANGED:
		manager_event(EVENT_FLAG_SYSTEM, "RegwatchState",
			"Trunk: %s\r\nState: %s\r\nPreviousState: %s\r\nCause: %s\r\nCode: %u\r\nSummary: %s\r\n",
			ev->trunk, ev->state, ev->previous_state, ev->cause, (unsigned) ev->code, ev->summary);
		break;
	case REGWATCH_EVENT_ALERT_RAISED:
	case REGWATCH_EVENT_ALERT_CLEARED:
		manager_event(EVENT_FLAG_SYSTEM, "RegwatchAlert",
			"Trunk: %s\r\nAlert: %s\r\nState: %s\r\nCause: %s\r\nSeverity: %s\r\nCode: %u\r\nSummary: %s\r\n",
			ev->trunk, ev->kind == REGWATCH_EVENT_ALERT_RAISED ? "raised" : "cleared",
			ev->state, ev->cause, ev->severity, (unsigned) ev->code, ev->summary);
		break;
	case REGWATCH_EVENT_FINDING:
		/* Emitted when a registration is added or its configuration changes. */
		if (!strcmp(ev->severity, "info")) {
			ast_log(LOG_NOTICE, "regwatch: registration '%s': [%s] %s: %s\n",
				ev->trunk, ev->severity, ev->cause, ev->summary);
		} else {
			ast_log(LOG_WARNING, "regwatch: registration '%s': [%s] %s: %s\n",
				ev->trunk, ev->severity, ev->cause, ev->summary);
		}
		break;
	case REGWATCH_EVENT_ACTION_REREGISTER:
		if (!settings.reregister || is_excluded(ev->trunk)) {
			ast_log(LOG_NOTICE, "regwatch: registrar of '%s' answers again; "
				"re-registration on recovery is off for it\n", ev->trunk);
			break;
		}
		ast_log(LOG_NOTICE, "regwatch: registrar of '%s' answers again: re-registering now\n",
			ev->trunk);
		snprintf(cmd, sizeof(cmd), "pjsip send register %s", ev->trunk);
		if (ast_cli_command(devnull, cmd) != RESULT_SUCCESS) {
			ast_log(LOG_WARNING, "regwatch: '%s' failed (is res_pjsip_outbound_registration loaded?)\n", cmd);
		}
		break;
	case REGWATCH_EVENT_TRANSMIT:
		send_probe(ev);
		break;
	default:
		break;
	}
}

static int sched_fired(const void *data);

/* Drains the engine's outputs and re-arms the one timer. Serializer only. */
static void drain(void)
{
	struct regwatch_event ev;
	uint64_t deadline;

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
	if (deadline) {
		uint64_t now = now_ms();
		int wait = deadline > now ? (int) MIN(deadline - now, 3600000) : 0;

		timer_id = ast_sched_add(sched, wait, sched_fired, NULL);
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

struct probe {
	uint64_t id;
	uint64_t sent_us;
	regwatch_probe_outcome outcome;
	uint16_t code;
	regwatch_transport_error terror;
	uint64_t rtt_us;
	/* Alternative-transport probes (the driver's own OPTIONS). */
	struct regwatch_check *check;
	uint16_t port;
	regwatch_transport transport;
	uint32_t timeout_ms;
	char host[256];
	char domain[256];
	char user[128];
	char trunk[];
};

static struct probe *probe_alloc(const struct regwatch_event *ev)
{
	size_t n = strlen(ev->trunk) + 1;
	struct probe *p = ast_calloc(1, sizeof(*p) + n);

	if (p) {
		p->id = ev->probe_id;
		p->sent_us = now_us();
		p->port = ev->probe_port;
		p->transport = ev->probe_transport;
		memcpy(p->trunk, ev->trunk, n);
	}
	return p;
}

static int probe_done_task(void *data)
{
	struct probe *p = data;
	regwatch_status st;
	uint64_t now = now_ms();

	if (p->check) {
		st = regwatch_engine_probe_check(engine, now, p->trunk, p->id, p->check);
		regwatch_check_free(p->check);
	} else {
		st = regwatch_engine_probe_result(engine, now, p->trunk, p->id, p->outcome, p->code,
			p->terror, (int64_t) p->rtt_us);
	}
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
	/* res_pjsip's own timeout passes an event without a transaction. */
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
		p->outcome = REGWATCH_PROBE_LOCAL_RESPONSE;
		p->code = (e->type == PJSIP_EVENT_TSX_STATE && e->body.tsx_state.tsx)
			? e->body.tsx_state.tsx->status_code : 408;
		break;
	}
	if (ast_sip_push_task(serializer, probe_done_task, p)) {
		ast_free(p);
	}
	__atomic_fetch_sub(&inflight, 1, __ATOMIC_ACQ_REL);
}

/* The driver's OPTIONS over an alternative transport (the prober thread). */
static int alternate_task(void *data)
{
	struct probe *p = data;
	char ca_file[PATH_MAX];

	ast_mutex_lock(&settings_lock);
	ast_copy_string(ca_file, settings.ca_file, sizeof(ca_file));
	ast_mutex_unlock(&settings_lock);
	if (is_unloading() || regwatch_check_options(p->host, p->port, p->transport, p->domain,
			p->user, p->timeout_ms, ca_file[0] ? ca_file : NULL, &p->check) != REGWATCH_STATUS_OK) {
		ast_free(p);
		return 0;
	}
	if (ast_sip_push_task(serializer, probe_done_task, p)) {
		regwatch_check_free(p->check);
		ast_free(p);
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

static void report_now(struct probe *p, regwatch_probe_outcome outcome, regwatch_transport_error terror)
{
	p->outcome = outcome;
	p->terror = terror;
	if (regwatch_engine_probe_result(engine, now_ms(), p->trunk, p->id, p->outcome, 0, p->terror, -1)
			!= REGWATCH_STATUS_OK) {
		ast_debug(1, "regwatch: probe of '%s' no longer awaited\n", p->trunk);
	}
	ast_free(p);
}

/* Serializer: an OPTIONS as the engine asked, through PJSIP on the
 * registration's own transport and outbound proxy, or through the driver
 * for an alternative transport. */
static void send_probe(const struct regwatch_event *ev)
{
	struct ast_json *json = ast_json_load_string(ev->json, NULL);
	const char *purpose = json ? ast_json_string_get(ast_json_object_get(json, "purpose")) : NULL;
	struct probe *p;
	struct ast_sorcery *sorcery;
	void *reg;
	struct ast_variable *vars = NULL;
	char *server_uri = NULL, *client_uri = NULL, *proxy = NULL, *transport = NULL;
	pj_str_t target, from;
	pjsip_tx_data *tdata;
	uint64_t now = now_ms();
	int timeout = ev->probe_deadline_ms > now ? (int) (ev->probe_deadline_ms - now) : 1000;

	if (is_unloading() || !(p = probe_alloc(ev))) {
		ast_json_unref(json);
		return;
	}
	if (purpose && !strcmp(purpose, "alternate")) {
		const char *domain = ast_json_string_get(ast_json_object_get(json, "domain"));
		const char *user = ast_json_string_get(ast_json_object_get(json, "username"));

		ast_copy_string(p->host, ev->probe_host, sizeof(p->host));
		ast_copy_string(p->domain, S_OR(domain, ev->probe_host), sizeof(p->domain));
		ast_copy_string(p->user, S_OR(user, "regwatch"), sizeof(p->user));
		p->timeout_ms = timeout;
		ast_json_unref(json);
		if (ast_taskprocessor_push(prober, alternate_task, p)) {
			ast_free(p);
		}
		return;
	}
	ast_json_unref(json);

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
		report_now(p, REGWATCH_PROBE_TRANSPORT_ERROR, REGWATCH_TRANSPORT_ERROR_UNREACHABLE);
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
	if (ast_sip_send_out_of_dialog_request(tdata, probe_endpoint, timeout, p, probe_cb)) {
		/* The callback will not run; tdata was released by res_pjsip. */
		__atomic_fetch_sub(&inflight, 1, __ATOMIC_ACQ_REL);
		report_now(p, REGWATCH_PROBE_TRANSPORT_ERROR, REGWATCH_TRANSPORT_ERROR_UNREACHABLE);
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

static int wanted(int method_id)
{
	return method_id == PJSIP_REGISTER_METHOD || method_id == PJSIP_OPTIONS_METHOD;
}

static void queue_copy(regwatch_direction dir, const pjsip_transport *tp, const char *host, int port,
	const char *bytes, size_t len)
{
	struct sip_copy *c;

	if (is_unloading() || !bytes || !len || len > MAX_MESSAGE) {
		return;
	}
	c = ast_malloc(sizeof(*c) + len);
	if (!c) {
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
	if (rdata->msg_info.cseq && wanted(rdata->msg_info.cseq->method.id)) {
		queue_copy(REGWATCH_DIRECTION_RECEIVED, rdata->tp_info.transport, rdata->pkt_info.src_name,
			rdata->pkt_info.src_port, rdata->msg_info.msg_buf, rdata->msg_info.len);
	}
	return PJ_FALSE; /* never consumed */
}

static pj_status_t on_tx(pjsip_tx_data *tdata)
{
	int method = -1;

	if (tdata->msg->type == PJSIP_REQUEST_MSG) {
		method = tdata->msg->line.req.method.id;
	} else {
		pjsip_cseq_hdr *cseq = pjsip_msg_find_hdr(tdata->msg, PJSIP_H_CSEQ, NULL);

		method = cseq ? (int) cseq->method.id : -1;
	}
	if (wanted(method)) {
		queue_copy(REGWATCH_DIRECTION_SENT, tdata->tp_info.transport, tdata->tp_info.dst_name,
			tdata->tp_info.dst_port, tdata->buf.start, (size_t) (tdata->buf.cur - tdata->buf.start));
	}
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

static void options_free(struct options *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		ast_free(o->keys[i]);
		ast_free(o->values[i]);
	}
	o->n = 0;
}

struct config_update {
	struct settings settings;
	struct options options;
};

/* Serializer (or load, before anything runs): applies a parsed regwatch.conf. */
static int apply_config_task(void *data)
{
	struct config_update *u = data;
	size_t i;
	regwatch_status st;

	st = regwatch_engine_set_log_callback(engine, on_engine_log, NULL, u->settings.log_level);
	if (st != REGWATCH_STATUS_OK) {
		ast_log(LOG_WARNING, "regwatch: log callback: %s\n", regwatch_status_str(st));
	}
	for (i = 0; i < u->options.n; i++) {
		st = regwatch_engine_set_option(engine, u->options.keys[i], u->options.values[i]);
		if (st != REGWATCH_STATUS_OK) {
			ast_log(LOG_WARNING, "regwatch.conf: [general] %s = %s: %s\n",
				u->options.keys[i], u->options.values[i], regwatch_status_str(st));
		}
	}
	options_free(&u->options);
	ast_mutex_lock(&settings_lock);
	ast_free(settings.no_reregister);
	settings = u->settings;
	ast_mutex_unlock(&settings_lock);
	if (engine) {
		drain();
	}
	return 0;
}

static regwatch_log_level log_level_of(const char *v)
{
	if (!strcasecmp(v, "error")) {
		return REGWATCH_LOG_ERROR;
	} else if (!strcasecmp(v, "warning")) {
		return REGWATCH_LOG_WARN;
	} else if (!strcasecmp(v, "debug")) {
		return REGWATCH_LOG_DEBUG;
	} else if (!strcasecmp(v, "trace")) {
		return REGWATCH_LOG_TRACE;
	}
	return REGWATCH_LOG_INFO;
}

/* Parses regwatch.conf. Returns 1 when unchanged (reload), -1 when invalid. */
static int read_config(int reload, struct config_update *u)
{
	struct ast_flags flags = { reload ? CONFIG_FLAG_FILEUNCHANGED : 0 };
	struct ast_config *cfg = ast_config_load2("regwatch.conf", "res_regwatch", flags);
	struct ast_variable *v;
	const char *cat = NULL;

	if (cfg == CONFIG_STATUS_FILEUNCHANGED) {
		return 1;
	}
	if (cfg == CONFIG_STATUS_FILEINVALID) {
		ast_log(LOG_ERROR, "regwatch.conf is not valid; keeping the current settings\n");
		return -1;
	}
	memset(u, 0, sizeof(*u));
	u->settings.reregister = 1;
	u->settings.check_timeout_ms = 8000;
	u->settings.log_level = REGWATCH_LOG_INFO;
	u->settings.no_reregister = ast_str_create(64);
	if (u->settings.no_reregister) {
		ast_str_set(&u->settings.no_reregister, 0, ",");
	}
	/* The module sends the engine's probes, so keep-alive is on unless
	 * regwatch.conf turns it off. */
	u->options.keys[0] = ast_strdup("keepalive");
	u->options.values[0] = ast_strdup("on");
	u->options.n = 1;
	if (!cfg || cfg == CONFIG_STATUS_FILEMISSING) {
		ast_log(LOG_NOTICE, "regwatch.conf not found: defaults apply\n");
		return 0;
	}
	for (v = ast_variable_browse(cfg, "general"); v; v = v->next) {
		if (!strcasecmp(v->name, "reregister_on_recovery")) {
			u->settings.reregister = ast_true(v->value);
		} else if (!strcasecmp(v->name, "check_timeout")) {
			u->settings.check_timeout_ms = (unsigned) atoi(v->value) * 1000;
		} else if (!strcasecmp(v->name, "ca_file")) {
			ast_copy_string(u->settings.ca_file, v->value, sizeof(u->settings.ca_file));
		} else if (!strcasecmp(v->name, "log_level")) {
			u->settings.log_level = log_level_of(v->value);
		} else if (u->options.n < ARRAY_LEN(u->options.keys)) {
			/* Everything else is an engine option, checked by the engine. */
			u->options.keys[u->options.n] = ast_strdup(v->name);
			u->options.values[u->options.n] = ast_strdup(v->value);
			u->options.n++;
		}
	}
	while ((cat = ast_category_browse(cfg, cat))) {
		const char *r;

		if (!strcasecmp(cat, "general")) {
			continue;
		}
		r = ast_variable_retrieve(cfg, cat, "reregister_on_recovery");
		if (r && ast_false(r) && u->settings.no_reregister) {
			ast_str_append(&u->settings.no_reregister, 0, "%s,", cat);
		}
	}
	ast_config_destroy(cfg);
	return 0;
}

/* --- CLI and AMI ---------------------------------------------------------- */

/* What a CLI or AMI handler asks the engine's serializer for. */
enum text_what {
	TEXT_TRUNKS,      /* the trunks table */
	TEXT_TRUNK,       /* one trunk's diagnosis */
	TEXT_FINDINGS,    /* every finding */
	TEXT_TRUNKS_JSON, /* the trunks as JSON (AMI) */
	TEXT_CONFIG,      /* a copy of one trunk's configuration (check) */
};

struct text_request {
	const char *trunk;   /* TEXT_TRUNK, TEXT_CONFIG */
	enum text_what what;
	char *text;
	regwatch_status status;
	struct regwatch_trunk_config *config;
};

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

static regwatch_status trunks_json(void *arg, char *b, size_t l, size_t *o)
{
	(void) arg;
	return regwatch_engine_trunks_json(engine, b, l, o);
}

static regwatch_status check_text(void *arg, char *b, size_t l, size_t *o)
{
	return regwatch_check_text(arg, b, l, o);
}

static int text_task(void *data)
{
	struct text_request *r = data;
	const char *state, *cause;

	switch (r->what) {
	case TEXT_TRUNKS:
		r->text = render(trunks_text, NULL);
		break;
	case TEXT_TRUNK:
		r->status = regwatch_engine_trunk_state(engine, r->trunk, &state, &cause);
		if (r->status == REGWATCH_STATUS_OK) {
			r->text = render(trunk_text, (void *) r->trunk);
		}
		break;
	case TEXT_FINDINGS:
		r->text = render(findings_text, NULL);
		break;
	case TEXT_TRUNKS_JSON:
		r->text = render(trunks_json, NULL);
		break;
	case TEXT_CONFIG:
		r->status = regwatch_engine_trunk_config(engine, r->trunk, &r->config);
		break;
	}
	return 0;
}

static int ask_engine(struct text_request *r)
{
	if (is_unloading()) {
		return -1;
	}
	return ast_sip_push_task_wait_serializer(serializer, text_task, r);
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

/* Prints what the engine renders for a whole-engine request. */
static char *print_text(int fd, struct text_request *r)
{
	if (ask_engine(r) || !r->text) {
		ast_cli(fd, "regwatch is not available\n");
		return CLI_FAILURE;
	}
	ast_cli(fd, "%s", r->text);
	ast_free(r->text);
	return CLI_SUCCESS;
}

static char *cli_show_trunks(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	struct text_request r = { .what = TEXT_TRUNKS };

	switch (cmd) {
	case CLI_INIT:
		e->command = "regwatch show trunks";
		e->usage = "Usage: regwatch show trunks\n"
			"       One line per outbound registration: state, cause, last SIP code,\n"
			"       seconds until the binding lapses, keep-alive round trip, alert.\n";
		return NULL;
	case CLI_GENERATE:
		return NULL;
	}
	if (a->argc != 3) {
		return CLI_SHOWUSAGE;
	}
	return print_text(a->fd, &r);
}

static char *cli_show_trunk(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	struct text_request r = { .what = TEXT_TRUNK };

	switch (cmd) {
	case CLI_INIT:
		e->command = "regwatch show trunk";
		e->usage = "Usage: regwatch show trunk <registration>\n"
			"       The diagnosis of one outbound registration: state, cause, what\n"
			"       was seen, what to do, configuration findings and history.\n";
		return NULL;
	case CLI_GENERATE:
		return a->pos == 3 ? complete_trunk(a->word) : NULL;
	}
	if (a->argc != 4) {
		return CLI_SHOWUSAGE;
	}
	r.trunk = a->argv[3];
	if (ask_engine(&r)) {
		ast_cli(a->fd, "regwatch is not available\n");
		return CLI_FAILURE;
	}
	if (r.status == REGWATCH_STATUS_NOT_FOUND) {
		ast_cli(a->fd, "No registration named '%s' (see 'regwatch show trunks')\n", r.trunk);
		return CLI_FAILURE;
	}
	if (!r.text) {
		ast_cli(a->fd, "regwatch: %s\n", regwatch_status_str(r.status));
		return CLI_FAILURE;
	}
	ast_cli(a->fd, "%s", r.text);
	ast_free(r.text);
	return CLI_SUCCESS;
}

static char *cli_show_findings(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	struct text_request r = { .what = TEXT_FINDINGS };

	switch (cmd) {
	case CLI_INIT:
		e->command = "regwatch show findings";
		e->usage = "Usage: regwatch show findings\n"
			"       Configuration problems of every outbound registration, with the fix.\n";
		return NULL;
	case CLI_GENERATE:
		return NULL;
	}
	if (a->argc != 3) {
		return CLI_SHOWUSAGE;
	}
	return print_text(a->fd, &r);
}

static char *cli_check(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	struct text_request r = { .what = TEXT_CONFIG };
	struct regwatch_check *check = NULL;
	regwatch_status st;
	char ca_file[PATH_MAX];
	unsigned int timeout;
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
	if (ask_engine(&r)) {
		ast_cli(a->fd, "regwatch is not available\n");
		return CLI_FAILURE;
	}
	if (r.status != REGWATCH_STATUS_OK) {
		ast_cli(a->fd, "No registration named '%s' (see 'regwatch show trunks')\n", r.trunk);
		return CLI_FAILURE;
	}
	ast_mutex_lock(&settings_lock);
	ast_copy_string(ca_file, settings.ca_file, sizeof(ca_file));
	timeout = settings.check_timeout_ms;
	ast_mutex_unlock(&settings_lock);
	ast_cli(a->fd, "Checking '%s'...\n", r.trunk);
	st = regwatch_check_trunk(r.config, timeout, ca_file[0] ? ca_file : NULL, &check);
	regwatch_trunk_config_free(r.config);
	if (st != REGWATCH_STATUS_OK) {
		ast_cli(a->fd, "regwatch: the check could not run: %s\n", regwatch_status_str(st));
		return CLI_FAILURE;
	}
	text = render(check_text, check);
	ast_cli(a->fd, "%s", S_OR(text, "(no output)\n"));
	ast_free(text);
	regwatch_check_free(check);
	return CLI_SUCCESS;
}

static struct ast_cli_entry cli_entries[] = {
	AST_CLI_DEFINE(cli_show_trunks, "List watched registrations with state and cause"),
	AST_CLI_DEFINE(cli_show_trunk, "Explain one registration: cause, fix, evidence, history"),
	AST_CLI_DEFINE(cli_show_findings, "Show configuration findings of every registration"),
	AST_CLI_DEFINE(cli_check, "Run a live OPTIONS and test REGISTER for a registration"),
};

static const char *json_str(struct ast_json *o, const char *key)
{
	return S_OR(ast_json_string_get(ast_json_object_get(o, key)), "");
}

static long json_int(struct ast_json *o, const char *key)
{
	struct ast_json *v = ast_json_object_get(o, key);

	return v && ast_json_typeof(v) == AST_JSON_INTEGER ? (long) ast_json_integer_get(v) : -1;
}

static int ami_show_trunks(struct mansession *s, const struct message *m)
{
	struct text_request r = { .what = TEXT_TRUNKS_JSON };
	const char *action_id = astman_get_header(m, "ActionID");
	struct ast_json *list;
	size_t i, n = 0;
	char idtext[256] = "";

	if (ask_engine(&r) || !r.text || !(list = ast_json_load_string(r.text, NULL))) {
		ast_free(r.text);
		astman_send_error(s, m, "regwatch is not available");
		return 0;
	}
	ast_free(r.text);
	if (!ast_strlen_zero(action_id)) {
		snprintf(idtext, sizeof(idtext), "ActionID: %s\r\n", action_id);
	}
	astman_send_listack(s, m, "Trunk list will follow", "start");
	for (i = 0; i < ast_json_array_size(list); i++) {
		struct ast_json *t = ast_json_array_get(list, i);
		long expires = json_int(t, "expires_in_ms");

		astman_append(s, "Event: RegwatchTrunk\r\n%s"
			"Trunk: %s\r\nState: %s\r\nCause: %s\r\nCode: %ld\r\nAlerting: %s\r\n"
			"ExpiresIn: %ld\r\nFindings: %ld\r\nSummary: %s\r\n\r\n",
			idtext, json_str(t, "name"), json_str(t, "state"), json_str(t, "cause"),
			json_int(t, "last_code") < 0 ? 0 : json_int(t, "last_code"),
			ast_json_is_true(ast_json_object_get(t, "alerting")) ? "yes" : "no",
			expires < 0 ? -1 : (expires + 999) / 1000, json_int(t, "findings"),
			json_str(t, "summary"));
		n++;
	}
	ast_json_unref(list);
	astman_send_list_complete_start(s, m, "RegwatchTrunkListComplete", (int) n);
	astman_send_list_complete_end(s);
	return 0;
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
	regwatch_engine_free(engine);
	engine = NULL;
	ast_free(settings.no_reregister);
	memset(&settings, 0, sizeof(settings));
	if (devnull >= 0) {
		close(devnull);
		devnull = -1;
	}
	return 0;
}

static int load_module(void)
{
	struct config_update u;
	regwatch_status st;
	size_t i;

	if (regwatch_abi_version() != REGWATCH_ABI_VERSION) {
		ast_log(LOG_ERROR, "regwatch: libregwatch ABI %u, this module needs %u\n",
			regwatch_abi_version(), (unsigned) REGWATCH_ABI_VERSION);
		return AST_MODULE_LOAD_DECLINE;
	}
	__atomic_store_n(&unloading, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&inflight, 0, __ATOMIC_RELEASE);
	st = regwatch_engine_new(now_ms(), (uint64_t) ast_random() << 32 | (uint64_t) ast_random(), &engine);
	if (st != REGWATCH_STATUS_OK) {
		ast_log(LOG_ERROR, "regwatch: no engine: %s\n", regwatch_status_str(st));
		return AST_MODULE_LOAD_DECLINE;
	}
	if (read_config(0, &u) < 0) {
		regwatch_engine_free(engine);
		engine = NULL;
		return AST_MODULE_LOAD_DECLINE;
	}
	apply_config_task(&u); /* nothing else runs yet */

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
	ast_cli_register_multiple(cli_entries, ARRAY_LEN(cli_entries));
	/* Synopsis and description given here: an externally built module's
	 * XML documentation is not in Asterisk's documentation database. */
	ast_manager_register2("RegwatchShowTrunks", EVENT_FLAG_SYSTEM | EVENT_FLAG_REPORTING, ami_show_trunks,
		AST_MODULE_SELF, "List the trunks regwatch watches, with their state and cause.",
		"Sends one RegwatchTrunk event per outbound registration (Trunk, State, Cause, Code,\n"
		"Alerting, ExpiresIn, Findings, Summary), then RegwatchTrunkListComplete.\n");
	cli_registered = 1;
	queue_sync();
	ast_log(LOG_NOTICE, "regwatch %s watching PJSIP outbound registrations\n", regwatch_version());
	return AST_MODULE_LOAD_SUCCESS;
}

static int reload_module(void)
{
	struct config_update *u = ast_calloc(1, sizeof(*u));
	int r;

	if (!u) {
		return -1;
	}
	r = read_config(1, u);
	if (r == 0) {
		ast_sip_push_task_wait_serializer(serializer, apply_config_task, u);
	}
	ast_free(u);
	queue_sync();
	return r < 0 ? -1 : 0;
}

AST_MODULE_INFO(ASTERISK_GPL_KEY, AST_MODFLAG_LOAD_ORDER, "regwatch: SIP trunk registration health",
	.support_level = AST_MODULE_SUPPORT_EXTENDED,
	.load = load_module,
	.unload = unload_module,
	.reload = reload_module,
	.load_pri = AST_MODPRI_APP_DEPEND,
	.requires = "res_pjsip",
	.optional_modules = "res_pjsip_outbound_registration",
);
