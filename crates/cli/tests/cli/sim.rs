//! `gpunet sim` as a user runs it: a named scenario, its report as text and
//! JSON, its plot, and clear errors for what it cannot simulate.

use super::*;

fn sim(dir: &Path, scenario: &str, output: &[&str]) -> String {
    let plot = dir.join(format!("{scenario}.svg"));
    let mut args = vec![
        "sim",
        "--scenario",
        scenario,
        "--machines",
        "300",
        "--days",
        "1",
        "--plot",
        path(&plot),
    ];
    args.extend_from_slice(output);
    ok(&args)
}

#[test]
fn sim_scenarios_report_load_prices_returns_and_cheats_with_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let text = sim(dir.path(), "quiet", &[]);
    for expected in [
        "scenario quiet",
        "client $/unit-h",
        "H100x8",
        "RTX3090",
        "training",
        "edge CPU",
        "skip-work",
        "vs honest",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    let svg = std::fs::read_to_string(dir.path().join("quiet.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    for chart in [
        "scenario quiet",
        "Utilization (rental rate) by class",
        "Wait for a machine",
        "Median asked price",
        "Profit per machine by strategy",
        "Honest net per machine-week",
        "Fairness within class",
    ] {
        assert!(svg.contains(chart), "the plot has no {chart:?}");
    }

    let report = |scenario: &str| -> serde_json::Value {
        let out = sim(dir.path(), scenario, &["-o", "json"]);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_one_schema(&value, &format!("gpunet sim --scenario {scenario}"));
        value
    };
    let (quiet, peak) = (report("quiet"), report("peak"));
    let utilization = |r: &serde_json::Value| r["mean_gpu_utilization"].as_f64().unwrap();
    assert_eq!(quiet["scenario"], "quiet");
    assert!(
        utilization(&quiet) < 0.25 && utilization(&peak) > 2.0 * utilization(&quiet),
        "quiet {} against peak {}",
        utilization(&quiet),
        utilization(&peak)
    );
    // Adaptive providers undercut in an idle market and raise their
    // prices in a full one.
    let adaptive = |r: &serde_json::Value| -> Vec<f64> {
        let classes = r["classes"].as_array().unwrap();
        assert_eq!(classes.len(), 5);
        classes
            .iter()
            .map(|c| c["adaptive_price_pct"].as_f64().unwrap())
            .collect()
    };
    let (idle, full) = (adaptive(&quiet), adaptive(&peak));
    assert!(idle.iter().all(|p| *p <= 100.0), "{idle:?}");
    assert!(idle.iter().filter(|p| **p < 100.0).count() >= 3, "{idle:?}");
    assert!(full[2] > 100.0 && full[3] > 100.0, "RTX cards: {full:?}");
    // Under spread placement, honest machines of one class and price earn
    // alike when the market is busy.
    let rtx4090 = &peak["classes"][2];
    assert_eq!(rtx4090["class"], "RTX4090");
    assert!(rtx4090["fairness"].as_f64().unwrap() >= 0.9, "{rtx4090}");
    let h100 = &quiet["classes"][0];
    assert_eq!(h100["class"], "H100x8");
    assert!(h100["power_usd"].as_f64().unwrap() > 0.0, "{h100}");
    // What clients paid per H100-hour, in USD, next to centralized markets'.
    let paid = h100["client_price_usd"].as_f64().unwrap();
    assert!((1.0..6.0).contains(&paid), "{h100}");
    assert_eq!(h100["reference_usd"], serde_json::json!([2.5, 4.0]));
    assert_eq!(peak["works"].as_array().unwrap().len(), 9);
}

#[test]
fn sim_refuses_an_unknown_scenario_and_a_worthless_token() {
    let out = gpunet(&["sim", "--scenario", "boom"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("invalid value 'boom'") && stderr.contains("peak"),
        "{stderr}"
    );
    let out = gpunet(&["sim", "--gpn-usd", "0", "--machines", "10", "--days", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--gpn-usd must be a positive number"),
        "{stderr}"
    );
}
