//! Summaries, markdown tables and PNG line plots.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Median of `v` (sorts it; mean of the middle two for an even length).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Min, median and max of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(v: &[f64]) -> Self {
        let mut s = v.to_vec();
        let median = median(&mut s);
        Summary {
            min: s[0],
            median,
            max: s[s.len() - 1],
        }
    }
}

/// `12345.6` as `12 346`: thousands separated for readable ops/s.
pub fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A markdown table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n|", header.join(" | "));
    for (i, _) in header.iter().enumerate() {
        s.push_str(if i == 0 { "---|" } else { "---:|" });
    }
    s.push('\n');
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// Registers a system TTF with plotters' ab_glyph text (no fontconfig). False if none found.
pub fn load_font() -> bool {
    const CANDIDATES: [&str; 3] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ];
    CANDIDATES.iter().any(|p| match std::fs::read(p) {
        Ok(bytes) => {
            register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into())).is_ok()
        }
        Err(_) => false,
    })
}

/// A line plot with one named series of `(x, y)` points each; `x_fmt`/`y_fmt` label the ticks
/// (so a log axis can be drawn as a linear axis of logarithms).
pub struct Plot<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    /// Whether the y axis starts at 0 (else it is fitted to the data).
    pub y_zero: bool,
    /// Tick labels on the x axis.
    pub x_labels: usize,
    pub x_fmt: &'a dyn Fn(&f64) -> String,
    pub y_fmt: &'a dyn Fn(&f64) -> String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

impl Plot<'_> {
    pub fn draw(&self, path: &Path) -> Result<(), Box<dyn Error>> {
        let pts = || self.series.iter().flat_map(|(_, p)| p.iter().copied());
        let (x0, x1) = bounds(pts().map(|p| p.0));
        let (y0, y1) = bounds(pts().map(|p| p.1));
        let pad = (y1 - y0).max(y1.abs() * 0.1).max(1e-9) * 0.1;
        let y_lo = if self.y_zero { 0.0 } else { y0 - pad };
        let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 22))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y_lo..(y1 + pad))?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .x_labels(self.x_labels)
            .x_label_formatter(self.x_fmt)
            .y_label_formatter(self.y_fmt)
            .draw()?;
        for (i, (name, points)) in self.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

fn bounds(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    })
}
