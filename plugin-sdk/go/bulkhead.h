/* Declarations shared by the Go files' cgo preambles and descriptor.c. */
#ifndef BULKHEAD_GO_H
#define BULKHEAD_GO_H
#include <stdint.h>
#include <stdlib.h>

#include "bulkhead/plugin.h"

#define BHGO_METHODS_MAX 64

/* The shim provides these at load time. Weak: the test executable cgo links to
 * inspect the package must link without them. */
#pragma weak bh_fail
#pragma weak bh_write_nil
#pragma weak bh_write_bool
#pragma weak bh_write_int
#pragma weak bh_write_uint
#pragma weak bh_write_float
#pragma weak bh_write_str
#pragma weak bh_write_bin
#pragma weak bh_write_array
#pragma weak bh_write_map
#pragma weak bh_write_value
#pragma weak bh_writer_error
#pragma weak bh_value_find
#pragma weak bh_callout_params
#pragma weak bh_callout
#pragma weak bh_callout_caller
#pragma weak bh_notify_caller

void bhgo_set_plugin(const char *name, const char *version, uint32_t n_methods,
		     uint32_t state_version);
void bhgo_set_method(uint32_t i, const char *name);

/* bh_fail is variadic, which cgo cannot call. */
static inline int bhgo_fail(bh_error *err, int32_t code, const char *msg)
{
	return bh_fail(err, code, "%s", msg);
}
#endif
