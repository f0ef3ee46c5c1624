//! The percentile chart: one panel per timing mode, one line per logger,
//! percentiles on the x axis, ns on a log y axis. Text is drawn with the
//! DejaVu Sans font the `dejavu` crate ships, so no system font is needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::floor::MIN_FLOOR;
use crate::report::LatencyRow;
use crate::subject::Mode;
use crate::Summary;

const FONT: &str = "sans-serif";

fn register_font() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut r = Ok(());
    ONCE.call_once(|| {
        r = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the DejaVu font did not load".to_string());
    });
    r
}

/// Draws a PNG of the percentiles of every logger for `message` at
/// `threads` threads: a panel per mode present in `rows`.
pub fn draw(
    path: &Path,
    rows: &[LatencyRow],
    message: &str,
    threads: usize,
    title: &str,
) -> Result<(), String> {
    register_font()?;
    let e = |e: &dyn std::fmt::Display| format!("chart {}: {e}", path.display());
    let modes: Vec<Mode> = [Mode::Burst, Mode::Single]
        .into_iter()
        .filter(|m| rows.iter().any(|r| r.mode == *m))
        .collect();
    if modes.is_empty() {
        return Err("nothing to chart".into());
    }
    let root = BitMapBackend::new(path, (760 * modes.len() as u32, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root.titled(title, (FONT, 22)).map_err(|x| e(&x))?;
    let panels = root.split_evenly((1, modes.len()));
    for (panel, mode) in panels.iter().zip(&modes) {
        let series: Vec<&LatencyRow> = rows
            .iter()
            .filter(|r| {
                r.mode == *mode
                    && r.threads == threads
                    && (r.message == message || is_reference(&r.logger))
            })
            .collect();
        let values = series.iter().flat_map(|r| r.ns.values());
        let (lo, hi) = values.fold((f64::MAX, 0.0f64), |(lo, hi), v| {
            (lo.min(v.max(0.5)), hi.max(v))
        });
        let (lo, hi) = if hi <= 0.0 {
            (0.5, 10.0)
        } else {
            (lo * 0.7, hi * 1.5)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{}, {threads} thread(s)", mode.short()), (FONT, 18))
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0i32..6i32, (lo..hi).log_scale())
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_labels(7)
            .x_label_formatter(&|x| {
                Summary::NAMES
                    .get(*x as usize)
                    .copied()
                    .unwrap_or("")
                    .to_string()
            })
            .y_label_formatter(&|v| {
                if *v >= 10.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            })
            .y_desc("ns (log scale)")
            .label_style((FONT, 14))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, r) in series.iter().enumerate() {
            let floor = is_reference(&r.logger);
            let color: RGBColor = if r.logger == "ul" {
                RED
            } else if r.logger == MIN_FLOOR {
                BLACK
            } else if floor {
                if r.logger.contains("ul lane") {
                    RGBColor(90, 90, 90)
                } else {
                    RGBColor(160, 160, 160)
                }
            } else {
                let c = Palette99::pick(i + 2).to_rgba();
                RGBColor(c.0, c.1, c.2)
            };
            let width = if r.logger == "ul" { 3 } else { 2 };
            let style = color.stroke_width(width);
            let pts: Vec<(i32, f64)> =
                r.ns.values()
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (k as i32, v.max(lo)))
                    .collect();
            let dashed = floor && r.logger.contains("drained");
            let anno = if dashed {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(pts.clone(), style))
            };
            anno.map_err(|x| e(&x))?
                .label(r.logger.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            chart
                .draw_series(
                    pts.iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// True for the floor and the reference rings (grey and black lines, shown
/// whatever their message).
fn is_reference(logger: &str) -> bool {
    logger.starts_with("floor") || logger.starts_with("ring:")
}
