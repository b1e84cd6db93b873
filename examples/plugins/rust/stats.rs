//! stats: a bulkhead plugin written in Rust with the bulkhead_plugin crate
//! (plugin-sdk/rust).
//!
//!   sum(numbers...)    int when every argument is an integer (overflow is an error),
//!                      else float
//!   mean(array)        float; the array must not be empty
//!   describe(array)    map {count, min, max, mean}; min, max and mean are nil when
//!                      the array is empty
//!   observe(numbers...)  adds the numbers to the plugin's series: its length
//!   summary()          describe() of the series; it survives a hot swap
//!                      (state_version 1: the array of numbers)
//!   forward(target, params...)  calls target ("plugin.method", when the config's
//!                      `calls` grants it) with the other params; its result must be
//!                      a number
//!   panic()            panics: the caller gets plugin_error with the panic message
//!
//! Build with cargo (plugin-sdk/rust/README.md), or with rustc alone, as the project does:
//!   rustc --edition 2021 --crate-type rlib --crate-name bulkhead_plugin \
//!       -o libbulkhead_plugin.rlib plugin-sdk/rust/src/lib.rs
//!   rustc --edition 2021 --crate-type cdylib --crate-name stats \
//!       --extern bulkhead_plugin=libbulkhead_plugin.rlib -o stats.so stats.rs
use bulkhead_plugin::{callout, plugin, with, Args, Error, IntoValue, Result, Swap, Value, Writer};

fn sum(_: &mut Series, a: Args) -> Result<Sum> {
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

fn mean(_: &mut Series, a: Args) -> Result<f64> {
    let v = numbers(a)?;
    if v.is_empty() {
        return Err(Error::invalid_params("the mean of an empty array is undefined"));
    }
    Ok(v.iter().sum::<f64>() / v.len() as f64)
}

fn describe(_: &mut Series, a: Args) -> Result<impl IntoValue> {
    Ok(description(numbers(a)?))
}

/// {count, min, max, mean} of v.
fn description(v: Vec<f64>) -> impl IntoValue {
    let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let min = v.iter().copied().reduce(f64::min);
    let max = v.iter().copied().reduce(f64::max);
    with(move |w| {
        w.map(4).str("count").put(v.len());
        w.str("min").put(min).str("max").put(max).str("mean").put(mean);
    })
}

/// The numbers observed so far: the plugin's state.
#[derive(Default)]
struct Series {
    seen: Vec<f64>,
}

impl Swap for Series {
    fn snapshot(&self, out: &mut Writer) -> Result<()> {
        out.put(self.seen.clone());
        Ok(())
    }
    fn restore(&mut self, _version: u32, blob: &Value) -> Result<()> {
        let items = blob.as_array().ok_or("state: want an array of numbers")?;
        self.seen = items.iter().filter_map(Value::as_f64).collect();
        Ok(())
    }
}

fn observe(s: &mut Series, a: Args) -> Result<usize> {
    for i in 0..a.len() {
        s.seen.push(a.float(i, "number")?);
    }
    Ok(s.seen.len())
}

fn summary(s: &mut Series, _: Args) -> Result<impl IntoValue> {
    Ok(description(s.seen.clone()))
}

fn forward(_: &mut Series, a: Args) -> Result<f64> {
    let target = a.str(0, "target")?;
    let params = &a.all()[1..];
    let write_params = |w: &mut Writer| {
        w.array(params.len());
        for v in params {
            w.value(v);
        }
    };
    // The result lives only inside the closure: take the number out.
    callout(target, write_params, |r| r.as_f64().ok_or_else(|| Error::plugin("not a number")))
}

fn panic(_: &mut Series, _: Args) -> Result<()> {
    panic!("stats panicked on purpose")
}

plugin! {
    name: "stats",
    version: "1.1.0",
    state: Series,
    swap_version: 1,
    methods: {
        "sum" => sum, "mean" => mean, "describe" => describe,
        "observe" => observe, "summary" => summary, "forward" => forward, "panic" => panic,
    },
}
