//! `aslan-componentize`: a stand-in for `wasm-tools component new` and
//! `wasm-tools component wit`, built on the `wit-component` crate, so that
//! `scripts/guests/rust.sh` needs no `cargo install`.
//!
//! ```text
//! aslan-componentize new CORE.wasm OUT.wasm   a core module without WASI imports -> a component
//! aslan-componentize world COMPONENT.wasm     its world, one `import NAME` / `export NAME` per line
//! aslan-componentize wit COMPONENT.wasm       its world as WIT
//! aslan-componentize lifts COMPONENT.wasm     its lifted functions' canonical options (post-return, ...)
//! ```

use anyhow::{bail, Context, Result};
use wit_component::{ComponentEncoder, DecodedWasm, WitPrinter};
use wit_parser::WorldId;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["new", core, out] => new(core, out),
        ["world", component] => world(component),
        ["wit", component] => wit(component),
        ["lifts", component] => lifts(component),
        _ => bail!("usage: aslan-componentize new CORE.wasm OUT.wasm | world|wit|lifts COMPONENT.wasm"),
    }
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {path}"))
}

/// Encodes a core module (with its `component-type` custom sections) as a
/// component. No WASI adapter: the module must not import WASI preview 1.
fn new(core: &str, out: &str) -> Result<()> {
    let bytes = read(core)?;
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&bytes)
        .with_context(|| format!("{core}: reading the module's component-type sections"))?
        .encode()
        .with_context(|| format!("{core}: encoding a component"))?;
    std::fs::write(out, component).with_context(|| format!("writing {out}"))
}

fn decode(path: &str) -> Result<(DecodedWasm, WorldId)> {
    let decoded = wit_component::decode(&read(path)?).with_context(|| format!("{path}: decoding"))?;
    let world = match &decoded {
        DecodedWasm::Component(_, world) => *world,
        DecodedWasm::WitPackage(..) => bail!("{path} is a WIT package, not a component"),
    };
    Ok((decoded, world))
}

fn world(path: &str) -> Result<()> {
    let (decoded, world) = decode(path)?;
    let resolve = decoded.resolve();
    let world = &resolve.worlds[world];
    for key in world.imports.keys() {
        println!("import {}", resolve.name_world_key(key));
    }
    for key in world.exports.keys() {
        println!("export {}", resolve.name_world_key(key));
    }
    Ok(())
}

fn wit(path: &str) -> Result<()> {
    let (decoded, _) = decode(path)?;
    let mut printer = WitPrinter::default();
    printer.print(decoded.resolve(), decoded.package(), &[])?;
    print!("{}", printer.output);
    Ok(())
}

fn lifts(path: &str) -> Result<()> {
    use wasmparser::{CanonicalFunction, Parser, Payload};
    for payload in Parser::new(0).parse_all(&read(path)?) {
        if let Payload::ComponentCanonicalSection(section) = payload? {
            for function in section {
                if let CanonicalFunction::Lift {
                    core_func_index,
                    type_index,
                    options,
                } = function?
                {
                    println!("lift core func {core_func_index} type {type_index} {options:?}");
                }
            }
        }
    }
    Ok(())
}
