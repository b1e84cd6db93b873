// bulkhead plugin SDK for C++ (C++17 and later): typed views, a writer, exceptions
// as errors, and the state's lifetime, over the C ABI of plugin.h. Header-only; a
// plugin still links against nothing from bulkhead.
//
//     struct counter { uint64_t n = 0; };
//
//     void add(counter &c, bh::args a, bh::writer out)
//     {
//             c.n += a.uinteger(0, "by");     // wrong type: invalid_params, with the text
//             out.put(c.n);
//     }
//
//     const bh_method methods[] = { { "add", bh::method<add> } };
//     BH_PLUGIN_DEFINE = bh::descriptor("counter", "1.0.0", methods).state<counter>();
//
// A method is `void f(T &state, bh::args, bh::writer)` or, without state,
// `void f(bh::args, bh::writer)`, and writes exactly one value. bh::method<f> is its
// C entry point: no exception crosses it. bh::error (and bh::invalid_params) reach
// the caller with their code; any other std::exception as plugin_error with its
// what(); anything else as plugin_error "unknown C++ exception".
//
// The descriptor: bh::descriptor(...) in C++17; C++20 also takes plugin.h's
// designated initialisers, in declaration order (abi_version, struct_size, name,
// version, init, shutdown, methods, n_methods, state_version, snapshot, restore):
//     BH_PLUGIN_DEFINE = { BH_PLUGIN_HEADER, .name = "counter", .version = "1.0.0",
//                          .init = bh::init<counter>, .shutdown = bh::shutdown<counter>,
//                          .methods = methods, .n_methods = std::size(methods) };
//
// Everything borrowed (bh::value, bh::args, bh::map, string_views) lives as long as
// the callback's arguments: copy what must outlive the call.
#ifndef BULKHEAD_PLUGIN_HPP
#define BULKHEAD_PLUGIN_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "bulkhead/plugin_args.h"

namespace bh {

// A failure with its code: BH_E_INVALID_PARAMS, BH_E_PLUGIN_ERROR or >= 1000.
class error : public std::runtime_error {
public:
	error(int32_t code, const std::string &message) : std::runtime_error(message), code_(code) {}
	int32_t code() const noexcept { return code_; }

private:
	int32_t code_;
};

struct invalid_params : error {
	explicit invalid_params(const std::string &message) : error(BH_E_INVALID_PARAMS, message) {}
};

namespace detail {
// Turns a C helper's failure (rc < 0, err filled) into an exception.
inline void check(int rc, const bh_error &err)
{
	if (rc < 0)
		throw error(err.code, err.message);
}
} // namespace detail

struct bytes {
	const uint8_t *data;
	size_t size;
};

// A read-only value (may be absent: a missing element or key).
class value {
public:
	value(const bh_value *v = nullptr) noexcept : v_(v) {}
	const bh_value *get() const noexcept { return v_; }
	explicit operator bool() const noexcept { return v_ != nullptr; }
	bool is(bh_type t) const noexcept { return v_ && v_->type == t; }
	// Elements of an array, pairs of a map; 0 for anything else.
	uint32_t size() const noexcept
	{
		return is(BH_ARRAY) || is(BH_MAP) ? v_->len : 0;
	}
	value operator[](uint32_t i) const noexcept { return bh_value_at(v_, i); }
	value find(const char *key) const noexcept { return is(BH_MAP) ? bh_value_find(v_, key) : nullptr; }
	// Map pair i.
	value key(uint32_t i) const noexcept { return i < size() && is(BH_MAP) ? &v_->as.items[2 * i] : nullptr; }
	value val(uint32_t i) const noexcept { return i < size() && is(BH_MAP) ? &v_->as.items[2 * i + 1] : nullptr; }

	// Typed reads: throw invalid_params ("what: want str, got int") on a wrong type.
	std::string_view str(const char *what = "value") const
	{
		const char *s;
		size_t n;
		get_or_throw(bh_value_get_str(v_, &s, &n), what, "str");
		return { s, n };
	}
	int64_t integer(const char *what = "value") const { return get<int64_t>(bh_value_get_int, what, "int"); }
	uint64_t uinteger(const char *what = "value") const { return get<uint64_t>(bh_value_get_uint, what, "uint"); }
	double number(const char *what = "value") const { return get<double>(bh_value_get_float, what, "number"); }
	bool boolean(const char *what = "value") const { return get<bool>(bh_value_get_bool, what, "bool"); }
	bytes bin(const char *what = "value") const
	{
		const uint8_t *p;
		size_t n;
		get_or_throw(bh_value_get_bin(v_, &p, &n), what, "bin");
		return { p, n };
	}

private:
	template <typename T>
	T get(int (*fn)(const bh_value *, T *), const char *what, const char *want) const
	{
		T x;
		get_or_throw(fn(v_, &x), what, want);
		return x;
	}
	void get_or_throw(int rc, const char *what, const char *want) const
	{
		if (rc == -ERANGE)
			throw invalid_params(std::string(what) + ": want " + want + ", out of range");
		if (rc < 0)
			throw invalid_params(std::string(what) + (v_ ? ": want " : ": missing, want ") +
					     want + (v_ ? std::string(", got ") + bh_type_name(v_) : ""));
	}
	const bh_value *v_;
};

// A map read by key, named for messages ("config.max_keys: want int, got str").
class map {
public:
	map(const bh_value *m, const char *name = "map") noexcept : m_(m), name_(name) {}
	value find(const char *key) const noexcept { return value(m_).find(key); }
	bool has(const char *key) const noexcept { return bool(find(key)); }
	std::string_view str(const char *key) const
	{
		const char *s;
		size_t n;
		bh_error err{};
		detail::check(bh_key_str(m_, name_, key, &s, &n, &err), err);
		return { s, n };
	}
	int64_t integer(const char *key) const { return get<int64_t>(bh_key_int, key); }
	uint64_t uinteger(const char *key) const { return get<uint64_t>(bh_key_uint, key); }
	double number(const char *key) const { return get<double>(bh_key_float, key); }
	bool boolean(const char *key) const { return get<bool>(bh_key_bool, key); }
	const bh_value *get() const noexcept { return m_; }

private:
	template <typename T>
	T get(int (*fn)(const bh_value *, const char *, const char *, T *, bh_error *),
	      const char *key) const
	{
		T x;
		bh_error err{};
		detail::check(fn(m_, name_, key, &x, &err), err);
		return x;
	}
	const bh_value *m_;
	const char *name_;
};

// A call's params (an array), read by index: "params[0] (name): want str, got int".
class args {
public:
	explicit args(const bh_value *a) noexcept : a_(a) {}
	uint32_t size() const noexcept { return value(a_).size(); }
	value operator[](uint32_t i) const noexcept { return bh_value_at(a_, i); }
	// Throws unless min <= size() <= max.
	void count(uint32_t min, uint32_t max) const
	{
		bh_error err{};
		detail::check(bh_args_count(a_, min, max, &err), err);
	}
	std::string_view str(uint32_t i, const char *what = nullptr) const
	{
		const char *s;
		size_t n;
		bh_error err{};
		detail::check(bh_arg_str(a_, i, what, &s, &n, &err), err);
		return { s, n };
	}
	bytes bin(uint32_t i, const char *what = nullptr) const
	{
		const uint8_t *p;
		size_t n;
		bh_error err{};
		detail::check(bh_arg_bin(a_, i, what, &p, &n, &err), err);
		return { p, n };
	}
	int64_t integer(uint32_t i, const char *what = nullptr) const { return get<int64_t>(bh_arg_int, i, what); }
	uint64_t uinteger(uint32_t i, const char *what = nullptr) const { return get<uint64_t>(bh_arg_uint, i, what); }
	double number(uint32_t i, const char *what = nullptr) const { return get<double>(bh_arg_float, i, what); }
	bool boolean(uint32_t i, const char *what = nullptr) const { return get<bool>(bh_arg_bool, i, what); }
	value array(uint32_t i, const char *what = nullptr) const { return get<const bh_value *>(bh_arg_array, i, what); }
	bh::map map(uint32_t i, const char *what = nullptr) const
	{
		return bh::map(get<const bh_value *>(bh_arg_map, i, what), what ? what : "map");
	}
	const bh_value *get() const noexcept { return a_; }

private:
	template <typename T>
	T get(int (*fn)(const bh_value *, uint32_t, const char *, T *, bh_error *), uint32_t i,
	      const char *what) const
	{
		T x;
		bh_error err{};
		detail::check(fn(a_, i, what, &x, &err), err);
		return x;
	}
	const bh_value *a_;
};

// The result (or a snapshot, or a call out's params). Errors are sticky in the C
// writer and checked once when the callback returns.
class writer {
public:
	explicit writer(bh_writer *w) noexcept : w_(w) {}
	writer &nil() { return done(bh_write_nil(w_)); }
	writer &put(bool b) { return done(bh_write_bool(w_, b)); }
	writer &put(double f) { return done(bh_write_float(w_, f)); }
	writer &put(std::string_view s) { return done(bh_write_str(w_, s.data(), s.size())); }
	writer &put(const char *s) { return put(std::string_view(s)); }
	writer &put(const std::string &s) { return put(std::string_view(s)); }
	writer &put(bytes b) { return done(bh_write_bin(w_, b.data, b.size)); }
	writer &put(value v) { return v ? done(bh_write_value(w_, v.get())) : nil(); }
	template <typename I, typename = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>>
	writer &put(I i)
	{
		if constexpr (std::is_signed_v<I>)
			return done(bh_write_int(w_, i));
		else
			return done(bh_write_uint(w_, i));
	}
	writer &bin(const void *p, size_t n) { return done(bh_write_bin(w_, p, n)); }
	writer &array(uint32_t n) { return done(bh_write_array(w_, n)); }
	writer &map(uint32_t npairs) { return done(bh_write_map(w_, npairs)); }
	int error() const noexcept { return bh_writer_error(w_); }
	bh_writer *get() const noexcept { return w_; }

private:
	writer &done(int) noexcept { return *this; } // sticky: see error()
	bh_writer *w_;
};

// The C boundary: runs fn, which returns 0 or a C-style failure; an exception becomes
// err. Returns what a callback returns.
template <typename Fn>
int guard(bh_error *err, Fn &&fn) noexcept
{
	try {
		return fn();
	} catch (const error &e) {
		return bh_fail(err, e.code(), "%s", e.what());
	} catch (const std::bad_alloc &) {
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	} catch (const std::exception &e) {
		return bh_fail(err, BH_E_PLUGIN_ERROR, "%s", e.what());
	} catch (...) {
		return bh_fail(err, BH_E_PLUGIN_ERROR, "unknown C++ exception");
	}
}

namespace detail {
template <typename F>
struct method_traits;
template <typename T>
struct method_traits<void (*)(T &, args, writer)> {
	static void call(void (*f)(T &, args, writer), void *state, args a, writer w)
	{
		f(*static_cast<T *>(state), a, w);
	}
};
template <>
struct method_traits<void (*)(args, writer)> {
	static void call(void (*f)(args, writer), void *, args a, writer w) { f(a, w); }
};
} // namespace detail

// The C entry point of a method F: void F(T &, args, writer) or void F(args, writer).
template <auto F>
int method(void *state, const bh_value *a, bh_writer *out, bh_error *err) noexcept
{
	return guard(err, [&] {
		detail::method_traits<decltype(F)>::call(F, state, args(a), writer(out));
		return bh_writer_error(out);
	});
}

// The state's lifetime: init constructs a T (from bh::map(config, "config") when T
// has such a constructor, else by default), shutdown deletes it.
template <typename T>
int init(const bh_value *config, void **ret_state, bh_error *err) noexcept
{
	return guard(err, [&] {
		std::unique_ptr<T> t;
		if constexpr (std::is_constructible_v<T, bh::map>)
			t = std::make_unique<T>(bh::map(config, "config"));
		else
			t = std::make_unique<T>();
		*ret_state = t.release();
		return 0;
	});
}

template <typename T>
void shutdown(void *state) noexcept
{
	delete static_cast<T *>(state);
}

// Hot-swap handoff: T::snapshot(bh::writer) const writes one value; T::restore(
// uint32_t version, bh::value blob) reads it (throw to reject the swap).
template <typename T>
int snapshot(void *state, bh_writer *out, bh_error *err) noexcept
{
	return guard(err, [&] {
		static_cast<const T *>(state)->snapshot(writer(out));
		return bh_writer_error(out);
	});
}

template <typename T>
int restore(void *state, uint32_t version, const bh_value *blob, bh_error *err) noexcept
{
	return guard(err, [&] {
		static_cast<T *>(state)->restore(version, value(blob));
		return 0;
	});
}

// The descriptor, built in any order from C++17 on:
//     BH_PLUGIN_DEFINE = bh::descriptor("kv", "1.0", methods).state<kv>().swap<kv>(2);
class descriptor {
public:
	template <size_t N>
	constexpr descriptor(const char *name, const char *version, const bh_method (&m)[N]) : p_{}
	{
		p_.abi_version = BH_PLUGIN_ABI_VERSION;
		p_.struct_size = sizeof(bh_plugin);
		p_.name = name;
		p_.version = version;
		p_.methods = m;
		p_.n_methods = static_cast<uint32_t>(N);
	}
	// init and shutdown for a state of type T.
	template <typename T>
	constexpr descriptor &state()
	{
		p_.init = init<T>;
		p_.shutdown = shutdown<T>;
		return *this;
	}
	// snapshot and restore of T, blob format `version` (>= 1).
	template <typename T>
	constexpr descriptor &swap(uint32_t version)
	{
		p_.state_version = version;
		p_.snapshot = snapshot<T>;
		p_.restore = restore<T>;
		return *this;
	}
	constexpr operator bh_plugin() const { return p_; }

private:
	bh_plugin p_;
};

// Calling out (README "Calling out"): params(writer) writes the params array. The
// result is valid until the next call out or the end of the callback; a failure
// throws bh::error with the callee's code, which a method may let through.
template <typename Params>
value callout(const char *target, Params &&params)
{
	params(writer(bh_callout_params()));
	const bh_value *r = nullptr;
	bh_error err{};
	detail::check(bh_callout(target, &r, &err), err);
	return r;
}

inline value callout(const char *target)
{
	return callout(target, [](writer w) { w.array(0); });
}

} // namespace bh

#endif
