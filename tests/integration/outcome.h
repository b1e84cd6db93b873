/* One pipelined call's outcome, for suites that start calls with bh_call_start and
 * check them once the client is idle: how often it was answered, the error (code 0:
 * none) and its result when that is an integer (else value stays 0). */
#ifndef BH_INTEG_OUTCOME_H
#define BH_INTEG_OUTCOME_H

#include <stdio.h>

#include "harness.h"

struct outcome {
	int answered;
	int32_t code;
	char message[BH_ERROR_MESSAGE_MAX];
	int64_t value;
};

/* bh_reply_fn; userdata is a struct outcome. */
static inline void outcome_cb(void *userdata, uint32_t msgid, const bh_value *result,
			      const bh_error *err)
{
	struct outcome *o = userdata;
	(void)msgid;
	o->answered++;
	if (err) {
		o->code = err->code;
		snprintf(o->message, sizeof(o->message), "%s", err->message);
	} else if (bh_value_get_int(result, &o->value) < 0) {
		o->value = 0;
	}
}

#endif
