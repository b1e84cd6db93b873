// dying_cpp: a C++ method that lets an exception escape (tests/integration/
// test_lastwords.c). The method is noexcept, as every function the C host calls must
// be: the escaping exception calls std::terminate, whose handler prints the type and
// what() and aborts. It only ends its own process.
//
//   throw()   throws std::runtime_error("the C++ plugin gave up")
#include <stdexcept>

#include <bulkhead/plugin.h>

namespace {

[[noreturn]] void give_up()
{
	throw std::runtime_error("the C++ plugin gave up");
}

int throw_(void *, const bh_value *, bh_writer *, bh_error *) noexcept
{
	give_up();
}

const bh_method methods[] = {
	{ "throw", throw_ },
};

} // namespace

extern "C" {
BH_PLUGIN_DEFINE = {
	BH_PLUGIN_ABI_VERSION,          // abi_version
	sizeof(struct bh_plugin),       // struct_size
	"dying_cpp",                    // name
	"1.0.0",                        // version
	nullptr,                        // init
	nullptr,                        // shutdown
	methods,                        // methods
	sizeof(methods) / sizeof(methods[0]), // n_methods
	0,                              // state_version
	nullptr,                        // snapshot
	nullptr,                        // restore
	nullptr,                        // health
	{},                             // reserved
};
}
