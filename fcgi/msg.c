/* SPDX-License-Identifier: MIT */
/*
 * Message lists (see msg.h).
 */
#include <stdlib.h>

#include "msg.h"
#include "util.h"

void
msglist_init(struct msglist *l)
{
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
	l->bytes = 0;
	l->max_bytes = 0;
	l->truncated = 0;
}

void
msglist_clear(struct msglist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
	l->bytes = 0;
	l->truncated = 0;
}

void
msglist_fini(struct msglist *l)
{
	msglist_clear(l);
	free(l->v);
	msglist_init(l);
}

void
msglist_push(struct msglist *l, struct msg *m)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = m;
	if (!m->body_omitted)
		l->bytes += m->body_len;
}
