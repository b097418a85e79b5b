//! One adapter per candidate crate, each used through its public API as
//! its documentation shows, and the benchmark.

use crate::Case;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The engines, by crate name.
pub const NAMES: [&str; 4] = ["jsonata-rs", "jsonata-core", "seuil", "jlens-core"];

/// The result of a case: a value, undefined (`None`), or an error (its
/// JSONata code and message).
pub fn eval(engine: &str, case: &Case) -> Result<Option<Value>, String> {
    let (engine, case) = (engine.to_string(), case.clone());
    // A large stack, as jsonata-js has in Node.js; a panic is a failure.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || run(&engine, &case))
        .expect("thread")
        .join()
        .unwrap_or_else(|_| Err("panicked".into()))
}

fn run(engine: &str, c: &Case) -> Result<Option<Value>, String> {
    match engine {
        "jsonata-rs" => jsonata_rs(c),
        "jsonata-core" => jsonata_core(c),
        "seuil" => seuil(c),
        "jlens-core" => jlens(c),
        _ => Err(format!("unknown engine {engine}")),
    }
}

fn jsonata_rs(c: &Case) -> Result<Option<Value>, String> {
    use jsonata_rs::JsonAta;
    let err = |e: jsonata_rs::Error| format!("{} {e}", e.code());
    let arena = bumpalo::Bump::new();
    let j = JsonAta::new(&c.expr, &arena).map_err(err)?;
    for (k, v) in &c.bindings {
        let b = JsonAta::new(&v.to_string(), &arena)
            .map_err(err)?
            .evaluate(None, None)
            .map_err(err)?;
        j.assign_var(k, b);
    }
    let text = c.input.as_ref().map(Value::to_string);
    let r = j
        .evaluate_timeboxed(text.as_deref(), c.depth, c.timelimit.map(|t| t as usize))
        .map_err(err)?;
    if r.is_undefined() {
        return Ok(None);
    }
    serde_json::from_str(&r.serialize(false))
        .map(Some)
        .map_err(|e| format!("output {e}"))
}

fn jsonata_core(c: &Case) -> Result<Option<Value>, String> {
    use jsonata_core::evaluator::{Context, Evaluator, EvaluatorOptions};
    use jsonata_core::value::JValue;
    let ast = jsonata_core::parser::parse(&c.expr).map_err(|e| e.to_string())?;
    let mut ctx = Context::new();
    for (k, v) in &c.bindings {
        ctx.bind(k.clone(), JValue::from(v.clone()));
    }
    let options = EvaluatorOptions {
        timeout_ms: c.timelimit,
        max_stack_depth: c.depth,
        ..Default::default()
    };
    let mut ev = Evaluator::with_options(ctx, options);
    let data = c.input.clone().map(JValue::from).unwrap_or(JValue::Undefined);
    let r = ev.evaluate(&ast, &data).map_err(|e| e.to_string())?;
    Ok((!r.is_undefined()).then(|| Value::from(&r)))
}

/// seuil's public API gives `null` for an undefined result and takes no
/// undefined input (`evaluate_empty` evaluates against `null`).
fn seuil(c: &Case) -> Result<Option<Value>, String> {
    let err = |e: seuil::Error| format!("{} {e}", e.code());
    let s = seuil::Seuil::compile(&c.expr).map_err(err)?;
    let mut config = seuil::EvalConfig::default();
    if c.depth.is_some() {
        config.max_depth = c.depth;
    }
    if c.timelimit.is_some() {
        config.time_limit_ms = c.timelimit;
    }
    let input = c.input.clone().unwrap_or(Value::Null);
    s.evaluate_with_config_and_bindings(&input, &config, Some(&c.bindings))
        .map(Some)
        .map_err(err)
}

fn jlens(c: &Case) -> Result<Option<Value>, String> {
    let err = |e: jlens_core::Error| format!("{} {e}", e.code());
    let e = jlens_core::Expression::compile(&c.expr).map_err(err)?;
    let mut b = jlens_core::Bindings::new();
    for (k, v) in &c.bindings {
        b = b.var(k.as_str(), v.clone());
    }
    let mut o = jlens_core::Options::new();
    if let Some(ms) = c.timelimit {
        o = o.timeout(Duration::from_millis(ms));
    }
    if let Some(d) = c.depth {
        o = o.max_depth(d);
    }
    e.evaluate_with(c.input.as_ref(), &b, &o).map_err(err)
}

/// Expressions of the kind ASL definitions use (`Arguments`, `Output`,
/// `Condition`, `Items`), against an input like a state's.
pub fn bench() {
    let input = json!({
        "order": {"id": "o-1", "customer": {"name": "Ana", "tier": "gold"}},
        "items": (0..20).map(|i| json!({"sku": format!("s{i}"), "price": i as f64 * 1.5, "qty": i % 4})).collect::<Vec<_>>(),
        "flag": true
    });
    let exprs = [
        ("field", "order.customer.name"),
        ("arithmetic", "order.id & '-' & $string(flag)"),
        ("condition", "order.customer.tier = 'gold' and flag"),
        ("filter + map", "items[price > 10].sku"),
        ("aggregate", "$sum(items.(price * qty))"),
        (
            "object",
            "{'id': order.id, 'total': $sum(items.price), 'n': $count(items)}",
        ),
    ];
    let n = 20_000;
    println!("| expression | {} |", NAMES.join(" (µs) | ") + " (µs)");
    println!("|---|{}", "---|".repeat(NAMES.len()));
    for (label, expr) in exprs {
        let mut row = format!("| {label}: `{expr}` |");
        for engine in NAMES {
            let case = Case {
                name: label.into(),
                expr: expr.into(),
                input: Some(input.clone()),
                bindings: Default::default(),
                expect: crate::Expect::Undefined,
                depth: None,
                timelimit: None,
                unordered: false,
            };
            row += &match time(engine, &case, n) {
                Some(us) => format!(" {us:.2} |"),
                None => " error |".into(),
            };
        }
        println!("{row}");
    }
}

/// Best of 3 rounds of `n` evaluations of a compiled expression, in µs per
/// evaluation, from a `serde_json::Value` input to a result the engine can
/// use; each engine's compile step is outside the timing.
fn time(engine: &str, c: &Case, n: usize) -> Option<f64> {
    let input = c.input.clone().unwrap_or(Value::Null);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = match engine {
            "jsonata-rs" => {
                let arena = bumpalo::Bump::new();
                let j = jsonata_rs::JsonAta::new(&c.expr, &arena).ok()?;
                let t = Instant::now();
                for _ in 0..n {
                    // jsonata-rs takes its input as JSON text, and the
                    // engine holds a state's input as a `serde_json::Value`.
                    let text = input.to_string();
                    let r = j.evaluate(Some(&text), None).ok()?;
                    std::hint::black_box(r.serialize(false));
                }
                t.elapsed()
            }
            "jsonata-core" => {
                use jsonata_core::evaluator::{Context, Evaluator, EvaluatorOptions};
                let ast = jsonata_core::parser::parse(&c.expr).ok()?;
                let t = Instant::now();
                for _ in 0..n {
                    let data = jsonata_core::value::JValue::from(input.clone());
                    let mut ev = Evaluator::with_options(Context::new(), EvaluatorOptions::default());
                    let r = ev.evaluate(&ast, &data).ok()?;
                    std::hint::black_box(Value::from(&r));
                }
                t.elapsed()
            }
            "seuil" => {
                let s = seuil::Seuil::compile(&c.expr).ok()?;
                let t = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(s.evaluate(&input).ok()?);
                }
                t.elapsed()
            }
            "jlens-core" => {
                let e = jlens_core::Expression::compile(&c.expr).ok()?;
                let b = jlens_core::Bindings::new();
                let t = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(e.evaluate(Some(&input), &b).ok()?);
                }
                t.elapsed()
            }
            _ => return None,
        };
        best = best.min(t.as_secs_f64() * 1e6 / n as f64);
    }
    Some(best)
}
