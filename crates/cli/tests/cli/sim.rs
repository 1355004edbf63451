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
        "Median adaptive price",
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
fn sim_sweep_marks_where_each_cheat_starts_to_pay_against_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("sweep.svg");
    let out = ok(&[
        "sim",
        "--scenario",
        "quiet",
        "--machines",
        "300",
        "--days",
        "1",
        "--sweep",
        "canary-pct=0..20",
        "--points",
        "3",
        "--plot",
        path(&plot),
        "-o",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_one_schema(&report, "gpunet sim --sweep");
    assert_eq!(report["knob"], "canary-pct");
    assert_eq!(report["default_value"], 10.0);
    let points = report["points"].as_array().unwrap();
    let values: Vec<f64> = points
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [0.0, 10.0, 20.0]);
    assert!(points
        .iter()
        .all(|p| p["strategies"].as_array().unwrap().len() == 7));
    // Without canaries nothing checks a job that is not deterministic:
    // skipping those pays by the bound, and stops paying at a share of
    // canaries inside the range.
    let boundary = |name: &str| {
        report["boundaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["strategy"] == name)
            .unwrap()
            .clone()
    };
    let selective = boundary("selective skip-work");
    let at: Vec<f64> = selective["analytic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(at.len() == 1 && at[0] > 0.0 && at[0] < 10.0, "{selective}");
    let first = &points[0]["strategies"].as_array().unwrap();
    let gain = first
        .iter()
        .find(|m| m["strategy"] == "selective skip-work")
        .unwrap()["analytic"]
        .as_f64()
        .unwrap();
    assert!(gain > 0.0, "{gain}");
    // A fake GPU never passes a challenge, whatever the canaries.
    assert!(boundary("fake hardware")["analytic"]
        .as_array()
        .unwrap()
        .is_empty());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("gpunet sim --sweep canary-pct"), "{svg}");
    assert!(svg.contains("selective skip-work") && svg.contains("lazy auditor"));

    let text = ok(&[
        "sim",
        "--scenario",
        "quiet",
        "--machines",
        "100",
        "--days",
        "1",
        "--sweep",
        "slash-audit=0..200",
        "--points",
        "2",
        "--plot",
        path(&plot),
    ]);
    for expected in [
        "slash-audit 0",
        "slash-audit 200",
        "pays where (bound)",
        "at default slash-audit 100",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}

#[test]
fn sim_help_lists_every_scenario_with_what_it_models() {
    // README sends users to `gpunet sim --help` for the scenarios.
    let help = ok(&["sim", "--help"]);
    // Clap pads the names into a column: compare words, not spaces.
    let words = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for scenario in gpunet_sim::workload::SCENARIOS {
        let line = format!("- {}: {}", scenario.name, scenario.about);
        assert!(words.contains(&line), "no {line:?} in:\n{help}");
    }
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
