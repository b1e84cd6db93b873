// greeter: a plugin written in C++17.
//
//   greet(name: str)   "Hello, NAME!"; an empty name is rejected
//   stats()            map name -> how many times it was greeted
//   throw()            throws std::runtime_error (shows the C boundary at work)
//
// C++ exceptions must never cross into the C host: every method goes through
// guarded<>(), which turns an exception into bh_fail(); every function the host
// calls is noexcept, and the descriptor has C linkage.
#include <cstring>
#include <map>
#include <new>
#include <stdexcept>
#include <string>

#include <bulkhead/plugin.h>

namespace {

// Argument errors are reported as BH_E_INVALID_PARAMS, anything else as plugin errors.
struct invalid_params : std::runtime_error {
	using std::runtime_error::runtime_error;
};

struct greeter {
	std::map<std::string, uint64_t> counts;
};

std::string arg_string(const bh_value *args, uint32_t i, const char *what)
{
	const char *s;
	size_t n;
	if (bh_value_get_str(bh_value_at(args, i), &s, &n) < 0)
		throw invalid_params(std::string(what) + " must be a string");
	return std::string(s, n);
}

void greet(greeter &g, const bh_value *args, bh_writer *out)
{
	std::string name = arg_string(args, 0, "name");
	if (name.empty())
		throw invalid_params("name must not be empty");
	g.counts[name]++;
	std::string text = "Hello, " + name + "!";
	bh_write_str(out, text.data(), text.size());
}

void stats(greeter &g, const bh_value *, bh_writer *out)
{
	bh_write_map(out, static_cast<uint32_t>(g.counts.size()));
	for (const auto &[name, count] : g.counts) {
		bh_write_str(out, name.data(), name.size());
		bh_write_uint(out, count);
	}
}

void throw_(greeter &, const bh_value *, bh_writer *)
{
	throw std::runtime_error("greeter threw on purpose");
}

// The C boundary: no exception escapes, each becomes an error for the caller.
template <void (*F)(greeter &, const bh_value *, bh_writer *)>
int guarded(void *state, const bh_value *args, bh_writer *out, bh_error *err) noexcept
{
	try {
		F(*static_cast<greeter *>(state), args, out);
		return 0;
	} catch (const invalid_params &e) {
		return bh_fail(err, BH_E_INVALID_PARAMS, "%s", e.what());
	} catch (const std::bad_alloc &) {
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	} catch (const std::exception &e) {
		return bh_fail(err, BH_E_PLUGIN_ERROR, "%s", e.what());
	} catch (...) {
		return bh_fail(err, BH_E_PLUGIN_ERROR, "unknown C++ exception");
	}
}

int greeter_init(const bh_value *, void **ret_state, bh_error *err) noexcept
{
	greeter *g = new (std::nothrow) greeter;
	if (!g)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	*ret_state = g;
	return 0;
}

void greeter_shutdown(void *state) noexcept
{
	delete static_cast<greeter *>(state);
}

const bh_method methods[] = {
	{ "greet", guarded<greet> },
	{ "stats", guarded<stats> },
	{ "throw", guarded<throw_> },
};

} // namespace

// Designated initializers are C++20; in C++17 the fields go in declaration order.
extern "C" {
BH_PLUGIN_DEFINE = {
	BH_PLUGIN_ABI_VERSION,          // abi_version
	sizeof(struct bh_plugin),       // struct_size
	"greeter",                      // name
	"1.0.0",                        // version
	greeter_init,                   // init
	greeter_shutdown,               // shutdown
	methods,                        // methods
	sizeof(methods) / sizeof(methods[0]), // n_methods
	0,                              // state_version
	nullptr,                        // snapshot
	nullptr,                        // restore
	nullptr,                        // health
	{},                             // reserved
};
}
