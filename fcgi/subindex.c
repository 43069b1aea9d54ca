/* SPDX-License-Identifier: MIT */
/*
 * The subscriber index: channel name → subscribers (see subindex.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "subindex.h"
#include "util.h"

#define SUBINDEX_BUCKETS 256 /* to start with; a power of two */

struct subindex {
	struct subindex_chan **buckets;
	size_t nbuckets; /* a power of two */
	size_t nchans;
};

static size_t
subindex_hash(const char *s)
{
	size_t h = (size_t)14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
	return h;
}

static struct subindex_chan **
subindex_bucket(const struct subindex *ix, const char *name)
{
	return &ix->buckets[subindex_hash(name) & (ix->nbuckets - 1)];
}

static void
subindex_rehash(struct subindex *ix)
{
	size_t nb = ix->nbuckets * 2, i, h;
	struct subindex_chan **b = xcalloc(nb, sizeof *b), *c, *next;

	for (i = 0; i < ix->nbuckets; i++) {
		for (c = ix->buckets[i]; c != NULL; c = next) {
			next = c->next;
			h = subindex_hash(c->name) & (nb - 1);
			c->next = b[h];
			b[h] = c;
		}
	}
	free(ix->buckets);
	ix->buckets = b;
	ix->nbuckets = nb;
}

struct subindex *
subindex_new(void)
{
	struct subindex *ix = xcalloc(1, sizeof *ix);

	ix->nbuckets = SUBINDEX_BUCKETS;
	ix->buckets = xcalloc(ix->nbuckets, sizeof *ix->buckets);
	return ix;
}

void
subindex_free(struct subindex *ix)
{
	struct subindex_chan *c, *next;
	size_t i;

	if (ix == NULL)
		return;
	for (i = 0; i < ix->nbuckets; i++) {
		for (c = ix->buckets[i]; c != NULL; c = next) {
			next = c->next;
			free(c->name);
			free(c->v);
			free(c);
		}
	}
	free(ix->buckets);
	free(ix);
}

struct subindex_chan *
subindex_find(const struct subindex *ix, const char *channel)
{
	struct subindex_chan *c;

	for (c = *subindex_bucket(ix, channel); c != NULL; c = c->next) {
		if (strcmp(c->name, channel) == 0)
			return c;
	}
	return NULL;
}

struct subindex_chan *
subindex_add(struct subindex *ix, const char *channel, void *sub, size_t *slot)
{
	struct subindex_chan *c = subindex_find(ix, channel), **b;

	if (c == NULL) {
		if (ix->nchans >= ix->nbuckets * 2)
			subindex_rehash(ix);
		c = xcalloc(1, sizeof *c);
		c->name = xstrdup(channel);
		b = subindex_bucket(ix, channel);
		c->next = *b;
		*b = c;
		ix->nchans++;
	}
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 4 : c->cap * 2;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	c->v[c->n].sub = sub;
	c->v[c->n].slot = slot;
	*slot = c->n++;
	return c;
}

void
subindex_remove(struct subindex *ix, struct subindex_chan *ch, size_t slot)
{
	struct subindex_chan **pp;

	ch->v[slot] = ch->v[--ch->n];
	if (slot < ch->n)
		*ch->v[slot].slot = slot;
	if (ch->n > 0)
		return;
	for (pp = subindex_bucket(ix, ch->name); *pp != ch; pp = &(*pp)->next)
		;
	*pp = ch->next;
	ix->nchans--;
	free(ch->name);
	free(ch->v);
	free(ch);
}

size_t
subindex_count(const struct subindex *ix, const char *channel)
{
	const struct subindex_chan *c = subindex_find(ix, channel);

	return c != NULL ? c->n : 0;
}

size_t
subindex_channels(const struct subindex *ix)
{
	return ix->nchans;
}
