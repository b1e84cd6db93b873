/* Map entries with a string key, for the maps the daemon writes (status, events). */
#ifndef BH_DAEMON_KV_H
#define BH_DAEMON_KV_H

#include <stdint.h>

#include "bulkhead/proto.h"

static inline void kv_str(bh_writer *w, const char *k, const char *v)
{
	bh_write_cstr(w, k);
	bh_write_cstr(w, v);
}

static inline void kv_uint(bh_writer *w, const char *k, uint64_t v)
{
	bh_write_cstr(w, k);
	bh_write_uint(w, v);
}

#endif
