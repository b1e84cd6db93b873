// Package bulkhead writes bulkhead plugins in Go, with no C of the plugin's own.
//
//	package main
//
//	import bulkhead "bulkhead/plugin"
//
//	func init() {
//		bulkhead.Define(bulkhead.Plugin{
//			Name: "hello", Version: "1.0.0",
//			Methods: map[string]bulkhead.Method{
//				"greet": func(a bulkhead.Args) (any, error) {
//					name, err := a.Str(0, "name") // wrong type: invalid_params, with the text
//					return "Hello, " + name + "!", err
//				},
//			},
//		})
//	}
//
//	func main() {}
//
// Build it with `go build -buildmode=c-shared -o hello.so .` (Go >= 1.19, cgo, a C
// compiler). A method's result is written as MessagePack (see Writer.Put for the
// types); a returned *Error reaches the caller with its code, any other error as
// plugin_error with its text, and a panic is recovered into plugin_error
// "panic: VALUE (at FILE:LINE)". Methods run one at a time, on the shim's thread.
//
// Everything borrowed from a call (Args, Value, the strings and bytes of Value's
// zero-copy accessors) lives as long as the call: copy what must outlive it.
package bulkhead

/*
#cgo CFLAGS: -I${SRCDIR}/../include -I${SRCDIR}/../../proto/include
#include "bulkhead.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"unsafe"
)

// Method is one method of a plugin: its result, or an error.
type Method func(a Args) (any, error)

// Plugin is what Define declares.
type Plugin struct {
	Name    string            // identifier: letters, digits, '_' and '-'
	Version string            // free text
	Methods map[string]Method // at most 64
	// Optional: the plugin's `config` group from the daemon's configuration
	// (errors name its keys "config.KEY").
	Init func(config Map) error
	// Optional: the last call on a clean stop.
	Shutdown func()
	// Hot-swap handoff, optional (both, and StateVersion >= 1): Snapshot writes one
	// value, the new generation's Restore reads it (an error rejects the swap).
	StateVersion uint32
	Snapshot     func(w *Writer) error
	Restore      func(version uint32, blob Value) error
}

var (
	plugin  *Plugin
	methods []Method // in the order of the descriptor's slots
)

// Define declares the plugin. Call it once, from an init function of package main:
// the descriptor is read when the library is loaded, before main would run.
func Define(p Plugin) {
	if plugin != nil {
		panic("bulkhead.Define called twice")
	}
	if len(p.Methods) > C.BHGO_METHODS_MAX {
		panic(fmt.Sprintf("bulkhead.Define: %d methods, at most %d", len(p.Methods), C.BHGO_METHODS_MAX))
	}
	if (p.StateVersion != 0) != (p.Snapshot != nil && p.Restore != nil) {
		panic("bulkhead.Define: StateVersion, Snapshot and Restore go together")
	}
	plugin = &p
}

//export bhgo_describe
func bhgo_describe() {
	if plugin == nil {
		return
	}
	names := make([]string, 0, len(plugin.Methods))
	for name := range plugin.Methods {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		methods = append(methods, plugin.Methods[name])
		C.bhgo_set_method(C.uint32_t(i), C.CString(name))
	}
	C.bhgo_set_plugin(C.CString(plugin.Name), C.CString(plugin.Version),
		C.uint32_t(len(names)), C.uint32_t(plugin.StateVersion))
}

// boundary runs one callback: an error or a panic becomes err, for the caller.
func boundary(cerr *C.bh_error, f func() error) (rc C.int) {
	defer func() {
		if p := recover(); p != nil {
			rc = fail(cerr, &Error{Code: PluginError, Message: panicText(p)})
		}
	}()
	if err := f(); err != nil {
		return fail(cerr, err)
	}
	return 0
}

func fail(cerr *C.bh_error, err error) C.int {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Code: PluginError, Message: err.Error()}
	}
	msg := C.CString(strings.ReplaceAll(e.Message, "\x00", "\\0"))
	defer C.free(unsafe.Pointer(msg))
	return C.bhgo_fail(cerr, C.int32_t(e.Code), msg)
}

// "panic: VALUE (at FILE:LINE)", the place being the frame that panicked.
func panicText(p any) string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") && f.File != "" {
			return fmt.Sprintf("panic: %v (at %s:%d)", p, f.File, f.Line)
		}
		if !more {
			return fmt.Sprintf("panic: %v", p)
		}
	}
}

//export bhgo_call
func bhgo_call(slot C.int, args *C.bh_value, out *C.bh_writer, cerr *C.bh_error) C.int {
	w := &Writer{w: out}
	rc := boundary(cerr, func() error {
		r, err := methods[slot](Args{v: Value{args}})
		if err != nil {
			return err
		}
		return w.Put(r)
	})
	if rc != 0 {
		return rc
	}
	return C.bh_writer_error(out)
}

//export bhgo_init
func bhgo_init(config *C.bh_value, cerr *C.bh_error) C.int {
	if plugin.Init == nil {
		return 0
	}
	return boundary(cerr, func() error { return plugin.Init(Map{v: Value{config}, name: "config"}) })
}

//export bhgo_shutdown
func bhgo_shutdown() {
	if plugin.Shutdown != nil {
		var cerr C.bh_error
		boundary(&cerr, func() error { plugin.Shutdown(); return nil })
	}
}

//export bhgo_snapshot
func bhgo_snapshot(out *C.bh_writer, cerr *C.bh_error) C.int {
	w := &Writer{w: out}
	if rc := boundary(cerr, func() error { return plugin.Snapshot(w) }); rc != 0 {
		return rc
	}
	return C.bh_writer_error(out)
}

//export bhgo_restore
func bhgo_restore(version C.uint32_t, blob *C.bh_value, cerr *C.bh_error) C.int {
	return boundary(cerr, func() error { return plugin.Restore(uint32(version), Value{blob}) })
}
