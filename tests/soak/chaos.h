/* The chaos plugin's application error codes (chaos.c), shared with the soak. */
#ifndef BH_SOAK_CHAOS_H
#define BH_SOAK_CHAOS_H

#define CHAOS_E_ERROR 1042  /* action "error": the failure it was asked for */
#define CHAOS_E_NOMEM 1001  /* "big" or "leak" could not allocate */
#define CHAOS_E_LEDGER 1099 /* a ledger record could not be sent: nothing ran unrecorded */

#endif
