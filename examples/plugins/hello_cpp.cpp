// greeter: a plugin written in C++ with bulkhead/plugin.hpp.
//
//   greet(name: str)   "Hello, NAME!"; an empty name is rejected
//   stats()            map name -> how many times it was greeted
//   throw()            throws std::runtime_error: the caller gets plugin_error with
//                      its what()
//
// bh::method<> is each method's C entry point: no exception crosses into the host.
#include <map>
#include <stdexcept>
#include <string>

#include <bulkhead/plugin.hpp>

namespace {

struct greeter {
	std::map<std::string, uint64_t, std::less<>> counts;
};

void greet(greeter &g, bh::args a, bh::writer out)
{
	std::string name(a.str(0, "name"));
	if (name.empty())
		throw bh::invalid_params("name must not be empty");
	g.counts[name]++;
	out.put("Hello, " + name + "!");
}

void stats(greeter &g, bh::args, bh::writer out)
{
	out.map(static_cast<uint32_t>(g.counts.size()));
	for (const auto &[name, count] : g.counts)
		out.put(name).put(count);
}

void throw_(bh::args, bh::writer)
{
	throw std::runtime_error("greeter threw on purpose");
}

const bh_method methods[] = {
	{ "greet", bh::method<greet> },
	{ "stats", bh::method<stats> },
	{ "throw", bh::method<throw_> },
};

} // namespace

#if __cplusplus >= 202002L
// C++20: plugin.h's designated initialisers, in declaration order.
BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "greeter",
	.version = "1.0.0",
	.init = bh::init<greeter>,
	.shutdown = bh::shutdown<greeter>,
	.methods = methods,
	.n_methods = std::size(methods),
};
#else
BH_PLUGIN_DEFINE = bh::descriptor("greeter", "1.0.0", methods).state<greeter>();
#endif
