//! History charts: one series' primary median over the history's entries
//! (pushes to the board's branch and tags, in the order they were sealed),
//! each point with its confidence interval as an error bar, drawn at build
//! time as SVG with plotters (text as SVG text, no font files), so the site
//! needs no JavaScript to show them.

use plotters::prelude::*;

use crate::BoardError;

/// One point of a history chart.
pub(crate) struct Point {
    /// The x label (a short commit).
    pub(crate) label: String,
    /// The median.
    pub(crate) median: u64,
    /// Its interval, when there is one.
    pub(crate) interval: Option<[u64; 2]>,
    /// Whether the entry is certified (drawn filled).
    pub(crate) certified: bool,
}

const WIDTH: u32 = 720;
const HEIGHT: u32 = 280;

/// The SVG of `points` for series `series` of metric `metric`.
pub(crate) fn history(series: &str, metric: &str, points: &[Point]) -> Result<String, BoardError> {
    let failed = |e: &dyn std::fmt::Display| BoardError::Chart { series: series.to_owned(), why: e.to_string() };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let lo = points.iter().map(|p| p.interval.map_or(p.median, |i| i[0])).min().unwrap_or(0);
        let hi = points.iter().map(|p| p.interval.map_or(p.median, |i| i[1])).max().unwrap_or(1);
        let pad = ((hi - lo) / 10).max(1);
        let (y0, y1) = (lo.saturating_sub(pad) as f64, hi.saturating_add(pad) as f64);
        let n = points.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(84)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), y0..y1)
            .map_err(|e| failed(&e))?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            points.get(i as usize).map(|p| p.label.clone()).unwrap_or_default()
        };
        let value = |y: &f64| capsule::compare::human_value(metric, y.max(0.0) as u64);
        chart
            .configure_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&label)
            .y_labels(6)
            .y_label_formatter(&value)
            .label_style(("sans-serif", 13))
            .bold_line_style(RGBColor(228, 231, 236))
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .draw()
            .map_err(|e| failed(&e))?;
        let blue = RGBColor(31, 95, 170);
        chart
            .draw_series(LineSeries::new(points.iter().enumerate().map(|(i, p)| (i as f64, p.median as f64)), blue))
            .map_err(|e| failed(&e))?;
        chart
            .draw_series(points.iter().enumerate().filter_map(|(i, p)| {
                p.interval.map(|[a, b]| {
                    ErrorBar::new_vertical(i as f64, a as f64, p.median as f64, b as f64, blue.stroke_width(1), 8)
                })
            }))
            .map_err(|e| failed(&e))?;
        chart
            .draw_series(points.iter().enumerate().map(|(i, p)| {
                let style = if p.certified { blue.filled() } else { WHITE.filled() };
                Circle::new((i as f64, p.median as f64), 4, style)
            }))
            .map_err(|e| failed(&e))?;
        chart
            .draw_series(
                points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Circle::new((i as f64, p.median as f64), 4, blue.stroke_width(2))),
            )
            .map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}
