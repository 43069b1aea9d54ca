/*
 * Reading JSON with SQLite's json1 on a private in-memory connection (see
 * json_parse.h): batch publish bodies and WebSocket commands. The text is
 * bound, never copied into a table; results are copied out of the rows into
 * one allocation per call.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "json.h"
#include "json_parse.h"
#include "log.h"
#include "util.h"

/* ---- SQL --------------------------------------------------------------- */

static const char sql_valid[] = "SELECT json_valid(?1)";
/* The type and element count of the text, NULL when it is not valid JSON.
 * json1 keeps the parse of ?1 for the statement, so this reads the text once. */
static const char sql_head[] = "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END,"
			       " CASE WHEN json_valid(?1) THEN json_array_length(?1) END";
/* One row per batch element. A non-object element is never handed to
 * json_type(value, path): its value may be a bare string, which is not JSON
 * text. */
static const char sql_batch_elements[] =
	"SELECT key, type,"
	" CASE WHEN type = 'object' THEN json_type(value, '$.channel') END,"
	" CASE WHEN type = 'object' THEN value ->> '$.channel' END,"
	" CASE WHEN type = 'object' THEN json_type(value, '$.event') END,"
	" CASE WHEN type = 'object' THEN value ->> '$.event' END,"
	" CASE WHEN type = 'object' THEN json_type(value, '$.content_type') END,"
	" CASE WHEN type = 'object' THEN value ->> '$.content_type' END,"
	" CASE WHEN type = 'object' THEN json_type(value, '$.data') END,"
	" CASE WHEN type <> 'object' THEN NULL"
	"   WHEN json_type(value, '$.data') = 'text' THEN value ->> '$.data' ELSE value -> '$.data' END,"
	" CASE WHEN type = 'object' THEN json_type(value, '$.idempotency_key') END,"
	" CASE WHEN type = 'object' THEN value ->> '$.idempotency_key' END"
	" FROM json_each(?1)";
/* The members of a top-level JSON object: a string as its decoded text,
 * anything else as its JSON text. */
static const char sql_object_members[] =
	"SELECT key, type,"
	" CASE type WHEN 'text' THEN atom WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
	"   WHEN 'null' THEN 'null' WHEN 'object' THEN value WHEN 'array' THEN value"
	"   ELSE json_quote(value) END"
	" FROM json_each(?1)";

enum jp_stmt {
	JP_VALID,
	JP_HEAD,
	JP_BATCH_ELEMENTS,
	JP_OBJECT_MEMBERS,
	JP_NSTMT
};

static const char *const jp_sql[JP_NSTMT] = {
	[JP_VALID] = sql_valid,
	[JP_HEAD] = sql_head,
	[JP_BATCH_ELEMENTS] = sql_batch_elements,
	[JP_OBJECT_MEMBERS] = sql_object_members,
};

/* Set *cause to a formatted sentence when the caller asked for one. */
#define set_cause(cause, ...)                              \
	do {                                               \
		if ((cause) != NULL)                       \
			*(cause) = xasprintf(__VA_ARGS__); \
	} while (0)

struct json_parse {
	sqlite3 *db;
	sqlite3_stmt *stmt[JP_NSTMT];
};

static void jp_done(sqlite3_stmt *s);
static int jp_has_nul_escape(const char *s, size_t len);
static enum json_parse_result jp_head(struct json_parse *jp, const char *json, size_t len,
				      const char *invalid, char **cause);

/* ---- lifecycle --------------------------------------------------------- */

struct json_parse *
json_parse_new(char **cause)
{
	struct json_parse *jp = xcalloc(1, sizeof *jp);
	int i;

	if (sqlite3_open_v2(":memory:", &jp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		set_cause(cause, "cannot open an in-memory SQLite database: %s",
			  jp->db != NULL ? sqlite3_errmsg(jp->db) : "out of memory");
		goto fail;
	}
	for (i = 0; i < JP_NSTMT; i++) {
		if (sqlite3_prepare_v3(jp->db, jp_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &jp->stmt[i],
				       NULL) != SQLITE_OK) {
			set_cause(cause, "cannot prepare the JSON statements: %s", sqlite3_errmsg(jp->db));
			goto fail;
		}
	}
	return jp;
fail:
	json_parse_free(jp);
	return NULL;
}

void
json_parse_free(struct json_parse *jp)
{
	int i;

	if (jp == NULL)
		return;
	for (i = 0; i < JP_NSTMT; i++)
		sqlite3_finalize(jp->stmt[i]);
	sqlite3_close(jp->db);
	free(jp);
}

/* ---- helpers ----------------------------------------------------------- */

/* Reset a statement for its next use; releases json1's parse of the text. */
static void
jp_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Whether JSON text holds the escape \u0000. json1 cuts a decoded string at
 * its first NUL, so "a\u0000b" would silently become "a". A backslash only
 * occurs inside strings, so skipping escape pairs finds exactly the escapes. */
static int
jp_has_nul_escape(const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
			return 1;
		if (end - p < 3)
			break;
		p += 2;
	}
	return 0;
}

/* The first step of reading JSON text, shared by the batch and object
 * parsers: refuse a NUL byte (json1 stops reading at one) and invalid UTF-8,
 * then run JP_HEAD. On JSON_PARSE_OK the statement holds its row (the text's
 * json_type, NULL when not valid JSON, and its array length) and the caller
 * reads it, then resets it. Otherwise the statement is reset and *cause says
 * why: `invalid` for a NUL byte. */
static enum json_parse_result
jp_head(struct json_parse *jp, const char *json, size_t len, const char *invalid, char **cause)
{
	sqlite3_stmt *head = jp->stmt[JP_HEAD];
	int rc;

	if (memchr(json, '\0', len) != NULL) {
		set_cause(cause, "%s", invalid);
		return JSON_PARSE_INVALID;
	}
	if (!json_utf8_valid((const unsigned char *)json, len)) {
		set_cause(cause, "the JSON text is not valid UTF-8 (RFC 8259 §8.1)");
		return JSON_PARSE_BAD_UTF8;
	}
	sqlite3_bind_text64(head, 1, len > 0 ? json : "", len, SQLITE_STATIC, SQLITE_UTF8);
	if ((rc = sqlite3_step(head)) != SQLITE_ROW) {
		log_error("json_parse: %s", sqlite3_errmsg(jp->db));
		set_cause(cause, "cannot parse JSON: %s", sqlite3_errmsg(jp->db));
		jp_done(head);
		return JSON_PARSE_ERROR;
	}
	return JSON_PARSE_OK;
}

/* ---- validity ---------------------------------------------------------- */

int
json_parse_valid(struct json_parse *jp, const char *text, size_t len)
{
	sqlite3_stmt *s = jp->stmt[JP_VALID];
	int valid = -1;

	if (memchr(text, '\0', len) != NULL || !json_utf8_valid((const unsigned char *)text, len))
		return 0;
	sqlite3_bind_text64(s, 1, len > 0 ? text : "", len, SQLITE_STATIC, SQLITE_UTF8);
	if (sqlite3_step(s) == SQLITE_ROW)
		valid = sqlite3_column_int(s, 0) != 0;
	else
		log_error("json_parse: json_valid: %s", sqlite3_errmsg(jp->db));
	jp_done(s);
	return valid;
}

/* ---- batch ------------------------------------------------------------- */

/* The number of elements of the top-level array in json, counted without
 * parsing it (commas at depth 1, outside strings), stopping once it passes
 * limit: json1 builds a node per token (16 bytes each, so 16 MiB of "[0,0,..."
 * took 200 MiB), and an array of too many messages is refused before that.
 * Text that is not an array counts 0; malformed text may count wrong, which
 * only matters when it counts over limit (then refused as too many). */
static int64_t
jp_count_elements(const char *json, size_t len, int64_t limit)
{
	const char *p = json, *end = json + len;
	int64_t commas = 0, nonempty = 0;
	size_t depth = 0;

	for (; p < end && commas + nonempty <= limit; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			continue;
		if (depth == 0 && *p != '[')
			return 0;
		if (depth == 1 && *p != ']')
			nonempty = 1;
		switch (*p) {
		case '"':
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\')
					p++;
			}
			break;
		case '[':
		case '{': depth++; break;
		case ']':
		case '}': depth--; break;
		case ',': commas += depth == 1; break;
		default: break;
		}
	}
	return commas + nonempty;
}

/* Where one parsed message's strings lie in the string buffer. */
struct batch_entry {
	size_t channel, event, content_type, body; /* offsets; event SIZE_MAX: none */
	size_t idem_key;                           /* offset; SIZE_MAX: none */
	size_t body_len;
	const char *default_type; /* when no content_type was given, else NULL */
};

/* Copy column col of the element row into strings as a NUL-terminated
 * string at *off. 0, or -1 when the decoded text is not UTF-8 (a lone
 * surrogate escape such as \ud800 decodes to bytes that are not). */
static int
jp_take_text(sqlite3_stmt *el, int col, struct buf *strings, size_t *off, size_t *len)
{
	const char *text = (const char *)sqlite3_column_text(el, col);
	size_t n = (size_t)sqlite3_column_bytes(el, col);

	if (text == NULL)
		text = "";
	if (!json_utf8_valid((const unsigned char *)text, n))
		return -1;
	*off = strings->len;
	buf_append(strings, text, n);
	buf_putc(strings, '\0');
	if (len != NULL)
		*len = n;
	return 0;
}

/* Read an optional string member (json_type in column tcol, text in tcol+1)
 * of element idx into *off; absent or null leaves *off alone. */
static enum json_parse_result
jp_optional_text(sqlite3_stmt *el, int tcol, const char *name, int64_t idx, struct buf *strings, size_t *off,
		 char **cause)
{
	const char *type = (const char *)sqlite3_column_text(el, tcol);

	if (type == NULL || strcmp(type, "null") == 0)
		return JSON_PARSE_OK;
	if (strcmp(type, "text") != 0) {
		set_cause(cause, "element %" PRId64 ": \"%s\" must be a string", idx, name);
		return JSON_PARSE_INVALID;
	}
	if (jp_take_text(el, tcol + 1, strings, off, NULL) == -1) {
		set_cause(cause, "element %" PRId64 ": \"%s\" is not valid UTF-8", idx, name);
		return JSON_PARSE_BAD_UTF8;
	}
	return JSON_PARSE_OK;
}

/* Read one element row into ent, checking its data against max_data_bytes
 * before copying it. */
static enum json_parse_result
jp_batch_element(sqlite3_stmt *el, int64_t max_data_bytes, struct buf *strings, struct batch_entry *ent,
		 char **cause)
{
	int64_t idx = sqlite3_column_int64(el, 0);
	enum json_parse_result res;
	const char *type;
	size_t size;

	if (strcmp((const char *)sqlite3_column_text(el, 1), "object") != 0) {
		set_cause(cause, "element %" PRId64 ": not an object", idx);
		return JSON_PARSE_INVALID;
	}
	if ((type = (const char *)sqlite3_column_text(el, 2)) == NULL) {
		set_cause(cause, "element %" PRId64 ": \"channel\" is missing", idx);
		return JSON_PARSE_INVALID;
	}
	if (strcmp(type, "text") != 0) {
		set_cause(cause, "element %" PRId64 ": \"channel\" must be a string", idx);
		return JSON_PARSE_INVALID;
	}
	if (jp_take_text(el, 3, strings, &ent->channel, NULL) == -1) {
		set_cause(cause, "element %" PRId64 ": \"channel\" is not valid UTF-8", idx);
		return JSON_PARSE_BAD_UTF8;
	}
	ent->event = SIZE_MAX;
	if ((res = jp_optional_text(el, 4, "event", idx, strings, &ent->event, cause)) != JSON_PARSE_OK)
		return res;
	ent->content_type = SIZE_MAX;
	if ((res = jp_optional_text(el, 6, "content_type", idx, strings, &ent->content_type, cause)) !=
	    JSON_PARSE_OK)
		return res;
	if ((type = (const char *)sqlite3_column_text(el, 8)) == NULL) {
		set_cause(cause, "element %" PRId64 ": \"data\" is missing", idx);
		return JSON_PARSE_INVALID;
	}
	ent->idem_key = SIZE_MAX;
	if ((res = jp_optional_text(el, 10, "idempotency_key", idx, strings, &ent->idem_key, cause)) !=
	    JSON_PARSE_OK)
		return res;
	if (ent->content_type == SIZE_MAX)
		ent->default_type =
			strcmp(type, "text") == 0 ? "text/plain; charset=utf-8" : "application/json";
	size = (size_t)sqlite3_column_bytes(el, 9);
	if ((int64_t)size > max_data_bytes) {
		set_cause(cause,
			  "element %" PRId64 ": the message is %zu bytes; the limit is %" PRId64 " bytes",
			  idx, size, max_data_bytes);
		return JSON_PARSE_TOO_LARGE;
	}
	if (jp_take_text(el, 9, strings, &ent->body, &ent->body_len) == -1) {
		set_cause(cause, "element %" PRId64 ": \"data\" is not valid UTF-8", idx);
		return JSON_PARSE_BAD_UTF8;
	}
	return JSON_PARSE_OK;
}

enum json_parse_result
json_parse_batch(struct json_parse *jp, const char *json, size_t len, int64_t max_messages,
		 int64_t max_data_bytes, struct store_pub **pubs, size_t *n, char **cause)
{
	sqlite3_stmt *head = jp->stmt[JP_HEAD], *el = jp->stmt[JP_BATCH_ELEMENTS];
	struct batch_entry *e = NULL, *ent;
	struct store_pub *out;
	struct buf strings;
	enum json_parse_result res;
	const char *type, *text;
	int64_t count = 0;
	size_t i = 0, k;
	int rc = SQLITE_DONE;

	*pubs = NULL;
	*n = 0;
	buf_init(&strings);
	if ((count = jp_count_elements(json, len, max_messages)) > max_messages) {
		res = JSON_PARSE_TOO_MANY;
		set_cause(cause, "the batch has more than %" PRId64 " messages", max_messages);
		goto out;
	}
	if ((res = jp_head(jp, json, len, "the body is not valid JSON", cause)) != JSON_PARSE_OK)
		goto out;
	res = JSON_PARSE_INVALID;
	type = (const char *)sqlite3_column_text(head, 0);
	count = sqlite3_column_int64(head, 1);
	if (type == NULL) {
		set_cause(cause, "the body is not valid JSON");
		goto out;
	}
	if (strcmp(type, "array") != 0) {
		set_cause(cause, "the body must be a JSON array of messages");
		goto out;
	}
	if (count <= 0) {
		set_cause(cause, "the array holds no message");
		goto out;
	}
	if (count > max_messages) {
		res = JSON_PARSE_TOO_MANY;
		set_cause(cause, "the batch has %" PRId64 " messages; the limit is %" PRId64, count,
			  max_messages);
		goto out;
	}
	jp_done(head);
	if (jp_has_nul_escape(json, len)) {
		set_cause(
			cause,
			"\\u0000 (a NUL character) is not supported in a batch; publish binary bodies one by one");
		goto out;
	}

	e = xcalloc((size_t)count, sizeof *e);
	sqlite3_bind_text64(el, 1, json, len, SQLITE_STATIC, SQLITE_UTF8);
	while (i < (size_t)count && (rc = sqlite3_step(el)) == SQLITE_ROW) {
		ent = &e[i];
		if ((res = jp_batch_element(el, max_data_bytes, &strings, ent, cause)) != JSON_PARSE_OK)
			goto out;
		i++;
	}
	if (i < (size_t)count && rc != SQLITE_DONE) {
		res = JSON_PARSE_ERROR;
		log_error("json_parse: batch: %s", sqlite3_errmsg(jp->db));
		set_cause(cause, "cannot parse the batch: %s", sqlite3_errmsg(jp->db));
		goto out;
	}

	/* One block: the array, then every string. */
	out = xmalloc((size_t)count * sizeof *out + strings.len);
	if (strings.len > 0)
		memcpy(out + count, strings.data, strings.len);
	text = (const char *)(out + count);
	for (k = 0; k < i; k++) {
		ent = &e[k];
		out[k].channel = text + ent->channel;
		out[k].event = ent->event == SIZE_MAX ? NULL : text + ent->event;
		out[k].content_type =
			ent->default_type != NULL ? ent->default_type : text + ent->content_type;
		out[k].body = text + ent->body;
		out[k].body_len = ent->body_len;
		out[k].body_path = NULL;
		out[k].idem_key = ent->idem_key == SIZE_MAX ? NULL : text + ent->idem_key;
	}
	*pubs = out;
	*n = i;
	res = JSON_PARSE_OK;
out:
	jp_done(head);
	jp_done(el);
	free(e);
	buf_fini(&strings);
	return res;
}

/* ---- objects ----------------------------------------------------------- */

/* Where one member's strings lie in the string buffer. */
struct member_entry {
	size_t key, type, text, text_len;
};

enum json_parse_result
json_parse_object(struct json_parse *jp, const char *json, size_t len, struct json_parse_member **members,
		  size_t *n, char **cause)
{
	sqlite3_stmt *head = jp->stmt[JP_HEAD], *el = jp->stmt[JP_OBJECT_MEMBERS];
	struct member_entry *e = NULL;
	struct json_parse_member *out;
	struct buf strings;
	enum json_parse_result res;
	size_t count = 0, cap = 0, k;
	const char *type, *text;
	int rc;

	*members = NULL;
	*n = 0;
	buf_init(&strings);
	if ((res = jp_head(jp, json, len, "not valid JSON", cause)) != JSON_PARSE_OK)
		goto out;
	res = JSON_PARSE_INVALID;
	type = (const char *)sqlite3_column_text(head, 0);
	if (type == NULL || strcmp(type, "object") != 0) {
		set_cause(cause, type == NULL ? "not valid JSON" : "not a JSON object");
		goto out;
	}
	jp_done(head);
	if (jp_has_nul_escape(json, len)) {
		set_cause(cause, "\\u0000 (a NUL character) is not supported");
		goto out;
	}
	sqlite3_bind_text64(el, 1, json, len, SQLITE_STATIC, SQLITE_UTF8);
	while ((rc = sqlite3_step(el)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			e = xrealloc(e, cap * sizeof *e);
		}
		if (jp_take_text(el, 0, &strings, &e[count].key, NULL) == -1 ||
		    jp_take_text(el, 2, &strings, &e[count].text, &e[count].text_len) == -1) {
			res = JSON_PARSE_BAD_UTF8;
			set_cause(cause, "a key or string is not valid UTF-8 (a lone surrogate escape?)");
			goto out;
		}
		e[count].type = strings.len;
		buf_puts(&strings, (const char *)sqlite3_column_text(el, 1));
		buf_putc(&strings, '\0');
		count++;
	}
	if (rc != SQLITE_DONE) {
		res = JSON_PARSE_ERROR;
		log_error("json_parse: object: %s", sqlite3_errmsg(jp->db));
		set_cause(cause, "cannot parse JSON: %s", sqlite3_errmsg(jp->db));
		goto out;
	}
	out = xmalloc(count * sizeof *out + strings.len + 1);
	memcpy((char *)(out + count), strings.data != NULL ? strings.data : "", strings.len + 1);
	text = (const char *)(out + count);
	for (k = 0; k < count; k++) {
		out[k].key = text + e[k].key;
		out[k].type = text + e[k].type;
		out[k].text = text + e[k].text;
		out[k].text_len = e[k].text_len;
	}
	*members = out;
	*n = count;
	res = JSON_PARSE_OK;
out:
	jp_done(head);
	jp_done(el);
	free(e);
	buf_fini(&strings);
	return res;
}
