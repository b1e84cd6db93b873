//! hello: a bulkhead plugin in Zig, through the C ABI (plugin.h, plugin_args.h).
//!
//!   greet(name: str)   "Hello, NAME!"
//!
//! NOT built by the project: Debian 12 ships no Zig toolchain, so this file is a
//! documented example, unchecked by the build. Written for Zig 0.11-0.13. Build:
//!   zig build-lib -dynamic -lc -O ReleaseSafe -fPIC \
//!       -I plugin-sdk/include -I proto/include -femit-bin=hello.so \
//!       examples/plugins/zig/hello.zig
//! and, as for C, leave the bh_* functions undefined: bulkhead-shim provides them when
//! it loads the plugin (no -z defs). A Zig panic aborts the process (the caller gets
//! plugin_crashed and the instance is replaced): fail with bh_fail instead.
const std = @import("std");
const c = @cImport({
    @cInclude("bulkhead/plugin_args.h");
});

fn greet(state: ?*anyopaque, args: [*c]const c.bh_value, out: ?*c.bh_writer, err: [*c]c.bh_error) callconv(.C) c_int {
    _ = state;
    var name: [*c]const u8 = undefined;
    var len: usize = 0;
    // Wrong type: invalid_params "params[0] (name): want str, got int".
    if (c.bh_arg_str(args, 0, "name", &name, &len, err) < 0) return -1;
    var buf: [256]u8 = undefined;
    const text = std.fmt.bufPrint(&buf, "Hello, {s}!", .{name[0..len]}) catch
        return c.bh_fail(err, c.BH_E_INVALID_PARAMS, "name too long (%zu bytes)", len);
    return c.bh_write_str(out, text.ptr, text.len);
}

const methods = [_]c.struct_bh_method{
    .{ .name = "greet", .@"fn" = greet },
};

// The descriptor, field for field as plugin.h declares it.
export const bulkhead_plugin = c.struct_bh_plugin{
    .abi_version = c.BH_PLUGIN_ABI_VERSION,
    .struct_size = @sizeOf(c.struct_bh_plugin),
    .name = "hello_zig",
    .version = "1.0.0",
    .init = null,
    .shutdown = null,
    .methods = &methods,
    .n_methods = methods.len,
    .state_version = 0,
    .snapshot = null,
    .restore = null,
    .reserved = [_]?*anyopaque{null} ** 8,
};
