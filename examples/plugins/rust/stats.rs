//! stats: a bulkhead plugin written in Rust with the bulkhead_plugin crate
//! (plugin-sdk/rust).
//!
//!   sum(numbers...)    int when every argument is an integer (overflow is an error),
//!                      else float
//!   mean(array)        float; the array must not be empty
//!   describe(array)    map {count, min, max, mean}; min, max and mean are nil when
//!                      the array is empty
//!   panic()            panics: the caller gets plugin_error with the panic message
//!
//! Build with cargo (plugin-sdk/rust/README.md), or with rustc alone, as the project does:
//!   rustc --edition 2021 --crate-type rlib --crate-name bulkhead_plugin \
//!       -o libbulkhead_plugin.rlib plugin-sdk/rust/src/lib.rs
//!   rustc --edition 2021 --crate-type cdylib --crate-name stats \
//!       --extern bulkhead_plugin=libbulkhead_plugin.rlib -o stats.so stats.rs
use bulkhead_plugin::{plugin, with, Args, Error, IntoValue, Result, Value, Writer};

fn sum(_: &mut (), a: Args) -> Result<Sum> {
    if let Some(ints) = a.all().iter().map(Value::as_i64).collect::<Option<Vec<i64>>>() {
        let total = ints.iter().try_fold(0i64, |t, &i| t.checked_add(i));
        return total
            .map(Sum::Int)
            .ok_or_else(|| Error::invalid_params("sum overflows a 64-bit integer"));
    }
    let mut total = 0.0;
    for i in 0..a.len() {
        total += a.float(i, "addend")?;
    }
    Ok(Sum::Float(total))
}

/// sum's result: an integer or a float.
enum Sum {
    Int(i64),
    Float(f64),
}

impl IntoValue for Sum {
    fn write_into(self, w: &mut Writer) {
        match self {
            Sum::Int(i) => w.int(i),
            Sum::Float(f) => w.float(f),
        };
    }
}

/// The numbers of params[0], which must be an array.
fn numbers(a: Args) -> Result<Vec<f64>> {
    let items = a.array(0, "numbers")?;
    let each = items.iter().enumerate().map(|(i, v)| {
        v.as_f64().ok_or_else(|| Error::invalid_params(format!("element {i} is not a number")))
    });
    each.collect()
}

fn mean(_: &mut (), a: Args) -> Result<f64> {
    let v = numbers(a)?;
    if v.is_empty() {
        return Err(Error::invalid_params("the mean of an empty array is undefined"));
    }
    Ok(v.iter().sum::<f64>() / v.len() as f64)
}

fn describe(_: &mut (), a: Args) -> Result<impl IntoValue> {
    let v = numbers(a)?;
    let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let min = v.iter().copied().reduce(f64::min);
    let max = v.iter().copied().reduce(f64::max);
    Ok(with(move |w| {
        w.map(4).str("count").put(v.len());
        w.str("min").put(min).str("max").put(max).str("mean").put(mean);
    }))
}

fn panic(_: &mut (), _: Args) -> Result<()> {
    panic!("stats panicked on purpose")
}

plugin! {
    name: "stats",
    version: "1.1.0",
    methods: { "sum" => sum, "mean" => mean, "describe" => describe, "panic" => panic },
}
