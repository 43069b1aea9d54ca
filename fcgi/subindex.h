/* SPDX-License-Identifier: MIT */
/*
 * The subscriber index: channel name → the subscribers waiting on it in
 * this process, for the worker's event loop (parked requests, loop.c) and
 * fcpush-ws (subscriptions, ws_conn.c). A hash table of channel lists
 * (FNV-1a, doubled when it holds twice as many channels as buckets); a
 * subscriber on several channels is in several lists. Each entry keeps the
 * subscriber's own record of its position up to date, so removal is O(1).
 * Not thread-safe: the owner locks if other threads read it.
 */
#ifndef FCPUSH_SUBINDEX_H
#define FCPUSH_SUBINDEX_H

#include <stddef.h>

struct subindex;

/* One subscriber in a channel's list. */
struct subindex_entry {
	void *sub;    /* the owner's subscriber (borrowed) */
	size_t *slot; /* where the subscriber keeps this entry's index in v */
};

/* The subscribers of one channel: v[0..n-1], in no particular order. */
struct subindex_chan {
	char *name;
	struct subindex_entry *v;
	size_t n, cap;
	struct subindex_chan *next; /* hash chain */
};

/* An empty index. */
struct subindex *subindex_new(void);
/* Free the index and every channel list (not the subscribers); ix may be
 * NULL. */
void subindex_free(struct subindex *ix);
/* The list of channel (NUL-terminated), NULL when nobody waits on it. Owned
 * by the index: valid until its last subscriber is removed. */
struct subindex_chan *subindex_find(const struct subindex *ix, const char *channel);
/* Add sub to the list of channel (created when missing; the name is
 * copied). *slot is set to its index in the list and kept up to date as
 * other entries leave; slot must stay valid until subindex_remove. Returns
 * the list, for subindex_remove. */
struct subindex_chan *subindex_add(struct subindex *ix, const char *channel, void *sub, size_t *slot);
/* Remove the entry at index slot of ch (the subscriber's *slot); ch is
 * freed with its last entry. */
void subindex_remove(struct subindex *ix, struct subindex_chan *ch, size_t slot);
/* How many subscribers wait on channel. */
size_t subindex_count(const struct subindex *ix, const char *channel);
/* How many channels have subscribers. */
size_t subindex_channels(const struct subindex *ix);

#endif
