/* SPDX-License-Identifier: MIT */
/*
 * application/x-ndjson encoding (see ndjson.h).
 */
#include "json.h"
#include "ndjson.h"

void
ndjson_append_message(struct buf *b, const struct msg *m)
{
	json_append_message(b, m, "message");
	buf_putc(b, '\n');
}

void
ndjson_append_opening(struct buf *b, int64_t now_ms)
{
	ndjson_append_heartbeat(b, now_ms);
}

void
ndjson_append_gap(struct buf *b, int64_t oldest, const char *epoch)
{
	buf_printf(b, "{\"type\":\"gap\",\"oldest\":%lld,\"epoch\":\"%s\"}\n", (long long)oldest, epoch);
}

void
ndjson_append_deleted(struct buf *b, const char *channel)
{
	buf_puts(b, "{\"type\":\"deleted\",\"channel\":");
	json_append_cstr(b, channel);
	buf_puts(b, "}\n");
}

void
ndjson_append_heartbeat(struct buf *b, int64_t now_ms)
{
	buf_printf(b, "{\"type\":\"heartbeat\",\"time\":%lld}\n", (long long)now_ms);
}

void
ndjson_append_shutdown(struct buf *b)
{
	buf_puts(b, "{\"type\":\"shutdown\"}\n");
}
