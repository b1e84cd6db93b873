//! stats: a bulkhead plugin written in Rust with nothing but rustc.
//!
//!   sum(numbers...)    int when every argument is an integer (overflow is an error),
//!                      else float
//!   mean(array)        float; the array must not be empty
//!   describe(array)    map {count, min, max, mean}; min, max and mean are nil when
//!                      the array is empty
//!
//! Build:  rustc --edition 2021 --crate-type cdylib -C panic=abort -C opt-level=2 \
//!             --crate-name stats -o stats.so stats.rs
//! The bh_* functions are left undefined and resolved from bulkhead-shim at load
//! time, like for a C plugin. The ABI types below mirror bulkhead/plugin.h,
//! value.h and error.h (BH_PLUGIN_ABI_VERSION 1) field for field; the asserts at
//! the end pin their sizes.
#![allow(non_camel_case_types)]

use std::ffi::CString;
// std::os::raw, not std::ffi: Debian 12's rustc 1.63 has no std::ffi::c_char.
use std::os::raw::{c_char, c_int, c_void};

/// A NUL-terminated string literal as a C pointer (c"..." literals need Rust 1.77).
macro_rules! cstr {
    ($s:literal) => {
        concat!($s, "\0").as_ptr() as *const c_char
    };
}

// ---- the C ABI, by hand -----------------------------------------------------------

const BH_PLUGIN_ABI_VERSION: u32 = 1;

const BH_INT: u8 = 2;
const BH_ARRAY: u8 = 7;

const BH_E_INVALID_PARAMS: i32 = 4;

#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)]
pub union bh_value_as {
    b: bool,
    i: i64,
    u: u64,
    f: f64,
    str_: *const c_char,
    bin: *const u8,
    items: *const bh_value,
}

#[repr(C)]
#[allow(dead_code)]
pub struct bh_value {
    type_: u8,
    ext_type: i8,
    reserved: u16,
    len: u32,
    as_: bh_value_as,
}

/// Opaque: only ever handled through a pointer.
#[repr(C)]
pub struct bh_writer {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct bh_error {
    code: i32,
    message: [c_char; 512],
}

type bh_method_fn =
    unsafe extern "C" fn(*mut c_void, *const bh_value, *mut bh_writer, *mut bh_error) -> c_int;

#[repr(C)]
pub struct bh_method {
    name: *const c_char,
    fn_: Option<bh_method_fn>,
}

#[repr(C)]
pub struct bh_plugin {
    abi_version: u32,
    struct_size: u32,
    name: *const c_char,
    version: *const c_char,
    init: Option<unsafe extern "C" fn(*const bh_value, *mut *mut c_void, *mut bh_error) -> c_int>,
    shutdown: Option<unsafe extern "C" fn(*mut c_void)>,
    methods: *const bh_method,
    n_methods: u32,
    state_version: u32,
    snapshot: Option<unsafe extern "C" fn(*mut c_void, *mut bh_writer, *mut bh_error) -> c_int>,
    restore: Option<
        unsafe extern "C" fn(*mut c_void, u32, *const bh_value, *mut bh_error) -> c_int,
    >,
    reserved: [*mut c_void; 8],
}

// The descriptor and the method table are immutable static data.
unsafe impl Sync for bh_plugin {}
unsafe impl Sync for bh_method {}

const _: () = assert!(std::mem::size_of::<bh_value>() == 16);
const _: () = assert!(std::mem::size_of::<bh_error>() == 516);
const _: () = assert!(std::mem::size_of::<bh_method>() == 16);
const _: () = assert!(std::mem::size_of::<bh_plugin>() == 136);

extern "C" {
    fn bh_write_nil(w: *mut bh_writer) -> c_int;
    fn bh_write_int(w: *mut bh_writer, i: i64) -> c_int;
    fn bh_write_uint(w: *mut bh_writer, u: u64) -> c_int;
    fn bh_write_float(w: *mut bh_writer, f: f64) -> c_int;
    fn bh_write_cstr(w: *mut bh_writer, s: *const c_char) -> c_int;
    fn bh_write_map(w: *mut bh_writer, npairs: u32) -> c_int;
    fn bh_value_get_float(v: *const bh_value, ret: *mut f64) -> c_int;
    fn bh_fail(err: *mut bh_error, code: i32, fmt: *const c_char, ...) -> c_int;
}

// ---- safe helpers -----------------------------------------------------------------

/// The items of an array value (empty for anything else).
fn items<'a>(v: &'a bh_value) -> &'a [bh_value] {
    if v.type_ != BH_ARRAY || v.len == 0 {
        return &[];
    }
    // SAFETY: an array's items point at len nodes that live as long as v.
    unsafe { std::slice::from_raw_parts(v.as_.items, v.len as usize) }
}

fn number(v: &bh_value, what: &str) -> Result<f64, String> {
    let mut f = 0.0;
    // SAFETY: v is a valid node; f is a valid out pointer.
    if unsafe { bh_value_get_float(v, &mut f) } < 0 {
        return Err(format!("{what} is not a number"));
    }
    Ok(f)
}

/// The numbers of args[0], which must be an array.
fn numbers(args: &bh_value) -> Result<Vec<f64>, String> {
    let arr = items(args).first().ok_or("want one argument, an array of numbers")?;
    if arr.type_ != BH_ARRAY {
        return Err("want one argument, an array of numbers".into());
    }
    items(arr).iter().enumerate().map(|(i, v)| number(v, &format!("element {i}"))).collect()
}

fn fail(err: *mut bh_error, msg: String) -> c_int {
    let msg = CString::new(msg).unwrap_or_default();
    // SAFETY: bh_fail is printf-like; "%s" with a NUL-terminated string.
    unsafe { bh_fail(err, BH_E_INVALID_PARAMS, cstr!("%s"), msg.as_ptr()) }
}

// ---- methods ----------------------------------------------------------------------

unsafe extern "C" fn m_sum(
    _state: *mut c_void,
    args: *const bh_value,
    out: *mut bh_writer,
    err: *mut bh_error,
) -> c_int {
    let args = &*args;
    let all_int = items(args).iter().all(|v| v.type_ == BH_INT);
    if all_int {
        let mut total: i64 = 0;
        for v in items(args) {
            match total.checked_add(v.as_.i) {
                Some(t) => total = t,
                None => return fail(err, "sum overflows a 64-bit integer".into()),
            }
        }
        return bh_write_int(out, total);
    }
    let mut total = 0.0;
    for (i, v) in items(args).iter().enumerate() {
        match number(v, &format!("argument {}", i + 1)) {
            Ok(f) => total += f,
            Err(e) => return fail(err, e),
        }
    }
    bh_write_float(out, total)
}

unsafe extern "C" fn m_mean(
    _state: *mut c_void,
    args: *const bh_value,
    out: *mut bh_writer,
    err: *mut bh_error,
) -> c_int {
    match numbers(&*args) {
        Ok(v) if v.is_empty() => fail(err, "the mean of an empty array is undefined".into()),
        Ok(v) => bh_write_float(out, v.iter().sum::<f64>() / v.len() as f64),
        Err(e) => fail(err, e),
    }
}

unsafe extern "C" fn m_describe(
    _state: *mut c_void,
    args: *const bh_value,
    out: *mut bh_writer,
    err: *mut bh_error,
) -> c_int {
    let v = match numbers(&*args) {
        Ok(v) => v,
        Err(e) => return fail(err, e),
    };
    bh_write_map(out, 4);
    bh_write_cstr(out, cstr!("count"));
    bh_write_uint(out, v.len() as u64);
    let stats = [
        (cstr!("min"), v.iter().copied().reduce(f64::min)),
        (cstr!("max"), v.iter().copied().reduce(f64::max)),
        (cstr!("mean"), (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)),
    ];
    let mut r = 0;
    for (key, val) in stats {
        bh_write_cstr(out, key);
        r = match val {
            Some(f) => bh_write_float(out, f),
            None => bh_write_nil(out),
        };
    }
    r // the writer's errors are sticky: the last result covers them all
}

// ---- the descriptor ---------------------------------------------------------------

static METHODS: [bh_method; 3] = [
    bh_method { name: cstr!("sum"), fn_: Some(m_sum) },
    bh_method { name: cstr!("mean"), fn_: Some(m_mean) },
    bh_method { name: cstr!("describe"), fn_: Some(m_describe) },
];

#[no_mangle]
pub static bulkhead_plugin: bh_plugin = bh_plugin {
    abi_version: BH_PLUGIN_ABI_VERSION,
    struct_size: std::mem::size_of::<bh_plugin>() as u32,
    name: cstr!("stats"),
    version: cstr!("1.0.0"),
    init: None,
    shutdown: None,
    methods: METHODS.as_ptr(),
    n_methods: METHODS.len() as u32,
    state_version: 0,
    snapshot: None,
    restore: None,
    reserved: [std::ptr::null_mut(); 8],
};
