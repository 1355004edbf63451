//! `gpunet bench console`: how long the web console's pages that read the
//! whole ledger take to render (the ledger read and the HTML written), on
//! the synthetic market of `bench match`. The baseline, in the same run, is
//! one pass over the machines table, which the overview and the offer
//! search cannot avoid.

use super::quantile;
use crate::output::Output;
use gpunet_api::console::render;
use std::time::Instant;

#[derive(serde::Serialize)]
struct Page {
    page: &'static str,
    bytes: usize,
    p50_ms: f64,
    p99_ms: f64,
    /// p50 over the baseline's p50.
    ratio: f64,
}

#[derive(serde::Serialize)]
struct ConsoleResult {
    machines: usize,
    orders: usize,
    renders: usize,
    machine_pass_p50_ms: f64,
    pages: Vec<Page>,
}

pub(super) fn run(
    machines: usize,
    orders: usize,
    renders: usize,
    output: Output,
) -> anyhow::Result<()> {
    let (sim, head) = super::matching::matched_market(machines, orders)?;
    let state = sim.state();
    type Render<'a> = Box<dyn Fn() -> String + 'a>;
    let pages: [(&'static str, Render); 4] = [
        ("/", Box::new(|| render::overview(&head, state))),
        (
            "/machines?q=num_gpus>=8 verified=true&order=price",
            Box::new(|| render::machines(state, "num_gpus>=8 verified=true", "price")),
        ),
        (
            "/machines?q=gpu_model=B200 (none)",
            Box::new(|| render::machines(state, "gpu_model=B200", "")),
        ),
        ("/orders", Box::new(|| render::orders(state))),
    ];
    let mut pass_ms = Vec::new();
    let mut times = vec![Vec::new(); pages.len()];
    let mut bytes = vec![0; pages.len()];
    for _ in 0..renders {
        pass_ms.push(super::machine_pass_ms(state));
        for (i, (_, render)) in pages.iter().enumerate() {
            let start = Instant::now();
            let html = render();
            times[i].push(start.elapsed().as_secs_f64() * 1e3);
            bytes[i] = html.len();
        }
    }
    let machine_pass_p50_ms = quantile(&mut pass_ms, 0.5);
    let result = ConsoleResult {
        machines,
        orders,
        renders,
        machine_pass_p50_ms,
        pages: pages
            .iter()
            .zip(times.iter_mut().zip(bytes))
            .map(|((page, _), (times, bytes))| {
                let p50_ms = quantile(times, 0.5);
                Page {
                    page,
                    bytes,
                    p50_ms,
                    p99_ms: quantile(times, 0.99),
                    ratio: p50_ms / machine_pass_p50_ms.max(1e-9),
                }
            })
            .collect(),
    };
    output.print(&result, || {
        let mut text = format!(
            "{} machines, {} orders; one pass over the machines {:.2} ms (p50)",
            result.machines, result.orders, result.machine_pass_p50_ms
        );
        for page in &result.pages {
            text += &format!(
                "\n{}: {:.2} ms (p50), {:.2} ms (p99), {} bytes: {:.1}x",
                page.page, page.p50_ms, page.p99_ms, page.bytes, page.ratio
            );
        }
        text
    });
    Ok(())
}
