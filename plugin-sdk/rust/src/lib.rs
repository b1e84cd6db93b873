//! bulkhead plugin SDK for Rust: safe wrappers over the C ABI of
//! `plugin-sdk/include/bulkhead/plugin.h` (BH_PLUGIN_ABI_VERSION 1).
//!
//! ```ignore
//! use bulkhead_plugin::{plugin, Args, Result};
//!
//! fn add(_: &mut (), a: Args) -> Result<i64> {
//!     Ok(a.int(0, "a")? + a.int(1, "b")?)   // wrong type: invalid_params, with the text
//! }
//!
//! plugin! { name: "calc", version: "1.0.0", methods: { "add" => add } }
//! ```
//!
//! A method is `fn(&mut S, Args) -> Result<R>` where `S` is the plugin's state (`()`
//! without one) and `R` any [`IntoValue`] (numbers, strings, `Option`, `Vec`, maps,
//! [`Bin`], or [`with`] to write the result by hand). An `Err` reaches the caller with
//! its code and message; a panic is caught at the boundary and reaches the caller as
//! `plugin_error` "panicked at FILE:LINE:COL: MESSAGE" (the state may be half
//! updated: the instance keeps serving). While a method waits in [`callout`], a call of
//! its chain that comes back to this instance (A -> B -> A) cannot have the state the
//! waiting method holds: such a nested method fails with plugin_error, unless the
//! state is `()`. Build the plugin as a `cdylib` with the
//! default `panic = "unwind"`: with `panic = "abort"` a panic kills the instance.
//!
//! Everything borrowed from a call (`Args`, `&Value`, `&str`) lives as long as the
//! call; copy what must outlive it. Written for Rust 1.63 (Debian 12) and later; no
//! dependencies. The `bh_*` functions are left undefined and resolved from
//! bulkhead-shim when it loads the plugin, as for a C plugin.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{self, AssertUnwindSafe};

/// The C ABI, field for field (plugin.h, value.h, error.h). The asserts at the end pin
/// the sizes the C compiler gives these structs on 64-bit Linux.
#[allow(non_camel_case_types)]
pub mod sys {
    use std::os::raw::{c_char, c_int, c_void};

    pub const BH_PLUGIN_ABI_VERSION: u32 = 1;

    pub const BH_NIL: u8 = 0;
    pub const BH_BOOL: u8 = 1;
    pub const BH_INT: u8 = 2;
    pub const BH_UINT: u8 = 3;
    pub const BH_FLOAT: u8 = 4;
    pub const BH_STR: u8 = 5;
    pub const BH_BIN: u8 = 6;
    pub const BH_ARRAY: u8 = 7;
    pub const BH_MAP: u8 = 8;
    pub const BH_EXT: u8 = 9;

    pub const BH_E_INVALID_PARAMS: i32 = 4;
    pub const BH_E_PLUGIN_ERROR: i32 = 7;
    pub const BH_E_APPLICATION_MIN: i32 = 1000;
    pub const BH_ERROR_MESSAGE_MAX: usize = 512;

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub union bh_value_as {
        pub b: bool,
        pub i: i64,
        pub u: u64,
        pub f: f64,
        pub str_: *const c_char,
        pub bin: *const u8,
        pub items: *const bh_value,
    }

    #[repr(C)]
    pub struct bh_value {
        pub type_: u8,
        pub ext_type: i8,
        pub reserved: u16,
        pub len: u32,
        pub as_: bh_value_as,
    }

    /// Opaque: only ever handled through a pointer.
    #[repr(C)]
    pub struct bh_writer {
        _opaque: [u8; 0],
    }

    #[repr(C)]
    pub struct bh_error {
        pub code: i32,
        pub message: [c_char; BH_ERROR_MESSAGE_MAX],
    }

    pub type bh_method_fn =
        unsafe extern "C" fn(*mut c_void, *const bh_value, *mut bh_writer, *mut bh_error) -> c_int;

    #[repr(C)]
    pub struct bh_method {
        pub name: *const c_char,
        pub fn_: Option<bh_method_fn>,
    }

    #[repr(C)]
    pub struct bh_plugin {
        pub abi_version: u32,
        pub struct_size: u32,
        pub name: *const c_char,
        pub version: *const c_char,
        pub init:
            Option<unsafe extern "C" fn(*const bh_value, *mut *mut c_void, *mut bh_error) -> c_int>,
        pub shutdown: Option<unsafe extern "C" fn(*mut c_void)>,
        pub methods: *const bh_method,
        pub n_methods: u32,
        pub state_version: u32,
        pub snapshot:
            Option<unsafe extern "C" fn(*mut c_void, *mut bh_writer, *mut bh_error) -> c_int>,
        pub restore: Option<
            unsafe extern "C" fn(*mut c_void, u32, *const bh_value, *mut bh_error) -> c_int,
        >,
        pub health: Option<unsafe extern "C" fn(*mut c_void, *mut bh_error) -> c_int>,
        pub reserved: [*mut c_void; 7],
    }

    // The descriptor and the method table are immutable static data.
    unsafe impl Sync for bh_plugin {}
    unsafe impl Sync for bh_method {}

    const _: () = assert!(std::mem::size_of::<bh_value>() == 16);
    const _: () = assert!(std::mem::size_of::<bh_error>() == 516);
    const _: () = assert!(std::mem::size_of::<bh_method>() == 16);
    const _: () = assert!(std::mem::size_of::<bh_plugin>() == 136);

    extern "C" {
        pub fn bh_write_nil(w: *mut bh_writer) -> c_int;
        pub fn bh_write_bool(w: *mut bh_writer, b: bool) -> c_int;
        pub fn bh_write_int(w: *mut bh_writer, i: i64) -> c_int;
        pub fn bh_write_uint(w: *mut bh_writer, u: u64) -> c_int;
        pub fn bh_write_float(w: *mut bh_writer, f: f64) -> c_int;
        pub fn bh_write_float32(w: *mut bh_writer, f: f32) -> c_int;
        pub fn bh_write_str(w: *mut bh_writer, s: *const c_char, len: usize) -> c_int;
        pub fn bh_write_bin(w: *mut bh_writer, p: *const c_void, len: usize) -> c_int;
        pub fn bh_write_array(w: *mut bh_writer, n: u32) -> c_int;
        pub fn bh_write_map(w: *mut bh_writer, npairs: u32) -> c_int;
        pub fn bh_write_value(w: *mut bh_writer, v: *const bh_value) -> c_int;
        pub fn bh_writer_error(w: *const bh_writer) -> c_int;
        pub fn bh_fail(err: *mut bh_error, code: i32, fmt: *const c_char, ...) -> c_int;
        pub fn bh_callout_params() -> *mut bh_writer;
        pub fn bh_callout(method: *const c_char, ret: *mut *const bh_value, err: *mut bh_error)
            -> c_int;
        pub fn bh_callout_caller(
            method: *const c_char,
            ret: *mut *const bh_value,
            err: *mut bh_error,
        ) -> c_int;
        pub fn bh_notify_caller(method: *const c_char, err: *mut bh_error) -> c_int;
    }
}

use sys::*;

// ---- errors ------------------------------------------------------------------------

/// A failure as the caller sees it: a code and a message.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The arguments are wrong (`invalid_params`, code 4).
    pub fn invalid_params(message: impl Into<String>) -> Error {
        Error { code: BH_E_INVALID_PARAMS, message: message.into() }
    }
    /// The plugin failed (`plugin_error`, code 7).
    pub fn plugin(message: impl fmt::Display) -> Error {
        Error { code: BH_E_PLUGIN_ERROR, message: message.to_string() }
    }
    /// An application code, >= 1000 (a smaller one reaches the caller as plugin_error,
    /// except invalid_params and unknown_method).
    pub fn with_code(code: i32, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }
    pub fn code(&self) -> i32 {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Fills the C error; returns what a failing callback returns.
    unsafe fn fail(&self, err: *mut bh_error) -> c_int {
        let msg = CString::new(self.message.replace('\0', "\\0")).unwrap_or_default();
        bh_fail(err, self.code, b"%s\0".as_ptr() as *const c_char, msg.as_ptr())
    }
    unsafe fn from_c(err: &bh_error) -> Error {
        let bytes: Vec<u8> =
            err.message.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        Error { code: err.code, message: String::from_utf8_lossy(&bytes).into_owned() }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::plugin(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::plugin(message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

// ---- values ------------------------------------------------------------------------

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nil,
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Bin,
    Array,
    Map,
    Ext,
}

impl Kind {
    /// The name used in messages: "nil", "int", "str"...
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nil => "nil",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Uint => "uint",
            Kind::Float => "float",
            Kind::Str => "str",
            Kind::Bin => "bin",
            Kind::Array => "array",
            Kind::Map => "map",
            Kind::Ext => "ext",
        }
    }
}

/// A decoded, read-only value (a call's arguments, a config, a state blob, the result
/// of a call out). Only ever seen by reference, for as long as its message lives.
#[repr(transparent)]
pub struct Value(bh_value);

impl Value {
    /// # Safety
    /// v points at a valid node that outlives 'a.
    pub unsafe fn from_raw<'a>(v: *const bh_value) -> &'a Value {
        &*(v as *const Value)
    }
    pub fn as_raw(&self) -> *const bh_value {
        &self.0
    }

    pub fn kind(&self) -> Kind {
        match self.0.type_ {
            BH_NIL => Kind::Nil,
            BH_BOOL => Kind::Bool,
            BH_INT => Kind::Int,
            BH_UINT => Kind::Uint,
            BH_FLOAT => Kind::Float,
            BH_STR => Kind::Str,
            BH_BIN => Kind::Bin,
            BH_ARRAY => Kind::Array,
            BH_MAP => Kind::Map,
            _ => Kind::Ext,
        }
    }
    pub fn is_nil(&self) -> bool {
        self.0.type_ == BH_NIL
    }
    pub fn as_bool(&self) -> Option<bool> {
        // SAFETY: the union member matches the type tag.
        (self.0.type_ == BH_BOOL).then(|| unsafe { self.0.as_.b })
    }
    /// An integer that fits i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0.type_ {
            BH_INT => Some(unsafe { self.0.as_.i }),
            BH_UINT => i64::try_from(unsafe { self.0.as_.u }).ok(),
            _ => None,
        }
    }
    /// A non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0.type_ {
            BH_INT => u64::try_from(unsafe { self.0.as_.i }).ok(),
            BH_UINT => Some(unsafe { self.0.as_.u }),
            _ => None,
        }
    }
    /// Any number (integers converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self.0.type_ {
            BH_INT => Some(unsafe { self.0.as_.i } as f64),
            BH_UINT => Some(unsafe { self.0.as_.u } as f64),
            BH_FLOAT => Some(unsafe { self.0.as_.f }),
            _ => None,
        }
    }
    fn bytes(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        // SAFETY: str, bin and ext point at len bytes that live as long as the node.
        unsafe { std::slice::from_raw_parts(self.0.as_.bin, self.0.len as usize) }
    }
    /// A string's bytes (not checked for UTF-8).
    pub fn as_str_bytes(&self) -> Option<&[u8]> {
        (self.0.type_ == BH_STR).then(|| self.bytes())
    }
    /// A string that is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_str_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    pub fn as_bin(&self) -> Option<&[u8]> {
        (self.0.type_ == BH_BIN).then(|| self.bytes())
    }
    /// An ext value: its type and bytes.
    pub fn as_ext(&self) -> Option<(i8, &[u8])> {
        (self.0.type_ == BH_EXT).then(|| (self.0.ext_type, self.bytes()))
    }
    fn items(&self, n: usize) -> &[Value] {
        if n == 0 {
            return &[];
        }
        // SAFETY: a container's items point at n nodes that live as long as it.
        unsafe { std::slice::from_raw_parts(self.0.as_.items as *const Value, n) }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        (self.0.type_ == BH_ARRAY).then(|| self.items(self.0.len as usize))
    }
    /// A map's (key, value) pairs, in wire order.
    pub fn as_map(&self) -> Option<impl Iterator<Item = (&Value, &Value)>> {
        (self.0.type_ == BH_MAP).then(|| {
            let items = self.items(2 * self.0.len as usize);
            items.chunks(2).map(|kv| (&kv[0], &kv[1]))
        })
    }
    /// Element i of an array.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.as_array().and_then(|a| a.get(i))
    }
    /// The value of the first entry of a map whose key is the string `key`.
    pub fn find(&self, key: &str) -> Option<&Value> {
        self.as_map()?.find(|(k, _)| k.as_str_bytes() == Some(key.as_bytes())).map(|(_, v)| v)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Kind::Nil => f.write_str("nil"),
            Kind::Bool => write!(f, "{}", self.as_bool().unwrap_or_default()),
            Kind::Int | Kind::Uint if self.as_i64().is_some() => {
                write!(f, "{}", self.as_i64().unwrap_or_default())
            }
            Kind::Int | Kind::Uint => write!(f, "{}", self.as_u64().unwrap_or_default()),
            Kind::Float => write!(f, "{:?}", self.as_f64().unwrap_or_default()),
            Kind::Str => write!(f, "{:?}", String::from_utf8_lossy(self.bytes())),
            Kind::Bin => write!(f, "bin{:?}", self.bytes()),
            Kind::Ext => write!(f, "ext({}){:?}", self.0.ext_type, self.bytes()),
            Kind::Array => f.debug_list().entries(self.as_array().unwrap_or(&[])).finish(),
            Kind::Map => {
                let mut m = f.debug_map();
                if let Some(pairs) = self.as_map() {
                    m.entries(pairs);
                }
                m.finish()
            }
        }
    }
}

/// Where a value sits, for messages: "params[0] (name)" or "config.max_keys".
fn wrong(place: &dyn fmt::Display, v: Option<&Value>, want: &str) -> Error {
    match v {
        None => Error::invalid_params(format!("{place}: missing, want {want}")),
        Some(v) if v.kind() == Kind::Str && want == "str" => {
            Error::invalid_params(format!("{place}: want str, got a str that is not UTF-8"))
        }
        Some(v) if matches!(v.kind(), Kind::Int | Kind::Uint) && want.ends_with("int") => {
            Error::invalid_params(format!("{place}: want {want}, out of range"))
        }
        Some(v) => Error::invalid_params(format!("{place}: want {want}, got {}", v.kind().name())),
    }
}

struct Index<'a>(usize, Option<&'a str>);

impl fmt::Display for Index<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(what) => write!(f, "params[{}] ({})", self.0, what),
            None => write!(f, "params[{}]", self.0),
        }
    }
}

/// A call's params (an array), read by index. The `what` of each getter names the
/// argument in its error: `params[0] (name): want str, got int`.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    v: &'a Value,
}

impl<'a> Args<'a> {
    pub fn new(v: &'a Value) -> Args<'a> {
        Args { v }
    }
    pub fn len(&self) -> usize {
        self.v.as_array().map_or(0, <[Value]>::len)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// All the params.
    pub fn all(&self) -> &'a [Value] {
        self.v.as_array().unwrap_or(&[])
    }
    /// Argument i, None when absent.
    pub fn get(&self, i: usize) -> Option<&'a Value> {
        self.all().get(i)
    }
    /// Fails unless min <= len() <= max.
    pub fn count(&self, min: usize, max: usize) -> Result<()> {
        let n = self.len();
        match (n >= min && n <= max, min == max) {
            (true, _) => Ok(()),
            (false, true) => Err(Error::invalid_params(format!("want {min} params, got {n}"))),
            (false, false) => {
                Err(Error::invalid_params(format!("want {min} to {max} params, got {n}")))
            }
        }
    }
    /// Argument i as a map, its entries read by key ("what.key: ..." in errors).
    pub fn map(&self, i: usize, what: &'a str) -> Result<Map<'a>> {
        let v = self.get(i);
        match v {
            Some(m) if m.kind() == Kind::Map => Ok(Map::new(m, what)),
            _ => Err(wrong(&Index(i, Some(what)), v, "map")),
        }
    }
    fn typed<T>(
        &self,
        i: usize,
        what: &str,
        want: &str,
        conv: fn(&'a Value) -> Option<T>,
    ) -> Result<T> {
        let v = self.get(i);
        v.and_then(conv).ok_or_else(|| wrong(&Index(i, Some(what)), v, want))
    }
    pub fn str(&self, i: usize, what: &str) -> Result<&'a str> {
        self.typed(i, what, "str", Value::as_str)
    }
    pub fn int(&self, i: usize, what: &str) -> Result<i64> {
        self.typed(i, what, "int", Value::as_i64)
    }
    pub fn uint(&self, i: usize, what: &str) -> Result<u64> {
        self.typed(i, what, "uint", Value::as_u64)
    }
    pub fn float(&self, i: usize, what: &str) -> Result<f64> {
        self.typed(i, what, "number", Value::as_f64)
    }
    pub fn bool(&self, i: usize, what: &str) -> Result<bool> {
        self.typed(i, what, "bool", Value::as_bool)
    }
    pub fn bin(&self, i: usize, what: &str) -> Result<&'a [u8]> {
        self.typed(i, what, "bin", Value::as_bin)
    }
    pub fn array(&self, i: usize, what: &str) -> Result<&'a [Value]> {
        self.typed(i, what, "array", Value::as_array)
    }
}

/// A map read by key, named for messages ("config.max_keys: want int, got str").
#[derive(Clone, Copy)]
pub struct Map<'a> {
    v: &'a Value,
    name: &'a str,
}

struct Key<'a, 'b>(&'a str, &'b str);

impl fmt::Display for Key<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl<'a> Map<'a> {
    pub fn new(v: &'a Value, name: &'a str) -> Map<'a> {
        Map { v, name }
    }
    pub fn value(&self) -> &'a Value {
        self.v
    }
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.v.find(key)
    }
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    fn typed<T>(&self, key: &str, want: &str, conv: fn(&'a Value) -> Option<T>) -> Result<T> {
        let v = self.get(key);
        v.and_then(conv).ok_or_else(|| wrong(&Key(self.name, key), v, want))
    }
    pub fn str(&self, key: &str) -> Result<&'a str> {
        self.typed(key, "str", Value::as_str)
    }
    pub fn int(&self, key: &str) -> Result<i64> {
        self.typed(key, "int", Value::as_i64)
    }
    pub fn uint(&self, key: &str) -> Result<u64> {
        self.typed(key, "uint", Value::as_u64)
    }
    pub fn float(&self, key: &str) -> Result<f64> {
        self.typed(key, "number", Value::as_f64)
    }
    pub fn bool(&self, key: &str) -> Result<bool> {
        self.typed(key, "bool", Value::as_bool)
    }
    pub fn bin(&self, key: &str) -> Result<&'a [u8]> {
        self.typed(key, "bin", Value::as_bin)
    }
    pub fn array(&self, key: &str) -> Result<&'a [Value]> {
        self.typed(key, "array", Value::as_array)
    }
}

// ---- results -----------------------------------------------------------------------

/// Writes MessagePack into a result, a snapshot or a call out's params. Errors are
/// sticky in the C writer and checked once when the callback returns.
pub struct Writer<'a> {
    w: *mut bh_writer,
    _call: PhantomData<&'a mut bh_writer>,
}

fn count32(n: usize) -> u32 {
    // More than u32::MAX items cannot fit a message; the shim rejects the result.
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a> Writer<'a> {
    /// # Safety
    /// w is a writer the shim handed to this callback.
    pub unsafe fn from_raw(w: *mut bh_writer) -> Writer<'a> {
        Writer { w, _call: PhantomData }
    }
    pub fn nil(&mut self) -> &mut Self {
        unsafe { bh_write_nil(self.w) };
        self
    }
    pub fn bool(&mut self, b: bool) -> &mut Self {
        unsafe { bh_write_bool(self.w, b) };
        self
    }
    pub fn int(&mut self, i: i64) -> &mut Self {
        unsafe { bh_write_int(self.w, i) };
        self
    }
    pub fn uint(&mut self, u: u64) -> &mut Self {
        unsafe { bh_write_uint(self.w, u) };
        self
    }
    pub fn float(&mut self, f: f64) -> &mut Self {
        unsafe { bh_write_float(self.w, f) };
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        unsafe { bh_write_str(self.w, s.as_ptr() as *const c_char, s.len()) };
        self
    }
    pub fn bin(&mut self, b: &[u8]) -> &mut Self {
        unsafe { bh_write_bin(self.w, b.as_ptr() as *const c_void, b.len()) };
        self
    }
    /// An array of n values: write them next.
    pub fn array(&mut self, n: usize) -> &mut Self {
        unsafe { bh_write_array(self.w, count32(n)) };
        self
    }
    /// A map of n pairs: write key, value, key, value... next.
    pub fn map(&mut self, npairs: usize) -> &mut Self {
        unsafe { bh_write_map(self.w, count32(npairs)) };
        self
    }
    /// A copy of a decoded value.
    pub fn value(&mut self, v: &Value) -> &mut Self {
        unsafe { bh_write_value(self.w, v.as_raw()) };
        self
    }
    /// Anything IntoValue.
    pub fn put<T: IntoValue>(&mut self, x: T) -> &mut Self {
        x.write_into(self);
        self
    }
    /// 0, or the writer's sticky error (a negative errno).
    pub fn error(&self) -> i32 {
        unsafe { bh_writer_error(self.w) }
    }
}

/// What a method may return; written as one value.
pub trait IntoValue {
    fn write_into(self, w: &mut Writer);
}

impl IntoValue for () {
    fn write_into(self, w: &mut Writer) {
        w.nil();
    }
}

impl IntoValue for bool {
    fn write_into(self, w: &mut Writer) {
        w.bool(self);
    }
}

macro_rules! into_value_int {
    ($($t:ty => $m:ident as $as:ty),*) => {
        $(impl IntoValue for $t {
            fn write_into(self, w: &mut Writer) {
                w.$m(self as $as);
            }
        })*
    };
}
into_value_int!(i8 => int as i64, i16 => int as i64, i32 => int as i64, i64 => int as i64,
    isize => int as i64, u8 => uint as u64, u16 => uint as u64, u32 => uint as u64,
    u64 => uint as u64, usize => uint as u64, f64 => float as f64);

impl IntoValue for f32 {
    fn write_into(self, w: &mut Writer) {
        unsafe { bh_write_float32(w.w, self) };
    }
}

impl IntoValue for &str {
    fn write_into(self, w: &mut Writer) {
        w.str(self);
    }
}

impl IntoValue for String {
    fn write_into(self, w: &mut Writer) {
        w.str(&self);
    }
}

impl IntoValue for &String {
    fn write_into(self, w: &mut Writer) {
        w.str(self);
    }
}

impl IntoValue for &Value {
    fn write_into(self, w: &mut Writer) {
        w.value(self);
    }
}

/// None is nil.
impl<T: IntoValue> IntoValue for Option<T> {
    fn write_into(self, w: &mut Writer) {
        match self {
            Some(x) => x.write_into(w),
            None => {
                w.nil();
            }
        }
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn write_into(self, w: &mut Writer) {
        w.array(self.len());
        for x in self {
            x.write_into(w);
        }
    }
}

impl<K: IntoValue, V: IntoValue> IntoValue for BTreeMap<K, V> {
    fn write_into(self, w: &mut Writer) {
        w.map(self.len());
        for (k, v) in self {
            k.write_into(w);
            v.write_into(w);
        }
    }
}

impl<K: IntoValue, V: IntoValue, H> IntoValue for HashMap<K, V, H> {
    fn write_into(self, w: &mut Writer) {
        w.map(self.len());
        for (k, v) in self {
            k.write_into(w);
            v.write_into(w);
        }
    }
}

/// Bytes written as `bin` (a Vec<u8> alone would be an array of integers).
pub struct Bin<B: AsRef<[u8]>>(pub B);

impl<B: AsRef<[u8]>> IntoValue for Bin<B> {
    fn write_into(self, w: &mut Writer) {
        w.bin(self.0.as_ref());
    }
}

/// A result written by hand: `Ok(with(|w| { w.map(1).str("n").int(1); }))`. Write
/// exactly one value.
pub struct With<F: FnOnce(&mut Writer)>(F);

pub fn with<F: FnOnce(&mut Writer)>(f: F) -> With<F> {
    With(f)
}

impl<F: FnOnce(&mut Writer)> IntoValue for With<F> {
    fn write_into(self, w: &mut Writer) {
        (self.0)(w)
    }
}

// ---- calling out -------------------------------------------------------------------

fn callout_with<T>(
    target: &str,
    params: impl FnOnce(&mut Writer),
    result: impl FnOnce(&Value) -> Result<T>,
    call: unsafe extern "C" fn(*const c_char, *mut *const bh_value, *mut bh_error) -> c_int,
) -> Result<T> {
    let target = CString::new(target).map_err(|_| Error::invalid_params("NUL in a call target"))?;
    // SAFETY: the shim's params writer is valid during a callback (and refuses calls
    // outside one with bad_request, like bh_callout).
    let mut w = unsafe { Writer::from_raw(bh_callout_params()) };
    params(&mut w);
    let mut r: *const bh_value = std::ptr::null();
    let mut err: bh_error = unsafe { std::mem::zeroed() };
    if unsafe { call(target.as_ptr(), &mut r, &mut err) } < 0 {
        return Err(unsafe { Error::from_c(&err) });
    }
    // SAFETY: the result is valid until the next call out; `result` cannot keep it.
    result(unsafe { Value::from_raw(r) })
}

/// Calls "plugin.method" or "ns.method" (README "Calling out"): `params` writes the
/// params array; `result` reads the answer, which lives only until it returns. A
/// failure is the callee's typed error, which a method may pass on with `?`.
pub fn callout<T>(
    target: &str,
    params: impl FnOnce(&mut Writer),
    result: impl FnOnce(&Value) -> Result<T>,
) -> Result<T> {
    callout_with(target, params, result, bh_callout)
}

/// Calls a method of the client at the root of the call chain.
pub fn callout_caller<T>(
    method: &str,
    params: impl FnOnce(&mut Writer),
    result: impl FnOnce(&Value) -> Result<T>,
) -> Result<T> {
    callout_with(method, params, result, bh_callout_caller)
}

/// Sends a notification to the client at the root of the call chain.
pub fn notify_caller(method: &str, params: impl FnOnce(&mut Writer)) -> Result<()> {
    unsafe extern "C" fn notify(
        m: *const c_char,
        _: *mut *const bh_value,
        err: *mut bh_error,
    ) -> c_int {
        bh_notify_caller(m, err)
    }
    callout_with(method, params, |_| Ok(()), notify)
}

// ---- the boundary ------------------------------------------------------------------

/// Hot-swap state handoff (`swap_version` in [`plugin!`]): `snapshot` writes one value,
/// the new generation's `restore` reads it (an Err rejects the swap).
pub trait Swap {
    fn snapshot(&self, out: &mut Writer) -> Result<()>;
    fn restore(&mut self, version: u32, blob: &Value) -> Result<()>;
}

thread_local! {
    /// Set while a callback runs: the panic hook keeps the message instead of printing.
    static IN_CALLBACK: Cell<bool> = Cell::new(false);
    static PANIC_TEXT: RefCell<Option<String>> = RefCell::new(None);
}

/// Once per process: panics inside a callback are recorded (text and place) for the
/// caller; other panics (a thread of the plugin's own) go to the previous hook.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !IN_CALLBACK.with(Cell::get) {
                return previous(info);
            }
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            let text = match info.location() {
                Some(l) => format!("panicked at {}:{}:{}: {}", l.file(), l.line(), l.column(), msg),
                None => format!("panicked: {msg}"),
            };
            PANIC_TEXT.with(|t| *t.borrow_mut() = Some(text));
        }));
    });
}

/// Runs one callback: a panic becomes plugin_error with its text, an Err its own
/// error. Returns what the C callback returns.
unsafe fn boundary(err: *mut bh_error, f: impl FnOnce() -> Result<c_int>) -> c_int {
    install_panic_hook();
    let outer = IN_CALLBACK.with(|c| c.replace(true)); // a nested call (A -> B -> A)
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    IN_CALLBACK.with(|c| c.set(outer));
    match r {
        Ok(Ok(rc)) => rc,
        Ok(Err(e)) => e.fail(err),
        Err(_) => {
            let text = PANIC_TEXT.with(|t| t.borrow_mut().take());
            Error::plugin(text.unwrap_or_else(|| "panicked".into())).fail(err)
        }
    }
}

/// The runtime the [`plugin!`] macro expands to. Not for direct use.
#[doc(hidden)]
pub mod rt {
    use super::*;

    /// The state and whether a method holds it. A method that calls out keeps its
    /// `&mut S` while the chain may come back to this instance (A -> B -> A): the
    /// nested method cannot have a second `&mut S`, and fails instead. A state of size
    /// zero (`()`) is shared freely.
    pub struct StateCell<S> {
        busy: std::cell::Cell<bool>,
        state: std::cell::UnsafeCell<S>,
    }

    /// Clears `busy` when the method returns or panics.
    struct Held<'a>(&'a std::cell::Cell<bool>);

    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }

    pub unsafe fn method<S, R, F>(
        state: *mut c_void,
        args: *const bh_value,
        out: *mut bh_writer,
        err: *mut bh_error,
        f: F,
    ) -> c_int
    where
        R: IntoValue,
        F: for<'a> FnOnce(&mut S, Args<'a>) -> Result<R>,
    {
        boundary(err, || {
            let cell = &*(state as *const StateCell<S>);
            if std::mem::size_of::<S>() != 0 && cell.busy.replace(true) {
                return Err(Error::plugin(
                    "the state is held by a method of this instance that waits for its call \
                     out (A -> B -> A): a nested call cannot have it",
                ));
            }
            let _held = Held(&cell.busy);
            let r = f(&mut *cell.state.get(), Args::new(Value::from_raw(args)))?;
            let mut w = Writer::from_raw(out);
            r.write_into(&mut w);
            Ok(w.error())
        })
    }

    pub unsafe fn init<S, F>(
        config: *const bh_value,
        ret_state: *mut *mut c_void,
        err: *mut bh_error,
        f: F,
    ) -> c_int
    where
        F: for<'a> FnOnce(Map<'a>) -> Result<S>,
    {
        boundary(err, || {
            let s = f(Map::new(Value::from_raw(config), "config"))?;
            let cell = StateCell { busy: std::cell::Cell::new(false), state: s.into() };
            *ret_state = Box::into_raw(Box::new(cell)) as *mut c_void;
            Ok(0)
        })
    }

    pub fn init_default<S: Default>(_: Map) -> Result<S> {
        Ok(S::default())
    }

    pub unsafe extern "C" fn shutdown<S>(state: *mut c_void) {
        let mut err: bh_error = std::mem::zeroed();
        boundary(&mut err, || {
            drop(Box::from_raw(state as *mut StateCell<S>));
            Ok(0)
        });
    }

    pub unsafe extern "C" fn snapshot<S: Swap>(
        state: *mut c_void,
        out: *mut bh_writer,
        err: *mut bh_error,
    ) -> c_int {
        boundary(err, || {
            let mut w = Writer::from_raw(out);
            (*(*(state as *const StateCell<S>)).state.get()).snapshot(&mut w)?;
            Ok(w.error())
        })
    }

    pub unsafe extern "C" fn restore<S: Swap>(
        state: *mut c_void,
        version: u32,
        blob: *const bh_value,
        err: *mut bh_error,
    ) -> c_int {
        boundary(err, || {
            let s = &mut *(*(state as *const StateCell<S>)).state.get();
            s.restore(version, Value::from_raw(blob))?;
            Ok(0)
        })
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bh_count {
    () => { 0usize };
    ($x:tt $($rest:tt)*) => { 1usize + $crate::__bh_count!($($rest)*) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bh_state {
    () => { () };
    ($t:ty) => { $t };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bh_init {
    ($s:ty;) => { $crate::rt::init_default::<$s> };
    ($s:ty; $f:expr) => { $f };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bh_swap {
    ($s:ty;) => { (0, None, None) };
    ($s:ty; $v:expr) => {
        (
            $v,
            Some($crate::rt::snapshot::<$s> as _),
            Some($crate::rt::restore::<$s> as _),
        )
    };
}

/// Declares the plugin: its descriptor `bulkhead_plugin` (ABI version, sizes), its
/// methods and its state. Fields in this order, the optional ones in brackets:
///
/// ```ignore
/// plugin! {
///     name: "kv", version: "1.2.0",
///     [state: Store,]            // default (); built by S::default() unless init is given
///     [init: open,]              // fn(Map) -> Result<Store>: the config as "config.KEY"
///     [swap_version: 2,]         // Store: Swap; snapshot/restore across a hot swap
///     methods: { "get" => get, "set" => set },
/// }
/// ```
#[macro_export]
macro_rules! plugin {
    (
        name: $name:literal,
        version: $version:literal,
        $(state: $state:ty,)?
        $(init: $init:expr,)?
        $(swap_version: $swap:expr,)?
        methods: { $($mname:literal => $mfn:expr),* $(,)? } $(,)?
    ) => {
        const _: () = {
            use $crate::sys::{bh_error, bh_method, bh_plugin, bh_value, bh_writer};
            use ::std::os::raw::{c_char, c_int, c_void};
            type State = $crate::__bh_state!($($state)?);

            unsafe extern "C" fn init(
                config: *const bh_value,
                ret_state: *mut *mut c_void,
                err: *mut bh_error,
            ) -> c_int {
                $crate::rt::init::<State, _>(config, ret_state, err,
                    $crate::__bh_init!(State; $($init)?))
            }

            static METHODS: [bh_method; $crate::__bh_count!($($mname)*)] = [$(
                bh_method {
                    name: concat!($mname, "\0").as_ptr() as *const c_char,
                    fn_: Some({
                        unsafe extern "C" fn call(
                            state: *mut c_void,
                            args: *const bh_value,
                            out: *mut bh_writer,
                            err: *mut bh_error,
                        ) -> c_int {
                            $crate::rt::method::<State, _, _>(state, args, out, err, $mfn)
                        }
                        call
                    }),
                },
            )*];

            const SWAP: (
                u32,
                Option<unsafe extern "C" fn(*mut c_void, *mut bh_writer, *mut bh_error) -> c_int>,
                Option<unsafe extern "C" fn(*mut c_void, u32, *const bh_value, *mut bh_error) -> c_int>,
            ) = $crate::__bh_swap!(State; $($swap)?);

            #[no_mangle]
            pub static bulkhead_plugin: bh_plugin = bh_plugin {
                abi_version: $crate::sys::BH_PLUGIN_ABI_VERSION,
                struct_size: ::std::mem::size_of::<bh_plugin>() as u32,
                name: concat!($name, "\0").as_ptr() as *const c_char,
                version: concat!($version, "\0").as_ptr() as *const c_char,
                init: Some(init),
                shutdown: Some($crate::rt::shutdown::<State>),
                methods: METHODS.as_ptr(),
                n_methods: METHODS.len() as u32,
                state_version: SWAP.0,
                snapshot: SWAP.1,
                restore: SWAP.2,
                health: None,
                reserved: [::std::ptr::null_mut(); 7],
            };
        };
    };
}
