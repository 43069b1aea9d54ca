/*
 * Reading JSON: SQLite's json1 (json_valid, json_type, json_each) on a
 * private in-memory connection, so no caller needs the message store to
 * parse a batch publish or a WebSocket command. Writing JSON is json.h.
 *
 * json_parse.c is the one file besides the SQLite backend (store_sqlite*.c)
 * that includes <sqlite3.h>: json1 is our JSON library (STYLE.md: a
 * well-kept library over a hand-written parser), and it is reached only
 * through an SQLite connection.
 * Its SQL is named constants in that file, prepared once in json_parse_new.
 */
#ifndef FCPUSH_JSON_PARSE_H
#define FCPUSH_JSON_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A parser: one ":memory:" SQLite connection and its prepared statements.
 * Not thread-safe: each owner holds its own (a worker request thread in its
 * handler_ctx, the fcpush-ws daemon in its loop state, the CLI for one
 * command). Results never point into it. */
struct json_parse;

/* Outcomes of the parse functions. */
enum json_parse_result {
	JSON_PARSE_OK = 0,
	JSON_PARSE_INVALID,   /* not the JSON asked for; *cause says what (a 400) */
	JSON_PARSE_BAD_UTF8,  /* the text, or a string decoded from it, is not UTF-8 (400 invalid_utf8) */
	JSON_PARSE_TOO_MANY,  /* batch: more elements than allowed (413) */
	JSON_PARSE_TOO_LARGE, /* batch: one element's data over its limit (413) */
	JSON_PARSE_ERROR      /* SQLite failed (logged; a 500) */
};

/* Open a parser. Returns NULL with *cause set (caller frees; cause may be
 * NULL) when SQLite cannot open an in-memory database or prepare a
 * statement. */
struct json_parse *json_parse_new(char **cause);
/* Close it. jp may be NULL. */
void json_parse_free(struct json_parse *jp);

/* Whether len bytes at text are one valid JSON text (RFC 8259 §2; json1's
 * json_valid) that is also valid UTF-8 (RFC 8259 §8.1; json_valid does not
 * check it) and holds no NUL byte. 1 or 0; -1 when SQLite fails. */
int json_parse_valid(struct json_parse *jp, const char *text, size_t len);

/* Parse a batch publish body, a JSON array of objects
 * {"channel": str, "event": str?, "content_type": str?, "data": any,
 * "idempotency_key": str?}. A string
 * data is stored as its text (content type defaults to text/plain;
 * charset=utf-8); any other JSON value as its JSON text (content type
 * defaults to application/json). The limits are checked as the text is read,
 * before any element is copied: the element count first, by a scan of the
 * text that stops past max_messages (before json1 builds its parse, about 16
 * bytes a token), then again by json_array_length; each data's size as its
 * element is read. On success
 * *pubs is an array of *n entries whose strings live in the same allocation
 * (free(*pubs) releases all). Fields are returned as given: the caller checks
 * channel names, event names and media types. Errors, with *cause (caller
 * frees; cause may be NULL): JSON_PARSE_INVALID (not valid JSON, not an
 * array, empty, a NUL byte or \u0000, an element not an object, channel
 * missing or not a string, event/content_type/idempotency_key not a string,
 * data missing),
 * JSON_PARSE_BAD_UTF8, JSON_PARSE_TOO_MANY (more than max_messages elements),
 * JSON_PARSE_TOO_LARGE (a data over max_data_bytes), JSON_PARSE_ERROR. */
enum json_parse_result json_parse_batch(struct json_parse *jp, const char *json, size_t len,
					int64_t max_messages, int64_t max_data_bytes, struct store_pub **pubs,
					size_t *n, char **cause);

/* One member of a JSON object, as json_parse_object reads it. type is what
 * json1's json_type says: "null", "true", "false", "integer", "real", "text",
 * "array" or "object". text is the decoded string for "text" and the value's
 * JSON text for any other type (an object or array minified by json1);
 * text_len is its length in bytes. */
struct json_parse_member {
	const char *key;
	const char *type;
	const char *text;
	size_t text_len;
};

/* Parse len bytes of JSON text that must be one object (a WebSocket client
 * command, for instance) into its top-level members, in document order,
 * duplicates included. On success *members is an array of *n entries whose
 * strings live in the same allocation: free(*members) releases all. Returns
 * JSON_PARSE_INVALID with *cause (caller frees; may be NULL) when the text is
 * not valid JSON, not an object, or holds a NUL byte or the escape \u0000
 * (json1 would cut a string there); JSON_PARSE_BAD_UTF8 when the text or a
 * decoded key or string (a lone surrogate escape) is not UTF-8;
 * JSON_PARSE_ERROR when SQLite fails. */
enum json_parse_result json_parse_object(struct json_parse *jp, const char *json, size_t len,
					 struct json_parse_member **members, size_t *n, char **cause);

#endif
