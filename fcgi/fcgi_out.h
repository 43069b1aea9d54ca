/* SPDX-License-Identifier: MIT */
/*
 * Non-blocking output for parked requests. libfcgi's FCGX_PutStr/FCGX_FFlush
 * block the calling thread until the web server reads, which one event loop
 * holding thousands of requests cannot afford; so the loop frames its output
 * itself: FCGI_STDOUT records (FastCGI spec §5.3) and the closing
 * FCGI_END_REQUEST (§5.5), queued in a buffer and written as the socket
 * accepts them. libfcgi still accepts the connection and parses the
 * FCGI_BEGIN_REQUEST and FCGI_PARAMS records.
 */
#ifndef FCPUSH_FCGI_OUT_H
#define FCPUSH_FCGI_OUT_H

#include <stddef.h>

#include "util.h"

enum fcgi_out_result {
	FCGI_OUT_DONE = 0, /* everything queued was written */
	FCGI_OUT_AGAIN,    /* the socket is full: wait for it to be writable */
	FCGI_OUT_ERROR     /* the web server closed the connection (EPIPE, ECONNRESET) */
};

/* Output queue of one request. Caller storage: fcgi_out_init/fcgi_out_fini. */
struct fcgi_out {
	int fd;         /* the FastCGI connection (made non-blocking by the caller) */
	int request_id; /* FCGX_Request.requestId */
	struct buf queue;
	size_t off; /* bytes of queue already written */
};

void fcgi_out_init(struct fcgi_out *o, int fd, int request_id);
void fcgi_out_fini(struct fcgi_out *o);
/* Queue len bytes (copied) as FCGI_STDOUT records of at most 65535 bytes of
 * content each, padded to a multiple of 8 (spec §3.3). len 0 queues nothing. */
void fcgi_out_stdout(struct fcgi_out *o, const void *data, size_t len);
/* Queue the end of the response: an empty FCGI_STDOUT record (end of stream)
 * and FCGI_END_REQUEST with app_status and FCGI_REQUEST_COMPLETE. */
void fcgi_out_end(struct fcgi_out *o, int app_status);
/* Write as much of the queue as the socket takes without blocking. */
enum fcgi_out_result fcgi_out_flush(struct fcgi_out *o);
/* Bytes queued and not yet written. */
size_t fcgi_out_pending(const struct fcgi_out *o);

#endif
