/* Control methods on the client socket: `bulkhead.<name>`. */
#ifndef BH_CONTROL_H
#define BH_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct bh_daemon;
struct bh_slot;
struct bh_call;

/* `bulkhead.*` methods; name without the prefix. */
void bh_control(struct bh_daemon *d, struct bh_call *c, const char *method, size_t len,
		const uint8_t *params, size_t params_len);
/* Answer c, the load of s: error NULL = success. */
void bh_control_load_done(struct bh_slot *s, struct bh_call *c, const char *error);
/* Answer c, the unload of s (s is gone but not yet freed). */
void bh_control_unload_done(struct bh_slot *s, struct bh_call *c);

#endif
