/* claim_unstart_late: hang in a call; once the test has its `timeout` answer (the
 * daemon has seen the call STARTED), rewrite the entry back to OFFERED and hang on.
 * The daemon must not forget what it saw: the instance is killed at deadline + grace,
 * and the call is neither re-dispatched nor moved. */
#define H_NAME "claim_unstart_late"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "claim_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hc_entry *e;
	uint32_t id;
	(void)a;
	if (!hc_own_call(o, &e, &id))
		return;
	h_hold(o); /* released by the test once the call was answered `timeout` */
	atomic_store(&e->word, hc_pack(id, HC_OFFERED));
	h_note(o, "call %u rewritten STARTED -> OFFERED after its deadline; hanging", id);
	h_hold(o);
}
