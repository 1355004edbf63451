//! The overview's charts, drawn on the server as SVG (plotters) and inlined
//! in the page: nothing for the browser to fetch or run.

use gpunet_node::census::ModelCensus;
use gpunet_node::history::Sample;
use plotters::prelude::*;

const SIZE: (u32, u32) = (560, 280);
const LISTED: RGBColor = RGBColor(0x24, 0x56, 0xc6);
const RENTED: RGBColor = RGBColor(0xe0, 0x7a, 0x1f);

/// GPUs listed and rented over `samples` (oldest first), against minutes
/// before the last sample.
pub(super) fn utilization(samples: &[Sample]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        let last = samples.last().map_or(0, |s| s.time_ms);
        let minutes_ago = |s: &Sample| -((last - s.time_ms) as f64 / 60_000.0);
        let span = samples.first().map_or(0.0, minutes_ago).min(-1.0);
        let top = samples
            .iter()
            .map(|s| s.listed_gpus.max(s.rented_gpus))
            .max()
            .unwrap_or(0)
            .max(1);
        // Whole minutes once there are several, tenths before.
        let decimals = if span < -10.0 { 0 } else { 1 };
        let mut chart = ChartBuilder::on(&root)
            .caption("GPUs listed and rented", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(span..0.0, 0..top + top / 5 + 1)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("minutes ago")
            .y_desc("GPUs")
            .x_label_formatter(&|m| format!("{:.*}", decimals, -m))
            .draw()
            .map_err(text)?;
        for (label, color, value) in [
            (
                "listed",
                LISTED,
                (|s: &Sample| s.listed_gpus) as fn(&Sample) -> u64,
            ),
            ("rented", RENTED, |s: &Sample| s.rented_gpus),
        ] {
            let points: Vec<(f64, u64)> =
                samples.iter().map(|s| (minutes_ago(s), value(s))).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(text)?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 2, color.filled())),
                )
                .map_err(text)?;
        }
        legend(&mut chart)?;
        root.present().map_err(text)?;
    }
    Ok(svg)
}

/// GPUs listed and rented by model, side by side.
pub(super) fn gpus_by_model(models: &[ModelCensus]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        let top = models
            .iter()
            .map(|m| m.listed.max(m.rented))
            .max()
            .unwrap_or(0)
            .max(1);
        // Two bars a model, a gap after them.
        let slots = (models.len() as u32 * 3).max(3);
        let mut chart = ChartBuilder::on(&root)
            .caption("GPUs by model", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(0..slots, 0..top + top / 5 + 1)
            .map_err(text)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(slots as usize)
            .x_label_formatter(&|slot| {
                let model = models.get((*slot / 3) as usize);
                match (slot % 3, model) {
                    (1, Some(m)) => m.model.clone(),
                    _ => String::new(),
                }
            })
            .y_desc("GPUs")
            .draw()
            .map_err(text)?;
        for (offset, label, color, value) in [
            (
                0,
                "listed",
                LISTED,
                (|m: &ModelCensus| m.listed) as fn(&ModelCensus) -> u64,
            ),
            (1, "rented", RENTED, |m: &ModelCensus| m.rented),
        ] {
            chart
                .draw_series(models.iter().enumerate().map(|(i, m)| {
                    let x = i as u32 * 3 + offset;
                    Rectangle::new([(x, 0), (x + 1, value(m))], color.filled())
                }))
                .map_err(text)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        legend(&mut chart)?;
        root.present().map_err(text)?;
    }
    Ok(svg)
}

/// Draws `chart`'s legend, top right.
fn legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK.mix(0.2))
        .draw()
        .map_err(text)
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_utilization_chart_draws_both_series_over_the_minutes_sampled() {
        let samples: Vec<Sample> = (0..30)
            .map(|minute| Sample {
                time_ms: minute * 60_000,
                listed_gpus: 64,
                rented_gpus: minute,
            })
            .collect();
        let svg = utilization(&samples).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for color in ["#2456C6", "#E07A1F"] {
            let stroke = format!("<polyline fill=\"none\" opacity=\"1\" stroke=\"{color}\"");
            assert!(svg.contains(&stroke), "a line in {color}: {svg}");
            let points = svg
                .matches(&format!("r=\"2\" opacity=\"1\" fill=\"{color}\""))
                .count();
            assert_eq!(points, samples.len(), "a point a sample in {color}");
        }
        assert!(svg.contains("minutes ago"), "{svg}");
        // No sample yet: an empty chart, not an error.
        assert!(utilization(&[]).is_ok());
    }

    #[test]
    fn the_model_chart_names_every_model_under_its_bars() {
        let model = |name: &str, listed, rented| ModelCensus {
            model: name.into(),
            listed,
            rented,
            ..ModelCensus::default()
        };
        let svg = gpus_by_model(&[model("A100", 16, 8), model("RTX 4090", 40, 2)]).unwrap();
        assert!(svg.contains("A100") && svg.contains("RTX 4090"), "{svg}");
        for color in ["#2456C6", "#E07A1F"] {
            let bars = svg.matches(&format!("fill=\"{color}\"")).count();
            assert_eq!(bars, 2 + 1, "a bar a model and a legend mark in {color}");
        }
    }
}
