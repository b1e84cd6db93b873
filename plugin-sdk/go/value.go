package bulkhead

/*
#include "bulkhead.h"

static const bh_value *bhgo_item(const bh_value *v, uint32_t i) { return &v->as.items[i]; }
static int64_t bhgo_i(const bh_value *v) { return v->as.i; }
static uint64_t bhgo_u(const bh_value *v) { return v->as.u; }
static double bhgo_f(const bh_value *v) { return v->as.f; }
static _Bool bhgo_b(const bh_value *v) { return v->as.b; }
static const void *bhgo_p(const bh_value *v) { return v->as.bin; }
static int bhgo_write_str(bh_writer *w, _GoString_ s)
{
	return bh_write_str(w, _GoStringPtr(s), _GoStringLen(s));
}
*/
import "C"

import (
	"fmt"
	"math"
	"sort"
	"unsafe"
)

// Codes a plugin may fail with (error.h); application codes are >= 1000.
const (
	InvalidParams  = 4
	PluginError    = 7
	ApplicationMin = 1000
)

// Error is a failure as the caller sees it.
type Error struct {
	Code    int32
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// Errorf is an error with a code: InvalidParams, PluginError or >= ApplicationMin.
func Errorf(code int32, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Kind is a value's type.
type Kind uint8

const (
	Nil Kind = iota
	Bool
	Int
	Uint
	Float
	Str
	Bin
	Array
	MapKind
	Ext
)

var kindNames = [...]string{"nil", "bool", "int", "uint", "float", "str", "bin", "array", "map", "ext"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// Value is a decoded, read-only value, valid during the callback that received it.
type Value struct{ v *C.bh_value }

// Exists is false for a missing element or key.
func (v Value) Exists() bool { return v.v != nil }
func (v Value) Kind() Kind   { return Kind(v.v._type) }

// Len is the number of elements of an array, pairs of a map, bytes of a str or bin.
func (v Value) Len() int { return int(v.v.len) }

// Index is element i of an array (missing: !Exists()).
func (v Value) Index(i int) Value {
	if v.v == nil || v.Kind() != Array || i < 0 || i >= v.Len() {
		return Value{}
	}
	return Value{C.bhgo_item(v.v, C.uint32_t(i))}
}

// Find is the value of map key `key` (missing: !Exists()).
func (v Value) Find(key string) Value {
	if v.v == nil || v.Kind() != MapKind {
		return Value{}
	}
	for i := 0; i < v.Len(); i++ {
		k := Value{C.bhgo_item(v.v, C.uint32_t(2*i))}
		if s, ok := k.Str(); ok && s == key {
			return Value{C.bhgo_item(v.v, C.uint32_t(2*i+1))}
		}
	}
	return Value{}
}

// Pair is key and value of map pair i.
func (v Value) Pair(i int) (Value, Value) {
	return Value{C.bhgo_item(v.v, C.uint32_t(2*i))}, Value{C.bhgo_item(v.v, C.uint32_t(2*i+1))}
}

func (v Value) Int() (int64, bool) {
	switch {
	case v.v == nil:
	case v.Kind() == Int:
		return int64(C.bhgo_i(v.v)), true
	case v.Kind() == Uint && uint64(C.bhgo_u(v.v)) <= math.MaxInt64:
		return int64(C.bhgo_u(v.v)), true
	}
	return 0, false
}

func (v Value) Uint() (uint64, bool) {
	switch {
	case v.v == nil:
	case v.Kind() == Uint:
		return uint64(C.bhgo_u(v.v)), true
	case v.Kind() == Int && int64(C.bhgo_i(v.v)) >= 0:
		return uint64(C.bhgo_i(v.v)), true
	}
	return 0, false
}

// Float accepts any number.
func (v Value) Float() (float64, bool) {
	if i, ok := v.Int(); ok {
		return float64(i), true
	}
	if u, ok := v.Uint(); ok {
		return float64(u), true
	}
	if v.v != nil && v.Kind() == Float {
		return float64(C.bhgo_f(v.v)), true
	}
	return 0, false
}

func (v Value) Bool() (bool, bool) {
	if v.v != nil && v.Kind() == Bool {
		return bool(C.bhgo_b(v.v)), true
	}
	return false, false
}

// Str copies a string.
func (v Value) Str() (string, bool) {
	if v.v == nil || v.Kind() != Str {
		return "", false
	}
	return C.GoStringN((*C.char)(C.bhgo_p(v.v)), C.int(v.Len())), true
}

// Bytes copies a bin's bytes.
func (v Value) Bytes() ([]byte, bool) {
	if v.v == nil || v.Kind() != Bin {
		return nil, false
	}
	return C.GoBytes(C.bhgo_p(v.v), C.int(v.Len())), true
}

// Any copies v into Go values: nil, bool, int64, uint64 (above MaxInt64), float64,
// string, []byte (bin), []any, map[string]any (string keys only; another key, or an
// ext, is an error).
func (v Value) Any() (any, error) {
	if !v.Exists() {
		return nil, nil
	}
	switch v.Kind() {
	case Nil:
		return nil, nil
	case Bool:
		b, _ := v.Bool()
		return b, nil
	case Int:
		i, _ := v.Int()
		return i, nil
	case Uint:
		u, _ := v.Uint()
		return u, nil
	case Float:
		f, _ := v.Float()
		return f, nil
	case Str:
		s, _ := v.Str()
		return s, nil
	case Bin:
		b, _ := v.Bytes()
		return b, nil
	case Array:
		a := make([]any, v.Len())
		for i := range a {
			var err error
			if a[i], err = v.Index(i).Any(); err != nil {
				return nil, err
			}
		}
		return a, nil
	case MapKind:
		m := make(map[string]any, v.Len())
		for i := 0; i < v.Len(); i++ {
			k, val := v.Pair(i)
			key, ok := k.Str()
			if !ok {
				return nil, Errorf(PluginError, "a map key is a %s, not a str", k.Kind())
			}
			x, err := val.Any()
			if err != nil {
				return nil, err
			}
			m[key] = x
		}
		return m, nil
	}
	return nil, Errorf(PluginError, "cannot copy a %s", v.Kind())
}

// wrong is the invalid_params error for a value at place that is not a want.
func wrong(place string, v Value, want string) *Error {
	switch {
	case !v.Exists():
		return Errorf(InvalidParams, "%s: missing, want %s", place, want)
	case (v.Kind() == Int || v.Kind() == Uint) && (want == "int" || want == "uint"):
		return Errorf(InvalidParams, "%s: want %s, out of range", place, want)
	}
	return Errorf(InvalidParams, "%s: want %s, got %s", place, want, v.Kind())
}

// Args are a call's params, read by index; `what` names the argument in errors:
// "params[0] (name): want str, got int".
type Args struct{ v Value }

func (a Args) Len() int        { return a.v.Len() }
func (a Args) Get(i int) Value { return a.v.Index(i) }
func (a Args) place(i int, what string) string {
	return fmt.Sprintf("params[%d] (%s)", i, what)
}

// Count fails unless min <= Len() <= max.
func (a Args) Count(min, max int) error {
	n := a.Len()
	switch {
	case n >= min && n <= max:
		return nil
	case min == max:
		return Errorf(InvalidParams, "want %d params, got %d", min, n)
	}
	return Errorf(InvalidParams, "want %d to %d params, got %d", min, max, n)
}

func (a Args) Str(i int, what string) (string, error) {
	s, ok := a.Get(i).Str()
	return s, check(ok, a.place(i, what), a.Get(i), "str")
}
func (a Args) Int(i int, what string) (int64, error) {
	x, ok := a.Get(i).Int()
	return x, check(ok, a.place(i, what), a.Get(i), "int")
}
func (a Args) Uint(i int, what string) (uint64, error) {
	x, ok := a.Get(i).Uint()
	return x, check(ok, a.place(i, what), a.Get(i), "uint")
}
func (a Args) Float(i int, what string) (float64, error) {
	x, ok := a.Get(i).Float()
	return x, check(ok, a.place(i, what), a.Get(i), "number")
}
func (a Args) Bool(i int, what string) (bool, error) {
	x, ok := a.Get(i).Bool()
	return x, check(ok, a.place(i, what), a.Get(i), "bool")
}
func (a Args) Bytes(i int, what string) ([]byte, error) {
	x, ok := a.Get(i).Bytes()
	return x, check(ok, a.place(i, what), a.Get(i), "bin")
}
func (a Args) Array(i int, what string) (Value, error) {
	v := a.Get(i)
	return v, check(v.Exists() && v.Kind() == Array, a.place(i, what), v, "array")
}
func (a Args) Map(i int, what string) (Map, error) {
	v := a.Get(i)
	return Map{v: v, name: what}, check(v.Exists() && v.Kind() == MapKind, a.place(i, what), v, "map")
}

// check returns nil when ok, else the error (a nil error interface, not a nil *Error).
func check(ok bool, place string, v Value, want string) error {
	if ok {
		return nil
	}
	return wrong(place, v, want)
}

// Map is a map read by key, named for errors: "config.max_keys: want int, got str".
type Map struct {
	v    Value
	name string
}

func (m Map) Get(key string) Value { return m.v.Find(key) }
func (m Map) Has(key string) bool  { return m.Get(key).Exists() }
func (m Map) place(key string) string {
	return m.name + "." + key
}
func (m Map) Str(key string) (string, error) {
	s, ok := m.Get(key).Str()
	return s, check(ok, m.place(key), m.Get(key), "str")
}
func (m Map) Int(key string) (int64, error) {
	x, ok := m.Get(key).Int()
	return x, check(ok, m.place(key), m.Get(key), "int")
}
func (m Map) Float(key string) (float64, error) {
	x, ok := m.Get(key).Float()
	return x, check(ok, m.place(key), m.Get(key), "number")
}
func (m Map) Bool(key string) (bool, error) {
	x, ok := m.Get(key).Bool()
	return x, check(ok, m.place(key), m.Get(key), "bool")
}

// Writer writes one MessagePack value: a result, a snapshot, a call out's params.
type Writer struct{ w *C.bh_writer }

// Raw is a result written by hand: return Raw(func(w *Writer) error {...}).
type Raw func(w *Writer) error

func (w *Writer) Nil()            { C.bh_write_nil(w.w) }
func (w *Writer) Bool(b bool)     { C.bh_write_bool(w.w, C.bool(b)) }
func (w *Writer) Int(i int64)     { C.bh_write_int(w.w, C.int64_t(i)) }
func (w *Writer) Uint(u uint64)   { C.bh_write_uint(w.w, C.uint64_t(u)) }
func (w *Writer) Float(f float64) { C.bh_write_float(w.w, C.double(f)) }
func (w *Writer) Array(n int)     { C.bh_write_array(w.w, C.uint32_t(n)) }
func (w *Writer) Map(npairs int)  { C.bh_write_map(w.w, C.uint32_t(npairs)) }
func (w *Writer) Str(s string) {
	C.bhgo_write_str(w.w, s)
}
func (w *Writer) Bin(b []byte) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	C.bh_write_bin(w.w, p, C.size_t(len(b)))
}
func (w *Writer) Value(v Value) { C.bh_write_value(w.w, v.v) }

// Put writes x: nil, bool, every integer and float type, string, []byte (bin),
// Value, Raw, []any and []string (arrays), map[string]any (a map, keys sorted).
// Another type is an error.
func (w *Writer) Put(x any) error {
	switch x := x.(type) {
	case nil:
		w.Nil()
	case bool:
		w.Bool(x)
	case int:
		w.Int(int64(x))
	case int8:
		w.Int(int64(x))
	case int16:
		w.Int(int64(x))
	case int32:
		w.Int(int64(x))
	case int64:
		w.Int(x)
	case uint:
		w.Uint(uint64(x))
	case uint8:
		w.Uint(uint64(x))
	case uint16:
		w.Uint(uint64(x))
	case uint32:
		w.Uint(uint64(x))
	case uint64:
		w.Uint(x)
	case float32:
		w.Float(float64(x))
	case float64:
		w.Float(x)
	case string:
		w.Str(x)
	case []byte:
		w.Bin(x)
	case Value:
		w.Value(x)
	case Raw:
		return x(w)
	case []string:
		w.Array(len(x))
		for _, s := range x {
			w.Str(s)
		}
	case []any:
		w.Array(len(x))
		for _, e := range x {
			if err := w.Put(e); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.Map(len(keys))
		for _, k := range keys {
			w.Str(k)
			if err := w.Put(x[k]); err != nil {
				return err
			}
		}
	default:
		return Errorf(PluginError, "bulkhead: cannot write a %T", x)
	}
	return nil
}

// Callout calls "plugin.method" or "ns.method" (README "Calling out"): params writes
// the params array (nil: []); result reads the answer, valid only until it returns.
// A failure is the callee's *Error, which a method may return as it is.
func Callout(target string, params func(w *Writer), result func(v Value) error) error {
	t := C.CString(target)
	defer C.free(unsafe.Pointer(t))
	if params != nil {
		params(&Writer{w: C.bh_callout_params()})
	}
	var r *C.bh_value
	var cerr C.bh_error
	if C.bh_callout(t, &r, &cerr) < 0 {
		return &Error{Code: int32(cerr.code), Message: C.GoString(&cerr.message[0])}
	}
	if result == nil {
		return nil
	}
	return result(Value{r})
}
