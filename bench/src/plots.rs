//! The two pictures of the scaling story, drawn as SVG from the figures of
//! one `bench/run.sh` run: a line per measured series, a log-scale cost axis.

use std::path::Path;

use plotters::prelude::*;

use crate::show_ns;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// (x, cost) pairs; a missing figure is left out.
    pub points: Vec<(f64, f64)>,
}

/// A chart: series over a linear x axis labelled at each whole number by
/// `x_label`, and a log-scale y axis.
#[derive(Debug)]
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_description: &'a str,
    pub y_description: &'a str,
    pub x_range: (f64, f64),
    pub x_label: fn(f64) -> String,
    pub series: Vec<Series>,
}

const COLORS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x7f, 0x7f, 0x7f),
];

impl Chart<'_> {
    /// Writes the chart to `path` as SVG.
    pub fn draw(&self, path: &Path) -> Result<(), String> {
        self.render(path)
            .map_err(|error| format!("cannot draw {}: {error}", path.display()))
    }

    /// The y range: a decade below the smallest cost to a decade above the
    /// largest, so every point sits inside the frame.
    fn y_range(&self) -> (f64, f64) {
        let costs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let (low, high) = costs.fold((f64::MAX, f64::MIN), |(low, high), cost| {
            (low.min(cost), high.max(cost))
        });
        if low > high {
            return (1.0, 10.0);
        }
        (
            10f64.powf(low.log10().floor()),
            10f64.powf(high.log10().floor() + 1.0),
        )
    }

    fn render(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
        root.fill(&WHITE)?;
        let (y_low, y_high) = self.y_range();
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 20))
            .margin(16)
            .margin_right(40)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(self.x_range.0..self.x_range.1, (y_low..y_high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc(self.x_description)
            .y_desc(self.y_description)
            // One label per whole number: the pictures' x axes count
            // decades (of pods) or nines (of occupancy).
            .x_labels((self.x_range.1.floor() - self.x_range.0.ceil()) as usize + 1)
            .x_label_formatter(&|x| (self.x_label)(*x))
            .y_label_formatter(&|y| show_ns(*y))
            .draw()?;
        for (index, series) in self.series.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    series.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(series.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(
                series
                    .points
                    .iter()
                    .map(|&point| Circle::new(point, 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_written_with_every_series_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        Chart {
            title: "cost",
            x_description: "x",
            y_description: "ns",
            x_range: (0.0, 4.0),
            x_label: |x| format!("{x}"),
            series: vec![
                Series {
                    name: "first".into(),
                    points: vec![(0.0, 10.0), (4.0, 30_000.0)],
                },
                Series {
                    name: "second".into(),
                    points: vec![(1.0, 5.0)],
                },
            ],
        }
        .draw(&path)
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("first") && svg.contains("second"));
    }
}
