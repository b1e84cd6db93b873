/* The C side of the Go plugin SDK: the descriptor the shim reads, and one trampoline
 * per method slot into Go (a bh_method_fn does not receive its method's name).
 *
 * The shim reads the descriptor right after dlopen(). A Go c-shared library starts its
 * runtime from a constructor of its own, on a thread of its own, and runs the
 * packages' init functions there; the constructor below calls into Go
 * (bhgo_describe), which waits until those init functions, and the plugin's
 * bulkhead.Define, have run, then fills the descriptor. That needs the runtime's
 * constructor to run first: it does, the Go linker puts the Go object (and its
 * .init_array entry) before the cgo objects (readelf -x .init_array tally.so); were
 * it otherwise, loading would hang and integ_sdk.go would fail. */
#include "_cgo_export.h"
#include "bulkhead.h"

BH_PLUGIN_EXPORT struct bh_plugin bulkhead_plugin;
static struct bh_method methods[BHGO_METHODS_MAX];

static int init(const bh_value *config, void **ret_state, bh_error *err)
{
	*ret_state = NULL;
	return bhgo_init((bh_value *)config, err);
}

static void shutdown(void *state)
{
	(void)state;
	bhgo_shutdown();
}

static int snapshot(void *state, bh_writer *out, bh_error *err)
{
	(void)state;
	return bhgo_snapshot(out, err);
}

static int restore(void *state, uint32_t version, const bh_value *blob, bh_error *err)
{
	(void)state;
	return bhgo_restore(version, (bh_value *)blob, err);
}

#define SLOT(i)                                                                            \
	static int slot_##i(void *state, const bh_value *args, bh_writer *out, bh_error *err) \
	{                                                                                  \
		(void)state;                                                               \
		return bhgo_call(i, (bh_value *)args, out, err);                           \
	}
#define SLOTS8(i) SLOT(i##0) SLOT(i##1) SLOT(i##2) SLOT(i##3) SLOT(i##4) SLOT(i##5) SLOT(i##6) SLOT(i##7)
SLOTS8(0) SLOTS8(1) SLOTS8(2) SLOTS8(3) SLOTS8(4) SLOTS8(5) SLOTS8(6) SLOTS8(7)
#define REF8(i) slot_##i##0, slot_##i##1, slot_##i##2, slot_##i##3, slot_##i##4, slot_##i##5, \
		slot_##i##6, slot_##i##7
static const bh_method_fn slots[BHGO_METHODS_MAX] = { REF8(0), REF8(1), REF8(2), REF8(3),
						      REF8(4), REF8(5), REF8(6), REF8(7) };

/* Called from Go (bhgo_describe) with what the plugin declared; the strings stay. */
void bhgo_set_plugin(const char *name, const char *version, uint32_t n_methods,
		     uint32_t state_version)
{
	bulkhead_plugin.abi_version = BH_PLUGIN_ABI_VERSION;
	bulkhead_plugin.struct_size = sizeof(struct bh_plugin);
	bulkhead_plugin.name = name;
	bulkhead_plugin.version = version;
	bulkhead_plugin.init = init;
	bulkhead_plugin.shutdown = shutdown;
	bulkhead_plugin.methods = methods;
	bulkhead_plugin.n_methods = n_methods;
	if (state_version) {
		bulkhead_plugin.state_version = state_version;
		bulkhead_plugin.snapshot = snapshot;
		bulkhead_plugin.restore = restore;
	}
}

void bhgo_set_method(uint32_t i, const char *name)
{
	methods[i].name = name;
	methods[i].fn = slots[i];
}

/* A plugin that never called bulkhead.Define keeps abi_version 0: the shim refuses
 * it with that reason. */
__attribute__((constructor)) static void describe(void)
{
	bhgo_describe();
}
