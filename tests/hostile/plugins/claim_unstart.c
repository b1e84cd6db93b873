/* claim_unstart: take back in the claim table a call it has started (STARTED ->
 * REVOKED, a state only the daemon writes), then hang in it. The daemon must still
 * hold the call as started: answer it `timeout` at its deadline and kill the instance
 * at deadline + grace, as for any call that hangs. */
#define H_NAME "claim_unstart"
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
	atomic_store(&e->word, hc_pack(id, HC_REVOKED));
	h_note(o, "call %u rewritten STARTED -> REVOKED; hanging", id);
	h_hold(o); /* never released: the daemon's deadline must end it */
}
