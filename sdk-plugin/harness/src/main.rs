//! `sundial-plugin-test <authorizer.wasm> <cases.json> [name=value ...]`: runs a case file
//! (hand-written, or recorded by a server with `authorization.record_decisions`) against an
//! authorizer component, without a server. `name=value` fills `{name}` in expected reasons.
//! Exits 0 when every case gets the expected answer, 1 otherwise, 2 on bad input.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args[0] == "--help" || args[0] == "-h" {
        eprintln!("usage: sundial-plugin-test <authorizer.wasm> <cases.json> [name=value ...]");
        return ExitCode::from(2);
    }
    let vars: Vec<(&str, &str)> = args[2..].iter().filter_map(|a| a.split_once('=')).collect();
    let cases = match sundial_plugin_harness::load_cases(&args[1]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sundial-plugin-test: {e:#}");
            return ExitCode::from(2);
        }
    };
    let harness = sundial_plugin_harness::Harness::new();
    match harness.check(&args[0], &cases, &vars).await {
        Ok(mismatches) if mismatches.is_empty() => {
            println!("{} cases, all as expected", cases.len());
            ExitCode::SUCCESS
        }
        Ok(mismatches) => {
            for m in &mismatches {
                println!("MISMATCH {m}");
            }
            println!("{} of {} cases differ", mismatches.len(), cases.len());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("sundial-plugin-test: {e:#}");
            ExitCode::from(2)
        }
    }
}
